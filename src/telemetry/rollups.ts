// The dashboard's history, as executors write it: runs counted in memory per workflow and queue (an
// increment and a bucket on the hot path, like the Prometheus histograms), added to Postgres once a
// minute in one statement, with a sample of the fleet's queue depth. History older than the
// retention is pruned by the same timer, once an hour.
import { HOUR_MS, MINUTE_MS, ROLLUP_BUCKETS_MS, type RollupOutcome, type RollupRow } from '../store/sql/rollups.js';
import type { SystemStore } from '../store/system-store.js';

const PRUNE_EVERY_MS = HOUR_MS;
/** Hours: long enough for a 7-day window and the 7 days before it. */
export const ROLLUP_RETENTION_MS = 15 * 24 * HOUR_MS;
/** Minutes serve windows up to 6 hours and the 6 before them. */
export const MINUTE_ROLLUP_RETENTION_MS = 24 * HOUR_MS;
const STOP_PATIENCE_MS = 2_000;
/** Rows kept for a retry while the database is away: an hour of a busy fleet, then the oldest go. */
const MAX_UNWRITTEN_ROWS = 20_000;

class OutcomeTally {
  n = 0;
  durationMsSum = 0;
  readonly buckets = new Uint32Array(ROLLUP_BUCKETS_MS.length + 1);

  add(ms: number): void {
    this.n++;
    this.durationMsSum += ms;
    const bounds = ROLLUP_BUCKETS_MS;
    let i = 0;
    while (i < bounds.length && ms > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
  }

  reset(): void {
    this.n = 0;
    this.durationMsSum = 0;
    this.buckets.fill(0);
  }
}

/** One workflow name and queue of this process: what its runs did since the last flush. */
export class RollupSeries {
  started = 0;
  readonly finished: Record<Exclude<RollupOutcome, 'STARTED'>, OutcomeTally> = {
    SUCCESS: new OutcomeTally(),
    ERROR: new OutcomeTally(),
    CANCELLED: new OutcomeTally(),
  };

  constructor(
    readonly workflowName: string,
    readonly queue: string,
  ) {}
}

export interface RollupRecorderOptions {
  appName: string;
  appVersion(): string;
  logger: { warn(message: string): void };
}

export class RollupRecorder {
  private readonly series: RollupSeries[] = [];
  private unwritten: RollupRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private lastPruneAt = 0;

  constructor(
    private readonly store: SystemStore,
    private readonly options: RollupRecorderOptions,
  ) {}

  /** The accumulator of a workflow and queue, made once (callers keep it). */
  seriesFor(workflowName: string, queue: string | null): RollupSeries {
    const series = new RollupSeries(workflowName, queue ?? '');
    this.series.push(series);
    return series;
  }

  /** Flushes at every minute boundary from now on. */
  start(): void {
    const untilNextMinute = MINUTE_MS - (Date.now() % MINUTE_MS);
    this.timer = setTimeout(() => {
      void this.flush();
      this.start();
    }, untilNextMinute + 50);
    this.timer.unref();
  }

  /**
   * Stops the timer; with `flush`, writes what was counted since the last flush, waiting at most
   * STOP_PATIENCE_MS (a shutdown during a database outage must not hang on the history).
   */
  async stop(flush = true): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!flush) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((resolve) => (timer = setTimeout(resolve, STOP_PATIENCE_MS)))]);
    clearTimeout(timer);
  }

  /** Writes the counts of the minute that just ended (or is ending) and samples queue depth. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    // A flush just after a minute boundary counts the minute that ended; the one at shutdown, the current one.
    const minute = Math.floor((Date.now() - 1_000) / MINUTE_MS) * MINUTE_MS;
    const rows = merge([...this.unwritten, ...this.take(minute)]);
    this.unwritten = [];
    try {
      await this.store.addRollups(rows);
    } catch (error) {
      this.unwritten = rows.slice(-MAX_UNWRITTEN_ROWS);
      this.options.logger.warn(`could not record the dashboard's history (kept for the next minute): ${(error as Error).message}`);
      return;
    }
    try {
      await this.store.sampleQueueDepths(minute);
      const now = Date.now();
      if (now - this.lastPruneAt >= PRUNE_EVERY_MS) {
        this.lastPruneAt = now;
        await this.store.pruneRollups(now - MINUTE_ROLLUP_RETENTION_MS, now - ROLLUP_RETENTION_MS);
      }
    } catch (error) {
      this.options.logger.warn(`could not sample queue depth for the dashboard: ${(error as Error).message}`);
    }
  }

  /** The rows counted since the last flush, for its minute and its hour; the accumulators start again from zero. */
  private take(minute: number): RollupRow[] {
    const rows: RollupRow[] = [];
    const base = { periodMs: MINUTE_MS, periodStart: minute, appName: this.options.appName, appVersion: this.options.appVersion() } as const;
    for (const series of this.series) {
      const key = { ...base, queue: series.queue, workflowName: series.workflowName };
      if (series.started > 0) rows.push({ ...key, outcome: 'STARTED', n: series.started, durationMsSum: 0, buckets: null });
      series.started = 0;
      for (const outcome of ['SUCCESS', 'ERROR', 'CANCELLED'] as const) {
        const tally = series.finished[outcome];
        if (tally.n > 0) rows.push({ ...key, outcome, n: tally.n, durationMsSum: Math.round(tally.durationMsSum), buckets: [...tally.buckets] });
        tally.reset();
      }
    }
    const hour = minute - (minute % HOUR_MS);
    return [...rows, ...rows.map((row): RollupRow => ({ ...row, periodMs: HOUR_MS, periodStart: hour, buckets: row.buckets && [...row.buckets] }))];
  }
}

/** One row per key: one statement may not update the same row twice. */
function merge(rows: RollupRow[]): RollupRow[] {
  const byKey = new Map<string, RollupRow>();
  for (const row of rows) {
    const key = [row.periodMs, row.periodStart, row.queue, row.workflowName, row.appVersion, row.outcome].join('\u0000');
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, { ...row, buckets: row.buckets && [...row.buckets] });
      continue;
    }
    seen.n += row.n;
    seen.durationMsSum += row.durationMsSum;
    if (seen.buckets && row.buckets) row.buckets.forEach((n, i) => ((seen.buckets as number[])[i] = ((seen.buckets as number[])[i] ?? 0) + n));
  }
  return [...byKey.values()];
}
