// A partitioned claim reads the heads of the keys with waiting work, never a key's backlog: on a
// queue where one key has 100,000 waiting workflows and five keys have 10 each, next to 100,000
// finished ones, the fair and the partitioned claim walk workflows_partition_ready one probe per key
// and read a few rows per key, in the custom plan (parameters bound) and the generic plan (what a
// prepared statement runs). Plans are EXPLAIN ANALYZEd inside a transaction that is rolled back, and
// what they read is counted from the plan's own row counts, not timed. BALLAST_EXPLAIN_PRINT=1
// prints the plans and their timings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { claimStatement, type ClaimOrder } from '../../src/store/sql/queues.js';
import { analyzeWholeTables, literal, migratedDatabase, type MigratedDatabase } from '../support/plans.js';

const FLOOD = 100_000;
const SMALL_KEYS = 5;
const SMALL_EACH = 10;
const FINISHED = 100_000;
const RUNNING = 10;
const MANY_KEYS = 1_000;
const MANY_EACH = 30; // fair: every key idle; partitioned: at most 2 running per key

interface AnalyzedNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: AnalyzedNode[];
}

const nodesOf = (plan: AnalyzedNode): AnalyzedNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];

describe(`a fair queue: one key with ${FLOOD.toLocaleString('en')} waiting, ${SMALL_KEYS} keys with ${SMALL_EACH}`, () => {
  let db: MigratedDatabase;
  let client: pg.Client;

  before(async () => {
    db = await migratedDatabase('fair_explain');
    client = db.client;
    await client.query(`INSERT INTO ballast.queues (name, concurrency, fairness, updated_at) VALUES ('tenants', 10, 'partition', 0)`);
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, partition_key, priority, epoch, attempts, input, output,
         created_at, started_at, completed_at, updated_at)
       SELECT 'done-' || i, 'job', 'SUCCESS', 'app', 'v1', 'tenants', 'flood', 2147483647, 1, 1, 'null', 'null', i, i, i, i
       FROM generate_series(1, ${FINISHED}) AS i`,
    );
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, partition_key, priority, owner, epoch, attempts, input,
         created_at, started_at, updated_at)
       SELECT 'running-' || i, 'job', 'PENDING', 'app', 'v1', 'tenants', 'flood', 2147483647, 'executor-1', 1, 1, 'null', i, i, i
       FROM generate_series(1, ${RUNNING}) AS i`,
    );
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, partition_key, priority, input, created_at, updated_at)
       SELECT 'flood-' || i, 'job', 'ENQUEUED', 'app', 'v1', 'tenants', 'flood', 2147483647, 'null', ${FINISHED} + i, ${FINISHED} + i
       FROM generate_series(1, ${FLOOD}) AS i`,
    );
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, partition_key, priority, input, created_at, updated_at)
       SELECT 'small-' || k || '-' || i, 'job', 'ENQUEUED', 'app', 'v1', 'tenants', 'small-' || k, 2147483647, 'null', 300000 + i, 300000 + i
       FROM generate_series(1, ${SMALL_KEYS}) AS k, generate_series(1, ${SMALL_EACH}) AS i`,
    );
    await client.query('VACUUM ballast.workflows');
    await analyzeWholeTables(client, 'ballast.workflows, ballast.queues');
  });

  after(async () => {
    await db?.close();
  });

  /** EXPLAIN ANALYZE of the claim, rolled back: the plan's nodes, the rows it claimed and its time. */
  async function analyze(order: ClaimOrder, kind: 'custom' | 'generic', params: unknown[]): Promise<{ nodes: AnalyzedNode[]; claimed: number; ms: number }> {
    type Row = { 'QUERY PLAN': Array<{ Plan: AnalyzedNode; 'Execution Time': number }> };
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL plan_cache_mode = ${kind === 'custom' ? 'force_custom_plan' : 'force_generic_plan'}`);
      await client.query('SET LOCAL jit = off'); // as on Ballast's own connections (see PgDriver)
      await client.query(`PREPARE claim AS ${claimStatement('ballast', order)}`);
      const { rows } = await client.query<Row>(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE claim(${params.map((p) => literal(client, p)).join(', ')})`);
      const explained = rows[0]?.['QUERY PLAN'][0];
      assert.ok(explained);
      const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM ballast.workflows WHERE owner = 'claimer'`);
      return { nodes: nodesOf(explained.Plan), claimed: counted[0]?.n ?? 0, ms: explained['Execution Time'] };
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE ALL');
    }
  }

  /** Index entries of workflows the plan read, over all loops. */
  const rowsRead = (nodes: AnalyzedNode[]) =>
    nodes
      .filter((node) => node['Relation Name'] === 'workflows' && node['Node Type'].includes('Index'))
      .reduce((sum, node) => sum + node['Actual Rows'] * node['Actual Loops'], 0);

  for (const order of ['fair', 'partitioned'] as const) {
    for (const kind of ['custom', 'generic'] as const) {
      test(`the ${order} claim reads each key's head through workflows_partition_ready, not the flood (${kind} plan)`, async (t) => {
        const params = order === 'fair' ? ['tenants', 'claimer', 'v1', 10, 2147483647, '{}'] : ['tenants', 'claimer', 'v1', 10, 20];
        const { nodes, claimed, ms } = await analyze(order, kind, params);
        const summary = nodes.map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} rows=${n['Actual Rows']}x${n['Actual Loops']}`).join('\n  ');
        if (process.env.BALLAST_EXPLAIN_PRINT === '1') console.log(`${order} ${kind}: ${ms.toFixed(2)} ms\n  ${summary}`);
        t.diagnostic(`${order} claim (${kind} plan): ${ms.toFixed(2)} ms, ${rowsRead(nodes)} index entries read`);
        assert.equal(claimed, 10, 'the claim took as many as it asked for');
        assert.ok(nodes.some((node) => node['Index Name'] === 'workflows_partition_ready'), `uses workflows_partition_ready:\n  ${summary}`);
        assert.deepEqual(nodes.filter((node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'workflows'), [], `no sequential scan:\n  ${summary}`);
        // 6 keys: a probe each, at most 10 heads each, 10 running rows: a few hundred at most, of 200,000.
        assert.ok(rowsRead(nodes) < 200, `reads the keys' heads only (${rowsRead(nodes)} index entries):\n  ${summary}`);
      });
    }
  }

  test(`with ${MANY_KEYS.toLocaleString('en')} keys waiting, a claim reads each key's head once, not the backlogs`, async (t) => {
    await client.query(`INSERT INTO ballast.queues (name, fairness, updated_at) VALUES ('many', 'partition', 0)`);
    await client.query(
      `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, partition_key, priority, input, created_at, updated_at)
       SELECT 'many-' || k || '-' || i, 'job', 'ENQUEUED', 'app', 'v1', 'many', 'tenant-' || k, 2147483647, 'null', i, i
       FROM generate_series(1, ${MANY_KEYS}) AS k, generate_series(1, ${MANY_EACH}) AS i`,
    );
    await client.query('VACUUM ballast.workflows');
    await analyzeWholeTables(client, 'ballast.workflows');
    for (const order of ['fair', 'partitioned'] as const) {
      for (const kind of ['custom', 'generic'] as const) {
        const params = order === 'fair' ? ['many', 'claimer', 'v1', 10, 2147483647, '{}'] : ['many', 'claimer', 'v1', 10, 2];
        const { nodes, claimed, ms } = await analyze(order, kind, params);
        t.diagnostic(`${order} claim (${kind} plan) over ${MANY_KEYS} keys: ${ms.toFixed(2)} ms, ${rowsRead(nodes)} index entries read`);
        assert.equal(claimed, 10);
        // A probe per key for the walk and one for its head, plus the few rows that rank before
        // the claim's 10th key head: never the ${MANY_KEYS * MANY_EACH} waiting rows.
        assert.ok(rowsRead(nodes) <= MANY_KEYS * 4 + 100, `${rowsRead(nodes)} index entries read`);
      }
    }
  });

  test('the fair claim shares one claim among the keys; the partitioned one takes the oldest that may start', async () => {
    const claimed = async (order: ClaimOrder, params: unknown[]) => {
      await client.query('BEGIN');
      try {
        const { rows } = await client.query<{ id: string; partitionKey: string }>(claimStatement('ballast', order), params);
        return rows;
      } finally {
        await client.query('ROLLBACK');
      }
    };
    const keys = (rows: Array<{ partitionKey: string }>) => rows.map((row) => row.partitionKey).sort();
    const fair = await claimed('fair', ['tenants', 'claimer', 'v1', 10, 2147483647, '{}']);
    // The flood runs 10 already: every small key gets two turns before it gets one.
    assert.deepEqual(keys(fair), ['small-1', 'small-1', 'small-2', 'small-2', 'small-3', 'small-3', 'small-4', 'small-4', 'small-5', 'small-5']);
    // Weight 20 and 10 running: the flood is at half its share; each small key's first turn comes
    // first (none of their share runs), then the flood's turns up to 0.7 of its share.
    const weighted = await claimed('fair', ['tenants', 'claimer', 'v1', 10, 2147483647, JSON.stringify({ flood: 20 })]);
    assert.deepEqual(keys(weighted), ['flood', 'flood', 'flood', 'flood', 'flood', 'small-1', 'small-2', 'small-3', 'small-4', 'small-5']);
    const partitioned = await claimed('partitioned', ['tenants', 'claimer', 'v1', 10, 12]);
    const { rows: expected } = await client.query<{ id: string }>(
      `(SELECT id, seq FROM ballast.workflows WHERE status = 'ENQUEUED' AND partition_key = 'flood' ORDER BY seq LIMIT 2)
       UNION ALL (SELECT id, seq FROM ballast.workflows WHERE status = 'ENQUEUED' AND partition_key LIKE 'small-%' ORDER BY seq LIMIT 8)
       ORDER BY id`,
    );
    assert.deepEqual(partitioned.map((row) => row.id).sort(), expected.map((row) => row.id),
      'the flood may start 2 more (12 per key); then the oldest of the others in arrival order');
  });
});
