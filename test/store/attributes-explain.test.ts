// The attribute filter stays cheap on a big history: a list by attributes reads the GIN index of
// attributes (workflows_attributes) and never scans the workflows table, whatever other filters
// come with it, with the parameters bound (custom plan) and as a generic plan. The debounce upsert
// finds its key's waiting row through workflows_debounce. Each statement is captured from the
// module that runs it. BALLAST_EXPLAIN_PRINT=1 prints the plans and their timings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Queryable } from '../../src/store/driver.js';
import { debounceWorkflow } from '../../src/store/sql/debounce.js';
import { listWorkflows, type ListQuery } from '../../src/store/sql/list.js';
import { analyzeWholeTables, explainGeneric, literal, nodesOf, type PlanNode, migratedDatabase, type MigratedDatabase } from '../support/plans.js';

const FINISHED = Number(process.env.BALLAST_EXPLAIN_ROWS ?? 1_000_000);
const TENANTS = 1_000;
const WAITING = 10_000;

async function capture(run: (db: Queryable) => Promise<unknown>): Promise<{ sql: string; params: unknown[] }> {
  let captured: { sql: string; params: unknown[] } | undefined;
  const recorder: Queryable = {
    async query<Row>(sql: string, params: unknown[] = []) {
      captured ??= { sql, params };
      return { rows: [] as Row[], rowCount: 0 };
    },
    async exec() {},
  };
  await run(recorder).catch(() => undefined);
  assert.ok(captured);
  return captured;
}

const NO_FILTER: ListQuery = {
  statuses: null, name: null, queue: null, executorId: null, appVersion: null, parentId: null, idPrefix: null, attributes: null,
  createdAfter: null, createdBefore: null, completedAfter: null, completedBefore: null, limit: 100, offset: 0, order: 'desc',
  withPayloads: false, after: null, search: null, searchTimeoutMs: 2_000,
};

describe(`attribute filters over ${FINISHED.toLocaleString('en')} finished and ${WAITING.toLocaleString('en')} waiting workflows`, () => {
  let db: MigratedDatabase;
  let client: pg.Client;

  before(async () => {
    db = await migratedDatabase('attr_explain');
    client = db.client;
    // Every finished workflow has a tenant (one of 1,000) and an order ID; one in ten has none at all.
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, epoch, attempts, input, output,
         created_at, started_at, completed_at, updated_at, attributes)
       SELECT 'done-' || i, 'noop', CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, 'app', 'v1', NULL, 0, 1, 1, 'null', 'null',
         i, i, i, i, CASE WHEN i % 10 = 0 THEN NULL ELSE jsonb_build_object('tenant', 'tenant-' || (i % ${TENANTS}), 'orderId', i::text) END
       FROM generate_series(1, ${FINISHED}) AS i`,
    );
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at, attributes)
       SELECT 'waiting-' || i, 'noop', 'ENQUEUED', 'app', 'v1', 'big', 2147483647, 'null', ${FINISHED} + i, ${FINISHED} + i,
         jsonb_build_object('tenant', 'tenant-' || (i % ${TENANTS}))
       FROM generate_series(1, ${WAITING}) AS i`,
    );
    await client.query('VACUUM ballast.workflows');
    await analyzeWholeTables(client, 'ballast.workflows');
  });

  after(async () => {
    await db?.close();
  });

  async function plans(sql: string, params: unknown[]): Promise<Array<{ kind: string; nodes: PlanNode[]; ms: number }>> {
    await client.query(`PREPARE custom AS ${sql}`);
    type Row = { 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> };
    let custom: Row['QUERY PLAN'][0];
    try {
      const args = params.length > 0 ? `(${params.map((param) => literal(client, param)).join(', ')})` : '';
      const { rows } = await client.query<Row>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE custom${args}`);
      custom = rows[0]!['QUERY PLAN'][0]!;
    } finally {
      await client.query('DEALLOCATE custom');
    }
    const generic = await explainGeneric(client, sql, params);
    return [
      { kind: 'custom', nodes: nodesOf(custom.Plan), ms: custom['Execution Time'] },
      { kind: 'generic', nodes: generic.nodes, ms: generic.executionMs },
    ];
  }

  function summary(nodes: PlanNode[]): string {
    return nodes.map((node) => `${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`).join(' > ');
  }

  const cases: Array<[string, Partial<ListQuery>]> = [
    ['a tenant (1 in 1,000)', { attributes: { tenant: 'tenant-7' } }],
    ['a tenant, oldest first', { attributes: { tenant: 'tenant-7' }, order: 'asc' }],
    ['one order', { attributes: { orderId: '4242' } }],
    ['a tenant and an order', { attributes: { tenant: 'tenant-242', orderId: '4242' } }],
    ['a tenant among the finished', { attributes: { tenant: 'tenant-7' }, statuses: ['SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER'] }],
    ['a tenant\'s failures', { attributes: { tenant: 'tenant-7' }, statuses: ['ERROR'] }],
    ['a tenant\'s waiting work', { attributes: { tenant: 'tenant-7' }, statuses: ['ENQUEUED'], queue: 'big' }],
    ['a tenant by name, created in a range', { attributes: { tenant: 'tenant-7' }, name: 'noop', createdAfter: 1_000, createdBefore: FINISHED / 2 }],
    ['a tenant nobody has', { attributes: { tenant: 'initech' } }],
  ];

  for (const [what, filter] of cases) {
    test(`list by ${what} reads workflows_attributes, never a sequential scan`, async () => {
      const { sql, params } = await capture((recorder) => listWorkflows(recorder, '"ballast"', { ...NO_FILTER, ...filter }));
      for (const plan of await plans(sql, params)) {
        const line = `${what} (${plan.kind}, ${plan.ms.toFixed(1)} ms): ${summary(plan.nodes)}`;
        if (process.env.BALLAST_EXPLAIN_PRINT === '1') console.log(line);
        assert.ok(!plan.nodes.some((node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'workflows'), line);
        assert.ok(plan.nodes.some((node) => node['Index Name'] === 'workflows_attributes'), line);
      }
    });
  }

  test('the debounce upsert finds its key through workflows_debounce', async () => {
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, input, available_at, created_at, updated_at, debounce_key)
       SELECT 'debounced-' || i, 'noop', 'DELAYED', 'app', 'v1', 'big', 0, 'null', 1, 1, 1, 'key-' || i FROM generate_series(1, 1000) AS i`,
    );
    await analyzeWholeTables(client, 'ballast.workflows');
    const row = {
      id: 'new-id', name: 'noop', status: 'DELAYED' as const, appName: 'app', appVersion: 'v1', queue: 'big', partitionKey: null, dedupId: null,
      priority: 0, owner: null, epoch: 0, input: '1', parentId: null, timeoutMs: null, deadlineAt: null, availableAt: null, createdAt: 0, startedAt: null,
    };
    const { sql, params } = await capture((recorder) => debounceWorkflow(recorder, '"ballast"', { row, key: 'key-500', delayMs: 1_000, maxWaitMs: 5_000 }, null));
    await client.query('BEGIN');
    try {
      for (const plan of await plans(sql, params)) {
        const line = `debounce (${plan.kind}): ${summary(plan.nodes)}`;
        if (process.env.BALLAST_EXPLAIN_PRINT === '1') console.log(line);
        assert.ok(!plan.nodes.some((node) => node['Node Type'] === 'Seq Scan'), line);
      }
      const { rows } = await client.query<{ id: string }>(`SELECT id FROM ballast.workflows WHERE debounce_key = 'key-500' AND status = 'DELAYED'`);
      assert.deepEqual(rows.map((r) => r.id), ['debounced-500'], 'the call joined the waiting row instead of inserting one');
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
