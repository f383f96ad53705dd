import { systemClock, type Clock, type Timer } from '../clock.js';
import { newWorkflowId } from '../ids.js';
import { checkPayloadSize, deserialize, serialize, serializeError } from '../codec.js';
import { optionalDuration } from '../durations.js';
import {
  DeadLetterError,
  LifecycleError,
  UnknownWorkflowError,
  WaitTimeoutError,
  WorkflowCancelledError,
  OwnershipLostError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
  ValidationError,
} from '../errors.js';
import { type Lease, type NewWorkflow, type RunnableWorkflow, type StepRecord, type WorkflowRecord } from '../store/records.js';
import { DataSources } from '../store/data-sources.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import { Context } from './context.js';
import { HistoryConflictSignal, ShutdownSignal, SimulatedCrash, WorkflowExecution, type CrashRule, type LocalOutcome } from './execution.js';
import { WorkflowRegistry, type Registration } from './registry.js';
import type { EnqueueOptions, ResultOptions, StartOptions, WorkflowDefinition, WorkflowHandle } from './types.js';
import { toAttributes } from './attributes.js';
import { START_OPTIONS, TIMEOUT_OPTIONS } from './option-names.js';
import { requireName, requireOptions } from './validation.js';
import type { ActiveMark, Observer } from './observer.js';
import type { Waiters } from './waiters.js';
import { decodeResult, toWorkflowInfo } from './views.js';
import { UNLEASED, type LeaseGate } from './lease-gate.js';
import { NO_INSTRUMENTATION, type Instrumentation, type RunEnd } from './instrumentation.js';

/** Enqueueing is the queue layer's job; the engine reaches it through this hook (ctx.enqueue). */
export type Enqueuer = (registration: Registration, input: unknown, options: EnqueueOptions, parent: Lease | null) => Promise<WorkflowHandle<unknown>>;

/**
 * Where a workflow that succeeds in this process leaves its output for the handles of this process:
 * a handle to a queued workflow then learns its result without reading the database. Only success
 * is kept: it is final, while an error or a cancellation can be undone by a resume elsewhere.
 */
interface SuccessSlot {
  success?: { value: unknown };
}

export interface RuntimeOptions {
  appName: string;
  executorId: string;
  pollIntervalMs: number;
  /** Waits longer than this park direct workflows (null: never; a workflow may set its own). */
  parkAfterMs: number | null;
  maxRecoveryAttempts: number;
  maxPayloadBytes: number;
  /** Durable time: sleeps, deadlines, timestamps (see Clock). */
  clock: Clock;
  logger: { warn(message: string): void; error(message: string, error?: unknown): void };
}

/**
 * Runs workflows in this process: starts them, replays recovered ones from their checkpoints,
 * enforces timeouts and cancellation, records their outcome, and answers waits for results.
 */
export class Runtime {
  private readonly running = new Map<string, WorkflowExecution>();
  private readonly runningByQueue = new Map<string, number>();
  /** Slots of the live handles of this process, by workflow ID; a slot goes when its handles do. */
  private readonly successSlots = new Map<string, WeakRef<SuccessSlot>>();
  /** The size of successSlots after its last sweep of collected slots. */
  private sweptSlotCount = 0;
  private appVersionValue: string | undefined;
  private accepting = false;
  /** Shutdown began: no new work, but running workflows may still start their children. */
  private draining = false;
  private enqueuer: Enqueuer | undefined;
  /** Asked before each step's effects begin (see LeaseGate); the fleet's heartbeat sets it. */
  leaseGate: LeaseGate = UNLEASED;
  /** Told of every run and step (metrics, tracing). */
  instrumentation: Instrumentation = NO_INSTRUMENTATION;
  /** Set only by the testing kit (crashAfterStep). */
  crashRule: CrashRule | undefined;
  /** The application databases of `ctx.transaction(…, { dataSource })`. */
  dataSources: DataSources = new DataSources();
  /** Workflows claimed again here while a run of an earlier ownership winds down (their slot is held). */
  private readonly successors = new Set<string>();
  /** Checkpoints of stopped runs that the database refused (their workflow was not theirs any more). */
  refusedLateCheckpoints = 0;

  constructor(
    readonly store: SystemStore,
    readonly observer: Observer,
    readonly registry: WorkflowRegistry,
    private readonly options: RuntimeOptions,
  ) {}

  get waiters(): Waiters {
    return this.observer.waiters;
  }

  get pollIntervalMs(): number {
    return this.options.pollIntervalMs;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  get executorId(): string {
    return this.options.executorId;
  }

  get maxPayloadBytes(): number {
    return this.options.maxPayloadBytes;
  }

  get appVersion(): string {
    if (this.appVersionValue === undefined) throw new LifecycleError('The application version is known once launch() has started.');
    return this.appVersionValue;
  }

  /** Workflows of `queue` running in this executor (counts toward its workerConcurrency). */
  runningIn(queue: string): number {
    return this.runningByQueue.get(queue) ?? 0;
  }

  /** Workflows running in this executor now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** The leases of the workflows running here, for checking which are still held. */
  runningLeases(): Lease[] {
    return [...this.running.values()].map((execution) => execution.lease);
  }

  /** Stops the runs among `checked` whose lease is not in `held`: another executor owns them now. */
  stopLost(checked: Lease[], held: ReadonlySet<string>): void {
    for (const lease of checked) {
      if (held.has(lease.workflowId)) continue;
      const execution = this.running.get(lease.workflowId);
      if (execution?.lease.epoch === lease.epoch) execution.stop(new OwnershipLostError(lease.workflowId, 'found when its lease was renewed late'));
    }
  }

  /** False before launch and once shutdown began: no new work is taken. */
  get isAccepting(): boolean {
    return this.accepting;
  }

  open(appVersion: string): void {
    this.appVersionValue = appVersion;
    this.accepting = true;
  }

  /** See Observer.markActive: taken before inserting a workflow row. */
  markActive(): ActiveMark | undefined {
    return this.observer.markActive();
  }

  setEnqueuer(enqueuer: Enqueuer): void {
    this.enqueuer = enqueuer;
  }

  async enqueue<Output>(registration: Registration, input: unknown, options: EnqueueOptions, parent: Lease | null): Promise<WorkflowHandle<Output>> {
    if (!this.enqueuer || !this.takes(parent)) {
      throw new LifecycleError(`Cannot enqueue workflow "${registration.name}": call ballast.launch() first (or the instance is shutting down).`);
    }
    return (await this.enqueuer(registration, input, options, parent)) as WorkflowHandle<Output>;
  }

  definitionOf(workflow: WorkflowDefinition<unknown, unknown> | { name: string }): Registration {
    const registration = this.registry.get(workflow?.name);
    if (!registration) throw new UnknownWorkflowError(String(workflow?.name));
    return registration;
  }

  /** A handle; `mark` when this process inserted the workflow (see Observer.awaitFinal). */
  handle<Output>(id: string, mark?: ActiveMark): WorkflowHandle<Output> {
    const slot = this.successSlot(id);
    return {
      id,
      status: async () => {
        const record = await this.store.getWorkflow(id);
        if (!record) throw new WorkflowNotFoundError(id);
        return toWorkflowInfo(record, false);
      },
      result: (options?: ResultOptions) => this.result<Output>(id, options, mark, slot),
    };
  }

  private successSlot(id: string): SuccessSlot {
    const existing = this.successSlots.get(id)?.deref();
    if (existing) return existing;
    const slot: SuccessSlot = {};
    this.successSlots.set(id, new WeakRef(slot));
    // Entries whose handles were collected are swept whenever the map has doubled since the last
    // sweep: amortised constant time, where a finalizer per handle would cost on every handle.
    if (this.successSlots.size >= Math.max(1_024, this.sweptSlotCount * 2)) {
      for (const [key, ref] of this.successSlots) if (ref.deref() === undefined) this.successSlots.delete(key);
      this.sweptSlotCount = this.successSlots.size;
    }
    return slot;
  }

  /**
   * Inserts the workflow row, then runs it here; an existing ID returns the original run's handle.
   * A child carries its `parent`'s lease: its insert is refused if the parent is no longer ours
   * (OwnershipLostError).
   */
  async start<Input, Output>(
    registration: Registration,
    input: Input,
    options: StartOptions = {},
    parent: Lease | null = null,
  ): Promise<WorkflowHandle<Output>> {
    if (!this.takes(parent)) {
      throw new LifecycleError(`Cannot start workflow "${registration.name}": call ballast.launch() first (or the instance is shutting down).`);
    }
    requireOptions(options, START_OPTIONS, `start of workflow "${registration.name}"`, "{ id: 'order-42' }");
    const id = options.id ?? newWorkflowId();
    requireName(id, 'workflow ID');
    const timeoutMs = optionalDuration(options.timeout, `timeout of workflow "${registration.name}"`);
    const attributes = toAttributes(options.attributes, `start of workflow "${registration.name}"`);
    const encodedInput = serialize(input, `input of workflow "${registration.name}"`);
    checkPayloadSize(encodedInput, this.options.maxPayloadBytes, `input of workflow "${registration.name}"`);
    if (options.transaction !== undefined) {
      if (parent) {
        throw new ValidationError(`ctx.start of "${registration.name}": a workflow's children start exactly once already; the transaction option is for code outside workflows.`);
      }
      // This process cannot know when, or whether, the caller commits: the row is written ownerless
      // in the caller's transaction, and after the commit an executor of this version adopts it.
      const orphan = { id, name: registration.name, appName: this.options.appName, appVersion: this.appVersion, input: encodedInput, createdAt: this.clock.now(), timeoutMs: timeoutMs ?? null };
      await this.store.insertOrphanInTransaction(options.transaction, `start of "${registration.name}"`, orphan);
      return this.handle(id);
    }
    if (this.running.has(id)) return this.handle(id);

    const now = this.clock.now();
    const row: NewWorkflow = {
      id,
      name: registration.name,
      status: 'PENDING',
      appName: this.options.appName,
      appVersion: this.appVersion,
      queue: null,
      partitionKey: null,
      dedupId: null,
      priority: 0,
      owner: this.executorId,
      epoch: 1,
      input: encodedInput,
      parentId: parent?.workflowId ?? null,
      timeoutMs: timeoutMs ?? null,
      deadlineAt: timeoutMs === undefined ? null : now + timeoutMs,
      availableAt: null,
      createdAt: now,
      startedAt: now,
    };
    // Set only when there is one: the row travels as JSON, and most have none.
    const traceContext = this.instrumentation.currentTraceContext();
    if (traceContext !== null) row.traceContext = traceContext;
    if (attributes !== undefined) row.attributes = attributes;
    if (parent) {
      row.parentOwner = parent.owner;
      row.parentEpoch = parent.epoch;
    }
    const mark = this.observer.markActive();
    const inserting = this.store.writer.insertWorkflow(row);
    if (options.id === undefined) {
      // A generated ID collides with no other start: run at once, behind the insert.
      const execution = this.execute(runnable(row), input, [], inserting);
      try {
        if ((await inserting) || this.insertedByLostReply(row, await this.store.getWorkflow(row.id), true)) return this.handle(id, mark);
      } catch (error) {
        execution?.stop(error as Error);
        throw error;
      }
      return this.handle(id);
    }
    if (await inserting) {
      this.execute(runnable(row), input, []);
      return this.handle(id, mark);
    }
    if (!this.running.has(row.id)) {
      const existing = await this.store.getWorkflow(row.id);
      if (this.insertedByLostReply(row, existing, false)) {
        this.execute(runnable(row), input, []);
        return this.handle(id, mark);
      }
      // No row at all: the parent's fence refused the child.
      if (existing === undefined && parent) throw new OwnershipLostError(parent.workflowId, `the start of its child ${row.id} was refused`);
    }
    return this.handle(id);
  }

  /**
   * The insert reported a conflict. Usually another start of the same ID won; but when the
   * connection dropped after our commit, the retried insert conflicts with our own row. That row
   * is ours if it is still our untouched first run (owner, epoch 1, our creation time).
   * `existing` is the row found; `runningHere`: this process already runs it (started behind its insert).
   */
  private insertedByLostReply(row: NewWorkflow, existing: WorkflowRecord | undefined, runningHere: boolean): boolean {
    return (
      existing !== undefined &&
      // Started behind its insert, our run may already have moved the row on.
      (runningHere || (!this.running.has(row.id) && existing.status === 'PENDING')) &&
      existing.owner === this.executorId &&
      existing.epoch === 1 &&
      existing.name === row.name &&
      existing.createdAt === row.createdAt
    );
  }

  /**
   * Runs a workflow this executor owns. `history` holds its checkpoints (empty when new), or is
   * still being read: the run counts against its queue's slots from this moment either way.
   * `inserting`: the insert of its row, still on its way (see WorkflowExecution.startBehind).
   */
  execute(
    record: RunnableWorkflow,
    input: unknown,
    history: StepRecord[] | Promise<StepRecord[]>,
    inserting?: Promise<boolean>,
  ): WorkflowExecution | undefined {
    const stale = this.running.get(record.id);
    if (stale) {
      if (stale.lease.epoch >= record.epoch) return stale;
      // A run of an earlier ownership is still winding down here (this executor lost the workflow,
      // say while paused past its lease, and has just claimed it again): it stops, and the new run
      // starts once it has gone, so that the two never share the workflow's slot or its history.
      if (!stale.isStopped) stale.stop(new OwnershipLostError(record.id, `claimed again here under epoch ${record.epoch}`));
      // The new run holds its queue slot from now: the dispatcher must not claim past its limit meanwhile.
      if (record.queue !== null && !this.successors.has(record.id)) this.runningByQueue.set(record.queue, this.runningIn(record.queue) + 1);
      this.successors.add(record.id);
      if (!Array.isArray(history)) history.catch(() => undefined); // read by the new run
      void stale.done.then(() => this.execute(record, input, history, inserting));
      return undefined;
    }
    const registration = this.registry.get(record.name);
    if (!registration) {
      this.options.logger.error(
        `cannot run workflow ${record.id}`,
        new UnknownWorkflowError(record.name, ` (needed to run workflow ${record.id}); it stays PENDING`),
      );
      return;
    }
    const lease = { workflowId: record.id, owner: this.executorId, epoch: record.epoch };
    const parkAfterMs = registration.parkAfterMs === undefined ? this.options.parkAfterMs : registration.parkAfterMs;
    const execution = new WorkflowExecution(this, lease, record.name, record.queue, record.timeoutMs, { deadlineAt: record.deadlineAt, parkAfterMs });
    if (inserting) execution.startBehind(inserting);
    this.running.set(record.id, execution);
    const slotHeld = this.successors.delete(record.id);
    if (record.queue !== null && !slotHeld) this.runningByQueue.set(record.queue, this.runningIn(record.queue) + 1);
    // Result waiters in this process switch to the in-memory outcome.
    this.waiters.wake(wakeKey('done', record.id));
    void this.run(execution, registration, record, input, history);
    return execution;
  }

  private async run(
    execution: WorkflowExecution,
    registration: Registration,
    record: RunnableWorkflow,
    input: unknown,
    history: StepRecord[] | Promise<StepRecord[]>,
  ): Promise<void> {
    const timer = this.armTimeout(execution, record);
    const probe = this.instrumentation.runStarted({
      id: record.id,
      name: record.name,
      queue: record.queue,
      attempt: record.attempts,
      traceContext: record.traceContext ?? null,
    });
    execution.probe = probe;
    let outcome: LocalOutcome = { kind: 'detached' };
    try {
      const steps = Array.isArray(history) ? history : await history;
      let value: unknown;
      let failure: { error: unknown } | undefined;
      try {
        const context = new Context(execution, steps);
        value = await (probe.within ? probe.within(() => registration.fn(context, input)) : registration.fn(context, input));
      } catch (error) {
        failure = { error };
      }
      if (execution.isStopped) {
        outcome = stoppedOutcome(execution.reason);
      } else {
        outcome = await this.complete(execution, value, failure);
      }
    } catch (error) {
      // Only our own bookkeeping can land here (e.g. the database closed under a shutdown).
      if (!execution.isStopped) this.options.logger.error(`workflow ${record.id} could not record its outcome`, error);
      outcome = { kind: 'detached' };
    } finally {
      timer?.cancel();
      if (this.running.get(record.id) === execution) this.running.delete(record.id);
      probe.ended(runEnd(outcome), outcome.kind === 'error' ? outcome.error : undefined);
      if (execution.reason instanceof OwnershipLostError) {
        this.instrumentation.fenced();
        this.options.logger.warn(
          `workflow ${record.id}: another executor took it over (${execution.reason.detail}); it runs no further step here`,
        );
      }
      // Another run recorded one of this run's steps first: replay from the recorded history, in the
      // same queue slot (the replacement is counted before this run's slot is given back).
      if (execution.reason instanceof HistoryConflictSignal) {
        try {
          this.resume(record, this.store.loadSteps(record.id));
        } catch (error) {
          this.options.logger.error(`workflow ${record.id} could not be replayed; it stays PENDING`, error);
        }
      }
      if (record.queue !== null) {
        this.runningByQueue.set(record.queue, this.runningIn(record.queue) - 1);
        // A slot is free: this executor's dispatcher may claim again without waiting for NOTIFY.
        this.waiters.wake(wakeKey('queue', record.queue));
      }
    }
    if (outcome.kind === 'success') {
      const slot = this.successSlots.get(record.id)?.deref();
      if (slot) slot.success = { value: outcome.value };
    }
    execution.finish(outcome);
  }

  private async complete(execution: WorkflowExecution, value: unknown, failure: { error: unknown } | undefined): Promise<LocalOutcome> {
    let output: string | null = null;
    let error: string | null = null;
    if (failure) {
      error = serializeError(failure.error);
    } else {
      try {
        output = serialize(value, `output of workflow "${execution.workflowName}"`);
        checkPayloadSize(output, this.options.maxPayloadBytes, `output of workflow "${execution.workflowName}"`);
      } catch (serializationFailure) {
        failure = { error: serializationFailure };
        error = serializeError(serializationFailure);
      }
    }
    const lease = execution.lease;
    // The last step's checkpoint commits with the completion if it still waits for a flush; one
    // already on the wire must commit first.
    if (!execution.completionMayJoin) {
      try {
        await execution.settled();
      } catch (reason) {
        if (execution.isStopped) return stoppedOutcome(reason);
        throw reason;
      }
      if (execution.reason instanceof SimulatedCrash) return { kind: 'detached' };
    }
    const applied = await this.store.writer.complete({
      workflowId: lease.workflowId,
      owner: lease.owner,
      epoch: lease.epoch,
      queue: execution.queue,
      status: failure ? 'ERROR' : 'SUCCESS',
      output,
      error,
      completedAt: this.clock.now(),
    });
    if (!applied) {
      try {
        // A last checkpoint that shared the statement may be why (see flushStatement).
        await execution.settled();
        await execution.explainRefusal(null);
      } catch (reason) {
        return stoppedOutcome(reason);
      }
      // Still ours and PENDING means an earlier attempt did not apply either: surface it.
      return { kind: 'detached' };
    }
    return failure ? { kind: 'error', error: failure.error } : { kind: 'success', value };
  }

  private armTimeout(execution: WorkflowExecution, record: RunnableWorkflow): Timer | undefined {
    if (record.deadlineAt === null) return undefined;
    const fire = async () => {
      const error = new WorkflowTimeoutError(record.id, record.timeoutMs ?? 0);
      try {
        if (await this.store.failTimedOut(execution.lease, serializeError(error))) execution.stop(error);
      } catch (failure) {
        this.options.logger.warn(`could not record the timeout of workflow ${record.id}: ${(failure as Error).message}`);
      }
    };
    const timer = this.clock.at(record.deadlineAt, () => void fire());
    timer.unref();
    return timer;
  }

  /** A checkpoint of a stopped run was written anyway: applied, or refused by its fence. */
  lateCheckpointSettled(lease: Lease, idx: number, applied: boolean): void {
    if (applied) return;
    this.refusedLateCheckpoints++;
    this.options.logger.warn(
      `workflow ${lease.workflowId}: the late checkpoint #${idx} of a stopped run was refused: ` +
        `the workflow is no longer ${lease.owner}'s under epoch ${lease.epoch}`,
    );
  }

  /** Called when a workflow was cancelled (here or elsewhere): stop it at its next durable operation. */
  stopCancelled(id: string): void {
    this.running.get(id)?.stop(new WorkflowCancelledError(id));
  }

  /**
   * Resumes this executor's own PENDING workflows after a restart (its previous incarnation died
   * with them), from their checkpoints; one recovered too often moves to DEAD_LETTER instead.
   * `only`: just these (the testing kit recovers the runs it crashed while others run on).
   */
  async recover(only: string[] | null = null): Promise<number> {
    const records = await this.store.reclaimOwnPending(this.executorId, this.appVersion, only);
    let resumed = 0;
    for (const record of records) {
      if (this.running.has(record.id)) continue;
      if (record.recoveries > this.options.maxRecoveryAttempts) {
        const error = new DeadLetterError(record.id, record.recoveries - 1, `executor ${this.executorId} restarted while running it`);
        await this.store.moveToDeadLetter({ workflowId: record.id, owner: this.executorId, epoch: record.epoch }, serializeError(error));
        continue;
      }
      if (!this.registry.get(record.name)) {
        this.options.logger.error(
          `cannot recover workflow ${record.id}`,
          new UnknownWorkflowError(record.name, ` (found while recovering workflow ${record.id}); it stays PENDING`),
        );
        continue;
      }
      this.resume(record, await this.store.loadSteps(record.id));
      resumed++;
    }
    return resumed;
  }

  /**
   * Runs a workflow this executor claimed from a queue, at once (its slot is taken now); one that
   * may have run before replays its history.
   */
  runClaimed(record: RunnableWorkflow, mayHaveRun = record.attempts > 1): void {
    if ((this.running.get(record.id)?.lease.epoch ?? 0) >= record.epoch) return; // already running that claim
    this.resume(record, mayHaveRun ? this.store.loadSteps(record.id) : []);
  }

  /** Replays a workflow we own from its recorded checkpoints. */
  resume(record: RunnableWorkflow, history: StepRecord[] | Promise<StepRecord[]>): void {
    const input = record.input == null ? undefined : deserialize(record.input);
    this.execute(record, input, history);
  }

  async result<Output>(id: string, options: ResultOptions = {}, mark?: ActiveMark, slot?: SuccessSlot): Promise<Output> {
    requireOptions(options, TIMEOUT_OPTIONS, 'result', "{ timeout: '10s' }");
    const timeoutMs = optionalDuration(options.timeout, 'result timeout');
    if (slot?.success) return slot.success.value as Output;
    const deadline = timeoutMs === undefined ? Infinity : this.clock.now() + timeoutMs;
    for (;;) {
      const local = this.running.get(id)?.done;
      if (local) {
        // Running here: the outcome arrives in memory, no read needed.
        const outcome = await withDeadline(local, deadline, this.clock);
        if (outcome === undefined) throw new WaitTimeoutError(`the result of workflow ${id}`, timeoutMs ?? 0);
        if (outcome.kind === 'success') return outcome.value as Output;
        if (outcome.kind === 'error') throw outcome.error;
      }
      const found = await this.observer.awaitFinal(id, deadline, timeoutMs ?? 0, (workflowId) => this.running.get(workflowId)?.done, mark);
      if ('record' in found) return decodeResult<Output>(found.record);
    }
  }

  /**
   * Whether a start or enqueue is taken: new work only while running, but a child of a running
   * workflow while it drains too (the parent is finishing; failing it at its child would turn a
   * graceful shutdown into an error). A child that is not done by the drain's end is handed back
   * with its parent.
   */
  private takes(parent: Lease | null): boolean {
    return this.accepting || (parent !== null && this.draining);
  }

  /** Stops taking new work; waits up to `drainMs` for running workflows, then detaches the rest. */
  async drain(drainMs: number): Promise<void> {
    this.accepting = false;
    this.draining = true;
    const deadline = Date.now() + drainMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await withDeadline(Promise.race([...this.running.values()].map((execution) => execution.done)), deadline, systemClock);
    }
    this.draining = false;
    for (const execution of this.running.values()) execution.stop(new ShutdownSignal());
    await Promise.race([
      Promise.all([...this.running.values()].map((execution) => execution.done)),
      new Promise<void>((resolve) => setTimeout(resolve, 100)),
    ]);
  }
}

function runEnd(outcome: LocalOutcome): RunEnd {
  if (outcome.kind === 'success') return 'SUCCESS';
  if (outcome.kind === 'detached') return 'DETACHED';
  return outcome.error instanceof WorkflowCancelledError ? 'CANCELLED' : 'ERROR';
}

function stoppedOutcome(reason: unknown): LocalOutcome {
  if (reason instanceof WorkflowCancelledError || reason instanceof WorkflowTimeoutError) return { kind: 'error', error: reason };
  return { kind: 'detached' };
}

async function withDeadline<T>(promise: Promise<T>, deadline: number, clock: Clock): Promise<T | undefined> {
  if (deadline === Infinity) return promise;
  let timer: Timer | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = clock.at(deadline, () => resolve(undefined))))]);
  } finally {
    timer?.cancel();
  }
}

function runnable(row: NewWorkflow): RunnableWorkflow {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    epoch: row.epoch,
    attempts: 1,
    timeoutMs: row.timeoutMs,
    deadlineAt: row.deadlineAt,
    input: row.input,
    traceContext: row.traceContext ?? null,
  };
}
