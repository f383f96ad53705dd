import type { Runtime } from '../engine/runtime.js';
import type { Waiters } from '../engine/waiters.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import type { QueueLimitsCache } from './limits-cache.js';

/**
 * Most workflows claimed in one statement, and the per-executor limit of a queue that sets no
 * workerConcurrency: one process never swallows a whole backlog.
 */
const MAX_CLAIM_BATCH = 100;
const FIRST_POLL_MS = 100;

export interface DispatcherDeps {
  store: SystemStore;
  runtime: Runtime;
  waiters: Waiters;
  limits: QueueLimitsCache;
  pollIntervalMs: number;
  logger: { warn(message: string): void };
}

/**
 * Takes work from one queue for this executor. It claims as many workflows as it has free slots in
 * one statement, then sleeps until something can change the answer: an enqueue or a completion
 * (NOTIFY, or a local completion), a rate window or a delayed workflow falling due, or — only as a
 * fallback for lost notifications — a poll interval that backs off to `pollIntervalMs` with jitter.
 */
export class Dispatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private signalStop!: () => void;
  private readonly stopping = new Promise<void>((resolve) => (this.signalStop = resolve));
  private nextDelayedAt: number | null = null;
  private lastPromotionAt = 0;
  private idlePolls = 0;

  constructor(
    private readonly queue: string,
    private readonly deps: DispatcherDeps,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    await this.loop;
  }

  /** A delayed workflow was enqueued here or elsewhere: look at due times again. */
  delayedEnqueued(availableAt = 0): void {
    if (this.nextDelayedAt === null || availableAt < this.nextDelayedAt) this.nextDelayedAt = availableAt;
    this.deps.waiters.wake(wakeKey('queue', this.queue));
  }

  private async run(): Promise<void> {
    const { store, runtime, waiters, limits, logger } = this.deps;
    const key = wakeKey('queue', this.queue);
    let failures = 0;
    while (!this.stopped) {
      const armed = waiters.arm(key);
      let wakeAt = Date.now() + this.pollDelay();
      try {
        const queueLimits = await limits.get(this.queue);
        if (!queueLimits) {
          await armed.wait(this.deps.pollIntervalMs, this.stopping);
          continue;
        }
        const now = Date.now();
        // Due delayed work is promoted when its time comes, and once per poll interval as a safety net.
        if ((this.nextDelayedAt !== null && this.nextDelayedAt <= now) || now - this.lastPromotionAt >= this.deps.pollIntervalMs) {
          this.lastPromotionAt = now;
          this.nextDelayedAt = (await store.promoteDelayed(this.queue)).nextAt;
        }
        const free = (queueLimits.workerConcurrency ?? MAX_CLAIM_BATCH) - runtime.runningIn(this.queue);
        if (free > 0) {
          const want = Math.min(free, MAX_CLAIM_BATCH);
          const { claimed, retryAt } = await store.claimWorkflows({
            queue: this.queue,
            executorId: runtime.executorId,
            appVersion: runtime.appVersion,
            max: want,
            limits: queueLimits,
          });
          claimed.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
          for (const record of claimed) await runtime.runClaimed(record);
          failures = 0;
          if (claimed.length === want) {
            this.idlePolls = 0;
            armed.cancel();
            continue;
          }
          if (claimed.length > 0) this.idlePolls = 0;
          else this.idlePolls++;
          if (retryAt !== null) wakeAt = Math.min(wakeAt, retryAt);
        }
        if (this.nextDelayedAt !== null) wakeAt = Math.min(wakeAt, this.nextDelayedAt);
      } catch (error) {
        if (this.stopped) break;
        failures++;
        logger.warn(`queue "${this.queue}": dispatch failed, retrying: ${(error as Error).message}`);
        wakeAt = Date.now() + Math.min(this.deps.pollIntervalMs, 100 * 2 ** Math.min(failures, 6));
      }
      await armed.wait(wakeAt - Date.now(), this.stopping);
      // Completions arrive in bursts (one group commit settles many): let the burst finish so one
      // claim fills all the slots it freed.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Fallback polling: quick after activity, backing off to pollIntervalMs, with jitter. */
  private pollDelay(): number {
    const base = Math.min(this.deps.pollIntervalMs, FIRST_POLL_MS * 2 ** Math.min(this.idlePolls, 10));
    return base * (0.75 + Math.random() / 2);
  }
}
