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
  /** Rows deleted per statement: small batches keep locks short. */
  batchSize: number;
}

/**
 * Deletes finished workflows past the configured age or row budget, in small batches with a pause
 * between them, so that neither the queue hot path nor readers wait on a long delete.
 */
export class RetentionJanitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly store: SystemStore,
    private readonly policy: RetentionPolicy,
    private readonly logger: { warn(message: string): void },
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    if (this.policy.maxAgeMs === null && this.policy.maxRows === null) return;
    this.timer = setInterval(() => void this.runOnce().catch((error: Error) => this.logger.warn(`retention failed: ${error.message}`)), this.policy.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass: returns how many workflows were deleted. */
  runOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
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
      while (!this.stopped) {
        const deleted = await this.store.deleteFinished(cutoff, this.policy.batchSize);
        total += deleted;
        if (deleted < this.policy.batchSize) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    return total;
  }
}
