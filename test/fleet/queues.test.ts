// Queues across a real fleet: three worker processes (test/fleet/workers/queue-worker.ts) on one
// Postgres, fed by this process, which declares no queues and so never runs fleet work itself.
//
// Limits are checked two ways: a sampler reads the running set (status PENDING) from the database
// every few milliseconds and keeps the maxima, and afterwards the intervals in which the step bodies
// ran (fleet_runs: worker clock, same machine) are swept for the most that ever overlapped. A step
// runs after its claim committed and before its completion is even submitted, so its interval lies
// inside the real PENDING period: an overlap found there is a real violation. (The rows' own
// [started_at, completed_at) are not used for this: started_at is stamped with the DB time at which
// the claim read the queue's usage, which can precede the claiming UPDATE by a scheduling delay.)
// Each limit must also be reached, or the assertion could not fail. "Ran exactly once" is read from
// a table the workflows' steps write (fleet_runs), not from Ballast's own rows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Ballast, type WorkflowHandle } from '../../src/index.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { maxOverlap, maxStartsInWindow, RunningSampler } from './support/sampler.js';
import { APP_NAME, APP_VERSION, COMMAND_CHANNEL, RUNS_TABLE, registerWorkflows, type DedupCommand, type DedupReport } from './workers/fleet-app.js';

const WORKER = fileURLToPath(new URL('./workers/queue-worker.ts', import.meta.url));
const EXECUTORS = ['fleet-worker-1', 'fleet-worker-2', 'fleet-worker-3'];
const TEST_EXECUTOR = 'fleet-test-client';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: { url: string; close(): Promise<void> };
let admin: pg.Pool;
let tester: Ballast;
let defs: ReturnType<typeof registerWorkflows>;
let workers: ChildHandle[] = [];
let sampler: RunningSampler;
const testerErrors: string[] = [];

interface WorkflowRow {
  id: string;
  status: string;
  queue: string | null;
  owner: string | null;
  partition_key: string | null;
  priority: number;
  attempts: number;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  available_at: number | null;
}

interface RunRow {
  seq: number;
  workflow_id: string;
  label: string | null;
  executor: string;
  started_ms: number;
  finished_ms: number | null;
}

before(async () => {
  db = await testDatabase('fleet');
  admin = new pg.Pool({ connectionString: db.url, max: 3, application_name: 'fleet-test-admin' });
  // pool.end() does not wait for its sockets: one the server drops meanwhile reports an error here.
  admin.on('error', () => undefined);
  tester = new Ballast({
    name: APP_NAME,
    databaseUrl: db.url,
    executorId: TEST_EXECUTOR,
    appVersion: APP_VERSION,
    pollIntervalMs: 1_000,
    logger: { info: () => undefined, warn: () => undefined, error: (message) => testerErrors.push(message) },
  });
  defs = registerWorkflows(tester, null, TEST_EXECUTOR);
  await tester.launch(); // migrates the schema before the workers start
  await admin.query(RUNS_TABLE);
  workers = EXECUTORS.map((id) => spawnNode(WORKER, { env: { FLEET_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: id } }));
  await Promise.all(workers.map((worker, n) => worker.waitForLine((line) => line === `ready ${EXECUTORS[n]}`, 60_000)));
  sampler = new RunningSampler(db.url);
  await sampler.start();
});

after(async () => {
  await sampler?.stop().catch(() => undefined);
  await Promise.all(
    workers.map(async (worker) => {
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
      await worker.exited;
      clearTimeout(timer);
    }),
  );
  await tester?.shutdown({ drainMs: 500 }).catch(() => undefined);
  await admin?.end();
  await db?.close();
});

async function workflowRows(ids: string[]): Promise<WorkflowRow[]> {
  const { rows } = await admin.query<WorkflowRow>(
    `SELECT id, status, queue, owner, partition_key, priority, attempts, created_at::float8 AS created_at,
            started_at::float8 AS started_at, completed_at::float8 AS completed_at, available_at::float8 AS available_at
     FROM ballast.workflows WHERE id = ANY($1::text[]) ORDER BY created_at, id`,
    [ids],
  );
  assert.equal(rows.length, ids.length, 'every enqueued workflow has its row');
  return rows;
}

async function runRows(ids: string[]): Promise<RunRow[]> {
  const { rows } = await admin.query<RunRow>(
    `SELECT seq::float8 AS seq, workflow_id, label, executor, started_ms::float8 AS started_ms, finished_ms::float8 AS finished_ms
     FROM public.fleet_runs WHERE workflow_id = ANY($1::text[]) ORDER BY seq`,
    [ids],
  );
  return rows;
}

/** A finished workflow's row with the one run of its step. */
type Ran = WorkflowRow & { run: RunRow };

/** Every workflow SUCCESS after one claim, and its step ran exactly once, in the executor that owns it. */
async function assertEachRanOnce(what: string, ids: string[]): Promise<{ rows: Ran[]; runs: RunRow[] }> {
  const rows = await workflowRows(ids);
  const runs = await runRows(ids);
  const runsOf = new Map<string, RunRow[]>();
  for (const run of runs) runsOf.set(run.workflow_id, [...(runsOf.get(run.workflow_id) ?? []), run]);
  for (const row of rows) {
    assert.equal(row.status, 'SUCCESS', `${what}: workflow ${row.id} succeeded`);
    assert.equal(row.attempts, 1, `${what}: workflow ${row.id} was claimed once`);
    const mine = runsOf.get(row.id) ?? [];
    assert.equal(mine.length, 1, `${what}: the step of ${row.id} ran exactly once (ran ${mine.length} times)`);
    assert.ok(mine[0]?.finished_ms !== null, `${what}: the run of ${row.id} finished`);
    assert.equal(mine[0]?.executor, row.owner, `${what}: ${row.id} ran in the executor that claimed it`);
    assert.ok(row.started_at !== null && row.completed_at !== null, `${what}: ${row.id} has start and completion times`);
  }
  assert.equal(runs.length, ids.length, `${what}: no stray runs`);
  return { rows: rows.map((row) => ({ ...row, run: runsOf.get(row.id)?.[0] as RunRow })), runs };
}

/** When the workflow's step body ran (inside the time it was PENDING). */
function interval(row: Ran): [number, number] {
  return [row.run.started_ms, row.run.finished_ms as number];
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function overlapBy(rows: Ran[], key: (row: Ran) => string): Map<string, number> {
  return new Map([...groupBy(rows, key)].map(([k, group]) => [k, maxOverlap(group.map(interval))]));
}

/** Pairs of the same group whose recorded intervals overlap, for failure messages. */
function overlapping(rows: Ran[], key: (row: Ran) => string): string {
  const found: string[] = [];
  for (const [k, group] of groupBy(rows, key)) {
    const sorted = [...group].sort((a, b) => interval(a)[0] - interval(b)[0]);
    for (const [n, a] of sorted.entries()) {
      for (const b of sorted.slice(n + 1)) {
        if (interval(b)[0] >= interval(a)[1]) break;
        found.push(`${k}: ${a.id} ran [${interval(a).join(', ')}) in ${a.owner}, ${b.id} ran [${interval(b).join(', ')}) in ${b.owner}`);
      }
    }
  }
  return found.slice(0, 10).join('\n');
}

function maxOf(values: Iterable<number>): number {
  return Math.max(0, ...values);
}

function show(map: Map<string, number>): string {
  return JSON.stringify(Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b))));
}

async function results<T>(handles: WorkflowHandle<T>[]): Promise<T[]> {
  return Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })));
}

/** 50–150 ms, spread deterministically. */
const sleepFor = (n: number) => 50 + ((n * 37) % 101);
const inputs = (count: number, prefix: string) => Array.from({ length: count }, (_, n) => ({ sleepMs: sleepFor(n), label: `${prefix}-${n}` }));

test('concurrency, per-worker concurrency, partition concurrency and rate limits hold across three processes; each workflow runs once', async (t) => {
  const window = sampler.open();
  const began = Date.now();
  const [globalHandles, perWorkerHandles, partitionedHandles, ratedHandles] = await Promise.all([
    defs.record.enqueueMany(inputs(60, 'global'), { queue: 'global' }),
    defs.record.enqueueMany(inputs(60, 'per-worker'), { queue: 'per-worker' }),
    Promise.all(inputs(60, 'partitioned').map((input, n) => defs.record.enqueue(input, { queue: 'partitioned', partitionKey: `p${n % 6}` }))),
    // Eight rate windows: each goes to whichever executor claims first, so all eight landing on one
    // executor (which would fail the spread check below) has odds of 3 in 3^8.
    defs.record.enqueueMany(inputs(40, 'rated'), { queue: 'rated' }),
  ]);
  const all = [...globalHandles, ...perWorkerHandles, ...partitionedHandles, ...ratedHandles];
  const labels = await results(all);
  assert.deepEqual(labels, [
    ...inputs(60, 'global'),
    ...inputs(60, 'per-worker'),
    ...inputs(60, 'partitioned'),
    ...inputs(40, 'rated'),
  ].map((input) => input.label));
  const elapsed = Date.now() - began;
  await sampler.settle();
  sampler.close(window);

  const ids = (handles: WorkflowHandle<unknown>[]) => handles.map((handle) => handle.id);
  const global = await assertEachRanOnce('global', ids(globalHandles));
  const perWorker = await assertEachRanOnce('per-worker', ids(perWorkerHandles));
  const partitioned = await assertEachRanOnce('partitioned', ids(partitionedHandles));
  const rated = await assertEachRanOnce('rated', ids(ratedHandles));

  const owners = (rows: Ran[]) => new Map([...groupBy(rows, (row) => String(row.owner))].map(([k, g]) => [k, g.length]));
  const byOwner = (row: Ran) => String(row.owner);
  const byPartition = (row: Ran) => String(row.partition_key);
  const ratedStarts = rated.rows.map((row) => row.started_at as number);
  t.diagnostic(`${all.length} workflows in ${elapsed} ms; ${window.samples} samples (${sampler.averageQueryMs.toFixed(2)} ms per query)`);
  t.diagnostic(`global: sampled max ${window.maxRunning('global')}, per executor ${show(window.perOwner('global'))}; ` +
    `run overlap ${maxOverlap(global.rows.map(interval))}, per executor ${show(overlapBy(global.rows, byOwner))}; runs per executor ${show(owners(global.rows))}`);
  t.diagnostic(`per-worker: sampled max ${window.maxRunning('per-worker')}, per executor ${show(window.perOwner('per-worker'))}; ` +
    `run overlap per executor ${show(overlapBy(perWorker.rows, byOwner))}; runs per executor ${show(owners(perWorker.rows))}`);
  t.diagnostic(`partitioned: sampled max ${window.maxRunning('partitioned')}, per key ${show(window.perPartition('partitioned'))}, per executor ${show(window.perOwner('partitioned'))}; ` +
    `run overlap per key ${show(overlapBy(partitioned.rows, byPartition))}`);
  t.diagnostic(`rated: most starts in any 1 s window ${maxStartsInWindow(ratedStarts, 1_000)}; ` +
    `starts span ${maxOf(ratedStarts) - Math.min(...ratedStarts)} ms; runs per executor ${show(owners(rated.rows))}`);

  // global: concurrency 3 across the fleet, workerConcurrency 2 in each executor.
  assert.equal(window.maxRunning('global'), 3, 'global: at most 3 running across the fleet, and 3 were reached');
  assert.ok(maxOf(window.perOwner('global').values()) <= 2, `global: at most 2 per executor (sampled ${show(window.perOwner('global'))})`);
  assert.ok(maxOverlap(global.rows.map(interval)) <= 3, `global: runs never overlap more than 3\n${overlapping(global.rows, () => 'global')}`);
  assert.ok(maxOf(overlapBy(global.rows, byOwner).values()) <= 2, `global: runs overlap at most 2 per executor\n${overlapping(global.rows, byOwner)}`);
  assert.ok(owners(global.rows).size >= 2, `global: work spread over executors ${show(owners(global.rows))}`);

  // per-worker: workerConcurrency 2 in each executor, no fleet-wide cap.
  const perWorkerSampled = window.perOwner('per-worker');
  assert.equal(maxOf(perWorkerSampled.values()), 2, `per-worker: at most 2 per executor, and 2 were reached (sampled ${show(perWorkerSampled)})`);
  assert.ok(maxOf(overlapBy(perWorker.rows, byOwner).values()) <= 2, `per-worker: runs overlap at most 2 per executor\n${overlapping(perWorker.rows, byOwner)}`);
  assert.ok(window.maxRunning('per-worker') > 2, `per-worker: executors ran at the same time (fleet max ${window.maxRunning('per-worker')})`);
  assert.ok(owners(perWorker.rows).size >= 2, `per-worker: work spread over executors ${show(owners(perWorker.rows))}`);

  // partitioned: one running per partition key; keys run side by side.
  const perKey = window.perPartition('partitioned');
  assert.equal(perKey.size, 6, 'partitioned: every key was seen running');
  assert.equal(maxOf(perKey.values()), 1, `partitioned: at most 1 per key (sampled ${show(perKey)})`);
  assert.equal(maxOf(overlapBy(partitioned.rows, byPartition).values()), 1, `partitioned: runs never overlap within a key\n${overlapping(partitioned.rows, byPartition)}`);
  assert.ok(maxOf(window.perOwner('partitioned').values()) <= 4, 'partitioned: at most 4 per executor');
  assert.ok(window.maxRunning('partitioned') >= 2, 'partitioned: different keys ran at the same time');

  // rated: at most 5 starts in any 1 s window, fleet-wide, and the limit was reached.
  assert.equal(maxStartsInWindow(ratedStarts, 1_000), 5, 'rated: at most 5 starts in any 1 s window, and 5 were reached');
  assert.ok(owners(rated.rows).size >= 2, `rated: work spread over executors ${show(owners(rated.rows))}`);

  const executorsUsed = new Set([...global.rows, ...perWorker.rows, ...partitioned.rows, ...rated.rows].map((row) => row.owner));
  assert.deepEqual([...executorsUsed].sort(), EXECUTORS, 'all three workers ran work, and the test process none');
});

test('priority then arrival order holds across processes', async (t) => {
  // Occupy the queue's only slot (concurrency 1 across the fleet) while the rest queue up.
  const blocker = await defs.gated.enqueue({ label: 'prio-blocker' }, { queue: 'prio' });
  await waitFor('the blocker runs', async () => (await workflowRows([blocker.id]))[0]?.status === 'PENDING');
  const plan: Array<[string, number | undefined]> = [
    ['none-1', undefined], ['p5-a', 5], ['none-2', undefined], ['p1-a', 1], ['p5-b', 5], ['p0-a', 0],
    ['p1-b', 1], ['none-3', undefined], ['p0-b', 0], ['p5-c', 5], ['p1-c', 1], ['none-4', undefined],
  ];
  const handles: WorkflowHandle<string | null>[] = [];
  for (const [label, priority] of plan) {
    handles.push(await defs.record.enqueue({ sleepMs: 20, label }, { queue: 'prio', ...(priority === undefined ? {} : { priority }) }));
  }
  await pause(200); // let every worker's dispatcher look at the queue and find it full
  const waiting = await workflowRows(handles.map((handle) => handle.id));
  assert.deepEqual(new Set(waiting.map((row) => row.status)), new Set(['ENQUEUED']), 'nothing started while the slot was taken');

  await tester.send(blocker.id, 'go', true);
  await results([...handles, blocker]);
  const { rows, runs } = await assertEachRanOnce('prio', [blocker.id, ...handles.map((handle) => handle.id)]);
  const rank = (priority: number | undefined) => priority ?? Number.MAX_SAFE_INTEGER;
  const expected = plan
    .map(([label, priority], arrival) => ({ label, priority: rank(priority), arrival }))
    .sort((a, b) => a.priority - b.priority || a.arrival - b.arrival)
    .map((entry) => entry.label);
  const ranIn = runs.map((run) => run.label);
  const executors = new Map([...groupBy(runs, (run) => run.executor)].map(([k, g]) => [k, g.length]));
  t.diagnostic(`run order ${ranIn.join(' ')}; runs per executor ${show(executors)}`);
  assert.deepEqual(ranIn, ['prio-blocker', ...expected], 'runs follow priority, then arrival order');
  assert.equal(maxOverlap(rows.map(interval)), 1, 'never more than one running in the prio queue');
  assert.deepEqual([...rows].sort((a, b) => (a.started_at as number) - (b.started_at as number)).map((row) => row.id),
    runs.map((run) => run.workflow_id), 'claim times agree with the run order');
});

async function dedupRound(command: Omit<DedupCommand, 'cmd' | 'at'>): Promise<DedupReport[]> {
  const at = Date.now() + 300;
  const full: DedupCommand = { cmd: 'dedup', at, ...command };
  await admin.query('SELECT pg_notify($1, $2)', [COMMAND_CHANNEL, JSON.stringify(full)]);
  const lines = await Promise.all(
    workers.map((worker) => worker.waitForLine((line) => line.startsWith('dedup ') && (JSON.parse(line.slice(6)) as DedupReport).round === command.round, 20_000)),
  );
  return lines.map((line) => JSON.parse(line.slice(6)) as DedupReport);
}

async function activeByDedup(keys: string[]): Promise<Map<string, string[]>> {
  const { rows } = await admin.query<{ dedup_id: string; id: string }>(
    `SELECT dedup_id, id FROM ballast.workflows WHERE queue = 'dedup' AND dedup_id = ANY($1::text[]) AND status IN ('ENQUEUED', 'PENDING', 'DELAYED')`,
    [keys],
  );
  return new Map([...groupBy(rows, (row) => row.dedup_id)].map(([k, g]) => [k, g.map((row) => row.id)]));
}

test('dedupId admits exactly one active workflow per key when several processes enqueue at once', async (t) => {
  const keys = Array.from({ length: 15 }, (_, n) => `key-${n}`);
  const copies = 2;
  const spreadMs = 30;
  const attemptsPerKey = copies * workers.length;

  // Round 1: every worker fires 2 attempts per key at the same moment; exactly one may win.
  const first = await dedupRound({ round: 'reject-1', keys, copies, spreadMs, onDuplicate: 'reject' });
  const winners = new Map<string, string>();
  const winsPerExecutor = new Map<string, number>();
  for (const report of first) {
    for (const attempt of report.attempts) {
      assert.equal(attempt.error, undefined, `attempt for ${attempt.key} in ${report.executor} either wins or is deduplicated`);
      if (attempt.id !== undefined) {
        assert.equal(winners.get(attempt.key), undefined, `${attempt.key}: only one enqueue is accepted (second winner in ${report.executor})`);
        winners.set(attempt.key, attempt.id);
        winsPerExecutor.set(report.executor, (winsPerExecutor.get(report.executor) ?? 0) + 1);
      }
    }
  }
  assert.equal(winners.size, keys.length, 'every key was accepted once');
  for (const report of first) {
    for (const attempt of report.attempts) {
      if (attempt.id === undefined) assert.equal(attempt.rejectedFor, winners.get(attempt.key), `${attempt.key}: the rejection names the accepted workflow`);
    }
  }
  const active = await activeByDedup(keys);
  for (const key of keys) assert.deepEqual(active.get(key), [winners.get(key)], `${key}: one active row, the accepted one`);
  assert.ok(winsPerExecutor.size >= 2, `the races were won in different processes (${show(winsPerExecutor)})`);
  t.diagnostic(`round 1: ${attemptsPerKey} attempts per key, winners per executor ${show(winsPerExecutor)}, ` +
    `bursts fired late by ${first.map((report) => report.firedLateMs).join('/')} ms`);

  // Round 2: onDuplicate "existing" hands every caller the active workflow; nothing new is inserted.
  const second = await dedupRound({ round: 'existing-2', keys, copies, spreadMs, onDuplicate: 'existing' });
  for (const report of second) {
    for (const attempt of report.attempts) {
      assert.equal(attempt.id, winners.get(attempt.key), `${attempt.key} in ${report.executor}: "existing" returns the active workflow`);
    }
  }
  const { rows: total } = await admin.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM ballast.workflows WHERE queue = 'dedup' AND dedup_id = ANY($1::text[])`, [keys]);
  assert.equal(total[0]?.n, keys.length, 'no duplicate rows were inserted');

  // Finish them; the key is free again and the next concurrent round again admits exactly one.
  const firstIds = [...winners.values()];
  await Promise.all(firstIds.map((id) => tester.send(id, 'go', true)));
  await results(firstIds.map((id) => tester.handle<string>(id)));
  await assertEachRanOnce('dedup round 1', firstIds);

  const third = await dedupRound({ round: 'reject-3', keys, copies, spreadMs, onDuplicate: 'reject' });
  const again = new Map<string, string[]>();
  for (const report of third) {
    for (const attempt of report.attempts) {
      assert.equal(attempt.error, undefined, `${attempt.key}: no unexpected error after the first workflows finished`);
      if (attempt.id !== undefined) again.set(attempt.key, [...(again.get(attempt.key) ?? []), attempt.id]);
    }
  }
  for (const key of keys) {
    const ids = again.get(key) ?? [];
    assert.equal(ids.length, 1, `${key}: exactly one accepted once the first finished`);
    assert.notEqual(ids[0], winners.get(key), `${key}: a new workflow, not the finished one`);
  }
  const thirdIds = keys.map((key) => (again.get(key) ?? [])[0] as string);
  await Promise.all(thirdIds.map((id) => tester.send(id, 'go', true)));
  await results(thirdIds.map((id) => tester.handle<string>(id)));
  await assertEachRanOnce('dedup round 3', thirdIds);
});

test('delayed work does not start before its delay has passed', async (t) => {
  // Same machine, same clock: the DB clock (started_at) and Node's (Date.now) differ only by rounding.
  const asked = Date.now();
  const { rows: clock } = await admin.query<{ db: number }>(`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS db`);
  const skewMs = (clock[0]?.db ?? 0) - (asked + Date.now()) / 2;
  const delays = [1_000, '1s', 1_000, 1_500, '1500ms', 1_000, 1_200, 1_000];
  const delayMs = delays.map((delay) => (typeof delay === 'number' ? delay : delay === '1s' ? 1_000 : 1_500));
  const enqueuedAt: number[] = [];
  const handles: WorkflowHandle<string | null>[] = [];
  for (const [n, delay] of delays.entries()) {
    enqueuedAt.push(Date.now());
    handles.push(await defs.record.enqueue({ sleepMs: 10, label: `delayed-${n}` }, { queue: 'delayed', delay }));
  }
  const ids = handles.map((handle) => handle.id);
  assert.deepEqual(new Set((await workflowRows(ids)).map((row) => row.status)), new Set(['DELAYED']), 'all DELAYED after enqueue');
  await pause(Math.max(0, (enqueuedAt[enqueuedAt.length - 1] as number) + 800 - Date.now()));
  assert.equal((await runRows(ids)).length, 0, 'nothing ran in the first 800 ms');
  await results(handles);
  const { rows, runs } = await assertEachRanOnce('delayed', ids);
  const runOf = new Map(runs.map((run) => [run.workflow_id, run]));
  const margins: number[] = [];
  const latencies: number[] = [];
  for (const [n, id] of ids.entries()) {
    const row = rows.find((r) => r.id === id) as WorkflowRow;
    const due = (enqueuedAt[n] as number) + (delayMs[n] as number);
    assert.ok((row.available_at as number) >= due, `${id}: due no earlier than enqueue time + delay`);
    // Rounding to whole milliseconds is the only slack the DB clock gets.
    assert.ok((row.started_at as number) >= due - 1, `${id}: claimed at ${row.started_at}, due at ${due} (DB clock)`);
    const run = runOf.get(id) as RunRow;
    assert.ok(run.started_ms >= due, `${id}: its step started at ${run.started_ms}, due at ${due} (worker clock)`);
    margins.push((row.started_at as number) - due);
    latencies.push(run.started_ms - due);
    assert.ok((row.started_at as number) - due < 3_000, `${id}: started within 3 s of being due (poll interval 1 s)`);
  }
  t.diagnostic(`DB clock minus Node clock ${skewMs.toFixed(2)} ms; claims ${Math.min(...margins)}–${maxOf(margins)} ms after due; ` +
    `steps ${Math.min(...latencies)}–${maxOf(latencies)} ms after due`);
});

test('queues.update changes the fleet-wide limits of every executor within about a second', async (t) => {
  const handles = await defs.record.enqueueMany(inputs(30, 'adjust').map((input) => ({ ...input, sleepMs: 150 })), { queue: 'global' });
  const before = sampler.open({ timeline: true });
  await waitFor('3 run at once', async () => before.maxRunning('global') === 3, 10_000);
  const changedAt = Date.now();
  await tester.queues.update('global', { concurrency: 1, workerConcurrency: 1 });
  sampler.close(before);

  const transition = sampler.open({ timeline: true });
  await pause(changedAt + 1_500 - Date.now());
  sampler.close(transition);
  const window = sampler.open();
  const windowFrom = Date.now();
  await pause(1_500);
  await sampler.settle();
  sampler.close(window);
  const windowTo = Date.now();
  await tester.queues.update('global', { concurrency: 3, workerConcurrency: 2 });

  await results(handles);
  const { rows } = await assertEachRanOnce('adjusted global', handles.map((handle) => handle.id));
  const lastAbove1 = [...transition.timeline].reverse().find((sample) => (sample.running.get('global') ?? 0) > 1);
  const clipped = rows
    .map(interval)
    .filter(([start, end]) => end > windowFrom && start < windowTo)
    .map(([start, end]): [number, number] => [Math.max(start, windowFrom), Math.min(end, windowTo)]);
  t.diagnostic(`more than 1 running until ${lastAbove1 === undefined ? 'never' : `${lastAbove1.at - changedAt} ms`} after the update; ` +
    `from 1.5 s to 3 s after: sampled max ${window.maxRunning('global')} over ${window.samples} samples, ${clipped.length} workflows ran, run overlap ${maxOverlap(clipped)}`);
  assert.equal(window.maxRunning('global'), 1, 'from 1.5 s after the update, one runs at a time (and work goes on)');
  assert.ok(maxOf(window.perOwner('global').values()) <= 1, 'and at most one per executor');
  assert.ok(maxOverlap(clipped) <= 1, 'runs in that window never overlap');
  assert.ok(clipped.length >= 3, 'the queue kept moving under the new limit');
  const restored = await tester.queues.list();
  assert.deepEqual(restored.find((q) => q.name === 'global'), {
    name: 'global', workerConcurrency: 2, concurrency: 3, rateLimit: null, ratePeriodMs: null, partitionConcurrency: null, fairness: null, partitionWeights: null,
  });
});

test('workers shut down cleanly on SIGTERM and logged no errors', async () => {
  await sampler.stop();
  for (const worker of workers) worker.kill('SIGTERM');
  const exits = await Promise.all(workers.map((worker) => worker.exited));
  for (const [n, worker] of workers.entries()) {
    assert.deepEqual(exits[n], { code: 0, signal: null }, `${EXECUTORS[n]} exits 0\n${worker.stderr()}`);
    assert.doesNotMatch(worker.stderr(), /\[error\]/, `${EXECUTORS[n]} logged no errors`);
  }
  assert.deepEqual(testerErrors, [], 'the test process logged no errors');
});
