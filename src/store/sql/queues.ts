import { isFleetWide, type QueueLimits } from '../../queues/options.js';
import type { Driver, Queryable } from '../driver.js';
import { RUN_COLUMNS, WORKFLOW_COLUMNS, type WorkflowRecord } from '../records.js';
import { DB_NOW, nowFor } from './clock.js';

const LIMIT_COLUMNS = `name, worker_concurrency AS "workerConcurrency", concurrency, rate_limit AS "rateLimit",
  rate_period_ms AS "ratePeriodMs", partition_concurrency AS "partitionConcurrency"`;

/** Declared limits are written at launch: the deployed code is the source of truth for its queues. */
export async function upsertQueues(db: Queryable, s: string, queues: QueueLimits[], now: number): Promise<void> {
  if (queues.length === 0) return;
  await db.query(
    `INSERT INTO ${s}.queues (name, worker_concurrency, concurrency, rate_limit, rate_period_ms, partition_concurrency, updated_at)
     SELECT u.name, u.worker_concurrency, u.concurrency, u.rate_limit, u.rate_period_ms, u.partition_concurrency, $7
     FROM unnest($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::int8[], $6::int4[])
       AS u(name, worker_concurrency, concurrency, rate_limit, rate_period_ms, partition_concurrency)
     ON CONFLICT (name) DO UPDATE SET worker_concurrency = EXCLUDED.worker_concurrency, concurrency = EXCLUDED.concurrency,
       rate_limit = EXCLUDED.rate_limit, rate_period_ms = EXCLUDED.rate_period_ms,
       partition_concurrency = EXCLUDED.partition_concurrency, updated_at = EXCLUDED.updated_at`,
    [
      queues.map((q) => q.name),
      queues.map((q) => q.workerConcurrency),
      queues.map((q) => q.concurrency),
      queues.map((q) => q.rateLimit),
      queues.map((q) => q.ratePeriodMs),
      queues.map((q) => q.partitionConcurrency),
      now,
    ],
  );
}

export async function readQueues(db: Queryable, s: string, names: string[] | null): Promise<QueueLimits[]> {
  const { rows } = await db.query<QueueLimits>(
    names === null
      ? `SELECT ${LIMIT_COLUMNS} FROM ${s}.queues ORDER BY name`
      : `SELECT ${LIMIT_COLUMNS} FROM ${s}.queues WHERE name = ANY($1::text[]) ORDER BY name`,
    names === null ? [] : [names],
  );
  return rows;
}

export interface ClaimRequest {
  queue: string;
  executorId: string;
  appVersion: string;
  /** Free local slots: claim at most this many. */
  max: number;
  limits: QueueLimits;
  lockKey: string;
  /** A virtual clock's now, or null for the database's (see nowFor). */
  virtualNow: number | null;
}

export interface ClaimResult {
  claimed: WorkflowRecord[];
  /** When a rate limit blocked the claim: the time its window frees a slot. */
  retryAt: number | null;
}

/**
 * Claims up to `max` ENQUEUED workflows of one queue for this executor in one statement. Fleet-wide
 * limits (concurrency, rate, partitions) are counted and enforced inside one short transaction that
 * holds the queue's advisory lock, so concurrent claimers in other processes cannot overshoot; queues
 * with only per-executor limits claim lock-free with SKIP LOCKED. Times come from the database clock
 * so that executors with skewed clocks still agree on rate windows.
 */
export async function claimWorkflows(driver: Driver, s: string, request: ClaimRequest): Promise<ClaimResult> {
  const { limits } = request;
  if (!isFleetWide(limits)) return { claimed: await claimHead(driver, s, request, request.max), retryAt: null };
  return driver.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [request.lockKey], 'ballast_queue_lock');
    const rated = limits.rateLimit !== null && limits.ratePeriodMs !== null;
    const params: unknown[] = [request.queue, limits.ratePeriodMs ?? 0];
    const now = nowFor(params, request.virtualNow);
    const { rows } = await tx.query<{ running: number; started: number; oldest: number | null }>(
      `WITH expired AS (
         DELETE FROM ${s}.queue_starts WHERE queue = $1 AND started_at <= ${now} - $2::int8
       )
       SELECT
         (SELECT count(*)::int4 FROM ${s}.workflows WHERE queue = $1 AND status = 'PENDING') AS running,
         (SELECT count(*)::int4 FROM ${s}.queue_starts WHERE queue = $1 AND started_at > ${now} - $2::int8) AS started,
         (SELECT min(started_at) FROM ${s}.queue_starts WHERE queue = $1 AND started_at > ${now} - $2::int8) AS oldest`,
      params,
      request.virtualNow === null ? 'ballast_queue_usage' : 'ballast_queue_usage_at',
    );
    const usage = rows[0] ?? { running: 0, started: 0, oldest: null };
    let room = request.max;
    let retryAt: number | null = null;
    if (limits.concurrency !== null) room = Math.min(room, limits.concurrency - usage.running);
    if (rated) {
      const rateRoom = (limits.rateLimit as number) - usage.started;
      if (rateRoom <= 0 && usage.oldest !== null) retryAt = usage.oldest + (limits.ratePeriodMs as number) + 1;
      room = Math.min(room, rateRoom);
    }
    if (room <= 0) return { claimed: [], retryAt };
    const claimed = await claimHead(tx, s, request, room);
    if (rated && claimed.length > 0) {
      // The rate window counts starts in their own small table, so that no index on the large
      // workflows table has to carry start times for every queue.
      await tx.query(
        `INSERT INTO ${s}.queue_starts (queue, started_at) SELECT $1, unnest($2::int8[])`,
        [request.queue, claimed.map((record) => record.startedAt)],
        'ballast_record_starts',
      );
    }
    return { claimed, retryAt: null };
  });
}

/**
 * What a claim sets on each row it takes. Stamped at the claim (the start is the commit's moment).
 * A workflow's timeout counts from its first claim: one handed back to its queue keeps its deadline.
 */
export function claimAssignments(ownerParam: string, now = DB_NOW): string {
  return `status = 'PENDING', owner = ${ownerParam}, epoch = epoch + 1, attempts = attempts + 1,
    started_at = ${now}, updated_at = ${now},
    deadline_at = CASE WHEN timeout_ms IS NULL THEN NULL ELSE COALESCE(deadline_at, ${now} + timeout_ms) END`;
}

/** The next `limit` claimable workflows of a queue and version, in priority then arrival order, locked. */
export function claimableHead(s: string, queue: string, appVersion: string, limit: string): string {
  return `SELECT id FROM ${s}.workflows WHERE queue = ${queue} AND app_version = ${appVersion} AND status = 'ENQUEUED'
         ORDER BY priority, seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
}

/** The claim statement; exported so tests can EXPLAIN exactly what runs. */
export function claimStatement(s: string, partitioned: boolean, now = DB_NOW): string {
  const set = claimAssignments('$2', now);
  if (!partitioned) {
    return `UPDATE ${s}.workflows SET ${set}
       WHERE id IN (${claimableHead(s, '$1', '$3', '$4')})
       RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`;
  }
  // Partitioned: look at a bounded head of the queue and take, per partition key, only as many as
  // the partition has room for next to what already runs under that key.
  return `UPDATE ${s}.workflows SET ${set}
     WHERE status = 'ENQUEUED' AND id IN (
       SELECT c.id FROM (
         SELECT h.id, h.partition_key, h.priority, h.seq,
                row_number() OVER (PARTITION BY h.partition_key ORDER BY h.priority, h.seq) AS rn
         FROM (SELECT id, partition_key, priority, seq FROM ${s}.workflows
               WHERE queue = $1 AND app_version = $3 AND status = 'ENQUEUED'
               ORDER BY priority, seq LIMIT $6) h
       ) c
       LEFT JOIN (SELECT partition_key, count(*) AS n FROM ${s}.workflows WHERE queue = $1 AND status = 'PENDING' GROUP BY partition_key) a
         ON a.partition_key IS NOT DISTINCT FROM c.partition_key
       WHERE c.rn + COALESCE(a.n, 0) <= $5
       ORDER BY c.priority, c.seq LIMIT $4)
     RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`;
}

async function claimHead(db: Queryable, s: string, request: ClaimRequest, count: number): Promise<WorkflowRecord[]> {
  const partitionConcurrency = request.limits.partitionConcurrency;
  const params: unknown[] = [request.queue, request.executorId, request.appVersion, count];
  if (partitionConcurrency !== null) params.push(partitionConcurrency, Math.max(1_000, count * 20));
  const partitioned = partitionConcurrency !== null;
  const now = nowFor(params, request.virtualNow);
  const { rows } = await db.query<WorkflowRecord>(
    claimStatement(s, partitioned, now),
    params,
    `${partitioned ? 'ballast_claim_partitioned' : 'ballast_claim'}${request.virtualNow === null ? '' : '_at'}`,
  );
  return rows;
}

/**
 * This executor's PENDING workflows of a queue, or its direct ones when `queue` is null: to run
 * what a claim or an adoption whose reply was lost gave it.
 */
export async function ownPendingIn(db: Queryable, s: string, queue: string | null, owner: string): Promise<WorkflowRecord[]> {
  const { rows } = queue === null
    ? await db.query<WorkflowRecord>(
        `SELECT ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS} FROM ${s}.workflows WHERE owner = $1 AND status = 'PENDING' AND queue IS NULL`,
        [owner],
        'ballast_own_pending_direct',
      )
    : await db.query<WorkflowRecord>(
        `SELECT ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS} FROM ${s}.workflows WHERE owner = $1 AND status = 'PENDING' AND queue = $2`,
        [owner, queue],
        'ballast_own_pending_in',
      );
  return rows;
}

export async function findActiveByDedup(db: Queryable, s: string, queue: string, dedupId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM ${s}.workflows WHERE queue = $1 AND dedup_id = $2 AND status IN ('ENQUEUED', 'PENDING', 'DELAYED')`,
    [queue, dedupId],
  );
  return rows[0]?.id;
}

export interface QueueDepth {
  queue: string;
  enqueued: number;
  pending: number;
  delayed: number;
  oldestEnqueuedAt: number | null;
}

/**
 * The queue depth statement; exported so tests can EXPLAIN exactly what runs. Each count reads the
 * partial index of its state (waiting, running, delayed), so its cost follows the backlog, never the
 * history. The oldest waiting workflow is found without reading the backlog: the ready index is
 * ordered by queue, version, priority and arrival, so the first entry of each (queue, version,
 * priority) group is that group's oldest, and a recursive scan hops from group to group.
 */
export function queueDepthStatement(s: string, byQueue: boolean, byVersion: boolean): string {
  // Distinct statement shapes rather than `$1 IS NULL OR …`, so each plan can use the index fully.
  const filters = [byQueue ? 'queue = $1' : 'queue IS NOT NULL'];
  if (byVersion) filters.push(`app_version = $${byQueue ? 2 : 1}`);
  const where = filters.join(' AND ');
  const count = (status: string) => `SELECT queue, count(*) AS n FROM ${s}.workflows WHERE status = '${status}' AND ${where} GROUP BY queue`;
  const head = `SELECT queue, app_version, priority, created_at FROM ${s}.workflows WHERE status = 'ENQUEUED' AND ${where}`;
  return `WITH RECURSIVE heads AS (
       (${head} ORDER BY queue, app_version, priority, seq LIMIT 1)
       UNION ALL
       SELECT next.* FROM heads h CROSS JOIN LATERAL (
         ${head} AND (queue, app_version, priority) > (h.queue, h.app_version, h.priority)
         ORDER BY queue, app_version, priority, seq LIMIT 1) AS next
     ),
     enqueued AS (${count('ENQUEUED')}),
     pending AS (${count('PENDING')}),
     delayed AS (${count('DELAYED')}),
     oldest AS (SELECT queue, min(created_at) AS at FROM heads GROUP BY queue)
     SELECT q.queue, COALESCE(e.n, 0)::int4 AS enqueued, COALESCE(p.n, 0)::int4 AS pending, COALESCE(d.n, 0)::int4 AS delayed,
       o.at AS "oldestEnqueuedAt"
     FROM (SELECT queue FROM enqueued UNION SELECT queue FROM pending UNION SELECT queue FROM delayed) AS q
       LEFT JOIN enqueued e USING (queue) LEFT JOIN pending p USING (queue) LEFT JOIN delayed d USING (queue)
       LEFT JOIN oldest o USING (queue)
     ORDER BY q.queue`;
}

export async function queueDepths(db: Queryable, s: string, queue: string | null, appVersion: string | null): Promise<QueueDepth[]> {
  const params = [queue, appVersion].filter((value) => value !== null);
  const { rows } = await db.query<QueueDepth>(
    queueDepthStatement(s, queue !== null, appVersion !== null),
    params,
    `ballast_queue_depths_${queue === null ? 'all' : 'one'}_${appVersion === null ? 'any' : 'version'}`,
  );
  return rows;
}

export interface VersionDepth {
  queue: string;
  version: string;
  status: 'ENQUEUED' | 'PENDING' | 'DELAYED';
  n: number;
}

/**
 * Waiting, running and delayed workflows per queue and application version, for metrics. Each
 * state is counted through its own partial index, so a scrape costs what the backlog is, not the
 * history; exported so tests can EXPLAIN exactly what runs.
 */
export function versionDepthStatement(s: string): string {
  const count = (status: string) =>
    `SELECT queue, app_version AS version, '${status}' AS status, count(*)::int4 AS n FROM ${s}.workflows
     WHERE status = '${status}' AND queue IS NOT NULL GROUP BY queue, app_version`;
  return `${count('ENQUEUED')} UNION ALL ${count('PENDING')} UNION ALL ${count('DELAYED')} ORDER BY queue, version, status`;
}

export async function versionDepths(db: Queryable, s: string): Promise<VersionDepth[]> {
  const { rows } = await db.query<VersionDepth>(versionDepthStatement(s), [], 'ballast_version_depths');
  return rows;
}

/** What a queue uses of its limits now, beyond its depth: for the dashboard's explanation of why work waits. */
export interface QueueUsage {
  /** Starts counted in the rate window now, and the oldest of them (the window frees a slot when it ages out). */
  startedInWindow: number;
  oldestStartInWindow: number | null;
  /** When the next DELAYED workflow falls due. */
  nextDelayedAt: number | null;
  /** PENDING workflows by owner (null: waiting for adoption). */
  runningByOwner: Array<{ owner: string | null; n: number }>;
  /** The partition keys with the most PENDING workflows (at most 20). */
  busiestPartitions: Array<{ key: string; n: number }>;
  /** The database's clock when it answered. */
  now: number;
}

/** Exported so tests can EXPLAIN exactly what runs: every part reads a partial index of active rows or the small starts table. */
export function queueUsageStatement(s: string): string {
  return `SELECT
     (SELECT count(*)::int4 FROM ${s}.queue_starts WHERE queue = $1 AND started_at > ${DB_NOW} - $2::int8) AS "startedInWindow",
     (SELECT min(started_at) FROM ${s}.queue_starts WHERE queue = $1 AND started_at > ${DB_NOW} - $2::int8) AS "oldestStartInWindow",
     (SELECT min(available_at) FROM ${s}.workflows WHERE queue = $1 AND status = 'DELAYED') AS "nextDelayedAt",
     (SELECT COALESCE(json_agg(json_build_object('owner', o.owner, 'n', o.n) ORDER BY o.n DESC), '[]')
        FROM (SELECT owner, count(*)::int4 AS n FROM ${s}.workflows WHERE queue = $1 AND status = 'PENDING' GROUP BY owner) o) AS "runningByOwner",
     (SELECT COALESCE(json_agg(json_build_object('key', p.key, 'n', p.n) ORDER BY p.n DESC), '[]')
        FROM (SELECT partition_key AS key, count(*)::int4 AS n FROM ${s}.workflows
              WHERE queue = $1 AND status = 'PENDING' AND partition_key IS NOT NULL
              GROUP BY partition_key ORDER BY n DESC LIMIT 20) p) AS "busiestPartitions",
     ${DB_NOW} AS now`;
}

export async function queueUsage(db: Queryable, s: string, queue: string, ratePeriodMs: number): Promise<QueueUsage> {
  const { rows } = await db.query<QueueUsage>(queueUsageStatement(s), [queue, ratePeriodMs]);
  const row = rows[0] as QueueUsage;
  return {
    ...row,
    oldestStartInWindow: row.oldestStartInWindow === null ? null : Number(row.oldestStartInWindow),
    nextDelayedAt: row.nextDelayedAt === null ? null : Number(row.nextDelayedAt),
    now: Number(row.now),
  };
}

/** What the fallback poll of an executor's queues found (see queuePollStatement). */
export interface QueuePoll {
  /** Declared queues with ENQUEUED work of the executor's version. */
  ready: string[];
  /** Declared queues with DELAYED work due at `now`. */
  due: string[];
  /** When the next DELAYED workflow of a declared queue falls due after `now`, or null when none waits. */
  nextDelayedAt: number | null;
}

/**
 * The one statement an executor's fallback poll runs for all of its queues, whatever their number;
 * exported so tests can EXPLAIN exactly what runs. Two recursive skip-scans hop from queue to queue
 * over the partial indexes of waiting work (workflows_queue_ready by queue and version,
 * workflows_delayed by queue with its earliest due time first), so the cost follows the queues that
 * have work, never the queues declared: an idle fleet of 1,000 queues reads two index pages. It
 * answers for every queue of the schema with work ($1: the executor's version, $2: now); the caller
 * keeps its own queues, a Set lookup each (a filter by the declared names in SQL compares every
 * row with every name, or plans a nested loop over them). A due queue's next due time after now
 * is one more probe of its index range, only for queues in $3 (the declared ones).
 */
export function queuePollStatement(s: string): string {
  const hop = (columns: string, status: string, after: string) =>
    `SELECT ${columns} FROM ${s}.workflows WHERE status = '${status}' AND queue IS NOT NULL${after} ORDER BY ${columns} LIMIT 1`;
  return `WITH RECURSIVE ready AS (
       (${hop('queue, app_version', 'ENQUEUED', '')})
       UNION ALL
       SELECT next.* FROM ready r CROSS JOIN LATERAL (
         ${hop('queue, app_version', 'ENQUEUED', ' AND (queue, app_version) > (r.queue, r.app_version)')}) AS next
     ),
     delayed AS (
       (${hop('queue, available_at', 'DELAYED', '')})
       UNION ALL
       SELECT next.* FROM delayed d CROSS JOIN LATERAL (
         ${hop('queue, available_at', 'DELAYED', ' AND queue > d.queue')}) AS next
     )
     SELECT queue, true AS ready, NULL::int8 AS "dueAt", NULL::int8 AS "nextAt" FROM ready WHERE app_version = $1
     UNION ALL
     SELECT d.queue, false, d.available_at,
       CASE WHEN d.available_at > $2::int8 THEN d.available_at
         WHEN d.queue = ANY($3::text[]) THEN (SELECT min(w.available_at) FROM ${s}.workflows w
           WHERE w.status = 'DELAYED' AND w.queue = d.queue AND w.available_at > $2::int8) END
     FROM delayed d`;
}

/** Polls for `queues` (see queuePollStatement). */
export async function pollQueues(db: Queryable, s: string, queues: ReadonlySet<string>, appVersion: string, now: number): Promise<QueuePoll> {
  const { rows } = await db.query<{ queue: string; ready: boolean; dueAt: string | null; nextAt: string | null }>(
    queuePollStatement(s),
    [appVersion, now, [...queues]],
    'ballast_poll_queues',
  );
  const poll: QueuePoll = { ready: [], due: [], nextDelayedAt: null };
  for (const row of rows) {
    if (!queues.has(row.queue)) continue;
    if (row.ready) poll.ready.push(row.queue);
    else if (Number(row.dueAt) <= now) poll.due.push(row.queue);
    if (row.nextAt !== null) poll.nextDelayedAt = Math.min(poll.nextDelayedAt ?? Infinity, Number(row.nextAt));
  }
  return poll;
}

/** Moves the DELAYED workflows of `queues` due at `now` to ENQUEUED, in one statement for all of them; returns how many. */
export async function promoteDelayed(db: Queryable, s: string, queues: string[], now: number): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE ${s}.workflows SET status = 'ENQUEUED', updated_at = $2
     WHERE status = 'DELAYED' AND queue = ANY($1::text[]) AND available_at <= $2`,
    [queues, now],
    'ballast_promote_delayed',
  );
  return rowCount;
}
