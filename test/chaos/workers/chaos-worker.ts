// One worker of the chaos suite and the connection-fault tests: runs the chaos application on the
// queue `orders`, prints `ready <executorId>` once it dispatches, and on SIGTERM drains for
// DRAIN_MS, prints `stopped` and exits 0. It installs no handler for uncaught errors: a fault that
// would crash a user's service crashes this process too, and the test sees the exit and stderr.
//
//   env: CHAOS_DATABASE_URL (usually through the worker's own fault proxy), BALLAST_EXECUTOR_ID,
//        RUN_LOG, LEASE_MS, DRAIN_MS
import { Ballast } from '../../../src/index.js';
import { APP_NAME, APP_VERSION, QUEUE, QUEUE_OPTIONS, registerChaosWorkflows } from './chaos-app.js';
import { runWorker } from '../../support/worker-main.js';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};

const executorId = env('BALLAST_EXECUTOR_ID');
const log = (level: string) => (message: string, error?: unknown) =>
  process.stderr.write(`[${level}] ${new Date().toISOString()} ${message}${error === undefined ? '' : ` ${error instanceof Error ? error.stack : String(error)}`}\n`);

const ballast = new Ballast({
  name: APP_NAME,
  databaseUrl: env('CHAOS_DATABASE_URL'),
  executorId,
  appVersion: APP_VERSION,
  executorLeaseMs: Number(env('LEASE_MS', '2000')),
  pollIntervalMs: 1_000,
  admin: false,
  logger: { info: () => undefined, warn: log('warn'), error: log('error') },
});
ballast.queue(QUEUE, QUEUE_OPTIONS);
registerChaosWorkflows(ballast, env('RUN_LOG'), executorId);

runWorker(ballast, { drainMs: Number(env('DRAIN_MS', '2000')) });
