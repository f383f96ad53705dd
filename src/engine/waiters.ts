import { systemClock, type Clock, type Timer } from '../clock.js';

/** Longest setTimeout Node takes without firing at once. */
const MAX_POLL_MS = 2_147_000_000;

/**
 * In-process fan-out of wake-up hints from the one LISTEN connection. A waiter registers before it
 * checks the database, so a hint that arrives between the check and the wait is not lost. Callers
 * bound each wait by a polling fallback so a lost hint costs latency, never progress.
 */
export class Waiters {
  private readonly byKey = new Map<string, Set<() => void>>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Registers interest in `key` (or any of several) now; `wait(ms)` resolves on a hint, after `ms`, or on a stop. */
  arm(key: string | readonly string[]): ArmedWait {
    let wake!: () => void;
    let settled = false;
    const woken = new Promise<void>((resolve) => {
      wake = () => {
        if (settled) return;
        settled = true;
        resolve();
      };
    });
    const keys = typeof key === 'string' ? [key] : key;
    for (const each of keys) {
      let set = this.byKey.get(each);
      if (!set) this.byKey.set(each, (set = new Set()));
      set.add(wake);
    }
    const release = () => {
      for (const each of keys) {
        const current = this.byKey.get(each);
        current?.delete(wake);
        if (current?.size === 0) this.byKey.delete(each);
      }
    };
    return {
      wait: async (ms: number, interrupt?: Interrupt, dueAt?: number) => {
        if (interrupt?.isStopped) return release();
        let timer: NodeJS.Timeout | undefined;
        let due: Timer | undefined;
        let unsubscribe: (() => void) | undefined;
        // The interrupt is subscribed to for this wait only: a wait must leave nothing behind on
        // something that lives as long as a workflow run or a dispatcher.
        const ended = new Promise<void>((resolve) => {
          if (ms !== Infinity) timer = setTimeout(resolve, Math.min(Math.max(0, ms), MAX_POLL_MS));
          if (dueAt !== undefined) due = this.clock.at(dueAt, resolve);
          unsubscribe = interrupt?.onStop(() => resolve());
        });
        try {
          await Promise.race([woken, ended]);
        } finally {
          clearTimeout(timer);
          due?.cancel();
          unsubscribe?.();
          release();
        }
      },
      cancel: release,
    };
  }

  wake(key: string): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const wake of [...set]) wake();
  }

  /** After a reconnect hints may have been missed: everyone looks again. */
  wakeAll(): void {
    for (const set of [...this.byKey.values()]) for (const wake of [...set]) wake();
  }

  keys(prefix: string): string[] {
    return [...this.byKey.keys()].filter((key) => key.startsWith(prefix));
  }
}

export interface ArmedWait {
  /**
   * Resolves on a hint, after `ms` of real time (a fallback look; Infinity for none), when the
   * instance's clock reaches `dueAt`, or when `interrupt` stops, whichever comes first.
   */
  wait(ms: number, interrupt?: Interrupt, dueAt?: number): Promise<void>;
  cancel(): void;
}

/** What ends waits early when it stops (a workflow run, a dispatcher); listeners can be removed. */
export interface Interrupt {
  readonly isStopped: boolean;
  /** Calls `listener` once stopped; returns the function that unsubscribes it. */
  onStop(listener: () => void): () => void;
}

/** An Interrupt that is stopped by calling stop(). */
export class StopSwitch implements Interrupt {
  private stopped = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly clock: Clock = systemClock) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }

  onStop(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves after `ms` on its clock, or at once when stopped. */
  sleep(ms: number): Promise<void> {
    return this.sleepUntil(this.clock.now() + ms);
  }

  /** Resolves when its clock reaches `dueAt`, or at once when stopped. */
  async sleepUntil(dueAt: number): Promise<void> {
    if (this.stopped) return;
    let timer: Timer | undefined;
    let unsubscribe: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      timer = this.clock.at(dueAt, resolve);
      unsubscribe = this.onStop(resolve);
    });
    timer?.cancel();
    unsubscribe?.();
  }
}
