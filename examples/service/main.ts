// The example service: `npm start` runs it. Wiring, configuration and signals only; the application is
// in app.ts and the routes in http.ts.
//
// Environment:
//   PORT                  HTTP port (default 8000; 0 picks a free one)
//   BALLAST_DATABASE_URL  Postgres for a fleet of replicas (DBOS_SYSTEM_DATABASE_URL is an alias);
//                         absent => the embedded database, for one process
//   BALLAST_DATA_DIR      directory of the embedded database (default ./.ballast)
//   BALLAST_EXECUTOR_ID   stable identity of this replica (a StatefulSet pod name, for instance);
//                         default "local" on the embedded database, else unique per process
//   BALLAST_APP_VERSION   application version (default: a hash of the workflow code)
//   BALLAST_EXECUTOR_LEASE_MS  how long this replica's lease lasts without a heartbeat (default 10000):
//                         the fleet takes its workflows over this long after it dies
//   TASK_RUN_LOG          optional file that gets a line `<workflow ID> <step> <executor>` per step run
//   SHUTDOWN_DELAY_MS     after SIGTERM, how long /readyz answers 503 before the server stops
//                         accepting connections, so load balancers stop routing here (default 0)
//   DRAIN_MS              how long running tasks may finish after SIGTERM (default 20000); what is
//                         left is handed back to the other replicas (or to the next launch)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUE_NAME, TaskService, WORKER_CONCURRENCY } from './app.js';
import { createRequestHandler } from './http.js';

const log = (message: string) => console.log(`[service] ${message}`);
const logError = (message: string, error?: unknown) =>
  console.error(`[service] ${message}`, error instanceof Error ? (error.stack ?? error.message) : (error ?? ''));

const port = integerFromEnv('PORT', 8000, 0, 65_535);
const shutdownDelayMs = integerFromEnv('SHUTDOWN_DELAY_MS', 0, 0, 600_000);
const drainMs = integerFromEnv('DRAIN_MS', 20_000, 0, 3_600_000);

const service = new TaskService({ dataDir: nonEmpty(process.env.BALLAST_DATA_DIR) });
// Ballast's admin API and dashboard on the same port: probes, KEDA's /metrics/:queue, Prometheus
// /metrics, /api/ management and the console at /dashboard/. Changes need BALLAST_ADMIN_TOKEN when
// it is set, and come only from this machine when it is not; each one is logged as an audit line.
// /readyz follows the service's own phase, which turns unready at SIGTERM before Ballast shuts down.
const admin = service.ballast.adminHandler({ readiness: () => service.readiness(), logger: { error: logError, info: log } });
const server = createServer(createRequestHandler(service, admin, { error: logError }));

server.on('error', (error) => {
  logError(`HTTP server failed on port ${port}`, error);
  process.exit(1);
});

// Listen first, so liveness answers and readiness says 503 "starting" while Ballast launches.
server.listen(port, () => {
  const { port: bound } = server.address() as AddressInfo;
  log(
    `listening on http://localhost:${bound} — ${service.describeDatabase()}, executor ${service.ballast.executorId}, ` +
      `queue "${QUEUE_NAME}" with worker concurrency ${WORKER_CONCURRENCY}; dashboard at http://localhost:${bound}/dashboard/`,
  );
});

const started = service.start().then(
  () => log(`ready (application version ${service.ballast.appVersion})`),
  (error: unknown) => {
    logError('could not launch Ballast', error);
    server.close();
    process.exit(1);
  },
);

let stopping = false;

async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    if (signal === 'SIGINT') {
      log('second SIGINT: exiting without draining; running tasks resume on the next launch, or on the other replicas once the lease runs out');
      process.exit(1);
    }
    return;
  }
  stopping = true;
  log(`${signal}: readiness now answers 503; draining for up to ${drainMs} ms`);
  service.beginShutdown();
  if (shutdownDelayMs > 0) await sleep(shutdownDelayMs);

  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await started;
  await service.stop(drainMs);
  // Requests still in flight had the drain to finish; do not let a slow client hold the exit.
  await Promise.race([closed, sleep(2_000)]);
  server.closeAllConnections();
  log('stopped');
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logError('shutdown failed', error);
        process.exit(1);
      },
    );
  });
}

function integerFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(process.env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`[service] ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
