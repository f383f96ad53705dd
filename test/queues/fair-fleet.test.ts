// A fair queue across three executor processes (workers/fair-worker.ts) on one Postgres, fed by a
// BallastClient from this process. The queue runs at most 4 at once fleet-wide, at most 3 per
// tenant, and gives tenant "small" weight 3. A flood of "big" is running when "small" arrives with
// 10: counted in the fleet's start order (a bigserial the jobs write), small's 10 start before big's
// 15th start after small's arrival (strict arrival order would start ~3 of big per one of small:
// about 30). The limits are checked on the intervals in which the jobs' steps ran (inside their
// PENDING time): never more than 4 overlap, never more than 3 of one tenant, and both were reached.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import { maxOverlap } from '../fleet/support/sampler.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { FAIR_QUEUE, RUNS_TABLE } from './workers/fair-app.js';

const WORKER = fileURLToPath(new URL('./workers/fair-worker.ts', import.meta.url));
const EXECUTORS = ['fair-1', 'fair-2', 'fair-3'];

let db: { url: string; close(): Promise<void> };
let admin: pg.Pool;
let client: BallastClient;
let workers: ChildHandle[] = [];

interface Run {
  n: number;
  workflow_id: string;
  tenant: string;
  executor: string;
  started_ms: number;
  finished_ms: number | null;
}

before(async () => {
  db = await testDatabase('fair_fleet');
  admin = new pg.Pool({ connectionString: db.url, max: 2 });
  admin.on('error', () => undefined);
  await admin.query(RUNS_TABLE);
  workers = EXECUTORS.map((id) => spawnNode(WORKER, { env: { FAIR_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: id } }));
  await Promise.all(workers.map((worker, n) => worker.waitForLine((line) => line === `ready ${EXECUTORS[n]}`, 60_000)));
  client = new BallastClient({ appName: 'fair-app', databaseUrl: db.url, appVersion: 'v1' });
});

after(async () => {
  await client?.close();
  await Promise.all(
    workers.map(async (worker) => {
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
      await worker.exited;
      clearTimeout(timer);
    }),
  );
  await admin?.end();
  await db?.close();
});

async function runs(): Promise<Run[]> {
  return (await admin.query<Run>('SELECT n::float8 AS n, workflow_id, tenant, executor, started_ms, finished_ms FROM fair_runs ORDER BY n')).rows;
}

test('a fair queue across three processes: the small tenant is served within a claim round, limits hold exactly, each job runs once', async (t) => {
  const enqueue = (tenant: string, count: number, ms: number) =>
    client.enqueueMany('tenant-job', Array.from({ length: count }, () => ({ tenant, ms })), { queue: 'fair', partitionKey: tenant });
  const big = await enqueue('big', 400, 30);
  await waitFor('the flood runs', async () => (await runs()).length >= 20);
  const small = await enqueue('small', 10, 30);
  const arrival = Math.max(...(await runs()).map((run) => run.n));
  await Promise.all(small.map((handle) => handle.result({ timeout: '60s' })));
  await Promise.all(big.map((handle) => handle.result({ timeout: '120s' })));

  const all = await runs();
  const lastSmall = Math.max(...all.filter((run) => run.tenant === 'small').map((run) => run.n));
  const bigBetween = all.filter((run) => run.tenant === 'big' && run.n > arrival && run.n < lastSmall).length;
  const intervals = (rows: Run[]) => rows.map((run): [number, number] => [run.started_ms, run.finished_ms as number]);
  const perTenant = new Map(['big', 'small'].map((tenant) => [tenant, maxOverlap(intervals(all.filter((run) => run.tenant === tenant)))]));
  const perExecutor = new Map(EXECUTORS.map((id) => [id, all.filter((run) => run.executor === id).length]));
  t.diagnostic(`small arrived after ${arrival} starts; big started ${bigBetween} between its arrival and small's last start`);
  t.diagnostic(`overlap: fleet ${maxOverlap(intervals(all))}, per tenant ${JSON.stringify(Object.fromEntries(perTenant))}; runs per executor ${JSON.stringify(Object.fromEntries(perExecutor))}`);

  assert.ok(bigBetween < 15, `big started ${bigBetween} between small's arrival and small's last start`);
  assert.equal(all.length, 410, 'every job ran exactly once');
  assert.equal(new Set(all.map((run) => run.workflow_id)).size, 410, 'no job ran twice');
  assert.ok(all.every((run) => run.finished_ms !== null), 'every run finished');
  assert.equal(maxOverlap(intervals(all)), FAIR_QUEUE.concurrency, 'at most 4 at once across the fleet, and 4 were reached');
  assert.equal(perTenant.get('big'), FAIR_QUEUE.partitionConcurrency, 'at most 3 of big at once, and 3 were reached');
  assert.ok((perTenant.get('small') ?? 0) <= FAIR_QUEUE.partitionConcurrency, 'at most 3 of small at once');
  assert.ok([...perExecutor.values()].filter((count) => count > 0).length >= 2, 'the work spread over the executors');
});
