import { parseDuration } from '../durations.js';
import type { Duration } from '../engine/types.js';
import { describe, requireName, requireOptions } from '../engine/validation.js';
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
  /**
   * 'partition': claims share the queue among partition keys in turn instead of taking its head in
   * arrival order, so one key's backlog cannot hold back another key's work (see docs/queues.md).
   * Makes the queue partitioned: every enqueue names a partitionKey.
   */
  fairness?: Fairness;
  /**
   * With fairness: how many workflows of a key a claim round takes (default 1), e.g. `{ acme: 3 }`
   * gives acme three starts for each one of a key without a weight.
   */
  partitionWeights?: Record<string, number>;
}

export type Fairness = 'partition';

/** Queue limits as stored in the `queues` table (null = unlimited). */
export interface QueueLimits {
  name: string;
  workerConcurrency: number | null;
  concurrency: number | null;
  rateLimit: number | null;
  ratePeriodMs: number | null;
  partitionConcurrency: number | null;
  fairness: Fairness | null;
  /** Keys with a weight other than the default 1 (null: none). */
  partitionWeights: Record<string, number> | null;
}

export const QUEUE_OPTIONS = ['workerConcurrency', 'concurrency', 'rateLimit', 'partitionConcurrency', 'fairness', 'partitionWeights'] as const;

/** The largest Postgres integer: the most any limit or priority may be. */
export const MAX_INT = 2_147_483_647;

/** The most a key's weight may be: a claim never takes more than this many of one key per round. */
export const MAX_PARTITION_WEIGHT = 1_000;

/** Limits that count across executors: claims for them hold the queue's advisory lock. */
export function isFleetWide(limits: QueueLimits): boolean {
  return limits.concurrency !== null || limits.rateLimit !== null || isPartitioned(limits);
}

/** A partitioned queue's workflows each belong to a partition key, given at enqueue. */
export function isPartitioned(limits: QueueLimits): boolean {
  return limits.partitionConcurrency !== null || limits.fairness !== null;
}

export function toQueueLimits(name: string, options: QueueOptions = {}): QueueLimits {
  requireName(name, 'queue name');
  requireOptions(options, QUEUE_OPTIONS, `queue "${name}"`, '{ workerConcurrency: 2 }');
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
  if (options.rateLimit !== undefined) requireOptions(options.rateLimit, ['limit', 'period'], `queue "${name}" rateLimit`, "{ limit: 100, period: '1m' }");
  const partitionConcurrency = optionalLimit(name, 'partitionConcurrency', options.partitionConcurrency);
  const fairness = options.fairness ?? null;
  if (fairness !== null && fairness !== 'partition') {
    throw new ValidationError(`queue "${name}": fairness must be 'partition' (share claims among partition keys in turn), got ${describe(fairness)}.`);
  }
  const partitionWeights = toPartitionWeights(name, fairness, options.partitionWeights);
  return { name, workerConcurrency, concurrency, rateLimit, ratePeriodMs, partitionConcurrency, fairness, partitionWeights };
}

function toPartitionWeights(queue: string, fairness: Fairness | null, weights: unknown): Record<string, number> | null {
  if (weights === undefined || weights === null) return null;
  if (fairness === null) {
    throw new ValidationError(`queue "${queue}": partitionWeights share claims among keys, which only a fair queue does; add fairness: 'partition' or drop partitionWeights.`);
  }
  if (typeof weights !== 'object' || Array.isArray(weights)) {
    throw new ValidationError(`queue "${queue}": partitionWeights must map partition keys to weights, e.g. { acme: 3 }, got ${describe(weights)}.`);
  }
  const entries = Object.entries(weights as Record<string, unknown>);
  for (const [key, weight] of entries) {
    requireName(key, `queue "${queue}": a partitionWeights key`);
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_PARTITION_WEIGHT) {
      throw new ValidationError(`queue "${queue}": the weight of partition key ${JSON.stringify(key)} must be an integer from 1 to ${MAX_PARTITION_WEIGHT}, got ${describe(weight)}.`);
    }
  }
  const uncommon = entries.filter(([, weight]) => weight !== 1);
  return uncommon.length === 0 ? null : Object.fromEntries(uncommon.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as Record<string, number>;
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
