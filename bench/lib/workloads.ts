// The workloads, written once against a small adapter so every system runs exactly the same driver.
// Each system's adapter (bench/ballast.ts, bench/peers/dbos/bench.ts) registers one workflow of three
// trivial checkpointed steps, calls `workflowStarted(i)` first thing in its body, and maps start /
// enqueue / result onto its own API.

import { performance } from 'node:perf_hooks';
import { resultLine, type ChildReport, type SystemName, type WorkloadName } from './stats.js';

export interface WorkflowRun {
  result(): Promise<unknown>;
}

/** The queue a workload needs. `held` queues accept work but dispatch (almost) none of it. */
export interface QueueSpec {
  name: string;
  workerConcurrency: number;
  held: boolean;
}

export interface BenchSystem {
  readonly name: SystemName;
  /**
   * Registers the workflow (and the queue, if given) and launches. Returns a reason to skip the
   * workload instead, before launching anything, when the system cannot run it.
   */
  launch(databaseUrl: string, queue: QueueSpec | undefined): Promise<string | undefined>;
  /** Starts a workflow directly in this process. */
  start(input: number): Promise<WorkflowRun>;
  /** Enqueues a workflow on the launched queue. */
  enqueue(input: number): Promise<WorkflowRun>;
  shutdown(): Promise<void>;
}

export const IN_FLIGHT = 64;
export const BATCH_SIZE = 1_000;
/**
 * The throughput workloads first run the same work untimed, for at least this many workflows and
 * this long, so that each system is measured in its steady state (JIT-compiled code, a young
 * generation grown to its working size, warm pools and prepared statements), not starting up.
 */
export const THROUGHPUT_WARM_UP = { workflows: 1_000, ms: 3_000 };
/**
 * The throughput workloads then repeat their timed round (of the workload's workflow count) until
 * at least this much time has passed, and divide all the workflows by all the time. A system that
 * finishes a round in a fraction of a second is thus measured over seconds too, like a slower one:
 * on a shared machine whose speed drifts, one short window would be a sample of the drift.
 */
export const THROUGHPUT_MIN_MS = 3_000;

export const DEFAULT_WORKFLOWS: Record<WorkloadName, number> = {
  direct: 2_000,
  queue: 2_000,
  lone: 300,
  'batch-enqueue': 20_000,
  'enqueue-to-start': 200,
};

/** The queue each workload launches with; none for workloads that start workflows directly. */
export function queueFor(workload: WorkloadName): QueueSpec | undefined {
  switch (workload) {
    case 'queue':
    case 'enqueue-to-start':
      return { name: 'bench', workerConcurrency: IN_FLIGHT, held: false };
    case 'batch-enqueue':
      // Rate-limited to one start an hour, so enqueue throughput is measured without the
      // dispatcher running the backlog at the same time.
      return { name: 'bench-held', workerConcurrency: IN_FLIGHT, held: true };
    default:
      return undefined;
  }
}

// ---- start probe: workflows report the moment their body begins ----

const startWaiters = new Map<number, (at: number) => void>();

/** Called by each adapter's workflow as its first statement. */
export function workflowStarted(input: number): void {
  const waiter = startWaiters.get(input);
  if (waiter) {
    startWaiters.delete(input);
    waiter(performance.now());
  }
}

function whenStarted(input: number): Promise<number> {
  return new Promise((resolve) => startWaiters.set(input, resolve));
}

// ---- drivers ----

let nextInput = 0;
/** Distinct inputs across warm-up and timed runs, so start probes never collide. */
function inputs(count: number): number[] {
  return Array.from({ length: count }, () => nextInput++);
}

/** Runs `fn` over `items` with at most `concurrency` calls outstanding; results keep item order. */
async function inFlight<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k] as T);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Runs `round` over batches of fresh inputs until the warm-up's count and time are both reached. */
async function warmUp(round: (batch: number[]) => Promise<unknown>, count: number): Promise<void> {
  const t0 = performance.now();
  let done = 0;
  while (done < Math.min(THROUGHPUT_WARM_UP.workflows, count) || performance.now() - t0 < THROUGHPUT_WARM_UP.ms) {
    const batch = inputs(Math.min(200, count));
    await round(batch);
    done += batch.length;
  }
}

interface Timed {
  /** Workflows in the timed part (more than asked for when rounds were repeated). */
  workflows: number;
  elapsedMs: number;
  latenciesMs: number[];
}

/**
 * Runs `round` over batches of `count` fresh inputs until THROUGHPUT_MIN_MS have passed; each
 * round answers its per-workflow latencies (none where they would not mean anything).
 */
async function timedRounds(round: (batch: number[]) => Promise<number[]>, count: number): Promise<Timed> {
  const t0 = performance.now();
  let workflows = 0;
  const latenciesMs: number[] = [];
  do {
    latenciesMs.push(...(await round(inputs(count))));
    workflows += count;
  } while (performance.now() - t0 < THROUGHPUT_MIN_MS);
  return { workflows, elapsedMs: performance.now() - t0, latenciesMs };
}

/** (a) start → result, 64 workflows in flight. Latency is per workflow, start call to result. */
async function direct(sys: BenchSystem, count: number): Promise<Timed> {
  const run = async (i: number): Promise<number> => {
    const t0 = performance.now();
    await (await sys.start(i)).result();
    return performance.now() - t0;
  };
  const round = (batch: number[]): Promise<number[]> => inFlight(batch, IN_FLIGHT, run);
  await warmUp(round, count);
  return timedRounds(round, count);
}

/**
 * (b) The same workflows through a queue of worker concurrency 64: enqueue them all (64 enqueue
 * calls outstanding), then await every result, 64 waits outstanding (awaiting one at a time would
 * measure 2,000 sequential status reads, not the queue). Time runs from the first enqueue to the
 * last result. No per-workflow latency: it would be mostly time spent waiting in the queue.
 */
async function queue(sys: BenchSystem, count: number): Promise<Timed> {
  const drain = async (batch: number[]): Promise<number[]> => {
    await queueRound(sys, batch);
    return [];
  };
  await warmUp(drain, count);
  return timedRounds(drain, count);
}

/** One round of (b): enqueues `batch` (64 calls outstanding), then awaits every result (64 waits outstanding). */
export async function queueRound(sys: BenchSystem, batch: number[]): Promise<void> {
  const runs = await inFlight(batch, IN_FLIGHT, (i) => sys.enqueue(i));
  await inFlight(runs, IN_FLIGHT, (run) => run.result());
}

/** (c) One workflow at a time, start → result. */
async function lone(sys: BenchSystem, count: number): Promise<Timed> {
  const run = async (i: number): Promise<number> => {
    const t0 = performance.now();
    await (await sys.start(i)).result();
    return performance.now() - t0;
  };
  for (const i of inputs(Math.min(20, count))) await run(i); // warm-up
  const t0 = performance.now();
  const latenciesMs: number[] = [];
  for (const i of inputs(count)) latenciesMs.push(await run(i));
  return { workflows: count, elapsedMs: performance.now() - t0, latenciesMs };
}

/**
 * (d1) Enqueue throughput: batches of 1,000 concurrent enqueue calls, each batch awaited (every
 * enqueue acknowledged, so durably recorded) before the next. The queue is held, so nothing runs.
 */
async function batchEnqueue(sys: BenchSystem, count: number): Promise<Timed> {
  const enqueueAll = async (all: number[]): Promise<void> => {
    for (let k = 0; k < all.length; k += BATCH_SIZE) {
      await Promise.all(all.slice(k, k + BATCH_SIZE).map((i) => sys.enqueue(i)));
    }
  };
  await enqueueAll(inputs(Math.min(200, count))); // warm-up
  const t0 = performance.now();
  await enqueueAll(inputs(count));
  return { workflows: count, elapsedMs: performance.now() - t0, latenciesMs: [] };
}

/**
 * (d2) Enqueue → start on an idle worker: one workflow at a time, from the enqueue call until the
 * workflow's body begins; the result is awaited and a random 0–50 ms pause taken before the next,
 * so every sample meets an idle worker at a random point of any polling cycle.
 */
async function enqueueToStart(sys: BenchSystem, count: number): Promise<Timed> {
  const sample = async (i: number): Promise<number> => {
    await new Promise((r) => setTimeout(r, Math.random() * 50));
    const started = whenStarted(i);
    const t0 = performance.now();
    const run = await sys.enqueue(i);
    const latency = (await started) - t0;
    await run.result();
    return latency;
  };
  for (const i of inputs(Math.min(10, count))) await sample(i); // warm-up
  const t0 = performance.now();
  const latenciesMs: number[] = [];
  for (const i of inputs(count)) latenciesMs.push(await sample(i));
  return { workflows: count, elapsedMs: performance.now() - t0, latenciesMs };
}

const DRIVERS: Record<WorkloadName, (sys: BenchSystem, count: number) => Promise<Timed>> = {
  direct,
  queue,
  lone,
  'batch-enqueue': batchEnqueue,
  'enqueue-to-start': enqueueToStart,
};

/** Launches `sys` for `workload`, runs it, shuts down, and returns the report line. */
export async function runWorkload(
  sys: BenchSystem,
  workload: WorkloadName,
  count: number,
  databaseUrl: string,
): Promise<ChildReport> {
  const skipped = await sys.launch(databaseUrl, queueFor(workload));
  if (skipped !== undefined) return { system: sys.name, workload, skipped }; // nothing was launched
  const { workflows, elapsedMs, latenciesMs } = await DRIVERS[workload](sys, count);
  const line = resultLine(sys.name, workload, workflows, elapsedMs, latenciesMs);
  await sys.shutdown();
  return line;
}
