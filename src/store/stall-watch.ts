import { performance } from 'node:perf_hooks';

/**
 * A connection that answered nothing for too long: its statements fail with this error, which is
 * transient (they are retried on a new connection).
 */
export class ConnectionStalledError extends Error {
  readonly code = 'BALLAST_CONNECTION_STALLED';

  constructor(silentMs: number) {
    super(`the database connection answered nothing for ${Math.round(silentMs)} ms (network cut or frozen?); it was closed`);
    this.name = 'ConnectionStalledError';
  }
}

/** One connection as the watch sees it. */
export interface Watched {
  /** Statements sent and not yet answered. */
  inFlight: number;
  /** performance.now() since when the oldest unanswered statement has been the one the server owes. */
  since: number;
  /** Closes the connection so that its statements fail with `error`. */
  readonly destroy: (error: Error) => void;
}

const TICK_MS = 1_000;
/** A tick this late means this process itself was held up (paused, or its event loop blocked). */
const LATE_TICK_MS = 2 * TICK_MS;

/**
 * Finds connections that stopped answering. TCP keepalive cannot: a path that still acknowledges
 * packets but delivers nothing (a frozen proxy or load balancer, a half-dead NAT) looks healthy to
 * it, and a query sent into a dead network waits for the kernel's retransmission timeout, many
 * minutes. Every Ballast session has a statement_timeout, so a live server answers each statement
 * within it; a connection that owes an answer for longer than `stallMs` is dead, and is closed.
 *
 * Statements on one connection are answered in the order sent, so the clock of a connection runs
 * from the moment the statement at its head became the one the server owes: when it was sent onto
 * an idle connection, or when the previous answer arrived. One timer checks all connections; a
 * statement costs two clock reads.
 */
export class StallWatch {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;

  constructor(
    private readonly stallMs: number,
    private readonly onStall: (watched: Watched, silentMs: number) => void,
  ) {}

  watch(destroy: (error: Error) => void): Watched {
    const watched: Watched = { inFlight: 0, since: 0, destroy };
    this.watched.add(watched);
    if (!this.timer) {
      this.lastTick = performance.now();
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    }
    return watched;
  }

  forget(watched: Watched): void {
    this.watched.delete(watched);
  }

  sent(watched: Watched): void {
    if (watched.inFlight++ === 0) watched.since = performance.now();
  }

  answered(watched: Watched): void {
    watched.inFlight--;
    watched.since = performance.now();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private tick(): void {
    const now = performance.now();
    const late = now - this.lastTick > LATE_TICK_MS;
    this.lastTick = now;
    const suspects: Watched[] = [];
    for (const watched of this.watched) {
      if (watched.inFlight === 0) continue;
      // Answers that arrived while this process was held up are still unread: nothing can be judged.
      if (late) watched.since = now;
      else if (now - watched.since > this.stallMs) suspects.push(watched);
    }
    if (suspects.length === 0) return;
    // Judged after this turn's I/O is read, so an answer already waiting in a socket counts.
    setImmediate(() => {
      const at = performance.now();
      for (const watched of suspects) {
        if (watched.inFlight > 0 && this.watched.has(watched) && at - watched.since > this.stallMs) {
          this.watched.delete(watched);
          this.onStall(watched, at - watched.since);
        }
      }
    });
  }
}
