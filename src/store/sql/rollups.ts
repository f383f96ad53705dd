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

/** What one executor counted for one minute, workflow, queue and outcome. */
export interface RollupRow {
  minute: number;
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

/** Adds the rows to what other executors (or earlier flushes) wrote for the same minutes. */
export async function addRollups(db: Queryable, s: string, rows: RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  // Bucket arrays travel as text: unnest would flatten an int[][] parameter.
  await db.query(
    `INSERT INTO ${s}.workflow_rollups AS r (minute, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum, buckets)
     SELECT u.minute, u.app_name, u.queue, u.workflow_name, u.app_version, u.outcome, u.n, u.duration_ms_sum, u.buckets::int4[]
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int4[], $8::int8[], $9::text[])
       AS u(minute, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum, buckets)
     ON CONFLICT (minute, app_name, queue, workflow_name, app_version, outcome) DO UPDATE SET
       n = r.n + EXCLUDED.n,
       duration_ms_sum = r.duration_ms_sum + EXCLUDED.duration_ms_sum,
       buckets = CASE WHEN r.buckets IS NULL THEN EXCLUDED.buckets ELSE
         (SELECT array_agg(a + b ORDER BY i) FROM unnest(r.buckets, EXCLUDED.buckets) WITH ORDINALITY AS t(a, b, i)) END`,
    [
      rows.map((row) => row.minute),
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
  appName: string;
  from: number;
  to: number;
  /** Width of a point in milliseconds: a whole number of minutes. */
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
  const where = [`minute >= ${bind(query.from)}`, `minute < ${bind(query.to)}`, `app_name = ${bind(query.appName)}`];
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
  const from = '$1::int8';
  return {
    text: `SELECT ${from} + (minute - ${from}) / ${step} * ${step} AS at, outcome, sum(n)::int8 AS n, sum(duration_ms_sum)::int8 AS "durationMsSum"
       FROM ${s}.workflow_rollups WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`,
    params,
  };
}

/** Finished runs per point and duration bucket (0-based); exported so tests can EXPLAIN it. */
export function rollupBucketsStatement(s: string, query: RollupQuery): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = rollupFilter(query, params);
  const step = `$${params.push(query.stepMs)}::int8`;
  const from = '$1::int8';
  return {
    text: `SELECT ${from} + (r.minute - ${from}) / ${step} * ${step} AS at, (u.i - 1)::int4 AS bucket, sum(u.b)::int8 AS n
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
    `INSERT INTO ${s}.queue_depth_samples AS q (minute, queue, app_version, status, n)
     SELECT $1::int8, d.queue, d.version, d.status, d.n FROM (${versionDepthStatement(s)}) AS d
     ON CONFLICT (minute, queue, app_version, status) DO UPDATE SET n = EXCLUDED.n`,
    [minute],
    'ballast_sample_queue_depths',
  );
}

export interface DepthSampleRow {
  minute: number;
  appVersion: string;
  status: 'ENQUEUED' | 'PENDING' | 'DELAYED';
  n: number;
}

export function depthSamplesStatement(s: string): string {
  return `SELECT minute, app_version AS "appVersion", status, n FROM ${s}.queue_depth_samples
     WHERE minute >= $1 AND minute < $2 AND queue = $3 ORDER BY minute, app_version, status`;
}

export async function readDepthSamples(db: Queryable, s: string, queue: string, from: number, to: number): Promise<DepthSampleRow[]> {
  const { rows } = await db.query<{ minute: string; appVersion: string; status: DepthSampleRow['status']; n: number }>(depthSamplesStatement(s), [from, to, queue]);
  return rows.map((row) => ({ ...row, minute: Number(row.minute) }));
}

/** Deletes history older than `before` (epoch ms); returns how many rows went. */
export async function pruneRollups(db: Queryable, s: string, before: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH a AS (DELETE FROM ${s}.workflow_rollups WHERE minute < $1 RETURNING 1),
          b AS (DELETE FROM ${s}.queue_depth_samples WHERE minute < $1 RETURNING 1)
     SELECT ((SELECT count(*) FROM a) + (SELECT count(*) FROM b))::int4 AS n`,
    [before],
  );
  return rows[0]?.n ?? 0;
}
