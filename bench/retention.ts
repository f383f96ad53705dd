// Retention beside live work. A database holds `rows` finished workflows (three checkpoints each,
// created one to two days ago, with time-ordered IDs like generated ones); the queue workload (W3:
// rounds of 2,000 workflows enqueued on a queue of worker concurrency 64, every result awaited) runs
// in windows that alternate between retention off and retention on (a second Ballast instance,
// another executor, configured with `maxAge: '1d'` and checking every 100 ms, launched for the
// window and shut down after it) until retention has removed them all. Prints the throughput of each
// kind of window, their ratio, and how long the removal took: the time of the windows it ran in, up
// to the end of the window in which it finished. Not part of `npm run bench` yet;
// `measureRetention` is what it would call.
//
//   node --import tsx bench/retention.ts [--rows 1000000] [--window 10] [--duty 0.025] [--max-age 1d] [--windows N]
//
// `--max-age 100d --windows 20` is the control: the pruning instance runs and finds nothing to delete.

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Ballast, type RetentionConfig } from '../src/index.js';
import { measureStandalone } from './lib/postgres.js';
import { percentile, round } from './lib/stats.js';
import { IN_FLIGHT, queueRound, THROUGHPUT_WARM_UP, type BenchSystem, type WorkflowRun } from './lib/workloads.js';

export interface RetentionBenchOptions {
  databaseUrl: string;
  /** Finished workflows to seed and remove. */
  rows: number;
  /** Length of each window, off or on. Default 10 s. */
  windowMs?: number;
  /** Stop after this many windows even if rows are left (a control run whose retention deletes nothing). */
  maxWindows?: number;
  /** Retention as the pruning instance is configured. Default { maxAge: '1d', interval: '100ms' }. */
  retention?: RetentionConfig;
}

export interface WindowTotals {
  windows: number;
  workflows: number;
  seconds: number;
  workflowsPerSec: number;
}

export interface RetentionMeasurement {
  rows: number;
  /** The server's autovacuum setting: with it off, deleted rows are never reclaimed and the table only grows. */
  autovacuum: string;
  seedSeconds: number;
  off: WindowTotals;
  on: WindowTotals;
  /** on ÷ off throughput, over all windows. */
  ratio: number;
  /**
   * The median over the windows with retention on of its throughput ÷ the mean of the two windows
   * beside it: on a machine whose speed drifts, each window is compared with its neighbours.
   */
  pairedRatio: number;
  /** Time retention ran until none of the seeded rows was left. */
  removalSeconds: number;
  left: { workflows: number; steps: number };
}

const ROUND = 2_000;
const DAY_MS = 86_400_000;
const quietLogger = { info: () => undefined, warn: (m: string) => process.stderr.write(`[ballast] ${m}\n`), error: (m: string, e?: unknown) => process.stderr.write(`[ballast] ${m} ${String(e ?? '')}\n`) };

/** `rows` workflows finished 1–2 days ago, three steps each, IDs ordered by creation time like UUIDv7 (found by their `-7000-0000-`: variant bits 0, which no generated ID has). */
export async function seedFinished(client: pg.Client, rows: number): Promise<void> {
  const start = Date.now() - 2 * DAY_MS;
  const spacing = Math.max(1, Math.floor(DAY_MS / rows));
  await client.query(
    `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, epoch, attempts, input, output,
       created_at, started_at, completed_at, updated_at)
     SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7000-0000-' || lpad(to_hex(i), 12, '0'),
       'three-steps', 'SUCCESS', 'bench', 'v1', 'bench', 1, 1, i::text, (i + 3)::text, t, t, t + 3, t + 3
     FROM generate_series(1, $1::int4) AS i,
       LATERAL (SELECT $2::int8 + i::int8 * $3::int8 AS t) AS times,
       LATERAL (SELECT lpad(to_hex(t), 12, '0') AS h) AS hex`,
    [rows, start, spacing],
  );
  await client.query(
    `INSERT INTO ballast.steps (workflow_id, idx, name, output, started_at, completed_at)
     SELECT w.id, s.idx, chr(97 + s.idx), (w.input::int8 + s.idx + 1)::text, w.created_at + s.idx, w.created_at + s.idx + 1
     FROM ballast.workflows w CROSS JOIN generate_series(0, 2) AS s(idx)
     WHERE w.queue = 'bench' AND w.status = 'SUCCESS'
     ORDER BY w.id, s.idx`,
  );
  await client.query('VACUUM ANALYZE ballast.workflows');
  await client.query('VACUUM ANALYZE ballast.steps');
  await client.query('CHECKPOINT');
}

async function seededLeft(client: pg.Client): Promise<{ workflows: number; steps: number }> {
  const { rows } = await client.query<{ workflows: number; steps: number }>(
    `SELECT (SELECT count(*)::int4 FROM ballast.workflows WHERE id LIKE '%-7000-0000-%') AS workflows,
            (SELECT count(*)::int4 FROM ballast.steps WHERE workflow_id LIKE '%-7000-0000-%') AS steps`,
  );
  return rows[0] ?? { workflows: 0, steps: 0 };
}

/** The W3 application: the benchmark's three-step workflow on a queue of worker concurrency 64. */
async function launchWorkload(databaseUrl: string): Promise<BenchSystem> {
  const ballast = new Ballast({ name: 'bench', databaseUrl, executorId: 'worker', appVersion: 'v1', admin: false, logger: quietLogger });
  const threeSteps = ballast.workflow('three-steps', async (ctx, i: number) => {
    const a = await ctx.step('a', async () => i + 1);
    const b = await ctx.step('b', async () => a + 1);
    return ctx.step('c', async () => b + 1);
  });
  const queue = ballast.queue('bench', { workerConcurrency: IN_FLIGHT });
  await ballast.launch();
  return {
    name: 'ballast',
    launch: async () => undefined,
    start: async (i): Promise<WorkflowRun> => {
      const handle = await threeSteps.start(i);
      return { result: () => handle.result() };
    },
    enqueue: async (i): Promise<WorkflowRun> => {
      const handle = await threeSteps.enqueue(i, { queue });
      return { result: () => handle.result() };
    },
    shutdown: () => ballast.shutdown(),
  };
}

export async function measureRetention(options: RetentionBenchOptions): Promise<RetentionMeasurement> {
  const windowMs = options.windowMs ?? 10_000;
  const retention = options.retention ?? { maxAge: '1d', interval: '100ms' };
  const sys = await launchWorkload(options.databaseUrl);
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  let next = 0;
  const batch = (): number[] => Array.from({ length: ROUND }, () => next++);
  try {
    const seedStarted = performance.now();
    await seedFinished(client, options.rows);
    const seedSeconds = (performance.now() - seedStarted) / 1_000;

    const warmUpStarted = performance.now();
    while (performance.now() - warmUpStarted < THROUGHPUT_WARM_UP.ms) await queueRound(sys, batch());

    const totals = { off: { windows: 0, workflows: 0, ms: 0 }, on: { windows: 0, workflows: 0, ms: 0 } };
    const rates: number[] = [];
    let removalMs = 0;
    let removed = false;
    // Off first, then on, until a window with retention on finds nothing left; then one more off
    // window so that both kinds count as many windows.
    const maxWindows = options.maxWindows ?? Number.POSITIVE_INFINITY;
    for (let k = 0; (!removed || totals.off.windows < totals.on.windows) && k < maxWindows; k++) {
      const on = !removed && k % 2 === 1;
      let pruner: Ballast | undefined;
      if (on) {
        pruner = new Ballast({ name: 'bench', databaseUrl: options.databaseUrl, executorId: `pruner-${k}`, appVersion: 'v1', admin: false, retention, logger: quietLogger });
        await pruner.launch();
      }
      const t0 = performance.now();
      let workflows = 0;
      do {
        await queueRound(sys, batch());
        workflows += ROUND;
      } while (performance.now() - t0 < windowMs);
      const elapsed = performance.now() - t0;
      const total = on ? totals.on : totals.off;
      total.windows += 1;
      total.workflows += workflows;
      total.ms += elapsed;
      rates.push((workflows * 1_000) / elapsed);
      if (pruner) {
        await pruner.shutdown({ drainMs: 0 });
        const left = await seededLeft(client);
        removed = left.workflows === 0 && left.steps === 0;
        removalMs += elapsed;
        process.stderr.write(`window ${k} (on): ${Math.round((workflows * 1_000) / elapsed)} wf/s, ${left.workflows} seeded workflows left\n`);
      } else {
        process.stderr.write(`window ${k} (off): ${Math.round((workflows * 1_000) / elapsed)} wf/s\n`);
      }
    }
    const summary = (t: { windows: number; workflows: number; ms: number }): WindowTotals => ({
      windows: t.windows,
      workflows: t.workflows,
      seconds: round(t.ms / 1_000, 1),
      workflowsPerSec: Math.round((t.workflows * 1_000) / t.ms),
    });
    const off = summary(totals.off);
    const on = summary(totals.on);
    return {
      rows: options.rows,
      autovacuum: (await client.query<{ autovacuum: string }>(`SELECT current_setting('autovacuum') AS autovacuum`)).rows[0]?.autovacuum ?? 'unknown',
      seedSeconds: round(seedSeconds, 1),
      off,
      on,
      ratio: round(on.workflowsPerSec / off.workflowsPerSec, 3),
      pairedRatio: round(pairedRatio(rates), 3),
      removalSeconds: round(removalMs / 1_000, 1),
      left: await seededLeft(client),
    };
  } finally {
    await client.end();
    await sys.shutdown();
  }
}

/** See RetentionMeasurement.pairedRatio; `rates` alternate off, on, off, … */
function pairedRatio(rates: number[]): number {
  const ratios: number[] = [];
  for (let k = 1; k < rates.length - 1; k += 2) ratios.push((rates[k] as number) / (((rates[k - 1] as number) + (rates[k + 1] as number)) / 2));
  return percentile(ratios, 50) ?? Number.NaN;
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function stringOption(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] as string) : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Without --duty, the instance's default.
  const dutyCycle = process.argv.includes('--duty') ? option('duty', 1) : undefined;
  await measureStandalone(
    'retention_bench',
    (databaseUrl) =>
      measureRetention({
        databaseUrl,
        rows: option('rows', 1_000_000),
        windowMs: option('window', 10) * 1_000,
        maxWindows: option('windows', Number.POSITIVE_INFINITY),
        retention: { maxAge: stringOption('max-age', '1d'), interval: '100ms', ...(dutyCycle === undefined ? {} : { dutyCycle }) },
      }),
    { autovacuum: true },
  );
}
