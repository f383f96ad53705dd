// The flush statement's fencing lookups stay one primary-key probe per row however many workflows
// the executor has running (its sleepers, its waiting parents). A lookup planned through the partial
// index of running rows (keyed by owner) reads all of them on every probe: starting sleepers then
// costs O(sleepers) each. Checked with EXPLAIN ANALYZE over 6,000 PENDING rows of one owner, under
// custom plans, generic plans and the default mode (a prepared statement executed past its five
// custom plans), with fresh statistics and with statistics taken while the table was empty.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Completion, NewCheckpoint, NewWorkflow, StreamAppend } from '../../src/store/records.js';
import { flushStatement, type FlushBatch } from '../../src/store/sql/flush.js';
import { channelFor } from '../../src/store/wakeups.js';
import { literal, nodesOf, type PlanNode, migratedDatabase, type MigratedDatabase } from '../support/plans.js';

const SCHEMA = 'ballast';
const OWNER = 'executor-a';
const RUNNING = 6_000;

interface AnalyzedNode extends PlanNode {
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
}

const item = <T>(value: T) => ({ item: value, waiter: { resolve: () => undefined, reject: () => undefined } });
const running = (i: number) => `run-${i}`;

const checkpoint = (i: number, extra: Partial<NewCheckpoint> = {}): NewCheckpoint => ({
  workflowId: running(i), owner: OWNER, epoch: 1, idx: 1, name: 'ballast.sleep', output: '1', error: null, childId: null,
  startedAt: null, completedAt: 2, ...extra,
});
const completion = (i: number): Completion => ({
  workflowId: running(i), owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '1', error: null, completedAt: 3,
});
const start = (id: string, parent: number | null): NewWorkflow => ({
  id, name: 'sleeper', status: 'PENDING', appName: 'app', appVersion: 'v1', queue: null, partitionKey: null, dedupId: null,
  priority: 0, owner: OWNER, epoch: 1, input: 'null', parentId: parent === null ? null : running(parent), timeoutMs: null,
  deadlineAt: null, availableAt: null, createdAt: 1, startedAt: 1,
  ...(parent === null ? {} : { parentOwner: OWNER, parentEpoch: 1 }),
});
const append = (i: number): StreamAppend => ({ workflowId: running(i), owner: OWNER, epoch: 1, rows: [{ key: 'k', position: 0, value: '1', writtenAt: 1 }] });

/** Each batch and the number of workflow rows its fences look up. */
const BATCHES: Array<{ name: string; probes: number; batch: Partial<FlushBatch> }> = [
  { name: 'one checkpoint', probes: 1, batch: { checkpoints: [item(checkpoint(7))] } },
  { name: '20 checkpoints', probes: 20, batch: { checkpoints: Array.from({ length: 20 }, (_, i) => item(checkpoint(100 + i))) } },
  {
    name: 'a start with its first checkpoint, beside another checkpoint',
    probes: 1,
    batch: { starts: [item(start('new-1', null))], checkpoints: [item({ ...checkpoint(0), workflowId: 'new-1', idx: 0, withStart: true as const }), item(checkpoint(9))] },
  },
  { name: 'one completion', probes: 1, batch: { completions: [item(completion(3_000))] } },
  { name: '20 completions', probes: 20, batch: { completions: Array.from({ length: 20 }, (_, i) => item(completion(3_100 + i))) } },
  { name: 'a child start fenced on its parent', probes: 1, batch: { starts: [item(start('child-1', 11))] } },
  { name: 'a stream append', probes: 1, batch: { streams: [item(append(12))] } },
];

type Mode = 'force_custom_plan' | 'force_generic_plan' | 'auto';

describe('flush fencing: one primary-key probe per row, whatever the number of running workflows', () => {
  let db: MigratedDatabase;
  let client: pg.Client;

  /** EXPLAIN ANALYZE of the statement's plan in `mode`, in a transaction rolled back after. */
  async function explain(sql: string, params: unknown[], mode: Mode): Promise<AnalyzedNode[]> {
    type Row = { 'QUERY PLAN': Array<{ Plan: AnalyzedNode }> };
    const args = `(${params.map((param) => literal(client, param)).join(', ')})`;
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL plan_cache_mode = ${mode === 'auto' ? 'auto' : mode}`);
      await client.query(`PREPARE fenced AS ${sql}`);
      // In the default mode the sixth execution on is where a generic plan may take over.
      if (mode === 'auto') for (let n = 0; n < 6; n++) await client.query(`EXPLAIN EXECUTE fenced${args}`);
      const { rows } = await client.query<Row>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE fenced${args}`);
      const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
      assert.ok(plan);
      return nodesOf(plan) as AnalyzedNode[];
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE ALL');
    }
  }

  async function checkAll(statistics: string): Promise<void> {
    for (const mode of ['force_custom_plan', 'force_generic_plan', 'auto'] as const) {
      for (const { name, probes, batch } of BATCHES) {
        const statement = flushStatement(SCHEMA, channelFor(SCHEMA), { starts: [], checkpoints: [], completions: [], streams: [], ...batch }, []);
        const nodes = await explain(statement.text, statement.params, mode);
        const describeNodes = nodes.map((node) => `${node['Node Type']} ${node['Index Name'] ?? node['Relation Name'] ?? ''} rows=${node['Actual Rows']} loops=${node['Actual Loops']} removed=${node['Rows Removed by Filter'] ?? 0}`);
        const where = `${name}, ${mode}, ${statistics}:\n  ${describeNodes.join('\n  ')}`;
        const reads = nodes.filter((node) => node['Node Type'] !== 'ModifyTable' && (node['Relation Name'] === 'workflows' || node['Index Name']?.startsWith('workflows')));
        assert.ok(reads.length > 0, `the workflows table is read; ${where}`);
        for (const node of reads) {
          assert.ok(node['Node Type'] !== 'Seq Scan', `no sequential scan of workflows; ${where}`);
          if (node['Index Name'] !== undefined) assert.equal(node['Index Name'], 'workflows_pkey', `workflows read by primary key; ${where}`);
          const read = (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'];
          // A bitmap scan of N IDs may count a row version more than once; anything near the number of running rows fails.
          assert.ok(read <= 2 * probes + 2, `at most a row or two per probe (read ${read} for ${probes}); ${where}`);
        }
      }
    }
  }

  before(async () => {
    db = await migratedDatabase('fencing_plans', SCHEMA);
    client = db.client;
    // Statistics of an empty table, as autovacuum leaves them before a burst of starts.
    await client.query(`ANALYZE ${SCHEMA}.workflows`);
    await client.query(`
      INSERT INTO ${SCHEMA}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, created_at, started_at, updated_at)
      SELECT 'run-' || i, 'sleeper', 'PENDING', 'app', 'v1', '${OWNER}', 1, 1, 'null', i, i, i FROM generate_series(0, ${RUNNING - 1}) AS i`);
    await client.query(`
      INSERT INTO ${SCHEMA}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, output, created_at, started_at, completed_at, updated_at)
      SELECT 'done-' || i, 'sleeper', 'SUCCESS', 'app', 'v1', '${OWNER}', 1, 1, 'null', '1', i, i, i, i FROM generate_series(1, 20000) AS i`);
  });

  after(async () => {
    await db?.close();
  });

  test('with statistics taken while the table was empty', async () => {
    await checkAll('stale statistics');
  });

  test('with fresh statistics', async () => {
    await client.query(`ANALYZE ${SCHEMA}.workflows`);
    await checkAll('fresh statistics');
  });
});
