// The `failover` workload of `npm run bench` (Ballast only: DBOS Transact recovers another
// executor's workflows only through its commercial Conductor, or when a process with the same
// executor ID comes back). Three worker processes (the fail-over tests' workers) share a queue;
// one is SIGKILLed mid-run. Measured: the time from the kill until the last of the workflows it was
// running has started again on a survivor (the database's claim time), with the product's default
// lease unless --lease is given. Run by bench/run.ts with a JSON config argument; prints one line.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BallastClient } from '../src/client/index.js';
import { spawnNode, type ChildHandle } from '../test/support/processes.js';
import { waitForSessionsToEnd } from '../test/support/sessions.js';
import { APP_NAME, QUEUE } from '../test/fleet/workers/failover-app.js';
import { sessionPrefix } from '../test/fleet/support/fleet.js';
import { round } from './lib/stats.js';

export interface FailoverConfig {
  databaseUrl: string;
  leaseMs: number;
  workflows: number;
}

export interface FailoverLine {
  system: 'ballast';
  workload: 'failover';
  leaseMs: number;
  workers: number;
  workflows: number;
  /** Workflows the killed worker was running. */
  stranded: number;
  /** Kill → first and last stranded workflow started again on a survivor. */
  firstRestartMs: number;
  lastRestartMs: number;
  /** Kill → every workflow finished. */
  drainedMs: number;
}

const WORKER = fileURLToPath(new URL('../test/fleet/workers/failover-worker.ts', import.meta.url));
const VERSION = 'bench-failover';
const WORKERS = ['bench-fo-1', 'bench-fo-2', 'bench-fo-3'];

async function measure(config: FailoverConfig): Promise<FailoverLine> {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-bench-failover-'));
  const admin = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  const workers: ChildHandle[] = [];
  const client = new BallastClient({ appName: APP_NAME, databaseUrl: config.databaseUrl, appVersion: VERSION, logger: { info() {}, warn() {}, error() {} } });
  try {
    for (const id of WORKERS) {
      const child = spawnNode(WORKER, {
        env: {
          FLEET_DATABASE_URL: config.databaseUrl,
          BALLAST_EXECUTOR_ID: id,
          STEPS_FILE: join(dir, 'steps.log'),
          APP_VERSION: VERSION,
          LEASE_MS: String(config.leaseMs),
          STEP_MS: '100',
          WORKER_CONCURRENCY: '20',
        },
      });
      workers.push(child);
      await child.waitForLine((line) => line === `ready ${id}`, 60_000);
    }
    const count = async (where: string, params: unknown[]) =>
      (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE ${where}`, params)).rows[0]?.n ?? 0;

    const handles = await client.enqueueMany('five', Array.from({ length: config.workflows }, (_, n) => n), { queue: QUEUE });
    const victim = WORKERS[1] as string;
    while ((await count(`owner = $1 AND status = 'PENDING'`, [victim])) < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    workers[1]?.kill('SIGKILL');
    const killedAt = Date.now();
    await waitForSessionsToEnd(config.databaseUrl, sessionPrefix(victim));
    const stranded = (await admin.query<{ id: string }>(`SELECT id FROM ballast.workflows WHERE owner = $1 AND status = 'PENDING'`, [victim])).rows.map((row) => row.id);

    // Started again = claimed by a survivor: its started_at is the claim's database time.
    let restarts: number[] = [];
    for (;;) {
      const { rows } = await admin.query<{ started: string }>(
        `SELECT started_at AS started FROM ballast.workflows WHERE id = ANY($1::text[]) AND owner IS DISTINCT FROM $2 AND owner IS NOT NULL`,
        [stranded, victim],
      );
      if (rows.length === stranded.length) {
        restarts = rows.map((row) => Number(row.started) - killedAt);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(handles.map((handle) => handle.result({ timeout: '5m' })));
    return {
      system: 'ballast',
      workload: 'failover',
      leaseMs: config.leaseMs,
      workers: WORKERS.length,
      workflows: config.workflows,
      stranded: stranded.length,
      firstRestartMs: round(Math.min(...restarts), 0),
      lastRestartMs: round(Math.max(...restarts), 0),
      drainedMs: Date.now() - killedAt,
    };
  } finally {
    for (const child of workers) child.kill('SIGKILL');
    await Promise.all(workers.map((child) => child.exited));
    await client.close();
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = JSON.parse(process.argv[2] ?? '') as FailoverConfig;
measure(config).then(
  (line) => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
