// The dashboard next to a large history: 1,000,000 finished workflows, 10,000 active ones and a
// week of per-minute history. Each page is requested over HTTP while every statement it sends to
// Postgres is recorded; each statement is then EXPLAINed (ANALYZE, the generic plan Ballast's
// connections use) and must read workflows and steps
// through an index, never a sequential scan. Server times are printed as measurements, not asserted
// (the machine's load decides them; the plans decide how they grow).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import type { Driver } from '../../src/store/driver.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { explainGeneric } from '../support/plans.js';
import { testDatabase } from '../support/postgres.js';

const FINISHED = 1_000_000;
const ACTIVE = 10_000;
const BIG_TABLES = new Set(['workflows', 'steps']);

let db: { url: string; close(): Promise<void> };
let sql: pg.Client;
let client: BallastClient;
let server: Server;
let base: string;
const captured: Array<{ sql: string; params: unknown[]; ms: number }> = [];
let recording = false;

before(async () => {
  db = await testDatabase('dashboard_scale');
  const setup = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'scale-setup', logger: { warn: () => undefined } });
  await migrate(setup, 'ballast');
  await setup.close();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const now = Date.now();
  // The history: created a second apart over the last 11.5 days; one in 100 failed.
  await sql.query(
    `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, epoch, attempts, input, output, error,
       created_at, started_at, completed_at, updated_at)
     SELECT 'done-' || lpad(i::text, 7, '0'), CASE WHEN i % 3 = 0 THEN 'email' ELSE 'task' END,
       CASE WHEN i % 100 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, 'app', 'v' || (i % 2), CASE WHEN i % 3 = 0 THEN 'emails' ELSE 'tasks' END,
       2147483647, 1, 1, '{"n":' || i || '}', CASE WHEN i % 100 = 0 THEN NULL ELSE '1' END, CASE WHEN i % 100 = 0 THEN '"failed"' END,
       $1::int8 - 1000000000 + i * 1000, $1::int8 - 1000000000 + i * 1000 + 5, $1::int8 - 1000000000 + i * 1000 + 50, $1::int8
     FROM generate_series(1, ${FINISHED}) AS i`,
    [now],
  );
  await sql.query(
    `INSERT INTO ballast.steps (workflow_id, idx, name, output, started_at, completed_at)
     SELECT 'done-' || lpad(i::text, 7, '0'), s, 'step-' || s, '1', $1::int8, $1::int8 + 1
     FROM generate_series(${FINISHED - 2000}, ${FINISHED}) AS i, generate_series(0, 4) AS s`,
    [now],
  );
  await sql.query(
    `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, owner, epoch, attempts, input, available_at,
       created_at, started_at, updated_at)
     SELECT 'active-' || i, 'task', CASE WHEN i % 50 = 0 THEN 'PENDING' WHEN i % 50 = 1 THEN 'DELAYED' ELSE 'ENQUEUED' END, 'app', 'v1',
       CASE WHEN i % 2 = 0 THEN 'tasks' ELSE 'emails' END, 2147483647, CASE WHEN i % 50 = 0 THEN 'pod-1' END, 1, 1, '{}',
       CASE WHEN i % 50 = 1 THEN $1::int8 + 3600000 END, $1::int8 - 600000 + i, CASE WHEN i % 50 = 0 THEN $1::int8 END, $1::int8
     FROM generate_series(1, ${ACTIVE}) AS i`,
    [now],
  );
  await sql.query(`INSERT INTO ballast.queues (name, worker_concurrency, concurrency, rate_limit, rate_period_ms, updated_at)
                   VALUES ('tasks', 10, 100, NULL, NULL, $1), ('emails', 5, NULL, 100, 60000, $1)`, [now]);
  await sql.query(`INSERT INTO ballast.app_versions VALUES ('app', 'v0', $1, $1), ('app', 'v1', $1, $1)`, [now - 86_400_000]);
  await sql.query(
    `INSERT INTO ballast.executors (id, app_name, app_version, hostname, pid, started_at, heartbeat_at, lease_expires_at, lease_started_at, queues, running)
     VALUES ('pod-1', 'app', 'v1', 'node-a', 1, $1::int8, $1::int8, $1::int8 + 3600000, $1::int8, '{tasks,emails}', 200)`,
    [now],
  );
  // Per-minute history for a day and per-hour for two weeks, for three workflows; a week of queue depth samples.
  const buckets = `'{${Array.from({ length: 20 }, (_, i) => (i === 3 ? 40 : i === 6 ? 2 : 0)).join(',')}}'::int4[]`;
  for (const [period, count] of [[60_000, 1_440], [3_600_000, 336]] as const) {
    await sql.query(
      `INSERT INTO ballast.workflow_rollups (period_ms, period_start, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum, buckets)
       SELECT $2::int4, m, 'app', q, w, 'v1', o, 42, 4200, CASE WHEN o = 'STARTED' THEN NULL ELSE ${buckets} END
       FROM generate_series(($1::int8 / $2::int8 - $3::int8) * $2::int8, $1::int8, $2::int8) AS m,
            (VALUES ('tasks', 'task'), ('emails', 'email'), ('', 'report')) AS k(q, w), (VALUES ('STARTED'), ('SUCCESS'), ('ERROR')) AS o(o)`,
      [now, period, count],
    );
  }
  await sql.query(
    `INSERT INTO ballast.queue_depth_samples (queue, minute, app_version, status, n)
     SELECT q, m, 'v1', s, 100 FROM generate_series(($1::int8 / 60000 - 10080) * 60000, $1::int8, 60000) AS m,
       (VALUES ('tasks'), ('emails')) AS k(q), (VALUES ('ENQUEUED'), ('PENDING'), ('DELAYED')) AS t(s)`,
    [now],
  );
  await sql.query('VACUUM ANALYZE');

  client = new BallastClient({ appName: 'app', databaseUrl: db.url, appVersion: 'v1' });
  const driver = (client as unknown as { store: { driver: Driver } }).store.driver;
  const query = driver.query.bind(driver);
  driver.query = ((text: string, params?: unknown[], prepare?: string) => {
    if (!recording) return query(text, params, prepare);
    const started = performance.now();
    const entry = { sql: text, params: params ?? [], ms: 0 };
    captured.push(entry);
    return query(text, params, prepare).finally(() => (entry.ms = performance.now() - started));
  }) as Driver['query'];
  server = createServer(client.adminHandler({ logger: { error: () => undefined, info: () => undefined } }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await client?.close();
  await sql?.end();
  await db?.close();
});

const PAGES = [
  '/dashboard/',
  '/dashboard/?window=7d',
  '/dashboard/workflows',
  '/dashboard/workflows?status=ERROR',
  '/dashboard/workflows?status=SUCCESS&queue=tasks&name=task',
  '/dashboard/workflows?idPrefix=done-0999',
  '/dashboard/workflows?after=' + encodeURIComponent('1700000000000.done-0500000'),
  '/dashboard/workflows/done-1000000',
  '/dashboard/queues',
  '/dashboard/queues/tasks',
  '/dashboard/queues/emails?window=7d',
];

test('the list, a workflow, the overview and the queue pages read big tables only through indexes', async () => {
  const report: string[] = [];
  for (const page of PAGES) {
    // Once to warm the pool and caches, once measured.
    assert.equal((await fetch(`${base}${page}`)).status, 200, page);
    captured.length = 0;
    recording = true;
    const started = performance.now();
    const response = await fetch(`${base}${page}`);
    await response.text();
    const serverMs = performance.now() - started;
    recording = false;
    assert.equal(response.status, 200, page);
    const statements = [...captured];
    let databaseMs = 0;
    for (const statement of statements) {
      if (!/^\s*(SELECT|WITH)/i.test(statement.sql)) continue;
      const { nodes, planningMs, executionMs } = await explainGeneric(sql, statement.sql, statement.params);
      databaseMs += planningMs + executionMs;
      const described = nodes.map((node) => `${node['Node Type']} ${node['Index Name'] ?? ''} ${node['Relation Name'] ?? ''}`).join('\n');
      if (process.env.BALLAST_SCALE_DETAIL && executionMs > 50) report.push(`   slow plan (${executionMs.toFixed(0)} ms):\n     ${described.replace(/\n/g, '\n     ')}`);
      for (const node of nodes) {
        if (BIG_TABLES.has(node['Relation Name'] ?? '')) {
          assert.notEqual(node['Node Type'], 'Seq Scan', `${page}: a sequential scan of ${node['Relation Name']} in\n${statement.sql}\n${described}`);
        }
      }
    }
    if (process.env.BALLAST_SCALE_DETAIL) for (const statement of statements) report.push(`   ${statement.ms.toFixed(1)} ms ${statement.sql.replace(/\s+/g, ' ').slice(0, 100)}`);
    report.push(`${page.padEnd(62)} ${serverMs.toFixed(0).padStart(5)} ms over HTTP, ${statements.length} statements, ${databaseMs.toFixed(1)} ms in Postgres (generic plans, planned and run one after another)`);
  }
  console.log(`\nDashboard pages over ${FINISHED.toLocaleString('en-US')} finished and ${ACTIVE.toLocaleString('en-US')} active workflows (measured, not asserted):\n${report.join('\n')}\n`);
});
