// The per-minute history executors record (see rollups.ts), read back: runs started and finished
// over time with percentiles of their duration, and queue depth over time. What the dashboard's
// charts show, for any process (a Ballast instance or a BallastClient).
import { optionalDuration } from '../durations.js';
import type { Duration } from '../engine/types.js';
import { requireName } from '../engine/validation.js';
import { ValidationError } from '../errors.js';
import { HOUR_MS, MINUTE_MS, ROLLUP_BUCKETS_MS, type RollupOutcome } from '../store/sql/rollups.js';
import type { SystemStore } from '../store/system-store.js';
import { ROLLUP_RETENTION_MS } from './rollups.js';

/** Point widths a history may use, in minutes: the smallest that keeps a window within MAX_POINTS. */
const STEPS_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 360, 1_440];
const MAX_POINTS = 180;
/** Longer windows read hourly rows (a week is 168 per key), in points of at least an hour. */
const MINUTE_ROWS_UP_TO_MS = 6 * HOUR_MS;

export interface HistoryOptions {
  /** How far back from `to`. Default 1 hour; at most the 15 days the history is kept. */
  window?: Duration;
  /** End of the window. Default now. */
  to?: Date | number;
  queue?: string;
  /** Workflow name. */
  name?: string;
  /** Application version. */
  version?: string;
}

/** Runs in one point of a history; durations are upper bounds of buckets (exact to the bucket), null without runs. */
export interface RunCounts {
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Runs whose duration passed the last bucket (ROLLUP_BUCKETS_MS): a percentile among them reads as "over the last bound". */
  overLastBucket: number;
}

export interface HistoryPoint extends RunCounts {
  at: Date;
}

export interface History {
  from: Date;
  to: Date;
  stepMs: number;
  points: HistoryPoint[];
  totals: RunCounts;
}

export interface QueueDepthPoint {
  at: Date;
  enqueued: number;
  pending: number;
  delayed: number;
  /** Waiting and running workflows by application version. */
  byVersion: Record<string, number>;
}

/** What one workflow did in one queue under one version over a window. */
export interface WorkflowTotals {
  workflowName: string;
  /** null: started directly. */
  queue: string | null;
  appVersion: string;
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface StatsApi {
  /** Totals per workflow name, queue and version over a window, most failures first. */
  breakdown(options?: Pick<HistoryOptions, 'window' | 'to'>): Promise<WorkflowTotals[]>;
  /** Runs started, succeeded, failed and cancelled per point, with duration percentiles, over a window. */
  history(options?: HistoryOptions): Promise<History>;
  /** A queue's depth, sampled once a minute, over a window. */
  queueDepth(queue: string, options?: Pick<HistoryOptions, 'window' | 'to'>): Promise<{ from: Date; to: Date; stepMs: number; points: QueueDepthPoint[] }>;
}

export class WorkflowStats implements StatsApi {
  constructor(
    private readonly store: SystemStore,
    private readonly appName: string,
  ) {}

  async history(options: HistoryOptions = {}): Promise<History> {
    if (typeof options !== 'object' || options === null) throw new ValidationError('stats.history(options): options must be an object such as { window: "1h" }.');
    const { from, to, stepMs } = windowOf(options);
    for (const [what, value] of [['queue', options.queue], ['name', options.name], ['version', options.version]] as const) {
      if (value !== undefined) requireName(value, `stats.history ${what}`);
    }
    const { counts, buckets } = await this.store.readRollups({
      periodMs: stepMs >= HOUR_MS ? HOUR_MS : MINUTE_MS,
      appName: this.appName,
      from,
      to,
      stepMs,
      queue: options.queue ?? null,
      workflowName: options.name ?? null,
      appVersion: options.version ?? null,
    });
    const points = new Map<number, { counts: Record<RollupOutcome, number>; buckets: number[] }>();
    const point = (at: number) => {
      let found = points.get(at);
      if (!found) {
        found = { counts: { STARTED: 0, SUCCESS: 0, ERROR: 0, CANCELLED: 0 }, buckets: new Array<number>(ROLLUP_BUCKETS_MS.length + 1).fill(0) };
        points.set(at, found);
      }
      return found;
    };
    const total = point(-1);
    for (const row of counts) {
      point(row.at).counts[row.outcome] += row.n;
      total.counts[row.outcome] += row.n;
    }
    for (const row of buckets) {
      (point(row.at).buckets[row.bucket] as number) += row.n;
      (total.buckets[row.bucket] as number) += row.n;
    }
    const series: HistoryPoint[] = [];
    for (let at = from; at < to; at += stepMs) {
      const found = points.get(at) ?? point(at);
      series.push({ at: new Date(at), ...runCounts(found.counts, found.buckets) });
    }
    return { from: new Date(from), to: new Date(to), stepMs, points: series, totals: runCounts(total.counts, total.buckets) };
  }

  async breakdown(options: Pick<HistoryOptions, 'window' | 'to'> = {}): Promise<WorkflowTotals[]> {
    const { from, to, stepMs } = windowOf(options);
    const rows = await this.store.readRollupBreakdown({
      periodMs: stepMs >= HOUR_MS ? HOUR_MS : MINUTE_MS,
      appName: this.appName,
      from,
      to,
      queue: null,
      workflowName: null,
      appVersion: null,
    });
    const totals = new Map<string, WorkflowTotals>();
    for (const row of rows) {
      const key = `${row.workflowName}\u0000${row.queue}\u0000${row.appVersion}`;
      let entry = totals.get(key);
      if (!entry) {
        entry = { workflowName: row.workflowName, queue: row.queue === '' ? null : row.queue, appVersion: row.appVersion, started: 0, succeeded: 0, failed: 0, cancelled: 0 };
        totals.set(key, entry);
      }
      const field = ({ STARTED: 'started', SUCCESS: 'succeeded', ERROR: 'failed', CANCELLED: 'cancelled' } as const)[row.outcome];
      entry[field] += row.n;
    }
    return [...totals.values()].sort((a, b) => b.failed - a.failed || b.started - a.started || a.workflowName.localeCompare(b.workflowName));
  }

  async queueDepth(queue: string, options: Pick<HistoryOptions, 'window' | 'to'> = {}) {
    requireName(queue, 'queue name');
    const { from, to, stepMs } = windowOf(options);
    const rows = await this.store.readDepthSamples(queue, from, to, stepMs);
    const byAt = new Map<number, QueueDepthPoint>();
    for (const row of rows) {
      let entry = byAt.get(row.at);
      if (!entry) {
        entry = { at: new Date(row.at), enqueued: 0, pending: 0, delayed: 0, byVersion: {} };
        byAt.set(row.at, entry);
      }
      if (row.status === 'ENQUEUED') entry.enqueued += row.n;
      else if (row.status === 'PENDING') entry.pending += row.n;
      else entry.delayed += row.n;
      if (row.status !== 'DELAYED') entry.byVersion[row.appVersion] = (entry.byVersion[row.appVersion] ?? 0) + row.n;
    }
    const points: QueueDepthPoint[] = [];
    for (let at = from; at < to; at += stepMs) points.push(byAt.get(at) ?? { at: new Date(at), enqueued: 0, pending: 0, delayed: 0, byVersion: {} });
    return { from: new Date(from), to: new Date(to), stepMs, points };
  }
}

/** The window as whole points: `to` rounded up to a point boundary, `from` a whole number of points before. */
function windowOf(options: Pick<HistoryOptions, 'window' | 'to'>): { from: number; to: number; stepMs: number } {
  const windowMs = optionalDuration(options.window, 'stats window') ?? 60 * MINUTE_MS;
  if (windowMs < MINUTE_MS || windowMs > ROLLUP_RETENTION_MS) {
    throw new ValidationError(`stats: window must be from 1 minute to 15 days (the history kept), got ${String(options.window)}.`);
  }
  const toValue = options.to instanceof Date ? options.to.getTime() : (options.to ?? Date.now());
  if (typeof toValue !== 'number' || !Number.isFinite(toValue)) throw new ValidationError(`stats: to must be a Date or epoch milliseconds, got ${String(options.to)}.`);
  const shortest = windowMs > MINUTE_ROWS_UP_TO_MS ? 60 : 1;
  const stepMinutes = STEPS_MINUTES.find((minutes) => minutes >= shortest && windowMs / (minutes * MINUTE_MS) <= MAX_POINTS) ?? 1_440;
  const stepMs = stepMinutes * MINUTE_MS;
  const to = Math.ceil(toValue / stepMs) * stepMs;
  const from = to - Math.ceil(windowMs / stepMs) * stepMs;
  return { from, to, stepMs };
}

function runCounts(counts: Record<RollupOutcome, number>, buckets: number[]): RunCounts {
  return {
    started: counts.STARTED,
    succeeded: counts.SUCCESS,
    failed: counts.ERROR,
    cancelled: counts.CANCELLED,
    p50Ms: percentile(buckets, 0.5),
    p95Ms: percentile(buckets, 0.95),
    p99Ms: percentile(buckets, 0.99),
    overLastBucket: buckets[ROLLUP_BUCKETS_MS.length] ?? 0,
  };
}

/** The upper bound of the bucket holding the q-quantile; the last bound when it lies beyond. */
export function percentile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] as number;
    if (seen >= rank) return ROLLUP_BUCKETS_MS[Math.min(i, ROLLUP_BUCKETS_MS.length - 1)] as number;
  }
  return ROLLUP_BUCKETS_MS[ROLLUP_BUCKETS_MS.length - 1] as number;
}
