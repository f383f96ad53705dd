import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { checkPayloadSize, deserialize, serialize, serializeError } from '../codec.js';
import { optionalDuration, parseDuration } from '../durations.js';
import { NonDeterminismError, OwnershipLostError, StepTimeoutError, ValidationError } from '../errors.js';
import type { Lease, NewCheckpoint, StepRecord } from '../store/records.js';
import { wakeKey } from '../store/wakeups.js';
import type { WorkflowExecution } from './execution.js';
import type { Registration } from './registry.js';
import { backoffDelay, stepPolicy } from './step-policy.js';
import { StreamPositions } from './stream-writes.js';
import { attemptTransaction, transactionPlan, type TransactionOutcome } from './transaction.js';
import { STEP_OPTIONS, TIMEOUT_OPTIONS, WAIT_OPTIONS } from './option-names.js';
import { describe, requireName, requireOptions } from './validation.js';
import { answerOf, awaitFinished, awaitResult, workflowIdsOf, type FinishedSet } from './wait-workflows.js';
import type {
  Duration,
  EnqueueOptions,
  FinishedWorkflow,
  ResultOptions,
  StartOptions,
  StepAttempt,
  StepOptions,
  Transaction,
  TransactionOptions,
  WaitOptions,
  WorkflowContext,
  WorkflowDefinition,
  WorkflowHandle,
} from './types.js';

/** What a step waits for before its effects begin (one object for every step, not one per step). */
const STEP_SETTLING = { startMayJoin: true } as const;

/** The history of a workflow on its first run, shared: position() only deletes what it finds. */
const NOTHING_TO_REPLAY = new Map<number, StepRecord>();

/** Names of the checkpoints Ballast records for its own durable operations. */
const OP = {
  sleep: 'ballast.sleep',
  recvDeadline: (topic: string) => `ballast.recv-deadline:${topic}`,
  recv: (topic: string) => `ballast.recv:${topic}`,
  send: (topic: string) => `ballast.send:${topic}`,
  setEvent: (key: string) => `ballast.setEvent:${key}`,
  now: 'ballast.now',
  uuid: 'ballast.uuid',
  start: (name: string) => `ballast.start:${name}`,
  enqueue: (name: string) => `ballast.enqueue:${name}`,
  patch: (name: string) => `ballast.patch:${name}`,
  waitDeadline: (kind: WaitKind) => `ballast.${kind}-deadline`,
  wait: (kind: WaitKind) => `ballast.${kind}`,
};

type WaitKind = 'waitFirst' | 'waitAll';

interface Position {
  idx: number;
  recorded: StepRecord | undefined;
}

/**
 * The object a workflow function receives. Each durable operation takes the next position in the
 * workflow's history: during replay it returns what that position recorded (after checking it is
 * the same operation), past the end of history it does the work and checkpoints it.
 */
export class Context implements WorkflowContext {
  private nextIdx = 0;
  private readonly replay: Map<number, StepRecord>;
  private streams: StreamPositions | undefined;

  constructor(
    private readonly execution: WorkflowExecution,
    history: StepRecord[],
  ) {
    this.replay = history.length === 0 ? NOTHING_TO_REPLAY : new Map(history.map((step) => [step.idx, step]));
  }

  get workflowId(): string {
    return this.execution.lease.workflowId;
  }

  get workflowName(): string {
    return this.execution.workflowName;
  }

  private get lease(): Lease {
    return this.execution.lease;
  }

  private get clock(): Clock {
    return this.execution.runtime.clock;
  }

  private position(operation: string, name: string): Position {
    this.execution.assertRunning(operation);
    const idx = this.nextIdx++;
    const recorded = this.replay.get(idx);
    if (recorded) {
      this.replay.delete(idx);
      if (recorded.name !== name) throw new NonDeterminismError(this.workflowId, idx, recorded.name, name);
    }
    return { idx, recorded };
  }

  private checkpoint(entry: Omit<NewCheckpoint, keyof Lease | 'completedAt'>): Promise<void> {
    return this.execution.checkpoint(this.entry(entry));
  }

  private entry(entry: Omit<NewCheckpoint, keyof Lease | 'completedAt'>): NewCheckpoint {
    const lease = this.execution.lease;
    // Spelled out rather than spread: this runs once per step and object spread is measurably slower.
    return {
      workflowId: lease.workflowId,
      owner: lease.owner,
      epoch: lease.epoch,
      idx: entry.idx,
      name: entry.name,
      output: entry.output,
      error: entry.error,
      childId: entry.childId,
      startedAt: entry.startedAt,
      completedAt: this.clock.now(),
      attempts: entry.attempts,
      message: entry.message,
      event: entry.event,
    };
  }

  step<T>(name: string, fn: (attempt: StepAttempt) => T | Promise<T>, options: StepOptions = {}): Promise<T> {
    return this.counted(() => this.runStep(name, fn, options));
  }

  private async runStep<T>(name: string, fn: (attempt: StepAttempt) => T | Promise<T>, options: StepOptions): Promise<T> {
    requireName(name, 'step name');
    if (typeof fn !== 'function') throw new ValidationError(`ctx.step("${name}", fn): fn must be a function.`);
    requireOptions(options, STEP_OPTIONS, `ctx.step("${name}")`, '{ retries: 3 }');
    const policy = stepPolicy('ctx.step', name, options);
    const { idx, recorded } = this.position('ctx.step', name);
    if (recorded) return replayed<T>(recorded);

    // The previous step's checkpoint is durable before this step's effects begin (the workflow's own
    // row may still be on its way: this step's checkpoint joins or follows it).
    await this.execution.settled(STEP_SETTLING);
    const confirming = this.leaseConfirmed('ctx.step');
    if (confirming) await confirming;
    const startedAt = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      const probe = this.execution.probe.step(name, attempt);
      let value: T;
      try {
        // No closure for an untraced step: this runs for every step.
        value = await (probe.within ? probe.within(() => this.runAttempt(name, fn, attempt, policy.timeoutMs)) : this.runAttempt(name, fn, attempt, policy.timeoutMs));
      } catch (error) {
        probe.ended(error);
        this.execution.assertRunning('ctx.step');
        if (attempt <= policy.retries) {
          await this.execution.delay(backoffDelay(policy, attempt));
          continue;
        }
        this.execution.checkpointBehind(
          this.entry({ idx, name, output: null, error: serializeError(error), childId: null, startedAt, attempts: attempt > 1 ? attempt : undefined }),
        );
        throw error;
      }
      probe.ended(undefined);
      const output = serialize(value, `output of step "${name}"`);
      this.execution.checkpointBehind(this.entry({ idx, name, output, error: null, childId: null, startedAt, attempts: attempt > 1 ? attempt : undefined }));
      return value;
    }
  }

  /**
   * This executor's lease is current: a process that was paused past its lease finds out whether
   * the workflow is still its own before it runs anything more.
   */
  private leaseConfirmed(operation: string): Promise<void> | undefined {
    // undefined, not a resolved promise, when the lease is current: a step awaits nothing more.
    return this.execution.runtime.leaseGate.confirm()?.then(() => this.execution.assertRunning(operation));
  }

  transaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.counted(() => this.runTransaction(name, fn, options));
  }

  private async runTransaction<T>(name: string, fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    requireName(name, 'transaction name');
    if (typeof fn !== 'function') {
      throw new ValidationError(`ctx.transaction("${name}", fn): fn must be a function such as async (tx) => tx.query(…), got ${describe(fn)}.`);
    }
    const plan = transactionPlan(name, options);
    if (plan.dataSource !== undefined) this.execution.runtime.dataSources.require(plan.dataSource);
    const { idx, recorded } = this.position('ctx.transaction', name);
    if (recorded) return replayed<T>(recorded);

    // Unlike a step's, this checkpoint is written by the transaction itself, which finds it fenced
    // unless the workflow's row has committed: wait for that too.
    await this.execution.settled();
    await this.leaseConfirmed('ctx.transaction');
    const startedAt = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      const probe = this.execution.probe.step(name, attempt);
      const attempts = attempt > 1 ? attempt : undefined;
      let outcome: TransactionOutcome<T>;
      try {
        const checkpoint = this.entry({ idx, name, output: null, error: null, childId: null, startedAt, attempts });
        outcome = await (probe.within
          ? probe.within(() => attemptTransaction(this.execution, checkpoint, plan, fn))
          : attemptTransaction(this.execution, checkpoint, plan, fn));
      } catch (error) {
        probe.ended(error);
        this.execution.assertRunning('ctx.transaction');
        if (attempt <= plan.policy.retries) {
          await this.execution.delay(backoffDelay(plan.policy, attempt));
          continue;
        }
        this.execution.checkpointBehind(this.entry({ idx, name, output: null, error: serializeError(error), childId: null, startedAt, attempts }));
        throw error;
      }
      probe.ended(undefined);
      // Refused: this run lost the workflow (stops here), or the position holds the same output.
      if (outcome.kind === 'refused') await this.execution.explainRefusal({ idx, output: outcome.output, error: null });
      else if (!outcome.checkpointed) {
        this.execution.checkpointBehind(this.entry({ idx, name, output: outcome.output, error: null, childId: null, startedAt, attempts }));
      }
      return outcome.kind === 'done' && outcome.ran ? outcome.ran.value : (deserialize(outcome.output) as T);
    }
  }

  private async runAttempt<T>(
    name: string,
    fn: (attempt: StepAttempt) => T | Promise<T>,
    attempt: number,
    timeoutMs: number | undefined,
  ): Promise<T> {
    this.execution.assertRunning('ctx.step');
    const current = new Attempt<T>(attempt, this.execution);
    try {
      const result = fn(current);
      return isThenable(result) ? await current.outcome(result, name, timeoutMs) : result;
    } finally {
      current.release();
    }
  }

  sleep(duration: Duration): Promise<void> {
    return this.counted(() => this.runSleep(duration));
  }

  private async runSleep(duration: Duration): Promise<void> {
    const ms = parseDuration(duration, 'ctx.sleep duration');
    const { idx, recorded } = this.position('ctx.sleep', OP.sleep);
    let wakeAt: number;
    if (recorded) {
      wakeAt = replayed<number>(recorded);
    } else {
      wakeAt = this.clock.now() + ms;
      await this.checkpoint({ idx, name: OP.sleep, output: serialize(wakeAt, 'sleep deadline'), error: null, childId: null, startedAt: null });
    }
    if (this.execution.parksUntil(wakeAt) && this.execution.parksAlone) await this.execution.park(wakeAt, null);
    await this.execution.delay(wakeAt - this.clock.now());
  }

  recv<T = unknown>(topic: string, options: { timeout?: Duration } = {}): Promise<T | undefined> {
    return this.counted(() => this.runRecv<T>(topic, options));
  }

  private async runRecv<T>(topic: string, options: { timeout?: Duration }): Promise<T | undefined> {
    requireName(topic, 'recv topic');
    requireOptions(options, TIMEOUT_OPTIONS, `ctx.recv("${topic}")`, "{ timeout: '1h' }");
    const timeoutMs = optionalDuration(options.timeout, 'recv timeout');
    const deadline = await this.deadline('ctx.recv', OP.recvDeadline(topic), timeoutMs);
    const name = OP.recv(topic);
    const { idx, recorded } = this.position('ctx.recv', name);
    if (recorded) return recorded.output === null ? undefined : replayed<T>(recorded);

    await this.execution.settled();
    const startedAt = this.clock.now();
    const key = wakeKey('message', this.workflowId, topic);
    // How long a message will take is unknown: the workflow waits here up to parkAfter, then parks.
    let parkAt = this.execution.parkAt(deadline);
    for (;;) {
      this.execution.assertRunning('ctx.recv');
      const armed = this.execution.waiters.arm(key);
      const outcome = await this.execution.store.consumeMessage(this.lease, { idx, name, topic, startedAt });
      if (!outcome.owned) {
        armed.cancel();
        await this.execution.explainRefusal({ idx });
      }
      if (outcome.recorded) {
        armed.cancel();
        this.execution.crashIfAsked({ idx, name });
        return outcome.payload === null ? undefined : (deserialize(outcome.payload) as T);
      }
      const remaining = deadline === undefined ? Infinity : deadline - this.clock.now();
      if (remaining <= 0) {
        armed.cancel();
        await this.checkpoint({ idx, name, output: null, error: null, childId: null, startedAt });
        return undefined;
      }
      if (parkAt !== undefined && this.clock.now() >= parkAt) {
        if (this.execution.parksAlone) {
          armed.cancel();
          await this.execution.park(deadline, topic);
        }
        parkAt = this.execution.parkAt(deadline); // another operation is in flight: look again later
      }
      await armed.wait(this.execution.pollIntervalMs, this.execution, parkAt === undefined ? deadline : Math.min(parkAt, deadline ?? Infinity));
    }
  }

  /** A wait's deadline, checkpointed so that a recovered workflow keeps its original timeout. */
  private async deadline(operation: string, name: string, timeoutMs: number | undefined): Promise<number | undefined> {
    if (timeoutMs === undefined) return undefined;
    const { idx, recorded } = this.position(operation, name);
    if (recorded) return replayed<number>(recorded);
    const deadline = this.clock.now() + timeoutMs;
    await this.checkpoint({ idx, name, output: serialize(deadline, name), error: null, childId: null, startedAt: null });
    return deadline;
  }

  async send(destinationId: string, topic: string, message: unknown): Promise<void> {
    requireName(destinationId, 'destination workflow ID');
    requireName(topic, 'send topic');
    const payload = serialize(message, `message on topic "${topic}"`);
    const name = OP.send(topic);
    const { idx, recorded } = this.position('ctx.send', name);
    if (recorded) return;
    await this.checkpoint({ idx, name, output: null, error: null, childId: null, startedAt: null, message: { destinationId, topic, payload } });
  }

  async setEvent(key: string, value: unknown): Promise<void> {
    requireName(key, 'event key');
    const encoded = serialize(value, `event "${key}"`);
    const name = OP.setEvent(key);
    const { idx, recorded } = this.position('ctx.setEvent', name);
    if (recorded) return;
    await this.checkpoint({ idx, name, output: null, error: null, childId: null, startedAt: null, event: { key, value: encoded } });
  }

  patched(name: string): boolean {
    requireName(name, 'ctx.patched(name): the patch name');
    this.execution.assertRunning('ctx.patched');
    const marker = OP.patch(name);
    const idx = this.nextIdx;
    const recorded = this.replay.get(idx);
    if (recorded) {
      if (recorded.name !== marker) return false; // this run passed here before the patch existed
      this.replay.delete(idx);
      this.nextIdx++;
      return true;
    }
    // Past the end of the recorded history: the patched code runs, and says so for later replays.
    this.nextIdx++;
    this.execution.checkpointBehind(
      this.entry({ idx, name: marker, output: null, error: null, childId: null, startedAt: null }),
    );
    return true;
  }

  deprecatePatch(name: string): void {
    requireName(name, 'ctx.deprecatePatch(name): the patch name');
    this.execution.assertRunning('ctx.deprecatePatch');
    const idx = this.nextIdx;
    if (this.replay.get(idx)?.name !== OP.patch(name)) return;
    this.replay.delete(idx);
    this.nextIdx++;
  }

  async now(): Promise<number> {
    return this.recordValue('ctx.now', OP.now, () => this.clock.now());
  }

  async uuid(): Promise<string> {
    return this.recordValue('ctx.uuid', OP.uuid, () => randomUUID());
  }

  private async recordValue<T>(operation: string, name: string, make: () => T): Promise<T> {
    const { idx, recorded } = this.position(operation, name);
    if (recorded) return replayed<T>(recorded);
    const value = make();
    await this.checkpoint({ idx, name, output: serialize(value, name), error: null, childId: null, startedAt: null });
    return value;
  }

  async writeStream(key: string, value: unknown): Promise<void> {
    requireName(key, 'stream key');
    const what = `value of stream "${key}"`;
    const encoded = serialize(value, what);
    checkPayloadSize(encoded, this.execution.runtime.maxPayloadBytes, what);
    this.execution.assertRunning('ctx.writeStream');
    this.streams ??= new StreamPositions();
    const position = this.streams.take(this.workflowId, key);
    this.execution.writeStream({ key, position, value: encoded, writtenAt: this.clock.now() });
  }

  async closeStream(key: string): Promise<void> {
    requireName(key, 'stream key');
    this.execution.assertRunning('ctx.closeStream');
    this.streams ??= new StreamPositions();
    const position = this.streams.close(key);
    if (position !== undefined) this.execution.writeStream({ key, position, value: null, writtenAt: this.clock.now() });
  }

  waitFirst<Output>(handles: readonly WorkflowHandle<Output>[]): Promise<FinishedWorkflow<Output>>;
  waitFirst<Output>(handles: readonly WorkflowHandle<Output>[], options: WaitOptions): Promise<FinishedWorkflow<Output> | undefined>;
  async waitFirst<Output>(handles: readonly WorkflowHandle<Output>[], options: WaitOptions = {}): Promise<FinishedWorkflow<Output> | undefined> {
    const finished = await this.waitFor<Output>('waitFirst', handles, options);
    return finished.find((entry) => entry !== undefined);
  }

  waitAll<Output>(handles: readonly WorkflowHandle<Output>[]): Promise<FinishedWorkflow<Output>[]>;
  waitAll<Output>(handles: readonly WorkflowHandle<Output>[], options: WaitOptions): Promise<Array<FinishedWorkflow<Output> | undefined>>;
  async waitAll<Output>(handles: readonly WorkflowHandle<Output>[], options: WaitOptions = {}): Promise<Array<FinishedWorkflow<Output> | undefined>> {
    return this.waitFor<Output>('waitAll', handles, options);
  }

  /**
   * Waits until the first (or every) workflow finished, or the deadline passed, and records which
   * finished and how, so that a replay answers the same even once those workflows were resumed or
   * deleted. The answer is aligned with `handles`: undefined where none was recorded.
   */
  private waitFor<Output>(kind: WaitKind, handles: readonly WorkflowHandle<Output>[], options: WaitOptions): Promise<Array<FinishedWorkflow<Output> | undefined>> {
    return this.counted(() => this.runWaitFor(kind, handles, options));
  }

  private async runWaitFor<Output>(kind: WaitKind, handles: readonly WorkflowHandle<Output>[], options: WaitOptions): Promise<Array<FinishedWorkflow<Output> | undefined>> {
    const operation = `ctx.${kind}`;
    const ids = workflowIdsOf(handles, operation);
    requireOptions(options, WAIT_OPTIONS, `${operation}(handles, options)`, "{ timeout: '1h' }");
    const deadline = await this.deadline(operation, OP.waitDeadline(kind), optionalDuration(options.timeout, `${operation} timeout`));
    const name = OP.wait(kind);
    const { idx, recorded } = this.position(operation, name);
    let finished: FinishedSet;
    if (recorded) {
      finished = replayed<FinishedSet>(recorded);
    } else {
      await this.execution.settled();
      const startedAt = this.clock.now();
      finished = await awaitFinished(this.execution, ids, kind === 'waitFirst' ? 'first' : 'all', deadline, this.execution.parkAt(deadline));
      await this.checkpoint({ idx, name, output: serialize(finished, `outcomes of ${operation}`), error: null, childId: null, startedAt });
    }
    return answerOf(finished, handles, (id) => this.parkingHandle<Output>(id));
  }

  /** Runs an operation of the workflow's code, counted in flight until it ends (see execution.parksAlone). */
  private counted<T>(run: () => Promise<T>): Promise<T> {
    const { execution } = this;
    execution.entered();
    return run().finally(() => execution.left());
  }

  /**
   * A handle whose result(), awaited by this workflow while it runs and with no timeout, parks the
   * workflow once it has waited parkAfter (see awaitResult). With a timeout it waits in memory: the
   * timeout is not checkpointed, so a replay would start it again and it could never expire (the
   * durable timed wait is ctx.waitFirst([handle], { timeout })).
   */
  private parkingHandle<Output>(id: string, handle = this.execution.runtime.handle<Output>(id)): WorkflowHandle<Output> {
    const execution = this.execution;
    return {
      id,
      status: () => handle.status(),
      result: async (options?: ResultOptions) => {
        requireOptions(options, TIMEOUT_OPTIONS, 'result', "{ timeout: '10s' }");
        if (execution.hasFinished) return handle.result(options);
        return this.counted(() => (options?.timeout !== undefined ? handle.result(options) : awaitResult(execution, handle)));
      },
    };
  }

  async start<Input, Output>(
    workflow: WorkflowDefinition<Input, Output>,
    input: Input,
    options: StartOptions = {},
  ): Promise<WorkflowHandle<Output>> {
    return this.child(workflow, 'ctx.start', OP.start, (registration, id) =>
      this.execution.runtime.start<Input, Output>(registration, input, { ...options, id }, this.lease),
    options.id);
  }

  async enqueue<Input, Output>(
    workflow: WorkflowDefinition<Input, Output>,
    input: Input,
    options: EnqueueOptions,
  ): Promise<WorkflowHandle<Output>> {
    return this.child(workflow, 'ctx.enqueue', OP.enqueue, (registration, id) =>
      this.execution.runtime.enqueue<Output>(registration, input, { ...options, id }, this.lease),
    options?.id);
  }

  /** A child's ID is deterministic (or given) and recorded, so replay and retries find the same child. */
  private async child<Output>(
    workflow: { name: string },
    operation: string,
    opName: (workflowName: string) => string,
    create: (registration: Registration, id: string) => Promise<WorkflowHandle<Output>>,
    givenId: string | undefined,
  ): Promise<WorkflowHandle<Output>> {
    const registration = this.execution.runtime.definitionOf(workflow);
    const name = opName(registration.name);
    const { idx, recorded } = this.position(operation, name);
    if (recorded?.childId) return this.parkingHandle<Output>(recorded.childId);
    const childId = givenId ?? `${this.workflowId}-${idx}`;
    await this.execution.settled();
    this.execution.assertRunning(operation);
    let handle: WorkflowHandle<Output>;
    try {
      handle = await create(registration, childId);
    } catch (error) {
      // The child's insert was fenced: this run lost the workflow (or it was cancelled); find out which.
      if (error instanceof OwnershipLostError) await this.execution.explainRefusal(null, error.detail);
      throw error;
    }
    await this.checkpoint({ idx, name, output: null, error: null, childId: handle.id, startedAt: null });
    return this.parkingHandle(handle.id, handle);
  }
}

function replayed<T>(recorded: StepRecord): T {
  if (recorded.error !== null) throw deserialize(recorded.error);
  return (recorded.output === null ? undefined : deserialize(recorded.output)) as T;
}

/**
 * One attempt of a step, as its function sees it, and how it ends early. A stopped workflow
 * (cancelled, timed out, shut down) does not wait for a step that ignores its signal: the attempt
 * is abandoned and its result, if any, never checkpointed. The AbortController and the stop
 * subscription are made only when needed: most steps never look at their signal.
 */
class Attempt<T> implements StepAttempt {
  private controller: AbortController | undefined;
  private abortedWith: { reason: unknown } | undefined;
  private rejectOutcome: ((reason: unknown) => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly attempt: number,
    private readonly execution: WorkflowExecution,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith.reason);
      else this.watchStop();
    }
    return this.controller.signal;
  }

  /** What the step's promise settles with, unless the workflow stops or the attempt times out first. */
  outcome(result: PromiseLike<T>, stepName: string, timeoutMs: number | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.rejectOutcome = reject;
      result.then(resolve, reject);
      if (timeoutMs !== undefined) this.timer = setTimeout(() => this.abort(new StepTimeoutError(stepName, timeoutMs)), timeoutMs);
      this.watchStop();
    });
  }

  release(): void {
    clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  private watchStop(): void {
    if (this.unsubscribe || this.abortedWith) return;
    const reason = this.execution.reason;
    if (reason) this.abort(reason);
    else this.unsubscribe = this.execution.onStop((stopReason) => this.abort(stopReason));
  }

  private abort(reason: unknown): void {
    this.abortedWith ??= { reason };
    this.controller?.abort(reason);
    this.rejectOutcome?.(reason);
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
