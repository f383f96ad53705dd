// One executor of the fail-over tests. Declares the queue `work`, runs the failover-app workflows,
// prints `ready <executorId>` once it dispatches, and on SIGTERM shuts down with DRAIN_MS, prints
// `stopped` and exits 0. With START_DIRECT=<prefix>:<count> it also starts that many direct
// `five` workflows itself (IDs <prefix>-<n>) right after launch.
//
//   env: FLEET_DATABASE_URL, BALLAST_EXECUTOR_ID, STEPS_FILE, APP_VERSION, LEASE_MS, STEP_MS,
//        WORKER_CONCURRENCY, MAX_RECOVERY_ATTEMPTS, DRAIN_MS, START_DIRECT
import { Ballast } from '../../../src/index.js';
import { APP_NAME, QUEUE, registerFailoverWorkflows } from './failover-app.js';
import { runWorker } from '../../support/worker-main.js';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};

const executorId = env('BALLAST_EXECUTOR_ID');
const appVersion = env('APP_VERSION', 'failover-v1');
const drainMs = Number(env('DRAIN_MS', '2000'));
const log = (level: string) => (message: string, error?: unknown) =>
  process.stderr.write(`[${level}] ${message}${error === undefined ? '' : ` ${error instanceof Error ? error.stack : String(error)}`}\n`);

const ballast = new Ballast({
  name: APP_NAME,
  databaseUrl: env('FLEET_DATABASE_URL'),
  executorId,
  appVersion,
  executorLeaseMs: Number(env('LEASE_MS', '2000')),
  maxRecoveryAttempts: Number(env('MAX_RECOVERY_ATTEMPTS', '50')),
  pollIntervalMs: 1_000,
  logger: { info: log('info'), warn: log('warn'), error: log('error') },
});
ballast.queue(QUEUE, { workerConcurrency: Number(env('WORKER_CONCURRENCY', '4')) });
const { five } = registerFailoverWorkflows(ballast, {
  stepsFile: env('STEPS_FILE'),
  executor: executorId,
  stepMs: Number(env('STEP_MS', '50')),
  codeVersion: appVersion,
});

runWorker(ballast, {
  drainMs,
  afterLaunch: async () => {
    const direct = process.env.START_DIRECT;
    if (!direct) return;
    const [prefix, count] = direct.split(':');
    await Promise.all(Array.from({ length: Number(count) }, (_, n) => five.start(n, { id: `${prefix}-${n}` })));
  },
});
