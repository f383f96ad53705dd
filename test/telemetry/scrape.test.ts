// A Prometheus scrape next to a large history: 1,000,000 finished workflows and 10,000 waiting.
// What the scrape asks Postgres is EXPLAINed (not timed): every count goes through the partial index
// of its state, so its cost follows the 10,000, never the million; and the values are right.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { queueDepthStatement, versionDepthStatement } from '../../src/store/sql/queues.js';
import { SystemStore } from '../../src/store/system-store.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { testDatabase } from '../support/postgres.js';
import { parseExposition, sampleValue } from '../support/prometheus.js';

const FINISHED = 1_000_000;
const WAITING = 10_000;

let db: { url: string; close(): Promise<void> };
let client: pg.Client;
let driver: PgDriver;

before(async () => {
  db = await testDatabase('scrape');
  driver = new PgDriver({ connectionString: db.url, poolSize: 2, applicationName: 'scrape-test', logger: { warn: () => undefined } });
  await migrate(driver, 'ballast');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`
    INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, output, created_at, started_at, completed_at, updated_at)
    SELECT 'done-' || i, 'task', 'SUCCESS', 'app', 'v' || (i % 3), 'tasks', 'null', '1', i, i, i + 1, i + 1
    FROM generate_series(1, ${FINISHED}) AS i`);
  await client.query(`
    INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, created_at, updated_at)
    SELECT 'wait-' || i, 'task', 'ENQUEUED', 'app', 'v' || (i % 2), CASE WHEN i % 4 = 0 THEN 'emails' ELSE 'tasks' END, 'null', ${FINISHED} + i, ${FINISHED} + i
    FROM generate_series(1, ${WAITING}) AS i`);
  await client.query(`
    INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, owner, epoch, attempts, input, created_at, started_at, updated_at)
    SELECT 'run-' || i, 'task', 'PENDING', 'app', 'v1', 'tasks', 'pod-1', 1, 1, 'null', i, i, i FROM generate_series(1, 40) AS i`);
  await client.query(`
    INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, available_at, created_at, updated_at)
    SELECT 'later-' || i, 'task', 'DELAYED', 'app', 'v1', 'emails', 'null', 9999999999999, i, i FROM generate_series(1, 25) AS i`);
  await client.query('VACUUM ANALYZE ballast.workflows');
});

after(async () => {
  await client?.end();
  await driver?.close();
  await db.close();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

async function planOf(sql: string, params: unknown[] = []): Promise<PlanNode[]> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
  return nodes(rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode);
}

test('every statement of a scrape reads workflows only through the partial indexes of active states', async () => {
  for (const [what, sql] of [
    ['depth by queue, status and version', versionDepthStatement('ballast')],
    ['depth and oldest waiting by queue', queueDepthStatement('ballast', false, false)],
  ] as const) {
    const plan = await planOf(sql);
    const described = plan.map((node) => `${node['Node Type']} ${node['Index Name'] ?? ''} ${node['Relation Name'] ?? ''}`).join('\n');
    const onWorkflows = plan.filter((node) => node['Relation Name'] === 'workflows');
    assert.ok(onWorkflows.length > 0, `${what} reads workflows\n${described}`);
    for (const node of onWorkflows) {
      assert.notEqual(node['Node Type'], 'Seq Scan', `${what}: no sequential scan of workflows\n${described}`);
      assert.ok(
        ['workflows_queue_ready', 'workflows_pending', 'workflows_delayed'].includes(node['Index Name'] ?? ''),
        `${what}: only the indexes of waiting, running and delayed rows, not ${node['Index Name']}\n${described}`,
      );
    }
  }
});

test('the scrape reports the backlog, not the history', async () => {
  const store = new SystemStore(driver, { schema: 'ballast', logger: { warn: () => undefined } });
  const telemetry = new Telemetry(store, {
    appName: 'app',
    executorId: null,
    runningHere: () => 0,
    fleetTotals: () => ({ recovered: 0, deadLettered: 0, adopted: 0, lateCheckpointsRefused: 0 }),
  });
  const metrics = parseExposition((await telemetry.exposition()).body);
  const depth = (queue: string, status: string, version: string) => sampleValue(metrics, 'ballast_queue_workflows', { queue, status, version });
  assert.equal(depth('tasks', 'ENQUEUED', 'v0'), 2_500);
  assert.equal(depth('tasks', 'ENQUEUED', 'v1'), 5_000);
  assert.equal(depth('emails', 'ENQUEUED', 'v0'), 2_500);
  assert.equal(depth('tasks', 'PENDING', 'v1'), 40);
  assert.equal(depth('emails', 'DELAYED', 'v1'), 25);
  assert.equal(metrics.samples.filter((s) => s.name === 'ballast_queue_workflows' && s.labels.status === 'SUCCESS').length, 0);
});
