import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Ballast } from '../../src/index.js';
import type { Queryable } from '../../src/store/driver.js';
import { listWorkflows, type ListQuery } from '../../src/store/sql/list.js';
import { claimStatement, queueDepths, queueDepthStatement } from '../../src/store/sql/queues.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

async function explain(client: pg.Client, sql: string, params: unknown[]): Promise<PlanNode[]> {
  await client.query(`PREPARE probe AS ${sql}`);
  try {
    const literal = params.map((p) => (p === null ? 'NULL' : typeof p === 'number' ? String(p) : `'${String(p)}'`)).join(', ');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) EXECUTE probe${params.length > 0 ? `(${literal})` : ''}`);
    return nodes(rows[0]!['QUERY PLAN'][0].Plan);
  } finally {
    await client.query('DEALLOCATE probe');
  }
}

function assertNoSeqScanOnWorkflows(plan: PlanNode[]): void {
  const seq = plan.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'workflows');
  assert.deepEqual(seq, [], `plan has a sequential scan of workflows: ${JSON.stringify(plan.map((n) => n['Node Type']))}`);
}

function usesIndex(plan: PlanNode[], index: string): boolean {
  return plan.some((n) => n['Index Name'] === index);
}

/** The statement `listWorkflows` runs for `query`, captured instead of run. */
async function listStatement(query: Partial<ListQuery>): Promise<{ sql: string; params: unknown[] }> {
  let captured: { sql: string; params: unknown[] } | undefined;
  const recorder: Queryable = {
    async query<Row>(sql: string, params: unknown[] = []) {
      captured = { sql, params };
      return { rows: [] as Row[], rowCount: 0 };
    },
    async exec() {},
  };
  const none = { statuses: null, name: null, queue: null, executorId: null, appVersion: null, parentId: null, idPrefix: null, attributes: null };
  const times = { createdAfter: null, createdBefore: null, completedAfter: null, completedBefore: null };
  await listWorkflows(recorder, '"ballast"', { ...none, ...times, limit: 50, offset: 0, order: 'desc', withPayloads: false, after: null, search: null, searchTimeoutMs: 2_000, ...query });
  assert.ok(captured);
  return captured;
}

describe('a queue with 100,000 finished workflows and 10,000 waiting', () => {
  let db: TestDatabase;
  let app: Ballast;
  let client: pg.Client;
  let seededAt = 0;

  before(async () => {
    db = await openTestDatabase('postgres');
    app = newBallast(db, { appVersion: 'v1', retention: { batchSize: 5_000 } });
    app.queue('big', { workerConcurrency: 1 });
    app.workflow('noop', async () => undefined);
    await app.launch();
    client = new pg.Client({ connectionString: db.config.databaseUrl });
    await client.connect();
    const now = Date.now();
    seededAt = now;
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, epoch, attempts, input, output,
         created_at, started_at, completed_at, updated_at)
       SELECT 'done-' || i, 'noop', 'SUCCESS', 'test-app', 'v1', 'big', 2147483647, 1, 1, 'null', 'null',
         $1::int8 - 200000 + i, $1::int8 - 200000 + i, $1::int8 - 200000 + i, $1::int8 - 200000 + i
       FROM generate_series(1, 100000) AS i`,
      [now],
    );
    await client.query(
      `INSERT INTO ballast.steps (workflow_id, idx, name, output, completed_at)
       SELECT 'done-' || i, 0, 'step', 'null', $1::int8 FROM generate_series(1, 100000) AS i`,
      [now],
    );
    // Held back by a future availability would be DELAYED; these wait as ENQUEUED for an app version no executor runs.
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at)
       SELECT 'waiting-' || i, 'noop', 'ENQUEUED', 'test-app', 'v0', 'big', 2147483647, 'null', $1::int8 + i, $1::int8 + i
       FROM generate_series(1, 10000) AS i`,
      [now],
    );
    await client.query('VACUUM ANALYZE ballast.workflows');
    await client.query('ANALYZE ballast.steps');
  });

  after(async () => {
    await client.end();
    await app.shutdown({ drainMs: 0 });
    await db.close();
  });

  test('the claim reads the ready index, never the finished history', async () => {
    const plan = await explain(client, claimStatement('ballast', 'head'), ['big', 'executor-x', 'v0', 10]);
    assertNoSeqScanOnWorkflows(plan);
    assert.ok(usesIndex(plan, 'workflows_queue_ready'), JSON.stringify(plan.map((n) => [n['Node Type'], n['Index Name']])));
    const partitioned = await explain(client, claimStatement('ballast', 'partitioned'), ['big', 'executor-x', 'v0', 10, 1]);
    assertNoSeqScanOnWorkflows(partitioned);
    assert.ok(usesIndex(partitioned, 'workflows_partition_ready'));
  });

  test('the queue-length count reads only active rows through an index', async () => {
    for (const [byQueue, byVersion, params] of [
      [true, false, ['big']],
      [true, true, ['big', 'v0']],
      [false, false, []],
    ] as const) {
      const plan = await explain(client, queueDepthStatement('ballast', byQueue, byVersion), [...params]);
      assertNoSeqScanOnWorkflows(plan);
      // Each state through its own partial index: waiting, running, delayed; never the finished history.
      for (const index of ['workflows_queue_ready', 'workflows_pending', 'workflows_delayed']) {
        assert.ok(usesIndex(plan, index), `${index}: ${JSON.stringify(plan.map((n) => [n['Node Type'], n['Index Name']]))}`);
      }
    }
    const metrics = await app.queues.metrics('big');
    assert.equal(metrics.enqueued, 10_000);
    assert.equal(metrics.queueLength, 10_000);
  });

  test("the oldest waiting workflow is found across versions and priorities from each group's head", async () => {
    // Arrival order (seq) and creation time disagree on purpose within a group: the head of a group is
    // its first arrival, whose creation time is what the metric reports for that group.
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at)
       VALUES ('age-1', 'noop', 'ENQUEUED', 'test-app', 'va', 'ages', 5, 'null', 5000, 0),
              ('age-2', 'noop', 'ENQUEUED', 'test-app', 'va', 'ages', 1, 'null', 3000, 0),
              ('age-3', 'noop', 'ENQUEUED', 'test-app', 'vb', 'ages', 0, 'null', 2000, 0),
              ('age-4', 'noop', 'ENQUEUED', 'test-app', 'va', 'ages', 5, 'null', 9000, 0),
              ('age-5', 'noop', 'DELAYED', 'test-app', 'va', 'ages', 0, 'null', 1000, 0),
              ('age-6', 'noop', 'PENDING', 'test-app', 'va', 'ages', 0, 'null', 500, 0)`,
    );
    const db: Queryable = {
      query: async <Row>(sql: string, params?: unknown[]) => {
        const result = await client.query(sql, params);
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
      },
      exec: async () => {},
    };
    const all = (await queueDepths(db, '"ballast"', 'ages', null)).map((d) => ({ ...d, oldestEnqueuedAt: Number(d.oldestEnqueuedAt) }));
    assert.deepEqual(all, [{ queue: 'ages', enqueued: 4, pending: 1, delayed: 1, oldestEnqueuedAt: 2000 }]);
    const va = (await queueDepths(db, '"ballast"', 'ages', 'va')).map((d) => ({ ...d, oldestEnqueuedAt: Number(d.oldestEnqueuedAt) }));
    assert.deepEqual(va, [{ queue: 'ages', enqueued: 3, pending: 1, delayed: 1, oldestEnqueuedAt: 3000 }]);
    const everyQueue = await queueDepths(db, '"ballast"', null, null);
    assert.deepEqual(everyQueue.map((d) => d.queue), ['ages', 'big']);
    await client.query(`DELETE FROM ballast.workflows WHERE queue = 'ages'`);
  });

  test('listing reads each status group through an index, never the whole history', async () => {
    for (const query of [{}, { statuses: ['SUCCESS' as const] }, { queue: 'big' }, { statuses: ['ENQUEUED' as const, 'PENDING' as const] }, { order: 'asc' as const }]) {
      const { sql, params } = await listStatement(query);
      const plan = await explain(client, sql, params);
      assertNoSeqScanOnWorkflows(plan);
    }
    const newest = await app.workflows.list({ limit: 3 });
    assert.deepEqual(newest.map((w) => w.id), ['waiting-10000', 'waiting-9999', 'waiting-9998']);
    const oldestFinished = await app.workflows.list({ status: 'SUCCESS', limit: 2, order: 'asc' });
    assert.deepEqual(oldestFinished.map((w) => w.id), ['done-1', 'done-2']);
  });

  test('retention deletes finished workflows in batches by row budget and age, with their steps', async () => {
    const app2 = newBallast(db, { appVersion: 'v1', executorId: 'pruner', retention: { maxRows: 60_000, batchSize: 5_000 } });
    await app2.launch();
    try {
      assert.equal(await app2.pruneFinished(), 40_000);
    } finally {
      await app2.shutdown({ drainMs: 0 });
    }
    const count = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]?.n);
    assert.equal(await count(`SELECT count(*) AS n FROM ballast.workflows WHERE status = 'SUCCESS'`), 60_000);
    assert.equal(await count(`SELECT count(*) AS n FROM ballast.workflows WHERE id = 'done-40000'`), 0);
    assert.equal(await count(`SELECT count(*) AS n FROM ballast.workflows WHERE id = 'done-40001'`), 1);
    assert.equal(await count(`SELECT count(*) AS n FROM ballast.steps`), 60_000);
    assert.equal(await count(`SELECT count(*) AS n FROM ballast.workflows WHERE status = 'ENQUEUED'`), 10_000, 'active work is never pruned');

    // Rows completed at seededAt - 200000 + i: an age limit that cuts at i = 50000 deletes 40001..49999,
    // plus one row per millisecond that passes between here and the prune (launch time).
    const maxAge = Date.now() - (seededAt - 150_000);
    const app3 = newBallast(db, { appVersion: 'v1', executorId: 'aged', retention: { maxAge } });
    await app3.launch();
    try {
      const deleted = await app3.pruneFinished();
      assert.ok(deleted >= 9_999 && deleted <= 9_999 + 5_000, `deleted ${deleted}`);
    } finally {
      await app3.shutdown({ drainMs: 0 });
    }
  });

  test('an age limit counts from completion: a long run that just finished is kept', async () => {
    // The scan walks creation order, so both rows below are reached; only the completion time decides.
    const hourAgo = Date.now() - 3_600_000;
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, input, output, created_at, started_at, completed_at, updated_at)
       VALUES ('aged-out', 'noop', 'SUCCESS', 'test-app', 'v1', 'null', 'null', $1, $1, $1, $1),
              ('long-run', 'noop', 'SUCCESS', 'test-app', 'v1', 'null', 'null', $1, $1, $2, $2)`,
      [hourAgo, Date.now()],
    );
    const pruner = newBallast(db, { appVersion: 'v1', executorId: 'age-check', retention: { maxAge: '10m' } });
    await pruner.launch();
    try {
      await pruner.pruneFinished();
    } finally {
      await pruner.shutdown({ drainMs: 0 });
    }
    const { rows } = await client.query<{ id: string }>(`SELECT id FROM ballast.workflows WHERE id IN ('aged-out', 'long-run')`);
    assert.deepEqual(rows.map((row) => row.id), ['long-run']);
  });
});
