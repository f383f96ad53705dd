/**
 * Where an instance reads "now" and waits for due times: durable sleeps, recv/getEvent/result
 * deadlines, workflow timeouts, queue delays and rate windows, schedule ticks. Production uses the
 * system clock; the testing kit injects a virtual one whose time can jump (docs/decisions/0010).
 * Fallback polls, leases, heartbeats and step timeouts measure real elapsed time and do not use it.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once this clock reaches `dueAt` (epoch ms). */
  at(dueAt: number, fn: () => void): Timer;
  /**
   * The now that SQL judging due times must take (claims, rate windows): null means the
   * database's own clock, which executors with skewed clocks agree on.
   */
  sqlNow(): number | null;
}

export interface Timer {
  cancel(): void;
  /** Lets the process exit while only this timer is pending. */
  unref(): void;
}

/**
 * Longest single setTimeout of the system clock. Node fires longer ones at once (they overflow a
 * 32-bit int), and a wall clock that is set meanwhile is noticed at the next re-arm.
 */
const MAX_TIMER_MS = 60_000;

class SystemTimer implements Timer {
  private handle: NodeJS.Timeout | undefined;
  private referenced = true;

  constructor(
    private readonly dueAt: number,
    private readonly fn: () => void,
  ) {
    this.arm();
  }

  private arm(): void {
    const remaining = this.dueAt - Date.now();
    if (remaining <= 0 && this.handle !== undefined) {
      this.handle = undefined;
      this.fn();
      return;
    }
    this.handle = setTimeout(() => this.arm(), Math.min(Math.max(0, remaining), MAX_TIMER_MS));
    if (!this.referenced) this.handle.unref();
  }

  cancel(): void {
    clearTimeout(this.handle);
    this.handle = undefined;
  }

  unref(): void {
    this.referenced = false;
    this.handle?.unref();
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  at: (dueAt, fn) => new SystemTimer(dueAt, fn),
  sqlNow: () => null,
};

/** Resolves when `clock` reaches `dueAt`, or at once when `stopped` fires first (then unsubscribed). */
export function waitUntil(clock: Clock, dueAt: number, onStop?: (listener: () => void) => () => void): Promise<void> {
  let timer: Timer | undefined;
  let unsubscribe: (() => void) | undefined;
  return new Promise<void>((resolve) => {
    timer = clock.at(dueAt, resolve);
    unsubscribe = onStop?.(resolve);
  }).finally(() => {
    timer?.cancel();
    unsubscribe?.();
  });
}
