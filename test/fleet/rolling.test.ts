// Acceptance of a rolling restart: while work flows in, the three workers are replaced one by one by
// new processes under new executor IDs (as a Kubernetes rollout does): twice with SIGTERM and a
// short drain, whose unfinished workflows are handed back at once, and once with SIGKILL, whose
// workflows the fleet takes over after the lease. Nothing is stranded and nothing runs twice (but
// the steps the killed worker was in the middle of, as at-least-once allows).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { deserialize } from '../../src/codec.js';
import type { WorkflowHandle } from '../../src/index.js';
import { expectedFive, QUEUE } from './workers/failover-app.js';
import { runsByStep, TestFleet } from './support/fleet.js';
import { waitFor } from '../support/wait.js';

const LEASE_MS = 2_000;
const VERSION = 'rolling-v1';

let fleet: TestFleet;

before(async () => {
  fleet = await TestFleet.open('rolling', { LEASE_MS: String(LEASE_MS), STEP_MS: '200', WORKER_CONCURRENCY: '4', DRAIN_MS: '300', APP_VERSION: VERSION });
  await Promise.all(['roll-a1', 'roll-b1', 'roll-c1'].map((id) => fleet.spawn(id)));
});

after(() => fleet.close());

test('replacing every worker under new executor IDs while work flows in strands nothing and runs nothing twice', async (t) => {
  const client = fleet.client(VERSION);
  const handles: Array<WorkflowHandle<unknown>> = [];
  const inputs = new Map<string, number>();
  let producing = true;
  const producer = (async () => {
    for (let round = 0; producing; round++) {
      const batch = Array.from({ length: 6 }, (_, k) => round * 6 + k);
      const enqueued = await client.enqueueMany<unknown>('five', batch, { queue: QUEUE });
      enqueued.forEach((handle, k) => inputs.set(handle.id, batch[k] as number));
      handles.push(...enqueued);
      await sleep(250);
    }
  })();

  const busy = (id: string) =>
    waitFor(`${id} runs workflows part-way`, async () =>
      (await fleet.countWhere(`owner = $1 AND status = 'PENDING' AND EXISTS (SELECT 1 FROM ballast.steps s WHERE s.workflow_id = id)`, [id])) >= 2, 30_000);
  try {
    await busy('roll-a1');
    // a: graceful, with a drain shorter than a workflow: its running workflows are handed back.
    await fleet.stop('roll-a1');
    assert.match(fleet.stderrOf('roll-a1'), /handed \d+ unfinished workflows back to the fleet/, 'the stopped worker handed its work back');
    await fleet.spawn('roll-a2');
    await busy('roll-b1');
    // b: killed. Its running workflows wait for its lease to run out, then move.
    const killedAt = await fleet.kill('roll-b1');
    const committedAtKill = new Set((await fleet.steps()).map((step) => `${step.workflow_id} ${step.idx}`));
    const strandedByKill = new Set((await fleet.workflows()).filter((row) => row.owner === 'roll-b1' && row.status === 'PENDING').map((row) => row.id));
    await fleet.spawn('roll-b2');
    await busy('roll-c1');
    // c: graceful again.
    await fleet.stop('roll-c1');
    await fleet.spawn('roll-c2');
    await sleep(1_000);
    producing = false;
    await producer;

    await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })));
    const rows = await fleet.workflows();
    t.diagnostic(`${rows.length} workflows; ${strandedByKill.size} stranded by the kill; ${rows.filter((row) => row.attempts > 1).length} ran on more than one worker`);
    assert.ok(rows.length >= 30, 'work flowed in during the whole rollout');
    for (const row of rows) {
      assert.equal(row.status, 'SUCCESS', `${row.id} finished`);
      assert.deepEqual(deserialize(row.output ?? 'null'), expectedFive(inputs.get(row.id) as number), `${row.id}: the result of an undisturbed run`);
      assert.equal(row.recoveries, strandedByKill.has(row.id) ? 1 : 0, `${row.id}: only the kill counts as a recovery`);
    }
    assert.ok(rows.some((row) => row.attempts > 1 && !strandedByKill.has(row.id)), 'some workflows were handed back mid-run by a graceful stop');

    const runs = runsByStep(fleet.stepLines());
    for (const row of rows) {
      for (let i = 0; i < 5; i++) {
        const key = `${row.id} ${i}`;
        const lines = runs.get(key) ?? [];
        if (lines.length === 2 && strandedByKill.has(row.id) && !committedAtKill.has(key)) {
          assert.equal(lines[0]?.executor, 'roll-b1', `${key}: only a step the killed worker was in ran twice`);
          assert.ok((lines[0]?.at ?? Infinity) <= killedAt);
          continue;
        }
        assert.equal(lines.length, 1, `step ${key} ran exactly once (${JSON.stringify(lines)})`);
      }
    }

    const executors = await fleet.admin.query<{ id: string; recovered_at: number | null; alive: boolean }>(
      `SELECT id, recovered_at, lease_expires_at > (extract(epoch from clock_timestamp()) * 1000)::int8 AS alive FROM ballast.executors ORDER BY id`,
    );
    for (const executor of executors.rows) {
      const replaced = executor.id.endsWith('1');
      assert.equal(executor.alive, !replaced, `${executor.id} is ${replaced ? 'gone' : 'alive'}`);
      assert.equal(executor.recovered_at !== null, replaced, `${executor.id}: its work was ${replaced ? '' : 'not '}handed over`);
    }
  } finally {
    producing = false;
    await producer.catch(() => undefined);
    await client.close();
  }
});
