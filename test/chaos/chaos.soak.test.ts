// The chaos suite's soak run: the short run's faults for 10 minutes (BALLAST_SOAK=1 npm test, or
// BALLAST_SOAK=1 node scripts/run-tests.mjs test/chaos/chaos.soak.test.ts; BALLAST_SOAK_MINUTES
// changes the length). BALLAST_CHAOS_SEED=<seed> replays a failing run's faults.
import { test } from 'node:test';
import { chaosTest } from './support/schedule.js';

const MINUTES = Number(process.env.BALLAST_SOAK_MINUTES ?? '10');

test(`${MINUTES} minutes of random faults: every order finishes right, no worker crashes`, { timeout: (MINUTES + 5) * 60_000 }, (t) =>
  chaosTest(t, 'chaos_soak', MINUTES * 60_000));
