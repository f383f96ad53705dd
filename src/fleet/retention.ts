import { systemClock, type Clock } from '../clock.js';
import type { RetentionCutoff } from '../store/sql/retention.js';
import type { SystemStore } from '../store/system-store.js';

export interface RetentionPolicy {
  /** Finished workflows older than this (by completion time) are deleted. */
  maxAgeMs: number | null;
  /** At most this many finished workflows are kept; the first created go first. */
  maxRows: number | null;
  /** How often each executor looks for work. */
  intervalMs: number;
  /** Rows deleted per statement, at most: small batches keep locks short. */
  batchSize: number;
  /** Share of one database connection's time that the fleet's background retention may take (0 < share ≤ 1). */
  dutyCycle: number;
}

/** How long a turn outlives an executor that died holding it: the fleet's retention waits that long. */
const TURN_LEASE_MS = 60_000;
/** Least wait before asking again for a turn that another executor holds. */
const MIN_TURN_WAIT_MS = 250;

export interface RetentionLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * Deletes finished workflows past the configured age or row budget, in batches. In the background
 * the fleet takes turns (one batch at a time across every executor), and after each batch waits
 * long enough that batches take at most `dutyCycle` of the time: a batch that ran 40 ms at 2.5 % is
 * followed by 1,560 ms in which no executor deletes. The pause scales with what a batch actually cost,
 * so a busy database (slower statements) gets longer pauses. `runOnce` (pruneFinished) deletes
 * without pausing: it is asked for now.
 */
export class RetentionJanitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: SystemStore,
    private readonly policy: RetentionPolicy,
    private readonly executorId: string,
    private readonly logger: RetentionLogger,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    if (this.policy.maxAgeMs === null && this.policy.maxRows === null) return;
    this.timer = setInterval(() => void this.run(true).catch((error: Error) => this.logger.warn(`retention failed: ${error.message}`)), this.policy.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.wake?.();
    await this.running?.catch(() => undefined);
  }

  /** One pass at full speed: returns how many workflows were deleted. */
  runOnce(): Promise<number> {
    return this.run(false);
  }

  private run(paced: boolean): Promise<number> {
    this.running ??= this.pass(paced).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(paced: boolean): Promise<number> {
    const started = performance.now();
    const cutoffs: RetentionCutoff[] = [];
    if (this.policy.maxAgeMs !== null) {
      const ageCutoff = this.clock.now() - this.policy.maxAgeMs;
      cutoffs.push({ createdBefore: ageCutoff, completedBefore: ageCutoff });
    }
    if (this.policy.maxRows !== null) {
      const budget = await this.store.retentionBudgetCutoff(this.policy.maxRows);
      if (budget !== null) cutoffs.push({ createdBefore: budget, completedBefore: null });
    }
    let total = 0;
    for (const cutoff of cutoffs) {
      // Where this pass has got to: a row that finishes behind it (created earlier, finished later) waits for the next pass.
      let from: number | null = null;
      while (!this.stopped) {
        const batchStarted = performance.now();
        const outcome = await this.store.deleteFinished(cutoff, from, this.policy.batchSize, paced ? { holder: this.executorId, leaseMs: TURN_LEASE_MS } : null);
        if (!outcome.turn) {
          await this.pause(Math.min(Math.max(outcome.waitMs, MIN_TURN_WAIT_MS), this.policy.intervalMs));
          continue;
        }
        total += outcome.deleted;
        from = outcome.reached ?? from;
        const done = outcome.deleted < this.policy.batchSize;
        if (paced) {
          const pauseMs = ((performance.now() - batchStarted) * (1 - this.policy.dutyCycle)) / this.policy.dutyCycle;
          await this.store.releaseRetentionTurn(this.executorId, pauseMs);
          if (!done) await this.pause(pauseMs);
        }
        if (done) break;
      }
    }
    if (total > 0) this.logger.info(`retention deleted ${total} finished workflows in ${Math.round(performance.now() - started)} ms`);
    return total;
  }

  /** Waits `ms`, or less if the janitor is stopped meanwhile. */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
