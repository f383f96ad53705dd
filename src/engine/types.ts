import type { WorkflowStatus } from '../store/records.js';
import type { WorkflowAttributes } from './attributes.js';

/** Milliseconds, or a string such as '500ms', '10s', '5m', '1h', '1d'. */
export type Duration = number | string;

export interface BackoffOptions {
  /** Delay before the first retry (default 100ms). */
  initial?: Duration;
  /** Multiplier per retry (default 2). */
  factor?: number;
  /** Upper bound of one delay (default 30s). */
  max?: Duration;
}

export interface StepOptions {
  /** Extra attempts after the first failure (default 0). */
  retries?: number;
  backoff?: BackoffOptions;
  /** Per-attempt time limit; the attempt fails with StepTimeoutError and its signal aborts. */
  timeout?: Duration;
}

export interface StepAttempt {
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the attempt times out or the workflow is cancelled. */
  signal: AbortSignal;
}

/**
 * The caller's own open transaction on the system database: a node-postgres `pg.Client` or
 * `PoolClient` after `BEGIN`, or a PGlite transaction (`tx.client` inside `ctx.transaction`).
 */
export interface CallerTransaction {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any driver's query signature
  query(text: string, params?: any[]): Promise<unknown>;
}

export interface StartOptions {
  /** Workflow ID, the idempotency key. Default: a generated UUIDv7 (time-ordered). */
  id?: string;
  /** The workflow fails with WorkflowTimeoutError if it has not finished this long after it starts. */
  timeout?: Duration;
  /** String key/values stored with the workflow, to filter lists by (docs/workflows.md#attributes). */
  attributes?: WorkflowAttributes;
  /**
   * Outbox: write the workflow in the caller's open transaction. It exists if and only if that
   * transaction commits, and then an executor of this application version adopts and runs it
   * (see docs/queues.md, "Outbox").
   */
  transaction?: CallerTransaction;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  /** A data source declared with ballast.dataSource(name, …); default: the system database. */
  dataSource?: string;
  /** Default: the database's (normally read committed). */
  isolation?: IsolationLevel;
  /** A read-only transaction: runs at least once, records only its result (see docs/workflows.md). */
  readOnly?: boolean;
  /** Extra attempts after the function fails (serialization failures and deadlocks are retried apart from these). */
  retries?: number;
  backoff?: BackoffOptions;
}

/** The transaction a `ctx.transaction` function runs in. */
export interface Transaction {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: Row[]; rowCount: number }>;
  /**
   * The driver's client, in the transaction, for a query builder or ORM to wrap: node-postgres's
   * `PoolClient`, or PGlite's `Transaction`. Do not commit or roll it back yourself.
   */
  readonly client: unknown;
}

/** Options of `enqueue` (validated by the queue layer, src/queues/enqueue.ts). */
export interface EnqueueOptions {
  /** The queue, by handle (from ballast.queue) or by name. */
  queue: { readonly name: string } | string;
  /** Workflow ID, the idempotency key. Default: a generated UUIDv7 (time-ordered). */
  id?: string;
  /** 0 runs first; work without a priority runs after all prioritised work, in arrival order. */
  priority?: number;
  /** At most one active (ENQUEUED, DELAYED or PENDING) workflow per dedupId in this queue. */
  dedupId?: string;
  /** On a dedupId collision: throw DuplicateWorkflowError (default) or return the existing workflow's handle. */
  onDuplicate?: 'reject' | 'existing';
  /** Required on a partitioned queue: the partition's concurrency limit applies per key. */
  partitionKey?: string;
  /** Do not start before this much time has passed. */
  delay?: Duration;
  /** Counted from the moment the workflow is dequeued. */
  timeout?: Duration;
  /** String key/values stored with the workflow, to filter lists by (docs/workflows.md#attributes). */
  attributes?: WorkflowAttributes;
  /** Outbox: enqueue in the caller's open transaction; the workflow exists if and only if it commits. */
  transaction?: CallerTransaction;
}

/** Options of `debounce` (src/queues/debounce.ts; docs/queues.md#debounce). */
export interface DebounceOptions {
  /** The queue the workflow runs from once due, by handle or by name. */
  queue: { readonly name: string } | string;
  /** The workflow starts once no call for its key has come for this long. */
  delay: Duration;
  /** …or this long after the first call of the window at the latest, even if calls keep coming. */
  maxWait?: Duration;
  /** As for enqueue; the last call's value applies. */
  priority?: number;
  partitionKey?: string;
  timeout?: Duration;
  attributes?: WorkflowAttributes;
}

export interface SendOptions {
  /** Sending twice to the same workflow with the same key delivers the message once. */
  idempotencyKey?: string;
}

export interface ResultOptions {
  /** Give up waiting (WaitTimeoutError) after this long; the workflow itself carries on. */
  timeout?: Duration;
}

export interface WorkflowInfo {
  id: string;
  name: string;
  status: WorkflowStatus;
  queue: string | null;
  executorId: string | null;
  appName: string;
  appVersion: string;
  parentId: string | null;
  /** Runs started: 1, plus one per takeover, hand-back or resume. */
  attempts: number;
  /** Takeovers after its executor died while running it (counted against maxRecoveryAttempts). */
  recoveries: number;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  /** Its attributes ({} when it has none). */
  attributes: WorkflowAttributes;
  /** Present when requested (`withPayloads`), or for finished workflows' output and error. */
  input?: unknown;
  output?: unknown;
  error?: unknown;
}

export interface StepInfo {
  index: number;
  name: string;
  output?: unknown;
  error?: unknown;
  childWorkflowId: string | null;
  /** When its first attempt began (null for operations that are instants). */
  startedAt: Date | null;
  completedAt: Date;
  /** Attempts the step took: more than 1 when it was retried. */
  attempts: number;
}

export interface WorkflowHandle<Output> {
  readonly id: string;
  status(): Promise<WorkflowInfo>;
  /** Waits for the workflow to finish: its output, or it rethrows the workflow's error. */
  result(options?: ResultOptions): Promise<Output>;
}

/** How a workflow ended: its output, or the error its `result()` throws. */
export type WorkflowOutcome<Output> =
  | { status: 'SUCCESS'; output: Output; error?: undefined }
  | { status: 'ERROR' | 'CANCELLED' | 'DEAD_LETTER'; output?: undefined; error: unknown };

/** A workflow that ctx.waitFirst or ctx.waitAll saw finished. */
export type FinishedWorkflow<Output> = WorkflowOutcome<Output> & {
  /** Its place in the list of handles waited on. */
  index: number;
  handle: WorkflowHandle<Output>;
};

/** The output type of a workflow handle. */
export type OutputOf<Handle> = Handle extends WorkflowHandle<infer Output> ? Output : never;

export interface WaitOptions {
  /** Stop waiting after this long: waitFirst answers undefined, waitAll undefined for each workflow not finished. */
  timeout?: Duration;
}

/** Where a stream reader starts, and what stops it early. */
export interface ReadStreamOptions {
  /** The first position to read (default 0): the count of values already seen. */
  from?: number;
  /** Ends the iteration (and any wait for the next value) when aborted. */
  signal?: AbortSignal;
}

/** One value of a stream and its position (0, 1, 2, … in the order written). */
export interface StreamEntry<T = unknown> {
  position: number;
  value: T;
}

export interface WorkflowContext {
  readonly workflowId: string;
  readonly workflowName: string;
  /** Runs `fn` at least once and never again once its result is checkpointed. */
  step<T>(name: string, fn: (attempt: StepAttempt) => T | Promise<T>, options?: StepOptions): Promise<T>;
  /**
   * Runs `fn` in one database transaction that also records its result: its writes and its
   * checkpoint commit together or not at all, so they happen exactly once. On a data source (another
   * database), the transaction records its completion there in the same commit.
   */
  transaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Durable sleep: after a restart it wakes at the originally recorded time. */
  sleep(duration: Duration): Promise<void>;
  /** Next message on `topic` sent to this workflow; undefined when the timeout passes first. */
  recv<T = unknown>(topic: string, options?: { timeout?: Duration }): Promise<T | undefined>;
  /** Sends a message, exactly once, to another workflow. */
  send(destinationId: string, topic: string, message: unknown): Promise<void>;
  /** Publishes a key/value that others read with getEvent; exactly once. */
  setEvent(key: string, value: unknown): Promise<void>;
  /** Checkpointed clock: the same value on replay. Epoch milliseconds. */
  now(): Promise<number>;
  /** Checkpointed random UUID: the same value on replay. */
  uuid(): Promise<string>;
  /** Starts a child workflow; its ID is recorded, so replay returns the same child. */
  start<Input, Output>(workflow: WorkflowDefinition<Input, Output>, input: Input, options?: StartOptions): Promise<WorkflowHandle<Output>>;
  /** Enqueues a child workflow on a queue, exactly once (its ID is recorded). */
  enqueue<Input, Output>(workflow: WorkflowDefinition<Input, Output>, input: Input, options: EnqueueOptions): Promise<WorkflowHandle<Output>>;
  /**
   * Guards a code change for workflows already running: true where the new code should run (a new
   * workflow, or one that had not reached this point when the patch was deployed), false for a
   * workflow whose history shows it passed this point under the old code. The first true answer
   * is recorded, so replays answer the same. Synchronous: use it in a plain `if`.
   */
  patched(name: string): boolean;
  /**
   * The second stage of removing a patch, once every workflow is past the point or was started
   * with the patch: accepts the marker patched() recorded in older histories and records none, so
   * that when no workflow from before this deployment remains, the call can be deleted.
   */
  deprecatePatch(name: string): void;
  /**
   * Appends a value to the workflow's stream `key`, exactly once per position across crashes and
   * replays. Like a step's checkpoint, the write commits before the workflow's next durable
   * operation; values written faster than a round trip share commits.
   */
  writeStream(key: string, value: unknown): Promise<void>;
  /** Ends the stream `key`: readers stop after its last value. A finished workflow's streams end too. */
  closeStream(key: string): Promise<void>;
  /** The first of the workflows to finish (any final status), recorded: a replay answers the same one. */
  waitFirst<Handle extends WorkflowHandle<unknown>>(handles: readonly Handle[]): Promise<FinishedWorkflow<OutputOf<Handle>>>;
  waitFirst<Handle extends WorkflowHandle<unknown>>(
    handles: readonly Handle[],
    options: WaitOptions,
  ): Promise<FinishedWorkflow<OutputOf<Handle>> | undefined>;
  /** Every workflow's outcome, in the order given, once all have finished; recorded like waitFirst. */
  waitAll<const Handles extends readonly WorkflowHandle<unknown>[]>(handles: Handles): Promise<{ -readonly [K in keyof Handles]: FinishedWorkflow<OutputOf<Handles[K]>> }>;
  waitAll<const Handles extends readonly WorkflowHandle<unknown>[]>(
    handles: Handles,
    options: WaitOptions,
  ): Promise<{ -readonly [K in keyof Handles]: FinishedWorkflow<OutputOf<Handles[K]>> | undefined }>;
}

export type WorkflowFunction<Input, Output> = (ctx: WorkflowContext, input: Input) => Promise<Output>;

export interface WorkflowDefinition<Input, Output> {
  readonly name: string;
  /** Runs the workflow now in this process. */
  start(input: Input, options?: StartOptions): Promise<WorkflowHandle<Output>>;
  /** Puts the workflow on a queue; any executor of this application version may run it. */
  enqueue(input: Input, options: EnqueueOptions): Promise<WorkflowHandle<Output>>;
  /**
   * Collapses calls with the same key into one workflow that starts, with the last call's input,
   * once the key has been quiet for `delay` (or `maxWait` after the first call at the latest).
   * Returns a handle to that workflow (see docs/queues.md#debounce).
   */
  debounce(key: string, input: Input, options: DebounceOptions): Promise<WorkflowHandle<Output>>;
  /** Enqueues many workflows with the same options in one round trip (IDs are generated). */
  enqueueMany(inputs: Input[], options: Omit<EnqueueOptions, 'id' | 'dedupId'>): Promise<WorkflowHandle<Output>[]>;
}
