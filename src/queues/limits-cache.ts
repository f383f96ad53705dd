import type { SystemStore } from '../store/system-store.js';
import type { QueueLimits } from './options.js';

/**
 * The fleet-wide limits of every queue, as stored in Postgres, read in one statement for all
 * queues. A change made through `queues.update` is notified and invalidates the cache: the next
 * read waits for the new limits. Without a notification (one lost while the listener reconnected),
 * limits older than `maxAgeMs` are re-read in the background on their next use, so a change still
 * reaches every executor within about a second of activity, while neither an enqueue nor a claim
 * after a quiet spell waits for a read, and an idle executor reads nothing.
 */
export class QueueLimitsCache {
  private limits = new Map<string, QueueLimits>();
  private readAt = 0;
  /** Bumped by invalidate(): a read begun before it must not vouch for the limits. */
  private generation = 0;
  private invalidated = true;
  private reading: { generation: number; done: Promise<void> } | undefined;

  constructor(
    private readonly store: SystemStore,
    private readonly maxAgeMs: number,
  ) {}

  invalidate(): void {
    this.generation++;
    this.invalidated = true;
  }

  async get(name: string): Promise<QueueLimits | undefined> {
    if (this.invalidated) await this.refresh();
    else this.refreshIfOld();
    return this.limits.get(name);
  }

  /** The limits as last read, without waiting for a read (undefined when unknown or invalidated). */
  peek(name: string): QueueLimits | undefined {
    if (this.invalidated) {
      this.refreshInBackground();
      return undefined;
    }
    this.refreshIfOld();
    return this.limits.get(name);
  }

  private refreshIfOld(): void {
    if (Date.now() - this.readAt >= this.maxAgeMs) this.refreshInBackground();
  }

  /** A failed background read is tried again on the next use (the limits stay old or invalidated). */
  private refreshInBackground(): void {
    this.refresh().catch(() => undefined);
  }

  private refresh(): Promise<void> {
    const generation = this.generation;
    if (this.reading?.generation === generation) return this.reading.done;
    const done = this.store
      .readQueues(null)
      .then((rows) => {
        if (generation !== this.generation) return;
        this.limits = new Map(rows.map((row) => [row.name, row]));
        this.readAt = Date.now();
        this.invalidated = false;
      })
      .finally(() => {
        if (this.reading?.done === done) this.reading = undefined;
      });
    this.reading = { generation, done };
    return done;
  }
}
