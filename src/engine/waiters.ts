/**
 * In-process fan-out of wake-up hints from the one LISTEN connection. A waiter registers before it
 * checks the database, so a hint that arrives between the check and the wait is not lost. Callers
 * bound each wait by a polling fallback so a lost hint costs latency, never progress.
 */
export class Waiters {
  private readonly byKey = new Map<string, Set<() => void>>();

  /** Registers interest in `key` now; `wait(ms)` resolves on a hint, after `ms`, or on interrupt. */
  arm(key: string): ArmedWait {
    let wake!: () => void;
    let settled = false;
    const woken = new Promise<void>((resolve) => {
      wake = () => {
        if (settled) return;
        settled = true;
        resolve();
      };
    });
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(wake);
    const release = () => {
      const current = this.byKey.get(key);
      current?.delete(wake);
      if (current?.size === 0) this.byKey.delete(key);
    };
    return {
      wait: async (ms: number, interrupt?: Promise<unknown>) => {
        let timer: NodeJS.Timeout | undefined;
        const racers: Promise<unknown>[] = [woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))];
        if (interrupt) racers.push(interrupt.then(noop, noop));
        try {
          await Promise.race(racers);
        } finally {
          clearTimeout(timer);
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
  /** Resolves on a hint, after `ms`, or when `interrupt` settles (a stop), whichever comes first. */
  wait(ms: number, interrupt?: Promise<unknown>): Promise<void>;
  cancel(): void;
}

function noop(): void {}
