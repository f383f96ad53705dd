// A whole-fleet partition: every worker is cut off from the database for longer than the lease, so
// when the network heals each one finds every other's lease expired at the same moment. Recovery
// must converge without a storm of mutual takeovers. Measured here, for a partition a little past
// the lease and one past the statement timeout (the workers' connections are given up on and their
// new ones hang until the heal): workflows taken over, executors judged dead, steps run again. At
// most each step in flight at the partition runs twice.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosFleet } from './support/chaos-fleet.js';
import { checkInvariants } from './support/invariants.js';
import type { SampleWindow } from '../fleet/support/sampler.js';
import { waitFor } from '../support/wait.js';

const LEASE_MS = 2_000;
const RATE = 15;

let fleet: ChaosFleet;
let window: SampleWindow;

before(async () => {
  fleet = await ChaosFleet.open({ name: 'partition', leaseMs: LEASE_MS });
  for (let i = 0; i < 3; i++) await fleet.spawn();
  window = fleet.sampler.open();
  fleet.startProducer(RATE);
  await finished(2 * RATE);
});

after(async () => {
  await fleet?.close();
});

async function finished(more: number): Promise<void> {
  const done = () => fleet.count(`SELECT 1 FROM ballast.workflows WHERE status = 'SUCCESS'`);
  const target = (await done()) + more;
  await waitFor(`${more} more workflows finish`, async () => (await done()) >= target, 60_000);
}

async function recoveries(): Promise<number> {
  return fleet.count('SELECT generate_series(1, recoveries) FROM ballast.workflows');
}

/** `taker took over <victim>` for each takeover the workers logged at or after `from`. */
function takeoversSince(from: number): string[] {
  const found: string[] = [];
  for (const worker of fleet.workers.values()) {
    for (const line of worker.child.stderr().split('\n')) {
      const match = /^\[warn\] (\S+) executor (\S+) stopped renewing its lease: took over its (\d+)/.exec(line);
      if (match && Date.parse(match[1] as string) >= from) found.push(`${worker.id} took ${match[3]} of ${match[2]}`);
    }
  }
  return found;
}

/** Step runs that began at or after `from` of steps that had run before: re-runs. */
function reRunsSince(from: number): number {
  const seen = new Set<string>();
  let reRuns = 0;
  for (const line of fleet.runs()) {
    if (line.kind !== 'step') continue;
    const key = `${line.workflowId} ${line.step}`;
    if (seen.has(key) && line.at >= from) reRuns++;
    seen.add(key);
  }
  return reRuns;
}

for (const [label, partitionMs] of [
  ['past the lease', 2.5 * LEASE_MS],
  ['past the statement timeout', 10_000],
] as const) {
  test(`the whole fleet cut off ${label} (${partitionMs} ms): recovery converges without mutual takeovers`, async (t) => {
    const before = await recoveries();
    const workers = fleet.present();
    const cutAt = Date.now();
    for (const worker of workers) worker.proxy.freeze();
    await sleep(partitionMs);
    const healedAt = Date.now();
    for (const worker of workers) worker.proxy.thaw();
    await finished(2 * RATE);
    const firstStep = Math.min(...fleet.runs().filter((line) => line.kind === 'step' && line.at >= healedAt).map((line) => line.at));
    const afterwards = await recoveries();
    const measured = {
      partitionMs: healedAt - cutAt,
      workflowsTakenOver: afterwards - before,
      takeovers: takeoversSince(cutAt),
      stepsRunAgain: reRunsSince(cutAt),
      firstStepAfterHealMs: firstStep - healedAt,
    };
    t.diagnostic(JSON.stringify(measured));
    if (measured.takeovers.length > 0 && process.env.BALLAST_PARTITION_DEBUG === '1') {
      for (const worker of workers) {
        for (const line of worker.child.stderr().split('\n')) {
          const at = Date.parse(line.split(' ')[1] ?? '');
          if (at >= cutAt && at <= healedAt + 5_000) t.diagnostic(`${worker.id} ${line}`);
        }
      }
    }
    for (const worker of workers) assert.equal(worker.exit, undefined, `${worker.id} is alive`);
    // No storm: nobody is taken over twice, and no two executors take each other over.
    const pairs = measured.takeovers.map((line) => line.split(' ')).map(([taker, , , , victim]) => [taker, victim] as const);
    const victims = pairs.map(([, victim]) => victim);
    assert.equal(new Set(victims).size, victims.length, `an executor was taken over twice: ${measured.takeovers.join('; ')}`);
    for (const [taker, victim] of pairs) {
      assert.ok(!pairs.some(([a, b]) => a === victim && b === taker), `${taker} and ${victim} took each other over`);
    }
  });
}

test('afterwards every order finished right, no step ran more than twice, no worker crashed', async (t) => {
  const orders = await fleet.stopProducer();
  await fleet.drained(2 * orders, 60_000);
  await fleet.stopAll();
  const summary = checkInvariants(await fleet.report(), orders, fleet.sampler.close(window));
  t.diagnostic(JSON.stringify(summary));
  assert.ok(summary.maxRunsOfOneStep <= 2, `a step ran ${summary.maxRunsOfOneStep} times`);
});
