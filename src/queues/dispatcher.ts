import type { Clock } from '../clock.js';
import type { Runtime } from '../engine/runtime.js';
import { StopSwitch, type Waiters } from '../engine/waiters.js';
import type { RunnableWorkflow } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import type { QueueLimitsCache } from './limits-cache.js';
import { isFleetWide } from './options.js';

/**
 * Most workflows claimed in one statement, and the per-executor limit of a queue that sets no
 * workerConcurrency: one process never swallows a whole backlog.
 */
const MAX_CLAIM_BATCH = 100;
const RATE_WINDOW_JITTER_MS = 20;

export interface DispatcherDeps {
  store: SystemStore;
  runtime: Runtime;
  waiters: Waiters;
  limits: QueueLimitsCache;
  pollIntervalMs: number;
  clock: Clock;
  logger: { warn(message: string): void };
  /** Told when a claim took work (the executor's QueuePoller looks again soon after activity). */
  claimed(): void;
}

/**
 * Takes work from one queue for this executor. It claims as many workflows as it has free slots in
 * one statement, then sleeps until something can change the answer: an enqueue or a completion
 * (NOTIFY, or a local completion), a rate window ending, or the executor's QueuePoller, which polls
 * all queues in one statement, promotes delayed work, and wakes only the queues that have work. An
 * idle queue has no timer and issues no statement; it starts asleep, for the first poll to wake it.
 *
 * Slots freed by completions are mostly refilled without it: the group-commit flush that records
 * the completions also claims their successors (see Refiller in the writer), for queues whose
 * limits are all per executor. Those claims are counted here while in flight, so the two paths
 * together never exceed the queue's workerConcurrency.
 */
export class Dispatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly stopping: StopSwitch;
  /** Completions of this queue in flushes on the wire (they still count as running). */
  private completingInFlight = 0;
  /** Workflows being claimed for this queue and not running yet. */
  private claimingInFlight = 0;
  /** A claim may have committed without its reply reaching us: look for orphans before claiming more. */
  private claimsUncertain = false;

  constructor(
    private readonly queue: string,
    private readonly deps: DispatcherDeps,
  ) {
    this.stopping = new StopSwitch(deps.clock);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.stop();
    await this.loop;
  }

  /** The queue may have work (the poller saw some): claim if there is room. */
  wake(): void {
    this.deps.waiters.wake(wakeKey('queue', this.queue));
  }

  /** Refiller.reserve: how many successors a flush completing `completing` workflows may claim. */
  reserve(completing: number): number {
    const { runtime, limits } = this.deps;
    this.completingInFlight += completing;
    const queueLimits = limits.peek(this.queue);
    if (this.stopped || this.claimsUncertain || !runtime.isAccepting || !queueLimits || isFleetWide(queueLimits)) return 0;
    if (runtime.leaseGate.confirm() !== undefined) return 0; // the dispatcher's own claim renews the lease first
    const capacity = queueLimits.workerConcurrency ?? MAX_CLAIM_BATCH;
    const free = capacity - (runtime.runningIn(this.queue) - this.completingInFlight) - this.claimingInFlight;
    const claim = Math.max(0, Math.min(completing, free));
    this.claimingInFlight += claim;
    return claim;
  }

  /** Refiller.release: the flush is over; its claimed workflows start now, before its completions resolve. */
  release(completing: number, reserved: number, claimed: RunnableWorkflow[]): void {
    this.completingInFlight -= completing;
    this.claimingInFlight -= reserved;
    for (const record of claimed) this.startClaimed(record);
    // Lost claims are adopted once none is on the wire: this was the last one the loop waited for.
    if (this.claimsUncertain && this.claimingInFlight === 0) this.wake();
  }

  /** Runs a claimed workflow; a failure to start one (say, an unreadable input) stays with it. */
  private startClaimed(record: RunnableWorkflow, mayHaveRun?: boolean): void {
    try {
      this.deps.runtime.runClaimed(record, mayHaveRun);
    } catch (error) {
      this.deps.logger.warn(`could not start workflow ${record.id} claimed from queue "${this.queue}": ${(error as Error).message}`);
    }
  }

  /** A claim's reply was lost: its rows are ours, PENDING, and not running; the loop adopts them. */
  claimsMayBeLost(): void {
    this.claimsUncertain = true;
    this.wake();
  }

  /** Refiller.completionWakes: only fleet-wide limits let a completion here free a slot elsewhere. */
  completionWakes(): boolean {
    const queueLimits = this.deps.limits.peek(this.queue);
    return !queueLimits || isFleetWide(queueLimits);
  }

  /** Runs this executor's PENDING workflows of the queue that are not running here (lost claims). */
  private async adoptOrphans(): Promise<void> {
    const { store, runtime } = this.deps;
    const orphans = await store.ownPendingIn(this.queue, runtime.executorId);
    this.claimsUncertain = false;
    for (const record of orphans) this.startClaimed(record, true);
  }

  private async run(): Promise<void> {
    const { store, runtime, waiters, limits, logger } = this.deps;
    const key = wakeKey('queue', this.queue);
    await waiters.arm(key).wait(Infinity, this.stopping);
    let failures = 0;
    while (!this.stopped) {
      const armed = waiters.arm(key);
      let retryMs = Infinity;
      /** When a rate window frees a slot, on the instance's clock. */
      let dueAt: number | undefined;
      try {
        const queueLimits = await limits.get(this.queue);
        if (!queueLimits) {
          await armed.wait(Infinity, this.stopping);
          continue;
        }
        // Orphans are looked for once no claim is on the wire, so none can start twice.
        if (this.claimsUncertain && this.claimingInFlight === 0) await this.adoptOrphans();
        const free = (queueLimits.workerConcurrency ?? MAX_CLAIM_BATCH) - runtime.runningIn(this.queue) - this.claimingInFlight;
        if (free > 0 && !this.claimsUncertain) {
          // An executor whose lease may have run out renews it before it takes more work: the fleet
          // must never see it own workflows while its row says it is dead.
          const confirming = runtime.leaseGate.confirm();
          if (confirming) await confirming;
          const want = Math.min(free, MAX_CLAIM_BATCH);
          this.claimingInFlight += want;
          let result: Awaited<ReturnType<SystemStore['claimWorkflows']>>;
          try {
            result = await store.claimWorkflows(
              { queue: this.queue, executorId: runtime.executorId, appVersion: runtime.appVersion, max: want, limits: queueLimits },
              () => this.claimsMayBeLost(),
            );
          } finally {
            this.claimingInFlight -= want;
          }
          const { claimed, retryAt } = result;
          claimed.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
          for (const record of claimed) this.startClaimed(record);
          failures = 0;
          if (claimed.length > 0) this.deps.claimed();
          if (claimed.length === want) {
            armed.cancel();
            continue;
          }
          // Every executor waiting on the rate window wakes at its end; a little jitter makes the
          // first claimer (who takes the window's starts) a random one, not always the quickest.
          if (retryAt !== null) dueAt = retryAt + Math.random() * RATE_WINDOW_JITTER_MS;
        }
      } catch (error) {
        if (this.stopped) break;
        failures++;
        logger.warn(`queue "${this.queue}": dispatch failed, retrying: ${(error as Error).message}`);
        retryMs = Math.min(this.deps.pollIntervalMs, 100 * 2 ** Math.min(failures, 6));
      }
      await armed.wait(retryMs, this.stopping, dueAt);
      // Completions arrive in bursts (one group commit settles many): let the burst finish so one
      // claim fills all the slots it freed.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
