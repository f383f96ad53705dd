// Clocks for the autoscaling model. The model reads time only from a Clock, so a test can either step
// it by hand (ManualClock) or run the controllers' real periods and windows faster than real time
// against real processes (ScaledClock: 15 s of HPA time in 0.5 s at speed 30).
import { setTimeout as sleep } from 'node:timers/promises';

export interface Clock {
  /** Milliseconds of model time. */
  now(): number;
  /** Resolves after `ms` of model time. */
  sleep(ms: number): Promise<void>;
}

export class ManualClock implements Clock {
  private time = 0;

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  async sleep(ms: number): Promise<void> {
    this.advance(ms);
  }
}

/** Model time runs `speed` times faster than real time. */
export class ScaledClock implements Clock {
  private readonly startedAt = Date.now();

  constructor(readonly speed: number) {}

  now(): number {
    return (Date.now() - this.startedAt) * this.speed;
  }

  async sleep(ms: number): Promise<void> {
    await sleep(ms / this.speed);
  }

  /** Real milliseconds for `ms` of model time. */
  real(ms: number): number {
    return ms / this.speed;
  }
}
