import { serializeError } from '../codec.js';
import { StopSwitch } from '../engine/waiters.js';
import { DeadLetterError } from '../errors.js';
import type { Judge, OwnedWorkflow, Release, SystemStore } from '../store/system-store.js';
import type { ExecutorLease } from './lease.js';

/** Workflows handed over per transaction: a dead executor with thousands is handed over in a few. */
const HAND_OVER_BATCH = 500;
/** Dead executors looked at per check. */
const EXPIRED_PER_CHECK = 20;
/** Longest pause between two checks for expired leases: fail-over follows a lease's end within about this. */
const MAX_CHECK_INTERVAL_MS = 1_000;
/** Executors whose work was handed over are forgotten this long after. */
const FORGET_RECOVERED_AFTER_MS = 24 * 60 * 60 * 1_000;
const FORGET_EVERY_MS = 10 * 60 * 1_000;

export interface TakeoverOptions {
  appName: string;
  leaseMs: number;
  heartbeatIntervalMs: number;
  maxRecoveryAttempts: number;
  logger: { info(message: string): void; warn(message: string): void };
}

/** What the fleet's takeovers have done in this process (for metrics). */
export interface TakeoverCounts {
  /** Workflows handed back to their queue or for adoption after their executor died. */
  recovered: number;
  /** Workflows that exhausted maxRecoveryAttempts and were moved to DEAD_LETTER. */
  deadLettered: number;
}

/**
 * Fail-over, as every live executor runs it: about once a second it asks for executors whose lease
 * has expired (an index of unrecovered leases, so a handful of entries), and hands their PENDING
 * workflows over, one claimer per dead executor at a time (its row is locked; others skip it).
 * Handing over bumps each workflow's epoch, fencing the dead (or merely paused) owner, and counts a
 * recovery: queued workflows return to their queue's head, in their original order, for the
 * queue's own claim and limits to pick the next owner; direct ones are left ownerless for the
 * executors of their version to adopt in fair shares (OrphanAdoption). A workflow recovered more
 * than maxRecoveryAttempts times is moved to DEAD_LETTER instead. Handing over never runs anything
 * here, so it needs no particular version: each workflow still runs only on its own version.
 */
export class FleetTakeover {
  private readonly stopping = new StopSwitch();
  private loop: Promise<void> | undefined;
  private lastForget = 0;
  readonly counts: TakeoverCounts = { recovered: 0, deadLettered: 0 };

  constructor(
    private readonly store: SystemStore,
    private readonly lease: ExecutorLease,
    private readonly options: TakeoverOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.stop();
    await this.loop;
  }

  /** Takes over the workflows of every expired executor now; returns how many were handed over. */
  async checkOnce(): Promise<number> {
    if (!this.lease.mayJudgePeers()) return 0;
    let handed = 0;
    for (const id of await this.store.expiredExecutors(this.options.appName, this.judge(), EXPIRED_PER_CHECK)) {
      if (id === this.lease.executorId || this.stopping.isStopped) continue;
      handed += await this.takeOver(id);
    }
    if (Date.now() - this.lastForget > FORGET_EVERY_MS) {
      this.lastForget = Date.now();
      await this.store.forgetRecoveredExecutors(this.options.appName, FORGET_RECOVERED_AFTER_MS);
    }
    return handed;
  }

  /**
   * Graceful exit: hands this executor's remaining PENDING workflows back at once (not counted as
   * recoveries) and ends its lease, so nobody waits for the lease to run out.
   */
  async handBack(executorId: string): Promise<number> {
    let handed = 0;
    for (;;) {
      const result = await this.store.handOver(executorId, 'self', HAND_OVER_BATCH, (owned) => owned.map(handBackRelease));
      handed += result?.owned.length ?? 0;
      if (!result || result.done) break;
    }
    if (handed > 0) this.options.logger.info(`executor ${executorId}: handed ${handed} unfinished workflows back to the fleet`);
    return handed;
  }

  private async takeOver(executorId: string): Promise<number> {
    let handed = 0;
    let deadLettered = 0;
    for (;;) {
      const result = await this.store.handOver(executorId, this.judge(), HAND_OVER_BATCH, (owned) => owned.map((w) => this.recoveryOf(w, executorId)));
      if (!result) break; // renewed meanwhile, or another executor is handing it over
      handed += result.released.length;
      deadLettered += result.released.filter((release) => release.status === 'DEAD_LETTER').length;
      if (result.done) break;
    }
    this.counts.recovered += handed - deadLettered;
    this.counts.deadLettered += deadLettered;
    if (handed > 0) {
      this.options.logger.warn(
        `executor ${executorId} stopped renewing its lease: took over its ${handed} unfinished workflows` +
          (deadLettered > 0 ? ` (${deadLettered} moved to DEAD_LETTER after too many recoveries)` : ''),
      );
    }
    return handed;
  }

  /**
   * This executor as a judge: only once its own lease has been unbroken for a whole lease (checked
   * by the database, in the takeover's own statements). After a partition of the whole fleet, or
   * a database outage longer than the lease, every executor finds every other's lease expired; the
   * first back waits, and the others renew meanwhile. A new executor waits the same before its
   * first takeover.
   */
  private judge(): Judge {
    return { executorId: this.lease.executorId, unbrokenForMs: this.options.leaseMs };
  }

  private recoveryOf(workflow: OwnedWorkflow, executorId: string): Release {
    const recoveries = workflow.recoveries + 1;
    if (recoveries > this.options.maxRecoveryAttempts) {
      const error = new DeadLetterError(workflow.id, workflow.recoveries, `executor ${executorId} stopped renewing its lease while running it`);
      return { id: workflow.id, status: 'DEAD_LETTER', error: serializeError(error), recovered: false };
    }
    return { id: workflow.id, status: workflow.queue === null ? 'PENDING' : 'ENQUEUED', error: null, recovered: true };
  }

  private async run(): Promise<void> {
    const every = Math.min(this.options.heartbeatIntervalMs, MAX_CHECK_INTERVAL_MS);
    while (!this.stopping.isStopped) {
      try {
        await this.checkOnce();
      } catch (error) {
        if (this.stopping.isStopped) break;
        this.options.logger.warn(`checking for expired executors failed, retrying: ${(error as Error).message}`);
      }
      // Jittered, so the executors of a fleet do not all look in the same instant.
      await this.stopping.sleep(every * (0.8 + Math.random() * 0.4));
    }
  }
}

function handBackRelease(workflow: OwnedWorkflow): Release {
  return { id: workflow.id, status: workflow.queue === null ? 'PENDING' : 'ENQUEUED', error: null, recovered: false };
}
