// One replica of the schedule acceptance tests. Declares three per-second schedules of the workflow
// `pulse` — `direct` (started on the replica that fires it), `queued` (enqueued on queue `ticks`)
// and `catch-up` (direct, with backfill) — prints `ready <executorId>` once launched, and on
// SIGTERM shuts down gracefully, prints `stopped` and exits 0. Every run of pulse's one step
// appends `<workflowId> <executorId> <epoch ms>` to RUNS_FILE: "ran once" is read from lines
// Ballast does not write.
//
//   env: FLEET_DATABASE_URL, BALLAST_EXECUTOR_ID, RUNS_FILE, APP_VERSION, LEASE_MS
import { appendFileSync } from 'node:fs';
import { Ballast, type ScheduledRun } from '../../../src/index.js';
import { APP_NAME, EVERY_SECOND } from './schedule-app.js';
import { runWorker } from '../../support/worker-main.js';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};

const executorId = env('BALLAST_EXECUTOR_ID');
const runsFile = env('RUNS_FILE');
const log = (level: string) => (message: string, error?: unknown) =>
  process.stderr.write(`[${level}] ${message}${error === undefined ? '' : ` ${error instanceof Error ? error.stack : String(error)}`}\n`);

const ballast = new Ballast({
  name: APP_NAME,
  databaseUrl: env('FLEET_DATABASE_URL'),
  executorId,
  appVersion: env('APP_VERSION', 'schedule-v1'),
  executorLeaseMs: Number(env('LEASE_MS', '2000')),
  pollIntervalMs: 500,
  logger: { info: log('info'), warn: log('warn'), error: log('error') },
});
const ticks = ballast.queue('ticks', { workerConcurrency: 4 });
const pulse = ballast.workflow('pulse', async (ctx, run: ScheduledRun) => {
  await ctx.step('record', () => appendFileSync(runsFile, `${ctx.workflowId} ${executorId} ${Date.now()}\n`));
  return run.scheduledAt.toISOString();
});
ballast.schedule('direct', EVERY_SECOND, pulse);
ballast.schedule('queued', EVERY_SECOND, pulse, { queue: ticks });
ballast.schedule('catch-up', EVERY_SECOND, pulse, { backfill: true });

runWorker(ballast, { drainMs: 2_000 });
