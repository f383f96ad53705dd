import type { Driver } from './driver.js';
import type { Completion, NewCheckpoint, NewWorkflow, RunnableWorkflow, StreamAppend } from './records.js';
import { isTransientError } from './retry.js';
import { flushStatement, type FlushBatch } from './sql/flush.js';
import type { Park } from './sql/parking.js';
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
   * Flushes allowed on the wire at once. Two let Postgres work on one batch while the other's
   * reply is being handled, using both sides' CPUs; more only shrinks batches.
   */
  maxInFlight: number;
  /** True once the instance is closing for good: stop retrying through an outage. */
  isClosed(): boolean;
  onRetry(error: unknown): void;
}

/**
 * Lets a flush that completes queued workflows also claim their successors, in the same statement:
 * the freed slots are refilled without a claim round trip of their own (see Dispatcher).
 */
export interface Refiller {
  readonly owner: string;
  appVersion(): string;
  /** See Clock.sqlNow (absent: the database's clock). */
  virtualNow?(): number | null;
  /** As a flush is built: how many workflows of `queue` to claim for the `completing` slots it frees. */
  reserve(queue: string, completing: number): number;
  /** The flush is over (`claimed` is empty if it failed); called before its completions resolve. */
  release(queue: string, completing: number, reserved: number, claimed: RunnableWorkflow[]): void;
  /** A flush that claimed for `queue` may have committed without its reply reaching us. */
  uncertain(queue: string): void;
  /** Whether a completion in `queue` can free a slot for other executors (fleet-wide limits). */
  completionWakes(queue: string): boolean;
}

/** A workflow's first checkpoint carries the workflow's own row when both wait for the same flush. */
interface PendingCheckpoint extends Pending<NewCheckpoint> {
  start?: Pending<NewWorkflow>;
}

/** A completion carries its workflow's last checkpoint when both wait for the same flush. */
interface PendingCompletion extends Pending<Completion> {
  checkpoint?: PendingCheckpoint;
}

interface Refill {
  queue: string;
  completing: number;
  reserved: number;
}

interface WriterBatch extends FlushBatch {
  checkpoints: PendingCheckpoint[];
  completions: PendingCompletion[];
  parks: Pending<Park>[];
  refills: Refill[];
}

/**
 * Group commit. Starts, checkpoints, completions and stream appends submitted while flushes are in
 * flight queue up and are written together by the next flush: one statement, one transaction, one
 * commit for all of them. An idle writer flushes at once, so a lone workflow pays a single round trip per write.
 * Each caller learns whether its own row was applied (fencing may refuse it). A workflow has at
 * most one write outstanding, except that its completion joins its last checkpoint if that still
 * waits for a flush, and its first checkpoint joins its own row (a direct start) likewise: the two
 * are then written by the same statement.
 */
export class GroupCommitWriter {
  private starts: Pending<NewWorkflow>[] = [];
  private checkpoints: PendingCheckpoint[] = [];
  private completions: PendingCompletion[] = [];
  private streams: Pending<StreamAppend>[] = [];
  private parks: Pending<Park>[] = [];
  /** Direct starts still waiting for a flush, so that their workflow's first checkpoint can join them. */
  private readonly queuedStarts = new Map<string, Pending<NewWorkflow>>();
  /** Each workflow's checkpoint still waiting for a flush, so that its completion can join it. */
  private readonly queuedCheckpoints = new Map<string, PendingCheckpoint>();
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];
  private refiller: Refiller | undefined;
  /** Told the size of every flush that committed (metrics). */
  onFlushed: ((writes: number) => void) | undefined;

  constructor(
    private readonly driver: Driver,
    private readonly options: WriterOptions,
  ) {}

  /** Inserts a workflow row; resolves false when a row with that ID (or dedup key) already exists. */
  insertWorkflow(row: NewWorkflow): Promise<boolean> {
    const pending = { item: row } as Pending<NewWorkflow>;
    if (row.status === 'PENDING') this.queuedStarts.set(row.id, pending);
    return this.submit(this.starts, pending);
  }

  /** True while the row of a workflow started here waits for a flush: its first checkpoint can join it. */
  hasQueuedStart(workflowId: string): boolean {
    return this.queuedStarts.has(workflowId);
  }

  /**
   * Resolves false when the workflow is no longer PENDING under this owner and epoch. The
   * workflow's own row, if it still waits for a flush, is written by the same statement (the two
   * commit together or not at all); one already on the wire must have been waited for.
   */
  checkpoint(checkpoint: NewCheckpoint): Promise<boolean> {
    const pending = { item: checkpoint } as PendingCheckpoint;
    const start = this.queuedStarts.get(checkpoint.workflowId);
    if (start) {
      this.queuedStarts.delete(checkpoint.workflowId);
      this.starts.splice(this.starts.lastIndexOf(start), 1);
      pending.start = start;
      checkpoint.withStart = true;
    }
    this.queuedCheckpoints.set(checkpoint.workflowId, pending);
    return this.submit(this.checkpoints, pending);
  }

  /**
   * True while a checkpoint of the workflow waits for a flush on its own: a completion submitted now
   * joins it. One that carries the workflow's row cannot take a completion, which must find the row
   * committed.
   */
  hasQueuedCheckpoint(workflowId: string): boolean {
    const checkpoint = this.queuedCheckpoints.get(workflowId);
    return checkpoint !== undefined && checkpoint.start === undefined;
  }

  /**
   * Resolves false when the workflow is no longer PENDING under this owner and epoch. A checkpoint
   * of the workflow still waiting for a flush is written by the same statement (both commit or
   * neither); one already on the wire must have been waited for by the caller.
   */
  complete(completion: Completion): Promise<boolean> {
    const queued = this.queuedCheckpoints.get(completion.workflowId);
    const checkpoint = queued?.start === undefined ? queued : undefined;
    if (checkpoint) {
      this.queuedCheckpoints.delete(completion.workflowId);
      this.checkpoints.splice(this.checkpoints.lastIndexOf(checkpoint), 1);
    }
    return this.submit(this.completions, { item: completion, checkpoint } as PendingCompletion);
  }

  /**
   * Writes stream rows of a running workflow; resolves false when the workflow is no longer
   * PENDING under this owner and epoch. The caller has at most one append of a workflow
   * outstanding, so that a workflow's rows commit in the order it wrote them.
   */
  appendStream(append: StreamAppend): Promise<boolean> {
    return this.submit(this.streams, { item: append } as Pending<StreamAppend>);
  }

  /**
   * Parks a workflow (see sql/parking.ts); resolves false when it is no longer PENDING under this
   * owner and epoch. Its checkpoints must have committed: the caller waits for them first.
   */
  park(park: Park): Promise<boolean> {
    return this.submit(this.parks, { item: park } as Pending<Park>);
  }

  setRefiller(refiller: Refiller | undefined): void {
    this.refiller = refiller;
  }

  /** Resolves once everything submitted so far has been written (or failed). */
  idle(): Promise<void> {
    if (this.inFlight === 0 && !this.scheduled && this.size() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Queues `pending` (its waiter is set here); resolves with whether its row was applied. */
  private submit<Entry extends Pending<unknown>>(list: Entry[], pending: Entry): Promise<boolean> {
    const applied = new Promise<boolean>((resolve, reject) => (pending.waiter = { resolve, reject }));
    list.push(pending);
    this.schedule();
    return applied;
  }

  private size(): number {
    return this.starts.length + this.checkpoints.length + this.completions.length + this.streams.length + this.parks.length;
  }

  private schedule(): void {
    if (this.inFlight >= this.options.maxInFlight || this.scheduled) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: the flush goes once the promise chains running now have
    // settled, so it gathers every write of this turn of the event loop, including a completion
    // that follows its workflow's last checkpoint by a few microtasks.
    setImmediate(() => {
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
    // With a second slot free and a large backlog (a bulk enqueue), send half now and half at once
    // on the other slot, so both database CPUs work on it. Smaller batches stay whole: every
    // statement has a fixed cost (a commit and its WAL flush, waking a backend, the client's round
    // trip), which a batch of 64 writes shares half as often as two of 32. Halving a batch of 64
    // so that Node handles one half's reply while Postgres runs the other gained nothing: the
    // extra statements cost what the overlap saved.
    const split = this.inFlight < this.options.maxInFlight && this.size() >= SPLIT_THRESHOLD;
    const batch: WriterBatch = {
      starts: take(this.starts, split),
      checkpoints: take(this.checkpoints, split),
      completions: take(this.completions, split),
      streams: take(this.streams, split),
      parks: take(this.parks, split),
      refills: [],
    };
    for (const { item } of batch.starts) this.queuedStarts.delete(item.id);
    for (const checkpoint of batch.checkpoints) {
      this.queuedCheckpoints.delete(checkpoint.item.workflowId);
      if (checkpoint.start) batch.starts.push(checkpoint.start);
    }
    for (const completion of batch.completions) {
      if (completion.checkpoint) batch.checkpoints.push(completion.checkpoint);
    }
    this.planRefills(batch);
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

  /** Claims, in this flush, successors for the queue slots its completions free, where allowed. */
  private planRefills(batch: WriterBatch): void {
    const refiller = this.refiller;
    if (!refiller) return;
    for (const { item } of batch.completions) {
      if (item.queue === null) continue;
      const refill = batch.refills.find((entry) => entry.queue === item.queue);
      if (refill) refill.completing++;
      else batch.refills.push({ queue: item.queue, completing: 1, reserved: 0 });
    }
    const slots: Array<{ queue: string; max: number }> = [];
    for (const refill of batch.refills) {
      refill.reserved = refiller.reserve(refill.queue, refill.completing);
      if (refill.reserved > 0) slots.push({ queue: refill.queue, max: refill.reserved });
    }
    if (slots.length > 0) batch.claims = { owner: refiller.owner, appVersion: refiller.appVersion(), slots, virtualNow: refiller.virtualNow?.() };
  }

  /** Hands the claimed workflows over and frees the reservations; before any completion resolves. */
  private releaseRefills(batch: WriterBatch, rows: FlushRow[]): void {
    if (batch.refills.length === 0 || !this.refiller) return;
    const claimed = batch.claims ? rows.filter((row) => row.k === 'r').map((row) => JSON.parse(row.w as string) as RunnableWorkflow) : [];
    for (const refill of batch.refills) {
      this.refiller.release(
        refill.queue,
        refill.completing,
        refill.reserved,
        claimed.filter((record) => record.queue === refill.queue),
      );
    }
    batch.refills = [];
  }

  private async write(batch: WriterBatch): Promise<void> {
    let statement = flushStatement(this.options.schema, this.options.channel, batch, this.wakePayloads(batch));
    let rows: FlushRow[];
    for (let attempt = 1; ; attempt++) {
      try {
        ({ rows } = await (isProgress(batch)
          ? this.driver.pipelined<FlushRow>(statement.text, statement.params, statement.name)
          : this.driver.query<FlushRow>(statement.text, statement.params, statement.name)));
        break;
      } catch (error) {
        if (isTransientError(error) && !this.options.isClosed()) {
          // The outcome of the failed attempt is unknown; every write in the batch is idempotent
          // (inserts of existing rows do nothing or are refused, fenced updates re-check state),
          // so write it again.
          // Claims are not: ones that may have committed unheard are left to the dispatcher to
          // find, and the retry claims nothing.
          if (batch.claims) {
            for (const { queue } of batch.claims.slots) this.refiller?.uncertain(queue);
            batch.claims = undefined;
            statement = flushStatement(this.options.schema, this.options.channel, batch, this.wakePayloads(batch));
          }
          this.options.onRetry(error);
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 25 * 2 ** Math.min(attempt, 7))));
          continue;
        }
        this.releaseRefills(batch, []);
        const units = singles(batch);
        if (units.length > 1 && !this.options.isClosed()) {
          // One bad row must not fail other workflows' writes: write each alone (a completion
          // with the checkpoint it must commit with), so only the offending one gets the error.
          for (const unit of units) await this.write(unit);
          return;
        }
        // A checkpoint whose position is already written (see flushStatement) is refused, like a
        // fenced-out one: the caller finds out why. What shares its unit is refused with it.
        const refused = isPositionTaken(error);
        for (const list of [batch.starts, batch.checkpoints, batch.completions, batch.streams, batch.parks] as Pending<unknown>[][]) {
          for (const pending of list) {
            if (refused) pending.waiter.resolve(false);
            else pending.waiter.reject(error);
          }
        }
        return;
      }
    }
    this.releaseRefills(batch, rows);
    this.onFlushed?.(batch.starts.length + batch.checkpoints.length + batch.completions.length + batch.streams.length + batch.parks.length);
    settle(batch, rows);
  }

  private wakePayloads(batch: FlushBatch): string[] {
    const keys = new Set<string>();
    for (const { item } of batch.completions) {
      keys.add(wakeKey('done', item.workflowId));
      if (item.queue !== null && (this.refiller?.completionWakes(item.queue) ?? true)) keys.add(wakeKey('queue', item.queue));
    }
    for (const { item } of batch.checkpoints) {
      if (item.message) keys.add(wakeKey('message', item.message.destinationId, item.message.topic));
      if (item.event) keys.add(wakeKey('event', item.workflowId, item.event.key));
    }
    for (const { item } of batch.streams) {
      for (const row of item.rows) keys.add(wakeKey('stream', item.workflowId, row.key));
    }
    for (const { item } of batch.starts) {
      if (item.queue === null || item.status === 'PENDING') continue;
      keys.add(wakeKey(item.status === 'DELAYED' ? 'delayed' : 'queue', item.queue));
    }
    return packWakeKeys(keys);
  }
}

const SPLIT_THRESHOLD = 256;

/** The unique violation of a checkpoint written to a position that already holds one. */
export function isPositionTaken(error: unknown): boolean {
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && typeof constraint === 'string' && constraint.startsWith('steps_');
}

/**
 * Whether a batch carries workflow progress (steps, completions, direct starts), which goes over
 * the writer's pipelined connection. Enqueues from outside workflows are an independent stream:
 * they go through the pool and may run at the same time as a progress batch.
 */
function isProgress(batch: FlushBatch): boolean {
  return (
    batch.checkpoints.length > 0 ||
    batch.completions.length > 0 ||
    batch.streams.length > 0 ||
    (batch.parks?.length ?? 0) > 0 ||
    batch.starts.some(({ item }) => item.status === 'PENDING')
  );
}

/** One row of a flush's answer: what kind (k), which workflow (a), which step (b), a claimed row (w). */
interface FlushRow {
  k: string;
  a: string | null;
  b: number | null;
  w: string | null;
}

/**
 * The batch as units written alone: each write, except that a completion keeps its checkpoint and
 * a first checkpoint keeps its workflow's row.
 */
function singles(batch: WriterBatch): WriterBatch[] {
  const paired = new Set(batch.completions.map((completion) => completion.checkpoint));
  const carried = new Set(batch.checkpoints.map((checkpoint) => checkpoint.start));
  return [
    ...batch.starts.filter((start) => !carried.has(start)).map((start) => ({ ...NOTHING, starts: [start] })),
    ...batch.checkpoints
      .filter((checkpoint) => !paired.has(checkpoint))
      .map((checkpoint) => ({ ...NOTHING, starts: checkpoint.start ? [checkpoint.start] : [], checkpoints: [checkpoint] })),
    ...batch.completions.map((completion) => ({ ...NOTHING, checkpoints: completion.checkpoint ? [completion.checkpoint] : [], completions: [completion] })),
    ...batch.streams.map((append) => ({ ...NOTHING, streams: [append] })),
    ...batch.parks.map((park) => ({ ...NOTHING, parks: [park] })),
  ];
}

/** A batch of nothing, for singles() to fill in (the lists are replaced, never shared). */
const NOTHING: Readonly<WriterBatch> = { starts: [], checkpoints: [], completions: [], streams: [], parks: [], refills: [] };

/** Removes and returns the whole list, or its first half when splitting. */
function take<Item>(list: Item[], half: boolean): Item[] {
  return list.splice(0, half ? Math.ceil(list.length / 2) : list.length);
}

function settle(batch: FlushBatch, rows: FlushRow[]): void {
  const started = new Set<string>();
  const checkpointed = new Set<string>();
  const completed = new Set<string>();
  const appended = new Set<string>();
  const parked = new Set<string>();
  for (const row of rows) {
    if (row.k === 's') started.add(row.a as string);
    else if (row.k === 'c') checkpointed.add(`${row.a}\u0000${row.b}`);
    else if (row.k === 'd') completed.add(row.a as string);
    else if (row.k === 't') appended.add(row.a as string);
    else if (row.k === 'p') parked.add(row.a as string);
  }
  // Two starts of one ID in one batch insert it once: only the first is told it did.
  for (const { item, waiter } of batch.starts) waiter.resolve(started.delete(item.id));
  for (const { item, waiter } of batch.checkpoints) waiter.resolve(checkpointed.has(`${item.workflowId}\u0000${item.idx}`));
  for (const { item, waiter } of batch.completions) waiter.resolve(completed.has(item.workflowId));
  for (const { item, waiter } of batch.streams) waiter.resolve(appended.has(item.workflowId));
  for (const { item, waiter } of batch.parks ?? []) waiter.resolve(parked.has(item.workflowId));
}
