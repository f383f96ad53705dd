// The chaos suite, short run (part of `npm test`): three worker processes and a producer on a real
// Postgres, about 90 s of random faults from a seed (Postgres immediate restarts, SIGKILL, SIGSTOP
// past the lease, SIGTERM with drain, one worker's network frozen past the lease or its connections
// reset, the whole fleet frozen past the lease; replacements start under new executor IDs), then
// the invariants of support/invariants.ts, and everything drained within lease + 10 s of the last
// fault. BALLAST_CHAOS_SEED=<seed> replays a run's faults; chaos.soak.test.ts runs it for 10 minutes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chaosSeed, runChaos } from './support/schedule.js';

const LEASE_MS = 2_000;

test('90 s of random faults: every order finishes right, no worker crashes, the fleet drains within lease + 10 s', async (t) => {
  const seed = chaosSeed();
  t.diagnostic(`seed ${seed} (replay with BALLAST_CHAOS_SEED=${seed})`);
  const outcome = await runChaos({
    name: 'chaos_short',
    seed,
    durationMs: 90_000,
    leaseMs: LEASE_MS,
    workers: 3,
    rate: 15,
    log: (line) => t.diagnostic(line),
  });
  const { timeline, ...summary } = outcome;
  t.diagnostic(JSON.stringify(summary));
  assert.ok(timeline.length >= 9, `at least 9 faults in 90 s (${timeline.length})`);
  assert.ok(outcome.drainedAfterLastFaultMs <= LEASE_MS + 10_000, `drained ${outcome.drainedAfterLastFaultMs} ms after the last fault`);
});
