import type { SystemStore } from '../store/system-store.js';
import type { QueueLimits } from './options.js';

/**
 * The fleet-wide limits of every queue, as stored in Postgres. Re-read at most once per `maxAgeMs`
 * (and at once when told that a limit changed), so a runtime change reaches every executor within
 * about a second without a query per claim.
 */
export class QueueLimitsCache {
  private limits = new Map<string, QueueLimits>();
  private readAt = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly store: SystemStore,
    private readonly maxAgeMs: number,
  ) {}

  invalidate(): void {
    this.readAt = 0;
  }

  async get(name: string): Promise<QueueLimits | undefined> {
    if (Date.now() - this.readAt >= this.maxAgeMs) await this.refresh();
    return this.limits.get(name);
  }

  /** The limits as last read, without waiting for a refresh (undefined when unknown). */
  peek(name: string): QueueLimits | undefined {
    if (Date.now() - this.readAt >= this.maxAgeMs) return undefined;
    return this.limits.get(name);
  }

  private refresh(): Promise<void> {
    this.reading ??= this.store
      .readQueues(null)
      .then((rows) => {
        this.limits = new Map(rows.map((row) => [row.name, row]));
        this.readAt = Date.now();
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
