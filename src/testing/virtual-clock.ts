import { systemClock, type Clock, type Timer } from '../clock.js';

interface Pending {
  dueAt: number;
  /** Order of arming: timers due at the same instant fire in the order they were armed. */
  seq: number;
  fn: () => void;
}

/**
 * A clock that runs at the speed of real time from a chosen start, and jumps forward on demand.
 * Timers due within a jump fire in due order (`fireDue` after each `jumpTo`); timers that real
 * time reaches fire on their own, so code that waits briefly behaves as in production.
 */
export class VirtualClock implements Clock {
  private offset: number;
  private readonly pending = new Set<Pending>();
  private nextSeq = 0;
  /** The real timer that fires the earliest pending timer when real time reaches it. */
  private backing: Timer | undefined;
  private closed = false;

  constructor(startAt: number = Date.now()) {
    this.offset = Math.round(startAt) - Date.now();
  }

  now(): number {
    return Date.now() + this.offset;
  }

  sqlNow(): number {
    return this.now();
  }

  at(dueAt: number, fn: () => void): Timer {
    const timer: Pending = { dueAt, seq: this.nextSeq++, fn };
    this.pending.add(timer);
    this.rearm();
    return {
      cancel: () => {
        if (this.pending.delete(timer)) this.rearm();
      },
      unref: () => undefined,
    };
  }

  /** The earliest due time of a pending timer, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    return this.earliest()?.dueAt;
  }

  /** Moves now forward to `at` (never back), in whole milliseconds as the real clock counts. */
  jumpTo(at: number): void {
    const now = this.now();
    if (at <= now) return;
    this.offset += Math.ceil(at - now);
    this.rearm();
  }

  /** Fires every timer due by now, earliest first; returns how many fired. */
  fireDue(): number {
    let fired = 0;
    for (let timer = this.earliest(); timer !== undefined && timer.dueAt <= this.now(); timer = this.earliest()) {
      this.pending.delete(timer);
      fired++;
      timer.fn();
    }
    this.rearm();
    return fired;
  }

  /** Drops every pending timer: the instance is gone. */
  close(): void {
    this.closed = true;
    this.pending.clear();
    this.backing?.cancel();
  }

  private earliest(): Pending | undefined {
    let first: Pending | undefined;
    for (const timer of this.pending) {
      if (first === undefined || timer.dueAt < first.dueAt || (timer.dueAt === first.dueAt && timer.seq < first.seq)) first = timer;
    }
    return first;
  }

  private rearm(): void {
    this.backing?.cancel();
    this.backing = undefined;
    const first = this.earliest();
    if (first === undefined || this.closed || first.dueAt === Infinity) return;
    this.backing = systemClock.at(first.dueAt - this.offset, () => this.fireDue());
  }
}
