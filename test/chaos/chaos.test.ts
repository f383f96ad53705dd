// The chaos suite, short run (part of `npm test`): three worker processes and a producer on a real
// Postgres, about 90 s of random faults from a seed (Postgres immediate restarts, SIGKILL, SIGSTOP
// past the lease, SIGTERM with drain, one worker's network frozen past the lease or its connections
// reset, the whole fleet frozen past the lease; replacements start under new executor IDs), then
// the invariants of support/invariants.ts, and everything drained within lease + 10 s of the last
// fault. BALLAST_CHAOS_SEED=<seed> replays a run's faults; chaos.soak.test.ts runs it for 10 minutes.
import { test } from 'node:test';
import { chaosTest } from './support/schedule.js';

test('90 s of random faults: every order finishes right, no worker crashes, the fleet drains within lease + 10 s', (t) =>
  chaosTest(t, 'chaos_short', 90_000));
