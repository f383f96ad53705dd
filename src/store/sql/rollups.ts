import type { Queryable } from '../driver.js';
import { versionDepthStatement } from './queues.js';

/**
 * Upper bounds (milliseconds) of the run-duration buckets kept per minute; one more bucket counts
 * everything longer. Fixed, so that buckets of any minutes and executors add up.
 */
export const ROLLUP_BUCKETS_MS: readonly number[] = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
  21_600_000, 86_400_000,
];

export type RollupOutcome = 'STARTED' | 'SUCCESS' | 'ERROR' | 'CANCELLED';

/** A minute's rows serve windows up to a few hours; an hour's, longer ones. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** What executors counted for one period (a minute or an hour), workflow, queue, version and outcome. */
export interface RollupRow {
  periodMs: typeof MINUTE_MS | typeof HOUR_MS;
  periodStart: number;
  appName: string;
  /** '' for workflows started directly. */
  queue: string;
  workflowName: string;
  appVersion: string;
  outcome: RollupOutcome;
  n: number;
  durationMsSum: number;
  /** Counts per bucket of ROLLUP_BUCKETS_MS plus the overflow bucket; null for STARTED. */
  buckets: number[] | null;
}

/** Adds the rows to what other executors (or earlier flushes) wrote for the same periods; one row per key. */
export async function addRollups(db: Queryable, s: string, rows: RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  // Bucket arrays travel as text: unnest would flatten an int[][] parameter.
  await db.query(
    `INSERT INTO ${s}.workflow_rollups AS r (period_ms, period_start, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum, buckets)
     SELECT u.period_ms, u.period_start, u.app_name, u.queue, u.workflow_name, u.app_version, u.outcome, u.n, u.duration_ms_sum, u.buckets::int4[]
     FROM unnest($1::int4[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int4[], $9::int8[], $10::text[])
       AS u(period_ms, period_start, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum, buckets)
     ON CONFLICT (period_ms, period_start, app_name, queue, workflow_name, app_version, outcome) DO UPDATE SET
       n = r.n + EXCLUDED.n,
       duration_ms_sum = r.duration_ms_sum + EXCLUDED.duration_ms_sum,
       buckets = CASE WHEN r.buckets IS NULL THEN EXCLUDED.buckets ELSE
         (SELECT array_agg(a + b ORDER BY i) FROM unnest(r.buckets, EXCLUDED.buckets) WITH ORDINALITY AS t(a, b, i)) END`,
    [
      rows.map((row) => row.periodMs),
      rows.map((row) => row.periodStart),
      rows.map((row) => row.appName),
      rows.map((row) => row.queue),
      rows.map((row) => row.workflowName),
      rows.map((row) => row.appVersion),
      rows.map((row) => row.outcome),
      rows.map((row) => row.n),
      rows.map((row) => row.durationMsSum),
      rows.map((row) => (row.buckets === null ? null : `{${row.buckets.join(',')}}`)),
    ],
    'ballast_add_rollups',
  );
}

export interface RollupQuery {
  /** Which rows to read: minutes or hours. */
  periodMs: typeof MINUTE_MS | typeof HOUR_MS;
  appName: string;
  from: number;
  to: number;
  /** Width of a point in milliseconds: a whole number of periods. */
  stepMs: number;
  queue: string | null;
  workflowName: string | null;
  appVersion: string | null;
}

export interface RollupCountRow {
  at: number;
  outcome: RollupOutcome;
  n: number;
  durationMsSum: number;
}

export interface RollupBucketRow {
  at: number;
  bucket: number;
  n: number;
}

function rollupFilter(query: RollupQuery, params: unknown[]): string {
  const bind = (value: unknown) => `$${params.push(value)}`;
  const where = [`period_ms = ${bind(query.periodMs)}`, `period_start >= ${bind(query.from)}::int8`, `period_start < ${bind(query.to)}::int8`, `app_name = ${bind(query.appName)}`];
  if (query.queue !== null) where.push(`queue = ${bind(query.queue)}`);
  if (query.workflowName !== null) where.push(`workflow_name = ${bind(query.workflowName)}`);
  if (query.appVersion !== null) where.push(`app_version = ${bind(query.appVersion)}`);
  return where.join(' AND ');
}

/** Counts per point and outcome; exported so tests can EXPLAIN exactly what runs. */
export function rollupCountsStatement(s: string, query: RollupQuery): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = rollupFilter(query, params);
  const step = `$${params.push(query.stepMs)}::int8`;
  const from = '$2::int8';
  return {
    text: `SELECT ${from} + (period_start - ${from}) / ${step} * ${step} AS at, outcome, sum(n)::int8 AS n, sum(duration_ms_sum)::int8 AS "durationMsSum"
       FROM ${s}.workflow_rollups WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`,
    params,
  };
}

/** Finished runs per point and duration bucket (0-based); exported so tests can EXPLAIN it. */
export function rollupBucketsStatement(s: string, query: RollupQuery): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = rollupFilter(query, params);
  const step = `$${params.push(query.stepMs)}::int8`;
  const from = '$2::int8';
  return {
    text: `SELECT ${from} + (r.period_start - ${from}) / ${step} * ${step} AS at, (u.i - 1)::int4 AS bucket, sum(u.b)::int8 AS n
       FROM ${s}.workflow_rollups r CROSS JOIN LATERAL unnest(r.buckets) WITH ORDINALITY AS u(b, i)
       WHERE ${where} AND r.buckets IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`,
    params,
  };
}

export interface RollupBreakdownRow {
  workflowName: string;
  queue: string;
  appVersion: string;
  outcome: RollupOutcome;
  n: number;
}

/** Totals per workflow, queue, version and outcome over a window; exported so tests can EXPLAIN it. */
export function rollupBreakdownStatement(s: string, query: Omit<RollupQuery, 'stepMs'>): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = rollupFilter({ ...query, stepMs: 0 }, params);
  return {
    text: `SELECT workflow_name AS "workflowName", queue, app_version AS "appVersion", outcome, sum(n)::int8 AS n
       FROM ${s}.workflow_rollups WHERE ${where} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    params,
  };
}

export async function readRollupBreakdown(db: Queryable, s: string, query: Omit<RollupQuery, 'stepMs'>): Promise<RollupBreakdownRow[]> {
  const statement = rollupBreakdownStatement(s, query);
  const { rows } = await db.query<Omit<RollupBreakdownRow, 'n'> & { n: string }>(statement.text, statement.params);
  return rows.map((row) => ({ ...row, n: Number(row.n) }));
}

export async function readRollups(db: Queryable, s: string, query: RollupQuery): Promise<{ counts: RollupCountRow[]; buckets: RollupBucketRow[] }> {
  const counts = rollupCountsStatement(s, query);
  const buckets = rollupBucketsStatement(s, query);
  const [a, b] = await Promise.all([
    db.query<{ at: string; outcome: RollupOutcome; n: string; durationMsSum: string }>(counts.text, counts.params),
    db.query<{ at: string; bucket: number; n: string }>(buckets.text, buckets.params),
  ]);
  return {
    counts: a.rows.map((row) => ({ at: Number(row.at), outcome: row.outcome, n: Number(row.n), durationMsSum: Number(row.durationMsSum) })),
    buckets: b.rows.map((row) => ({ at: Number(row.at), bucket: row.bucket, n: Number(row.n) })),
  };
}

/**
 * Records the fleet-wide queue depth of one minute, counted like a scrape's (each state through its
 * own partial index); every executor writes the same numbers, the last one wins.
 */
export async function sampleQueueDepths(db: Queryable, s: string, minute: number): Promise<void> {
  await db.query(
    `INSERT INTO ${s}.queue_depth_samples AS q (queue, minute, app_version, status, n)
     SELECT d.queue, $1::int8, d.version, d.status, d.n FROM (${versionDepthStatement(s)}) AS d
     ON CONFLICT (queue, minute, app_version, status) DO UPDATE SET n = EXCLUDED.n`,
    [minute],
    'ballast_sample_queue_depths',
  );
}

export interface DepthSampleRow {
  /** The start of the point the sample stands for. */
  at: number;
  appVersion: string;
  status: 'ENQUEUED' | 'PENDING' | 'DELAYED';
  n: number;
}

/** The last sample of each point (depth is a level: the latest reading stands for the point); exported for EXPLAIN. */
export function depthSamplesStatement(s: string): string {
  return `SELECT DISTINCT ON (1, app_version, status) $1::int8 + (minute - $1::int8) / $4::int8 * $4::int8 AS at, app_version AS "appVersion", status, n
     FROM ${s}.queue_depth_samples WHERE queue = $3 AND minute >= $1::int8 AND minute < $2::int8
     ORDER BY 1, app_version, status, minute DESC`;
}

export async function readDepthSamples(db: Queryable, s: string, queue: string, from: number, to: number, stepMs: number): Promise<DepthSampleRow[]> {
  const { rows } = await db.query<{ at: string; appVersion: string; status: DepthSampleRow['status']; n: number }>(depthSamplesStatement(s), [from, to, queue, stepMs]);
  return rows.map((row) => ({ ...row, at: Number(row.at) }));
}

/** Deletes minute rows before `minutesBefore`, hour rows and samples before `hoursBefore`; returns how many rows went. */
export async function pruneRollups(db: Queryable, s: string, minutesBefore: number, hoursBefore: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH m AS (DELETE FROM ${s}.workflow_rollups WHERE period_ms = ${MINUTE_MS} AND period_start < $1 RETURNING 1),
          h AS (DELETE FROM ${s}.workflow_rollups WHERE period_ms = ${HOUR_MS} AND period_start < $2 RETURNING 1),
          q AS (DELETE FROM ${s}.queue_depth_samples WHERE minute < $2 RETURNING 1)
     SELECT ((SELECT count(*) FROM m) + (SELECT count(*) FROM h) + (SELECT count(*) FROM q))::int4 AS n`,
    [minutesBefore, hoursBefore],
  );
  return rows[0]?.n ?? 0;
}
