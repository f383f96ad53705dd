// The fairness measurement, written once against a small adapter so that Ballast (bench/fairness.ts)
// and DBOS (bench/peers/dbos/fairness.ts) run the same driver. One partitioned queue (concurrency 10,
// 10 per partition key by default) and two tenants: A enqueues a flood (20,000), then B a few (10).
// Measured: how long B's workflows take from B's arrival until the last of them finished, and how
// many of A's workflows started after B arrived and before B's last one started (what a strictly
// FIFO queue makes B wait for; a fair one only for about one claim round).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH_SIZE } from './workloads.js';
import { round } from './stats.js';

export interface FairnessConfig {
  databaseUrl: string;
  /** Tenant A's workflows, enqueued first. */
  flood: number;
  /** Tenant B's workflows, enqueued once A's are all acknowledged. */
  small: number;
  concurrency: number;
  partitionConcurrency: number;
  /** How long each workflow's one step works. */
  workMs: number;
  /** Extra queue options (Ballast's `fairness`, for instance), passed to the queue as they are. */
  queueOptions: Record<string, unknown>;
  /** How long to wait for B's last workflow before reporting it unfinished. */
  timeoutMs: number;
}

export const DEFAULT_FAIRNESS: Omit<FairnessConfig, 'databaseUrl'> = {
  flood: 20_000,
  small: 10,
  concurrency: 10,
  partitionConcurrency: 10,
  workMs: 10,
  queueOptions: {},
  timeoutMs: 300_000,
};

export interface FairnessQueue {
  concurrency: number;
  partitionConcurrency: number;
  extra: Record<string, unknown>;
}

export interface FairnessSystem {
  readonly name: 'ballast' | 'dbos';
  /** Registers the queue and a workflow that calls `fairnessStarted(input)` first, then one step of `workMs`; launches. */
  launch(databaseUrl: string, queue: FairnessQueue, workMs: number): Promise<void>;
  /** Enqueues workflow `input` under partition key `tenant`; resolves once the enqueue is acknowledged. */
  enqueue(tenant: string, input: number): Promise<{ result(): Promise<unknown> }>;
  shutdown(): Promise<void>;
}

export interface FairnessLine {
  system: 'ballast' | 'dbos';
  workload: 'fairness';
  flood: number;
  small: number;
  concurrency: number;
  partitionConcurrency: number;
  workMs: number;
  queueOptions: Record<string, unknown>;
  floodEnqueueSeconds: number;
  /** A's workflows that had started when B arrived. */
  floodStartedBeforeB: number;
  /** B's workflows finished within the timeout. */
  smallFinished: number;
  /** B's arrival → its last workflow started / finished; null when not all of B finished in time. */
  smallLastStartMs: number | null;
  smallLastFinishMs: number | null;
  /** A's workflows started after B arrived and before B's last one started (until the timeout if B did not finish). */
  floodStartedWhileSmallWaited: number;
}

const starts = new Map<number, number>();

/** Called by each adapter's workflow as its first statement. */
export function fairnessStarted(input: number): void {
  if (!starts.has(input)) starts.set(input, performance.now());
}

export async function measureFairnessOn(sys: FairnessSystem, config: FairnessConfig): Promise<FairnessLine> {
  await sys.launch(config.databaseUrl, { concurrency: config.concurrency, partitionConcurrency: config.partitionConcurrency, extra: config.queueOptions }, config.workMs);
  try {
    const t0 = performance.now();
    for (let k = 0; k < config.flood; k += BATCH_SIZE) {
      const batch = Array.from({ length: Math.min(BATCH_SIZE, config.flood - k) }, (_, n) => k + n);
      await Promise.all(batch.map((input) => sys.enqueue('tenant-a', input)));
    }
    const floodEnqueueSeconds = round((performance.now() - t0) / 1000, 2);

    const arrival = performance.now();
    const floodStartedBeforeB = starts.size;
    const smallInputs = Array.from({ length: config.small }, (_, n) => config.flood + n);
    const finishedAt: number[] = [];
    const runs = await Promise.all(smallInputs.map((input) => sys.enqueue('tenant-b', input)));
    const all = Promise.all(runs.map(async (run) => finishedAt.push((await run.result(), performance.now()))));
    const finished = await Promise.race([all.then(() => true), sleep(config.timeoutMs, undefined, { ref: false }).then(() => false)]);
    const end = performance.now();

    const smallStarts = smallInputs.map((input) => starts.get(input));
    const lastSmallStart = finished ? Math.max(...(smallStarts as number[])) : end;
    let floodStartedWhileSmallWaited = 0;
    for (const [input, at] of starts) {
      if (input < config.flood && at >= arrival && at < lastSmallStart) floodStartedWhileSmallWaited++;
    }
    return {
      system: sys.name,
      workload: 'fairness',
      flood: config.flood,
      small: config.small,
      concurrency: config.concurrency,
      partitionConcurrency: config.partitionConcurrency,
      workMs: config.workMs,
      queueOptions: config.queueOptions,
      floodEnqueueSeconds,
      floodStartedBeforeB,
      smallFinished: finishedAt.length,
      smallLastStartMs: finished ? round(lastSmallStart - arrival, 1) : null,
      smallLastFinishMs: finished ? round(Math.max(...finishedAt) - arrival, 1) : null,
      floodStartedWhileSmallWaited,
    };
  } finally {
    await sys.shutdown();
  }
}
