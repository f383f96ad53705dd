// Acceptance of fencing: a worker is SIGSTOPped mid-run until well past its lease, the fleet takes
// its workflows over and finishes them, then it is SIGCONTed. The zombie's late writes are refused
// (it logs each workflow it lost), the database afterwards is exactly what it was before it woke,
// equal to an undisturbed run, and it runs no further step of those workflows: at most the one
// that was in flight when it was paused.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { deserialize } from '../../src/codec.js';
import { stepName, stepValue } from '../fault/workers/five-steps.js';
import { waitFor } from '../support/wait.js';
import { expectedFive, QUEUE } from './workers/failover-app.js';
import { TestFleet } from './support/fleet.js';

const LEASE_MS = 2_000;
const VERSION = 'zombie-v1';
const WORKERS = ['zombie-1', 'zombie-2', 'zombie-3'];
const ZOMBIE = 'zombie-2';

let fleet: TestFleet;

before(async () => {
  fleet = await TestFleet.open('zombie', { LEASE_MS: String(LEASE_MS), STEP_MS: '150', WORKER_CONCURRENCY: '4', APP_VERSION: VERSION });
  await Promise.all(WORKERS.map((id) => fleet.spawn(id)));
});

after(() => fleet.close());

test('a worker paused past its lease and resumed corrupts, duplicates and loses nothing, and runs no step it lost', async (t) => {
  const client = fleet.client(VERSION);
  try {
    const handles = await client.enqueueMany<unknown>('five', Array.from({ length: 40 }, (_, n) => n), { queue: QUEUE });
    const inputs = new Map(handles.map((handle, n) => [handle.id, n]));
    await waitFor(
      'the zombie-to-be runs workflows part-way',
      async () => (await fleet.countWhere(`owner = $1 AND status = 'PENDING' AND EXISTS (SELECT 1 FROM ballast.steps s WHERE s.workflow_id = id)`, [ZOMBIE])) >= 2,
      30_000,
    );

    // 1. Pause it. Statements it had already sent finish on the server; then its state is frozen.
    const zombie = fleet.workers.get(ZOMBIE)?.child;
    assert.ok(zombie);
    zombie.kill('SIGSTOP');
    await sleep(300);
    const pausedRows = (await fleet.workflows()).filter((row) => row.owner === ZOMBIE && row.status === 'PENDING');
    const pausedSteps = await fleet.steps();
    const checkpointsAtPause = new Map(pausedRows.map((row) => [row.id, pausedSteps.filter((step) => step.workflow_id === row.id).length]));
    assert.ok(pausedRows.length > 0, 'the zombie was running workflows when paused');

    // 2. The fleet takes them over once its lease has run out, and finishes everything.
    await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })));
    const finishedRows = await fleet.workflows();
    const finishedSteps = await fleet.steps();
    for (const row of pausedRows) {
      const now = finishedRows.find((r) => r.id === row.id);
      assert.ok(now && now.owner !== ZOMBIE && now.epoch > row.epoch, `${row.id} moved to another executor under a new epoch`);
    }

    // 3. Wake it: it finishes the steps it was in, tries to record them, and is refused.
    const wokeAt = Date.now();
    zombie.kill('SIGCONT');
    await waitFor('the zombie has noticed every workflow it lost', () => pausedRows.every((row) => zombie.stderr().includes(`workflow ${row.id}: another executor took it over`)), 15_000);
    await sleep(LEASE_MS); // time for any late write it might still make

    // 4. Nothing it did after waking reached the database, which holds an undisturbed run's results.
    assert.deepEqual(await fleet.workflows(), finishedRows, 'no workflow row changed after the zombie woke');
    assert.deepEqual(await fleet.steps(), finishedSteps, 'no checkpoint changed after the zombie woke');
    for (const [id, n] of inputs) {
      const row = finishedRows.find((r) => r.id === id);
      assert.equal(row?.status, 'SUCCESS');
      assert.deepEqual(deserialize(row?.output ?? 'null'), expectedFive(n), `${id}: the result of an undisturbed run`);
      const steps = finishedSteps.filter((step) => step.workflow_id === id);
      let previous = n;
      assert.deepEqual(
        steps.map((step) => [step.idx, step.name, deserialize(step.output ?? 'null')]),
        [0, 1, 2, 3, 4].map((i) => [i, stepName(i), (previous = stepValue(n, i, previous))]),
        `${id}: the checkpoints of an undisturbed run`,
      );
    }

    // 5. After waking, at most the step in flight at the pause ran, for each workflow it lost.
    const lateLines = fleet.stepLines().filter((line) => line.executor === ZOMBIE && line.at >= wokeAt);
    for (const line of lateLines) {
      const atPause = checkpointsAtPause.get(line.workflowId);
      assert.ok(atPause !== undefined, `a late step of the zombie belongs to a workflow it was running: ${JSON.stringify(line)}`);
      assert.equal(line.step, String(atPause), `${line.workflowId}: only the step in flight at the pause (index ${atPause}) ran late`);
    }
    assert.ok(new Set(lateLines.map((line) => line.workflowId)).size === lateLines.length, 'at most one late step per workflow');
    const refusals = zombie.stderr().split('\n').filter((line) => /another executor took it over|of a stopped run was refused/.test(line));
    t.diagnostic(`paused with ${pausedRows.length} running; ${lateLines.length} in-flight steps finished after waking; refusals logged:`);
    for (const line of refusals) t.diagnostic(line);
    assert.match(zombie.stderr(), /its lease ran out \d+ ms before this renewal/, 'the zombie noticed its lease had run out');
    for (const line of lateLines) {
      assert.match(zombie.stderr(), new RegExp(`workflow ${line.workflowId}: (another executor took it over \\(its checkpoint #${line.step} was refused|the late checkpoint #${line.step} .* was refused)`),
        `the checkpoint of ${line.workflowId}'s late step was refused`);
    }

    // 6. It is a healthy member of the fleet again: new work finishes, some of it on the zombie.
    await waitFor('the zombie is alive again', async () => (await fleet.admin.query(
      `SELECT 1 FROM ballast.executors WHERE id = $1 AND recovered_at IS NULL AND lease_expires_at > (extract(epoch from clock_timestamp()) * 1000)::int8`,
      [ZOMBIE],
    )).rowCount === 1);
    const more = await client.enqueueMany<unknown>('five', Array.from({ length: 24 }, (_, n) => n), { queue: QUEUE });
    await Promise.all(more.map((handle) => handle.result({ timeout: '60s' })));
    const newIds = more.map((handle) => handle.id);
    assert.ok((await fleet.countWhere(`owner = $1 AND status = 'SUCCESS' AND id = ANY($2::text[])`, [ZOMBIE, newIds])) > 0, 'the resumed worker ran new work');
  } finally {
    await client.close();
  }
});
