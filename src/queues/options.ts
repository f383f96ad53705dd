import { parseDuration } from '../durations.js';
import type { Duration } from '../engine/types.js';
import { requireName } from '../engine/validation.js';
import { ValidationError } from '../errors.js';

export interface RateLimit {
  /** At most this many workflows start… */
  limit: number;
  /** …within any window of this length. */
  period: Duration;
}

export interface QueueOptions {
  /** Most workflows of this queue running at once in one executor (process). */
  workerConcurrency?: number;
  /** Most workflows of this queue running at once across the whole fleet. */
  concurrency?: number;
  /** Most workflow starts per period across the whole fleet. */
  rateLimit?: RateLimit;
  /** Makes the queue partitioned: at most this many running per partition key. */
  partitionConcurrency?: number;
}

/** Queue limits as stored in the `queues` table (null = unlimited). */
export interface QueueLimits {
  name: string;
  workerConcurrency: number | null;
  concurrency: number | null;
  rateLimit: number | null;
  ratePeriodMs: number | null;
  partitionConcurrency: number | null;
}

const MAX_INT = 2_147_483_647;

/** Limits that count across executors: claims for them hold the queue's advisory lock. */
export function isFleetWide(limits: QueueLimits): boolean {
  return limits.concurrency !== null || limits.rateLimit !== null || limits.partitionConcurrency !== null;
}

export function toQueueLimits(name: string, options: QueueOptions = {}): QueueLimits {
  requireName(name, 'queue name');
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError(`queue "${name}": options must be an object such as { workerConcurrency: 2 }.`);
  }
  const workerConcurrency = optionalLimit(name, 'workerConcurrency', options.workerConcurrency);
  const concurrency = optionalLimit(name, 'concurrency', options.concurrency);
  if (workerConcurrency !== null && concurrency !== null && workerConcurrency > concurrency) {
    throw new ValidationError(
      `queue "${name}": workerConcurrency (${workerConcurrency}) cannot exceed concurrency (${concurrency}); ` +
        'a single executor would never be allowed that many. Lower workerConcurrency or raise concurrency.',
    );
  }
  let rateLimit: number | null = null;
  let ratePeriodMs: number | null = null;
  if (options.rateLimit !== undefined) {
    if (typeof options.rateLimit !== 'object' || options.rateLimit === null) {
      throw new ValidationError(`queue "${name}": rateLimit must be { limit, period }, e.g. { limit: 100, period: '1m' }.`);
    }
    rateLimit = optionalLimit(name, 'rateLimit.limit', options.rateLimit.limit);
    if (rateLimit === null) throw new ValidationError(`queue "${name}": rateLimit.limit is required, e.g. { limit: 100, period: '1m' }.`);
    ratePeriodMs = parseDuration(options.rateLimit.period, `queue "${name}" rateLimit.period`);
    if (ratePeriodMs <= 0) throw new ValidationError(`queue "${name}": rateLimit.period must be longer than zero.`);
  }
  const partitionConcurrency = optionalLimit(name, 'partitionConcurrency', options.partitionConcurrency);
  return { name, workerConcurrency, concurrency, rateLimit, ratePeriodMs, partitionConcurrency };
}

function optionalLimit(queue: string, what: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_INT) {
    throw new ValidationError(`queue "${queue}": ${what} must be a positive integer, got ${String(value)}.`);
  }
  return value;
}

/** Lower runs first. Work enqueued without a priority runs after all prioritised work. */
export const UNPRIORITISED = MAX_INT;
export const MAX_PRIORITY = MAX_INT - 1;

export function toPriority(value: unknown): number {
  if (value === undefined) return UNPRIORITISED;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_PRIORITY) {
    throw new ValidationError(`priority must be an integer from 0 (runs first) to ${MAX_PRIORITY}, got ${String(value)}.`);
  }
  return value;
}
