import type { Driver } from './driver.js';
import type { Completion, NewCheckpoint, NewWorkflow } from './records.js';
import { isTransientError } from './retry.js';
import { flushStatement, type FlushBatch } from './sql/flush.js';
import { packWakeKeys, wakeKey } from './wakeups.js';

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface Pending<Item> {
  item: Item;
  waiter: Waiter<boolean>;
}

export interface WriterOptions {
  schema: string;
  channel: string;
  /**
   * Flushes allowed on the wire at once. Two let Postgres work on one batch while the next is
   * being sent, using both sides' CPUs; more only shrinks batches.
   */
  maxInFlight: number;
  /** True once the instance is closing for good: stop retrying through an outage. */
  isClosed(): boolean;
  onRetry(error: unknown): void;
}

/**
 * Group commit. Starts, checkpoints and completions submitted while flushes are in flight queue up
 * and are written together by the next flush: one statement, one transaction, one commit for all
 * of them. An idle writer flushes at once, so a lone workflow pays a single round trip per write.
 * Each caller learns whether its own row was applied (fencing may refuse it). Items of one
 * workflow never share or race flushes: each waits for its previous write before the next.
 */
export class GroupCommitWriter {
  private starts: Pending<NewWorkflow>[] = [];
  private checkpoints: Pending<NewCheckpoint>[] = [];
  private completions: Pending<Completion>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly driver: Driver,
    private readonly options: WriterOptions,
  ) {}

  /** Inserts a workflow row; resolves false when a row with that ID (or dedup key) already exists. */
  insertWorkflow(row: NewWorkflow): Promise<boolean> {
    return this.submit(this.starts, row);
  }

  /** Resolves false when the workflow is no longer PENDING under this owner and epoch. */
  checkpoint(checkpoint: NewCheckpoint): Promise<boolean> {
    return this.submit(this.checkpoints, checkpoint);
  }

  /** Resolves false when the workflow is no longer PENDING under this owner and epoch. */
  complete(completion: Completion): Promise<boolean> {
    return this.submit(this.completions, completion);
  }

  /** Resolves once everything submitted so far has been written (or failed). */
  idle(): Promise<void> {
    if (this.inFlight === 0 && !this.scheduled && this.size() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private submit<Item>(list: Pending<Item>[], item: Item): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      list.push({ item, waiter: { resolve, reject } });
      this.schedule();
    });
  }

  private size(): number {
    return this.starts.length + this.checkpoints.length + this.completions.length;
  }

  private schedule(): void {
    if (this.inFlight >= this.options.maxInFlight || this.scheduled) return;
    this.scheduled = true;
    // A microtask gathers everything submitted in the same tick without adding latency.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.options.maxInFlight) return;
    if (this.size() === 0) {
      if (this.inFlight === 0) this.resolveIdle();
      return;
    }
    this.inFlight++;
    // With a second slot free and a large backlog, send half now and half at once on the other
    // slot: the two halves then finish at different times, so Postgres works on one while this
    // process prepares the next instead of everything moving in lockstep.
    const split = this.inFlight < this.options.maxInFlight && this.size() >= SPLIT_THRESHOLD;
    const batch: FlushBatch = {
      starts: take(this.starts, split),
      checkpoints: take(this.checkpoints, split),
      completions: take(this.completions, split),
    };
    if (split) queueMicrotask(() => void this.flush());
    try {
      await this.write(batch);
    } finally {
      this.inFlight--;
      if (this.size() > 0) void this.flush();
      else if (this.inFlight === 0) this.resolveIdle();
    }
  }

  private resolveIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async write(batch: FlushBatch): Promise<void> {
    const statement = flushStatement(this.options.schema, this.options.channel, batch, this.wakePayloads(batch));
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await this.driver.query<{ k: string; a: string; b: number | null }>(
          statement.text,
          statement.params,
          statement.name,
        );
        settle(batch, rows);
        return;
      } catch (error) {
        if (isTransientError(error) && !this.options.isClosed()) {
          // The outcome of the failed attempt is unknown; every statement in the batch is
          // idempotent (conflicts do nothing, fenced updates re-check state), so write it again.
          this.options.onRetry(error);
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 25 * 2 ** Math.min(attempt, 7))));
          continue;
        }
        const size = batch.starts.length + batch.checkpoints.length + batch.completions.length;
        if (size > 1 && !this.options.isClosed()) {
          // One bad row must not fail other workflows' writes: write each alone, so only the
          // offending one gets the error.
          for (const single of singles(batch)) await this.write(single);
          return;
        }
        for (const list of [batch.starts, batch.checkpoints, batch.completions] as Pending<unknown>[][]) {
          for (const pending of list) pending.waiter.reject(error);
        }
        return;
      }
    }
  }

  private wakePayloads(batch: FlushBatch): string[] {
    const keys = new Set<string>();
    for (const { item } of batch.completions) {
      keys.add(wakeKey('done', item.workflowId));
      if (item.queue !== null) keys.add(wakeKey('queue', item.queue));
    }
    for (const { item } of batch.checkpoints) {
      if (item.message) keys.add(wakeKey('message', item.message.destinationId, item.message.topic));
      if (item.event) keys.add(wakeKey('event', item.workflowId, item.event.key));
    }
    for (const { item } of batch.starts) {
      if (item.queue === null || item.status === 'PENDING') continue;
      keys.add(wakeKey(item.status === 'DELAYED' ? 'delayed' : 'queue', item.queue));
    }
    return packWakeKeys(keys);
  }
}

const SPLIT_THRESHOLD = 32;

function singles(batch: FlushBatch): FlushBatch[] {
  return [
    ...batch.starts.map((start) => ({ starts: [start], checkpoints: [], completions: [] })),
    ...batch.checkpoints.map((checkpoint) => ({ starts: [], checkpoints: [checkpoint], completions: [] })),
    ...batch.completions.map((completion) => ({ starts: [], checkpoints: [], completions: [completion] })),
  ];
}

/** Removes and returns the whole list, or its first half when splitting. */
function take<Item>(list: Item[], half: boolean): Item[] {
  return list.splice(0, half ? Math.ceil(list.length / 2) : list.length);
}

function settle(batch: FlushBatch, rows: Array<{ k: string; a: string; b: number | null }>): void {
  const started = new Set<string>();
  const checkpointed = new Set<string>();
  const completed = new Set<string>();
  for (const row of rows) {
    if (row.k === 's') started.add(row.a);
    else if (row.k === 'c') checkpointed.add(`${row.a}\u0000${row.b}`);
    else if (row.k === 'd') completed.add(row.a);
  }
  for (const { item, waiter } of batch.starts) waiter.resolve(started.has(item.id));
  for (const { item, waiter } of batch.checkpoints) waiter.resolve(checkpointed.has(`${item.workflowId}\u0000${item.idx}`));
  for (const { item, waiter } of batch.completions) waiter.resolve(completed.has(item.workflowId));
}
