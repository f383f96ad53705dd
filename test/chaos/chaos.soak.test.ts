// The chaos suite's soak run: the short run's faults for 10 minutes (BALLAST_SOAK=1 npm test, or
// `node scripts/run-tests.mjs test/chaos/chaos.soak.test.ts` with BALLAST_SOAK=1). The seed is
// printed first; BALLAST_CHAOS_SEED=<seed> replays a failing run's faults.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chaosSeed, runChaos } from './support/schedule.js';

const LEASE_MS = 2_000;
const MINUTES = Number(process.env.BALLAST_SOAK_MINUTES ?? '10');

test(`${MINUTES} minutes of random faults: every order finishes right, no worker crashes`, { timeout: (MINUTES + 5) * 60_000 }, async (t) => {
  const seed = chaosSeed();
  process.stderr.write(`chaos soak: seed ${seed} (replay with BALLAST_CHAOS_SEED=${seed})\n`);
  t.diagnostic(`seed ${seed}`);
  const outcome = await runChaos({
    name: 'chaos_soak',
    seed,
    durationMs: MINUTES * 60_000,
    leaseMs: LEASE_MS,
    workers: 3,
    rate: 15,
    log: (line) => t.diagnostic(line),
  });
  const { timeline, ...summary } = outcome;
  t.diagnostic(JSON.stringify(summary));
  assert.ok(timeline.length >= MINUTES * 6, `at least ${MINUTES * 6} faults (${timeline.length})`);
  assert.ok(outcome.drainedAfterLastFaultMs <= LEASE_MS + 10_000, `drained ${outcome.drainedAfterLastFaultMs} ms after the last fault`);
});
