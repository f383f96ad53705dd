import { StreamClosedError } from '../errors.js';
import type { StreamRow } from '../store/records.js';

/**
 * Where each of a run's streams stands: the position its next value takes, and whether the run
 * closed it. Positions count from 0 per key in the order the workflow writes, so a replay, which
 * writes the same values in the same order, finds each one at its recorded position.
 */
export class StreamPositions {
  private readonly next = new Map<string, number>();
  private readonly closed = new Set<string>();

  /** The position of the next value of `key`. */
  take(workflowId: string, key: string): number {
    if (this.closed.has(key)) throw new StreamClosedError(workflowId, key);
    const position = this.next.get(key) ?? 0;
    this.next.set(key, position + 1);
    return position;
  }

  /** The position of the end of `key`; undefined when it is closed already. */
  close(key: string): number | undefined {
    if (this.closed.has(key)) return undefined;
    this.closed.add(key);
    return this.next.get(key) ?? 0;
  }
}

export interface StreamSink {
  /** Resolves once the run's earlier checkpoints (and its own row) have committed. */
  before(): Promise<void>;
  /** Writes rows of the run; throws when they are refused. */
  send(rows: StreamRow[]): Promise<void>;
}

/**
 * The stream rows a run wrote that have not committed yet. One append of the run is on its way at
 * a time, so rows commit in the order written; the rows written meanwhile go together in the next
 * append. A workflow that writes faster than a round trip therefore pays one commit per round trip,
 * shared with every other workflow's writes of the same flush.
 */
export class StreamWrites {
  private waiting: StreamRow[] = [];
  private sending: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly sink: StreamSink) {}

  write(row: StreamRow): void {
    this.waiting.push(row);
    if (this.sending || this.failure) return;
    this.sending = this.pump();
    this.sending.catch(() => undefined); // observed by settled()
  }

  /** True while rows are written and not yet known to be committed. */
  get pending(): boolean {
    return this.sending !== undefined;
  }

  /** Resolves once every row written so far has committed; throws why one was not. */
  async settled(): Promise<void> {
    if (this.sending) await this.sending;
    if (this.failure) throw this.failure.error;
  }

  private async pump(): Promise<void> {
    try {
      await this.sink.before();
      while (this.waiting.length > 0) {
        const rows = this.waiting;
        this.waiting = [];
        await this.sink.send(rows);
      }
    } catch (error) {
      this.failure = { error };
      this.waiting = [];
      throw error;
    } finally {
      this.sending = undefined;
    }
  }
}
