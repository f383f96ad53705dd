// Child process of test/queues/fair-fleet.test.ts: one executor of an application with one fair
// queue. Each job records, in its step, when it ran (epoch milliseconds with fractions, same machine
// clock in every process) and in which executor; `fair_runs.n` (a bigserial) is the fleet's start order.
//
//   env: FAIR_DATABASE_URL, BALLAST_EXECUTOR_ID
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Ballast } from '../../../src/index.js';
import { requiredEnv, runWorker } from '../../support/worker-main.js';
import { FAIR_QUEUE } from './fair-app.js';

const now = () => performance.timeOrigin + performance.now();

const databaseUrl = requiredEnv('FAIR_DATABASE_URL');
const executorId = requiredEnv('BALLAST_EXECUTOR_ID');
const runs = new pg.Pool({ connectionString: databaseUrl, max: 4 });
const ballast = new Ballast({
  name: 'fair-app',
  databaseUrl,
  appVersion: 'v1',
  pollIntervalMs: 1_000,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});
ballast.queue('fair', FAIR_QUEUE);
ballast.workflow('tenant-job', async (ctx, input: { tenant: string; ms: number }) => {
  await ctx.step('run', async () => {
    const { rows } = await runs.query<{ n: string }>(
      'INSERT INTO fair_runs (workflow_id, tenant, executor, started_ms) VALUES ($1, $2, $3, $4) RETURNING n',
      [ctx.workflowId, input.tenant, executorId, now()],
    );
    await sleep(input.ms);
    await runs.query('UPDATE fair_runs SET finished_ms = $2 WHERE n = $1', [rows[0]?.n, now()]);
  });
});
runWorker(ballast, { drainMs: 2_000 });
