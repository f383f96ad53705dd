import type { Timer } from '../clock.js';
import { NotInWorkflowError, OwnershipLostError, WorkflowCancelledError, WorkflowTimeoutError } from '../errors.js';
import type { Lease, NewCheckpoint, StreamRow } from '../store/records.js';
import { PARKED_WAKE_KEY } from '../store/sql/parking.js';
import type { SystemStore } from '../store/system-store.js';
import type { Runtime } from './runtime.js';
import type { Interrupt, Waiters } from './waiters.js';
import { NO_INSTRUMENTATION, type RunProbe } from './instrumentation.js';
import { StreamWrites } from './stream-writes.js';

const NO_RUN_PROBE = NO_INSTRUMENTATION.runStarted({ id: '', name: '', queue: null, attempt: 0, traceContext: null });
const CHECKPOINTS_ONLY = { checkpointsOnly: true } as const;

/** How a local run ended, as seen by callers in this process. */
export type LocalOutcome =
  | { kind: 'success'; value: unknown }
  | { kind: 'error'; error: unknown }
  /** Ownership lost or the instance shut down: the database has the truth. */
  | { kind: 'detached' };

/**
 * Stops a run whose checkpoint lost a race: the position already holds another output (an earlier
 * owner's late write). The runtime replays the workflow from what the database recorded.
 */
export class HistoryConflictSignal extends Error {
  constructor(workflowId: string, idx: number) {
    super(`Workflow ${workflowId}: checkpoint ${idx} was recorded by another run first; replaying from the recorded history.`);
    this.name = 'HistoryConflictSignal';
  }
}

/**
 * Ends a run as a crash would, right after one of its checkpoints commits (the testing kit's
 * crashAfterStep): nothing more of the run is written, and the workflow stays PENDING for recovery.
 */
export class SimulatedCrash extends Error {
  constructor(workflowId: string, idx: number, stepName: string) {
    super(`Workflow ${workflowId} crashed (simulated) after checkpoint #${idx} "${stepName}"; it resumes from its checkpoints when recovered.`);
    this.name = 'SimulatedCrash';
  }
}

/** Asked of each checkpoint a run records: whether the run then ends as a crash would (the testing kit). */
export type CrashRule = (workflowId: string, workflowName: string, idx: number, stepName: string) => boolean;

/**
 * Ends a run whose workflow was parked: its row waits for its wake condition, and whichever
 * executor claims it when due replays it from its checkpoints.
 */
export class ParkSignal extends Error {
  constructor(workflowId: string) {
    super(`Workflow ${workflowId} was parked; it resumes from its checkpoints when its wait is over.`);
    this.name = 'ParkSignal';
  }
}

/** Thrown into a workflow whose instance is shutting down; the workflow stays PENDING for recovery. */
export class ShutdownSignal extends Error {
  constructor() {
    super('Ballast instance is shutting down; the workflow will resume after recovery.');
    this.name = 'ShutdownSignal';
  }
}

const REFUSED_PARK = 'its park was refused';

function refusedWrite(written: Pick<NewCheckpoint, 'idx'> | null): string {
  return written === null ? 'its completion was refused' : `its checkpoint #${written.idx} was refused`;
}

interface BehindWrite {
  checkpoint: NewCheckpoint;
  applied: Promise<boolean>;
  previous: BehindWrite | undefined;
}

/**
 * One run of one workflow in this process: its lease (owner, epoch), its stop reason (cancellation,
 * timeout, lost ownership, shutdown) and the fenced writes made on its behalf.
 */
export class WorkflowExecution implements Interrupt {
  private finished = false;
  /** Steps, transactions and waits of the workflow's code that have begun and not ended (see parksAlone). */
  private operationsInFlight = 0;
  private stopReason: Error | undefined;
  private stopListeners: Set<(reason: Error) => void> | undefined;
  /** Timers of the durable sleeps in progress (see finish). */
  private delays: Set<Timer> | undefined;
  readonly done: Promise<LocalOutcome>;
  private settle!: (outcome: LocalOutcome) => void;
  /**
   * Checkpoints written behind the workflow: submitted, not yet known to be committed. A patch
   * marker recorded while a step's checkpoint is still on its way is chained behind it (written
   * only once that one applied), so a workflow has one write on the wire at a time.
   */
  private behind: BehindWrite | undefined;
  /** The insert of the workflow's own row, when the workflow runs before it commits (see startBehind). */
  private unstarted: Promise<boolean> | undefined;
  /** Stream values written and not yet committed; made by the first write, as most runs stream nothing. */
  private streamWrites: StreamWrites | undefined;
  /** Metrics and tracing of this run (set by the runtime when it starts). */
  probe: RunProbe = NO_RUN_PROBE;
  /** A checkpoint on its way is to end the run once it commits (see SimulatedCrash). */
  private crashArmed = false;

  constructor(
    readonly runtime: Runtime,
    readonly lease: Lease,
    readonly workflowName: string,
    readonly queue: string | null,
    readonly timeoutMs: number | null,
    /** When the workflow times out (null: never), and how long a wait must be to park it (null: never). */
    private readonly parking: { deadlineAt: number | null; parkAfterMs: number | null } = { deadlineAt: null, parkAfterMs: null },
  ) {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  /**
   * Whether a wait that ends at `until` (undefined: no end) parks the workflow. Only direct workflows
   * park: a queued one keeps its queue slot while it waits, so its queue's limits stay exact.
   */
  parksUntil(until: number | undefined): boolean {
    const { parkAfterMs, deadlineAt } = this.parking;
    if (parkAfterMs === null || this.queue !== null) return false;
    // The workflow's timeout ends the wait too: one that is near keeps the workflow here to time out.
    const end = Math.min(until ?? Infinity, deadlineAt ?? Infinity);
    return end - this.runtime.clock.now() > parkAfterMs;
  }

  /** Counts an operation of the workflow's code (a step, a transaction, a wait) as in flight, until `left`. */
  entered(): void {
    this.operationsInFlight++;
  }

  left(): void {
    this.operationsInFlight--;
  }

  /**
   * Whether a wait may park the workflow now: it is the only operation in flight. A park ends the
   * run, so a step beside the wait would be abandoned half done, and a wait beside it (a child's
   * result raced against a sleep) would no longer be awaited: the workflow would wake only for what
   * the parking wait waits on. A race's loser stays in flight until it ends, and keeps the workflow
   * in memory until then.
   */
  get parksAlone(): boolean {
    return this.operationsInFlight <= 1;
  }

  /**
   * When a wait that starts now and ends at `until` parks the workflow, once it has waited parkAfter
   * in memory (so that a quick answer never pays a replay); undefined if it does not park.
   */
  parkAt(until: number | undefined): number | undefined {
    return this.parksUntil(until) ? this.runtime.clock.now() + (this.parking.parkAfterMs ?? 0) : undefined;
  }

  /**
   * Parks the workflow and ends this run (throws ParkSignal): once its checkpoints are durable, its
   * row records what it waits for — `wakeAt` (undefined: nothing but a message) and a recv's `topic`
   * — and leaves this executor. A workflow timeout that falls first wakes it first, to time out.
   */
  async park(wakeAt: number | undefined, topic: string | null): Promise<never> {
    const at = await this.parkTime(wakeAt);
    if (!(await this.store.park(this.lease, { wakeAt: at, topic }))) await this.explainRefusal(null, REFUSED_PARK);
    return this.leaveParked();
  }

  /**
   * Parks the workflow until the first of the workflows `ids` finishes (`needed` = their count) or
   * until one finishes while at least one is left (`needed` 1: the replay it wakes looks again), or
   * `wakeAt`, and ends this run (ParkSignal). Returns, unparked, when fewer than `needed` are still
   * running: the caller reads them again.
   */
  async parkOnWorkflows(ids: string[], needed: number, wakeAt: number | undefined): Promise<void> {
    const at = await this.parkTime(wakeAt);
    const parked = await this.store.parkOnWorkflows(this.lease, { ids, needed, wakeAt: at });
    if (parked === 'finished') return;
    if (parked === 'refused') return this.explainRefusal(null, REFUSED_PARK);
    this.leaveParked();
  }

  /** When a park that waits until `wakeAt` wakes by itself, once the workflow's writes are durable. */
  private async parkTime(wakeAt: number | undefined): Promise<number | null> {
    await this.settled();
    this.assertRunning('park');
    const { deadlineAt } = this.parking;
    return (deadlineAt === null ? wakeAt : Math.min(deadlineAt, wakeAt ?? Infinity)) ?? null;
  }

  private leaveParked(): never {
    // This executor's wake-ups look again, so that they know of this wake time.
    this.waiters.wake(PARKED_WAKE_KEY);
    const signal = new ParkSignal(this.lease.workflowId);
    this.stop(signal);
    throw signal;
  }

  get store(): SystemStore {
    return this.runtime.store;
  }

  get waiters(): Waiters {
    return this.runtime.waiters;
  }

  get pollIntervalMs(): number {
    return this.runtime.pollIntervalMs;
  }

  /** The workflow's function has returned (or thrown): what it left behind may still be used. */
  get hasFinished(): boolean {
    return this.finished;
  }

  get isStopped(): boolean {
    return this.stopReason !== undefined;
  }

  /** Why the workflow was stopped (cancelled, timed out, taken over, shut down), if it was. */
  get reason(): Error | undefined {
    return this.stopReason;
  }

  assertRunning(operation: string): void {
    if (this.finished) throw new NotInWorkflowError(operation);
    if (this.stopReason) throw this.stopReason;
  }

  stop(reason: Error): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    // A stopped run never looks at its writes again: say what became of the one on its way.
    const behind = this.behind;
    if (behind) void behind.applied.then((ok) => this.runtime.lateCheckpointSettled(this.lease, behind.checkpoint.idx, ok), () => undefined);
    if (this.stopListeners) for (const listener of this.stopListeners) listener(reason);
  }

  /** Calls `listener` when the workflow is stopped; returns the function that unsubscribes. */
  onStop(listener: (reason: Error) => void): () => void {
    this.stopListeners ??= new Set();
    this.stopListeners.add(listener);
    return () => this.stopListeners?.delete(listener);
  }

  finish(outcome: LocalOutcome): void {
    this.finished = true;
    // A sleep the code left behind (the loser of a race) would hold its timer, and the process, for
    // as long as it was to last: it stays pending, as nothing awaits it any more.
    if (this.delays) for (const timer of this.delays) timer.cancel();
    this.settle(outcome);
  }

  /**
   * The workflow runs while the insert of its row is still on its way: its first checkpoint joins
   * that insert if it still waits for a flush (one statement, one commit), or follows it. Nothing
   * durable happens before the row commits; only the first step's own effects may, exactly as a
   * step's effects may happen before its checkpoint. Used for starts with a generated ID, which no
   * other start can collide with.
   */
  startBehind(inserted: Promise<boolean>): void {
    this.unstarted = inserted;
  }

  /** Writes a checkpoint and waits for its commit. */
  async checkpoint(checkpoint: NewCheckpoint): Promise<void> {
    await this.settled();
    this.assertRunning('checkpoint');
    const applied = await this.store.writer.checkpoint(checkpoint);
    if (!applied) await this.explainRefusal(checkpoint);
    this.crashIfAsked(checkpoint);
  }

  /** The checkpoint committed: end the run here if the crash rule says so (the testing kit). */
  crashIfAsked(checkpoint: Pick<NewCheckpoint, 'idx' | 'name'>): void {
    const rule = this.runtime.crashRule;
    if (rule === undefined || !rule(this.lease.workflowId, this.workflowName, checkpoint.idx, checkpoint.name)) return;
    const crash = new SimulatedCrash(this.lease.workflowId, checkpoint.idx, checkpoint.name);
    this.stop(crash);
    throw crash;
  }

  /**
   * Submits a step's checkpoint without waiting for its commit. The workflow's own code runs on,
   * but its next durable operation first waits in `settled()`, so no effect of a later step (or
   * message, event, child) can happen before this checkpoint is durable. Code between durable
   * operations is replayed after a crash anyway: running it early loses nothing, and a workflow's
   * last checkpoint commits in the same statement as its completion.
   */
  checkpointBehind(checkpoint: NewCheckpoint): void {
    // No check that the run is still going: a step that finished is worth recording whatever
    // stopped the run meanwhile, and the checkpoint's fence refuses it if the workflow is not ours.
    if (this.finished) throw new NotInWorkflowError('checkpoint');
    const writer = this.store.writer;
    const previous = this.behind;
    let applied: Promise<boolean>;
    if (previous) {
      applied = previous.applied.then((ok) => ok && writer.checkpoint(checkpoint));
    } else {
      const unstarted = this.unstarted;
      this.unstarted = undefined;
      // Whatever became of the insert, the checkpoint's fence finds out whether the row is ours.
      const write = () => writer.checkpoint(checkpoint);
      applied = unstarted === undefined || writer.hasQueuedStart(checkpoint.workflowId) ? write() : unstarted.then(write, write);
    }
    const rule = this.runtime.crashRule;
    if (rule !== undefined && rule(this.lease.workflowId, this.workflowName, checkpoint.idx, checkpoint.name)) {
      this.crashArmed = true;
      const crash = new SimulatedCrash(this.lease.workflowId, checkpoint.idx, checkpoint.name);
      applied = applied.then((ok) => {
        if (ok) this.stop(crash);
        return ok;
      });
    }
    applied.catch(() => undefined); // observed by settled(), or superseded by the completion
    if (this.stopReason) void applied.then((ok) => this.runtime.lateCheckpointSettled(this.lease, checkpoint.idx, ok), () => undefined);
    this.behind = { checkpoint, applied, previous };
  }

  /**
   * Writes a stream row behind the workflow, like a step's checkpoint: the row is sent once the
   * checkpoints before it have committed, and the next durable operation (or the completion) waits
   * for it.
   */
  writeStream(row: StreamRow): void {
    if (this.finished) throw new NotInWorkflowError('stream write');
    this.streamWrites ??= new StreamWrites({
      before: () => this.settled(CHECKPOINTS_ONLY),
      send: async (rows) => {
        const lease = this.lease;
        const applied = await this.store.writer.appendStream({ workflowId: lease.workflowId, owner: lease.owner, epoch: lease.epoch, rows });
        if (!applied) await this.explainRefusal(null, 'its stream values were refused');
      },
    });
    this.streamWrites.write(row);
  }

  /**
   * True when the workflow's writes behind it are one checkpoint still waiting for a flush: a
   * completion submitted now joins it in the same statement instead of waiting for it.
   */
  get completionMayJoin(): boolean {
    return (
      !this.crashArmed &&
      this.behind?.previous === undefined &&
      this.store.writer.hasQueuedCheckpoint(this.lease.workflowId) &&
      !this.streamWrites?.pending
    );
  }

  /**
   * Waits for the checkpoint written behind, if any, for the workflow's own row and for its stream
   * values; throws the stop reason if any was refused. A step passes `startMayJoin`: its checkpoint
   * may still join the row's insert, so it need not wait for that. Stream values wait for
   * everything but themselves (`checkpointsOnly`).
   */
  async settled(options?: { startMayJoin?: boolean; checkpointsOnly?: boolean }): Promise<void> {
    const behind = this.behind;
    if (behind) {
      this.behind = undefined;
      if (behind.previous === undefined) {
        if (!(await behind.applied)) await this.explainRefusal(behind.checkpoint);
      } else {
        // Oldest first: a chained write was not even tried if the one before it was refused.
        const chain: BehindWrite[] = [];
        for (let write: BehindWrite | undefined = behind; write; write = write.previous) chain.unshift(write);
        for (const write of chain) if (!(await write.applied)) await this.explainRefusal(write.checkpoint);
      }
    }
    const unstarted = this.unstarted;
    if (unstarted && !options?.startMayJoin) {
      this.unstarted = undefined;
      if (!(await unstarted)) await this.explainRefusal(null);
    }
    if (this.streamWrites && !options?.checkpointsOnly) await this.streamWrites.settled();
  }

  /**
   * A fenced write was refused, or the workflow was not ours any more: find out why and stop.
   * `written` is the refused checkpoint (or the position a recv recorded itself; null for a
   * completion). An earlier attempt of the same write that committed before a connection drop
   * counts as success; a different checkpoint at that position means another run recorded it
   * first, and this one must replay from the recorded history (HistoryConflictSignal).
   */
  async explainRefusal(written: Pick<NewCheckpoint, 'idx' | 'output' | 'error'> | { idx: number } | null, refused = refusedWrite(written)): Promise<void> {
    const lease = this.lease;
    const state = await this.store.leaseState(lease, written === null ? null : written.idx);
    if (state && state.owned && state.status === 'PENDING') {
      if (written === null) return;
      if (state.step !== null) {
        if (!('output' in written) || (state.step.output === written.output && state.step.error === written.error)) return;
        const conflict = new HistoryConflictSignal(lease.workflowId, written.idx);
        this.stop(conflict);
        throw conflict;
      }
    }
    let reason: Error;
    if (state?.status === 'CANCELLED') reason = new WorkflowCancelledError(this.lease.workflowId);
    else if (state?.owned && state.status === 'ERROR') reason = new WorkflowTimeoutError(this.lease.workflowId, this.timeoutMs ?? 0);
    else reason = new OwnershipLostError(this.lease.workflowId, refused);
    // Already stopped for another reason (say, found lost at a late lease renewal): the refusal is
    // not what the run's own log line will name, so it is told here.
    if (reason instanceof OwnershipLostError && this.stopReason && written !== null) this.runtime.lateCheckpointSettled(lease, written.idx, false);
    this.stop(reason);
    throw reason;
  }

  /** A durable wait's timer: ends early, with the stop reason, when the workflow is stopped. */
  async delay(ms: number): Promise<void> {
    this.assertRunning('ctx.sleep');
    if (ms <= 0) return;
    const clock = this.runtime.clock;
    let timer: Timer | undefined;
    let unsubscribe: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = clock.at(clock.now() + ms, resolve);
        (this.delays ??= new Set()).add(timer);
        unsubscribe = this.onStop(reject);
      });
    } finally {
      if (timer) {
        timer.cancel();
        this.delays?.delete(timer);
      }
      unsubscribe?.();
    }
  }
}
