// Acceptance of fail-over: three real worker processes on one Postgres, one SIGKILLed mid-run. Its
// workflows start again on the survivors once its lease has run out (measured from the kill to the
// last of them started again), every workflow finishes SUCCESS with the result of an undisturbed
// run, and no step whose checkpoint had committed runs again: read from the lines the steps append.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deserialize } from '../../src/codec.js';
import { waitFor } from '../support/wait.js';
import { expectedFive, QUEUE } from './workers/failover-app.js';
import { runsByStep, TestFleet, type StepRow, type WorkflowRow } from './support/fleet.js';

const LEASE_MS = 2_000;
const VERSION = 'failover-v1';
const WORKERS = ['fo-worker-1', 'fo-worker-2', 'fo-worker-3'];

interface Crash {
  victim: string;
  killedAt: number;
  /** The victim's PENDING workflows once its last statement had finished. */
  stranded: WorkflowRow[];
  committed: Set<string>;
}

/** Kills `victim` and records what it left: its running workflows and every committed checkpoint. */
async function crash(fleet: TestFleet, victim: string): Promise<Crash> {
  const killedAt = await fleet.kill(victim);
  const [rows, steps] = await Promise.all([fleet.workflows(), fleet.steps()]);
  const stranded = rows.filter((row) => row.owner === victim && row.status === 'PENDING');
  return { victim, killedAt, stranded, committed: new Set(steps.map(stepKey)) };
}

const stepKey = (step: Pick<StepRow, 'workflow_id' | 'idx'>) => `${step.workflow_id} ${step.idx}`;

/**
 * Every step ran, a step that had committed its checkpoint before the crash ran exactly once, and
 * only a step the victim was running when it died (no checkpoint, a line of the victim's) ran twice.
 */
function assertStepsRanOnce(fleet: TestFleet, ids: string[], crashed: Crash): void {
  const runs = runsByStep(fleet.stepLines());
  let reruns = 0;
  for (const id of ids) {
    for (let i = 0; i < 5; i++) {
      const key = `${id} ${i}`;
      const lines = runs.get(key) ?? [];
      assert.ok(lines.length >= 1, `step ${key} ran`);
      if (crashed.committed.has(key)) assert.equal(lines.length, 1, `step ${key} had committed its checkpoint and did not run again`);
      if (lines.length > 1) {
        reruns++;
        assert.equal(lines.length, 2, `step ${key} ran at most twice`);
        assert.equal(lines[0]?.executor, crashed.victim, `the first run of re-run step ${key} was the victim's, cut short`);
        assert.ok((lines[0]?.at ?? Infinity) <= crashed.killedAt, `the first run of ${key} came before the kill`);
      }
    }
  }
  assert.ok(reruns <= crashed.stranded.length, 'at most the step in flight of each stranded workflow ran again');
}

/** How long after the kill the last of the victim's workflows started again on a survivor. */
function restartDelay(rows: WorkflowRow[], crashed: Crash): number {
  const byId = new Map(rows.map((row) => [row.id, row]));
  let last = 0;
  for (const stranded of crashed.stranded) {
    const now = byId.get(stranded.id);
    assert.ok(now, `${stranded.id} still exists`);
    assert.notEqual(now.owner, crashed.victim, `${stranded.id} moved to a survivor`);
    assert.ok(now.epoch > stranded.epoch, `${stranded.id}'s epoch was bumped, fencing the victim`);
    assert.equal(now.recoveries, 1, `${stranded.id} counted one recovery`);
    last = Math.max(last, (now.started_at ?? Infinity) - crashed.killedAt);
  }
  return last;
}

function assertResults(rows: WorkflowRow[], inputs: Map<string, number>): void {
  for (const [id, n] of inputs) {
    const row = rows.find((r) => r.id === id);
    assert.equal(row?.status, 'SUCCESS', `${id} finished SUCCESS`);
    assert.deepEqual(deserialize(row?.output ?? 'null'), expectedFive(n), `${id} has the result of an undisturbed run`);
  }
}

describe('fail-over of queued workflows', () => {
  let fleet: TestFleet;

  before(async () => {
    fleet = await TestFleet.open('failover_queued', { LEASE_MS: String(LEASE_MS), STEP_MS: '40', WORKER_CONCURRENCY: '6', APP_VERSION: VERSION });
    await Promise.all(WORKERS.map((id) => fleet.spawn(id)));
  });

  after(() => fleet.close());

  test('SIGKILL of one of three workers: its workflows start again on the survivors within lease + 2 s; all 300 finish once', async (t) => {
    const client = fleet.client(VERSION);
    try {
      const inputs = Array.from({ length: 300 }, (_, n) => n);
      const handles = await client.enqueueMany<unknown>('five', inputs, { queue: QUEUE });
      const ids = new Map(handles.map((handle, n) => [handle.id, n]));
      const victim = WORKERS[1] as string;
      await waitFor(
        'some workflows finished and the victim runs some mid-way',
        async () => (await fleet.countWhere(`status = 'SUCCESS'`)) >= 60 && (await fleet.countWhere(`owner = $1 AND status = 'PENDING'`, [victim])) >= 3,
        30_000,
      );
      const crashed = await crash(fleet, victim);
      assert.ok(crashed.stranded.length > 0, 'the kill stranded running workflows');

      await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })));
      const rows = await fleet.workflows();
      assertResults(rows, ids);
      assertStepsRanOnce(fleet, [...ids.keys()], crashed);
      const delay = restartDelay(rows, crashed);
      t.diagnostic(`queued: ${crashed.stranded.length} stranded workflows, the last started again ${delay} ms after the kill (lease ${LEASE_MS} ms)`);
      assert.ok(delay <= LEASE_MS + 2_000, `restarted within lease + 2 s (took ${delay} ms)`);

      const [executor] = (await fleet.admin.query<{ recovered_at: number | null }>('SELECT recovered_at FROM ballast.executors WHERE id = $1', [victim])).rows;
      assert.ok(executor?.recovered_at, 'the dead executor is marked recovered, so the fleet stops looking at it');
    } finally {
      await client.close();
    }
  });
});

describe('fail-over of directly started workflows', () => {
  let fleet: TestFleet;

  before(async () => {
    fleet = await TestFleet.open('failover_direct', { LEASE_MS: String(LEASE_MS), STEP_MS: '400', APP_VERSION: VERSION });
    await Promise.all(WORKERS.map((id) => fleet.spawn(id, { START_DIRECT: `d-${id}:100` })));
  });

  after(() => fleet.close());

  test('SIGKILL of one of three workers: the survivors adopt its direct workflows in shares; all 300 finish once', async (t) => {
    const victim = WORKERS[0] as string;
    const ids = new Map(WORKERS.flatMap((id) => Array.from({ length: 100 }, (_, n) => [`d-${id}-${n}`, n] as const)));
    await waitFor('the victim is part-way through its workflows', () => fleet.stepLines().filter((line) => line.executor === victim).length >= 120, 30_000);
    const crashed = await crash(fleet, victim);
    assert.ok(crashed.stranded.length > 0, 'the kill stranded running workflows');

    const client = fleet.client(VERSION);
    try {
      await Promise.all([...ids.keys()].map((id) => client.result(id, { timeout: '60s' })));
    } finally {
      await client.close();
    }
    const rows = await fleet.workflows();
    assertResults(rows, ids);
    assertStepsRanOnce(fleet, [...ids.keys()], crashed);
    const delay = restartDelay(rows, crashed);
    t.diagnostic(`direct: ${crashed.stranded.length} stranded workflows, the last started again ${delay} ms after the kill (lease ${LEASE_MS} ms)`);
    assert.ok(delay <= LEASE_MS + 2_000, `restarted within lease + 2 s (took ${delay} ms)`);

    // Adopted in fair shares: no survivor took the whole of the dead executor's work.
    const adoptedBy = new Map<string, number>();
    for (const stranded of crashed.stranded) {
      const owner = rows.find((row) => row.id === stranded.id)?.owner ?? 'none';
      adoptedBy.set(owner, (adoptedBy.get(owner) ?? 0) + 1);
    }
    t.diagnostic(`adopted: ${JSON.stringify(Object.fromEntries(adoptedBy))}`);
    for (const survivor of WORKERS.filter((id) => id !== victim)) {
      assert.ok((adoptedBy.get(survivor) ?? 0) >= crashed.stranded.length / 4, `${survivor} adopted a share of the stranded workflows`);
    }
  });
});
