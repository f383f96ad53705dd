// Idle queues, measured: one Ballast instance declares N queues and is given nothing to do; after a
// warm-up (the dispatch backs off to its poll interval), the process CPU (process.cpuUsage) and the
// database's transactions per second (pg_stat_database xact_commit + xact_rollback of its own fresh
// database) are measured over a window. Also the enqueue→start latency of a single workflow on an
// idle instance (the NOTIFY path). Written for docs/queues.md; `measureIdleQueues` and
// `measureEnqueueToStart` are exported for the scale benchmark.
//
//   node --import tsx bench/idle-queues.ts [--queues 1,100,1000] [--seconds 20] [--warmup 15] [--samples 200]
// (--seconds 0: latency only; --samples 0: idle cost only)
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { Ballast } from '../src/index.js';
import { openServer } from './lib/postgres.js';
import { percentile } from './lib/stats.js';

export interface IdleQueuesOptions {
  queues: number;
  /** Length of the measured window. */
  seconds: number;
  /** A fresh database (its transactions are all the instance's). */
  databaseUrl: string;
  /** Time given to the dispatch to back off before measuring (default 15 s: three default poll intervals). */
  warmupSeconds?: number;
}

export interface IdleQueuesResult {
  queues: number;
  cpuPercent: number;
  transactionsPerSecond: number;
}

const quiet = { info: () => {}, warn: () => {}, error: console.error };

function newInstance(databaseUrl: string, queues: number): { ballast: Ballast; names: string[] } {
  const ballast = new Ballast({ name: 'idle-bench', databaseUrl, executorId: 'idle-bench', appVersion: 'v1', admin: false, logger: quiet });
  const names = Array.from({ length: queues }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
  for (const name of names) ballast.queue(name, { workerConcurrency: 10 });
  return { ballast, names };
}

async function transactions(client: pg.Client): Promise<number> {
  // Backends report their counts when idle, at most about once a second: let them.
  await sleep(1_500);
  const { rows } = await client.query<{ n: string }>(
    `SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Number(rows[0]?.n);
}

export async function measureIdleQueues(options: IdleQueuesOptions): Promise<IdleQueuesResult> {
  const { ballast } = newInstance(options.databaseUrl, options.queues);
  ballast.workflow('noop', async () => undefined);
  await ballast.launch();
  const stats = new pg.Client({ connectionString: options.databaseUrl });
  await stats.connect();
  try {
    await sleep((options.warmupSeconds ?? 15) * 1_000);
    const txBefore = await transactions(stats);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await sleep(options.seconds * 1_000);
    const cpu = process.cpuUsage(cpuBefore);
    const elapsedMs = performance.now() - started;
    // The window's own two statistics reads are taken out.
    const txAfter = (await transactions(stats)) - 1;
    return {
      queues: options.queues,
      cpuPercent: Number((((cpu.user + cpu.system) / 1_000 / elapsedMs) * 100).toFixed(2)),
      transactionsPerSecond: Number(((txAfter - txBefore) / (options.seconds + 1.5)).toFixed(2)),
    };
  } finally {
    await stats.end();
    await ballast.shutdown({ drainMs: 1_000 });
  }
}

export interface EnqueueToStartResult {
  queues: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
}

/** One enqueue at a time on an idle instance with `queues` declared queues: time from the enqueue call to the workflow's first line. */
export async function measureEnqueueToStart(options: { queues: number; samples: number; databaseUrl: string }): Promise<EnqueueToStartResult> {
  const { ballast, names } = newInstance(options.databaseUrl, options.queues);
  let started: ((at: number) => void) | undefined;
  const probe = ballast.workflow('probe', async () => {
    started?.(performance.now());
  });
  await ballast.launch();
  const latencies: number[] = [];
  try {
    await sleep(2_000);
    for (let i = 0; i < options.samples; i++) {
      const queue = names[i % names.length] as string;
      const begun = new Promise<number>((resolve) => (started = resolve));
      const at = performance.now();
      await probe.enqueue(undefined, { queue });
      latencies.push((await begun) - at);
      // Idle between samples, for a varying while, so each enqueue meets a dispatch at rest.
      await sleep(50 + Math.random() * 250);
    }
  } finally {
    await ballast.shutdown({ drainMs: 1_000 });
  }
  return {
    queues: options.queues,
    samples: latencies.length,
    p50Ms: Number((percentile(latencies, 50) ?? 0).toFixed(2)),
    p99Ms: Number((percentile(latencies, 99) ?? 0).toFixed(2)),
  };
}

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] as string) : fallback;
}

async function main(): Promise<void> {
  const counts = option('queues', '1,100,1000').split(',').map(Number);
  const seconds = Number(option('seconds', '20'));
  const warmupSeconds = Number(option('warmup', '15'));
  const samples = Number(option('samples', '200'));
  const server = await openServer();
  try {
    for (const queues of seconds > 0 ? counts : []) {
      const url = await server.createDatabase('idle_queues');
      try {
        console.log(JSON.stringify({ workload: 'idle-queues', ...(await measureIdleQueues({ queues, seconds, warmupSeconds, databaseUrl: url })) }));
      } finally {
        await server.dropDatabase(url);
      }
    }
    if (samples > 0) {
      for (const queues of new Set([counts[0] as number, counts[counts.length - 1] as number])) {
        const url = await server.createDatabase('enqueue_to_start');
        try {
          console.log(JSON.stringify({ workload: 'idle-enqueue-to-start', ...(await measureEnqueueToStart({ queues, samples, databaseUrl: url })) }));
        } finally {
          await server.dropDatabase(url);
        }
      }
    }
  } finally {
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
