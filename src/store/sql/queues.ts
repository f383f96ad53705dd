import { isFleetWide, isPartitioned, MAX_INT, type QueueLimits } from '../../queues/options.js';
import type { Driver, Queryable } from '../driver.js';
import { RUN_COLUMNS, WORKFLOW_COLUMNS, type WorkflowRecord } from '../records.js';
import { DB_NOW, nowFor } from './clock.js';

const LIMIT_COLUMNS = `name, worker_concurrency AS "workerConcurrency", concurrency, rate_limit AS "rateLimit",
  rate_period_ms AS "ratePeriodMs", partition_concurrency AS "partitionConcurrency", fairness, partition_weights AS "partitionWeights"`;

/** Declared limits are written at launch: the deployed code is the source of truth for its queues. */
export async function upsertQueues(db: Queryable, s: string, queues: QueueLimits[], now: number): Promise<void> {
  if (queues.length === 0) return;
  await db.query(
    `INSERT INTO ${s}.queues (name, worker_concurrency, concurrency, rate_limit, rate_period_ms, partition_concurrency,
                               fairness, partition_weights, updated_at)
     SELECT u.name, u.worker_concurrency, u.concurrency, u.rate_limit, u.rate_period_ms, u.partition_concurrency,
            u.fairness, u.partition_weights::jsonb, $7
     FROM unnest($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::int8[], $6::int4[], $8::text[], $9::text[])
       AS u(name, worker_concurrency, concurrency, rate_limit, rate_period_ms, partition_concurrency, fairness, partition_weights)
     ON CONFLICT (name) DO UPDATE SET worker_concurrency = EXCLUDED.worker_concurrency, concurrency = EXCLUDED.concurrency,
       rate_limit = EXCLUDED.rate_limit, rate_period_ms = EXCLUDED.rate_period_ms,
       partition_concurrency = EXCLUDED.partition_concurrency, fairness = EXCLUDED.fairness,
       partition_weights = EXCLUDED.partition_weights, updated_at = EXCLUDED.updated_at`,
    [
      queues.map((q) => q.name),
      queues.map((q) => q.workerConcurrency),
      queues.map((q) => q.concurrency),
      queues.map((q) => q.rateLimit),
      queues.map((q) => q.ratePeriodMs),
      queues.map((q) => q.partitionConcurrency),
      now,
      queues.map((q) => q.fairness),
      queues.map((q) => (q.partitionWeights === null ? null : JSON.stringify(q.partitionWeights))),
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

/** How a claim picks from the queue's waiting workflows (see claimStatement). */
export type ClaimOrder = 'head' | 'partitioned' | 'fair';

const MAX_BIGINT = '9223372036854775807';

export function claimOrderOf(limits: QueueLimits): ClaimOrder {
  if (limits.fairness === 'partition') return 'fair';
  return isPartitioned(limits) ? 'partitioned' : 'head';
}

/**
 * The claim statement; exported so tests can EXPLAIN exactly what runs. Parameters: $1 queue,
 * $2 owner, $3 version, $4 how many; partitioned and fair: $5 the most running per key; fair: $6
 * the keys' weights (jsonb).
 */
export function claimStatement(s: string, order: ClaimOrder, now = DB_NOW): string {
  const set = claimAssignments('$2', now);
  const returning = `RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`;
  if (order === 'head') {
    return `UPDATE ${s}.workflows SET ${set}
       WHERE id IN (${claimableHead(s, '$1', '$3', '$4')})
       ${returning}`;
  }
  // A partitioned claim walks the keys that have waiting work (a recursive skip-scan of
  // workflows_partition_ready, one probe per key, which also finds each key's head) and reads from
  // each key only the head it may start: never more than the partition has room for next to what
  // already runs under the key, nor than the claim wants, nor anything that ranks after the claim's
  // `$4`-th key head (at least `$4` candidates rank before it, so it could never be taken). However
  // long one key's backlog, the claim reads none of it beyond that.
  // The chosen rows are updated through an array of IDs, a primary-key probe each: joined as a set,
  // the planner may guess it large and hash it against every waiting row.
  const waiting = `FROM ${s}.workflows WHERE queue = $1 AND app_version = $3 AND status = 'ENQUEUED'`;
  const head = `SELECT partition_key AS key, priority, seq ${waiting}`;
  const keys = `WITH RECURSIVE keys AS (
       (${head} AND partition_key IS NOT NULL ORDER BY partition_key, priority, seq LIMIT 1)
       UNION ALL
       SELECT next.* FROM keys k CROSS JOIN LATERAL (
         ${head} AND partition_key > k.key ORDER BY partition_key, priority, seq LIMIT 1) AS next
     ),
     running AS (
       SELECT partition_key AS key, count(*)::int4 AS n FROM ${s}.workflows WHERE queue = $1 AND status = 'PENDING' GROUP BY partition_key
     )`;
  const room = `least($4::int8, $5::int8 - h.running)`;
  if (order === 'partitioned') {
    // Strict priority and arrival order among the workflows that may start.
    return `${keys},
     heads AS (
       SELECT k.key, k.priority, k.seq, COALESCE(r.n, 0) AS running
       FROM keys k LEFT JOIN running r ON r.key = k.key WHERE COALESCE(r.n, 0) < $5::int4
     ),
     bound AS (
       SELECT COALESCE(max(priority), ${MAX_INT}) AS priority, COALESCE(max(seq), ${MAX_BIGINT}) AS seq
       FROM (SELECT priority, seq FROM heads ORDER BY priority, seq OFFSET $4::int8 - 1 LIMIT 1) AS cut
     ),
     candidates AS (
       SELECT c.id, c.priority, c.seq FROM heads h CROSS JOIN bound b CROSS JOIN LATERAL (
         SELECT id, priority, seq ${waiting} AND partition_key = h.key AND (priority, seq) <= (b.priority, b.seq)
         ORDER BY priority, seq LIMIT ${room}) AS c
     )
     UPDATE ${s}.workflows SET ${set}
     WHERE status = 'ENQUEUED' AND id = ANY (ARRAY(SELECT id FROM candidates ORDER BY priority, seq LIMIT $4))
     ${returning}`;
  }
  // Fair: within a priority, a key's n-th candidate gets the turn (running + n - 1) / weight — the
  // share of its weight it would start — and the claim takes the lowest turns first: a key with
  // less of its share running goes first, and a weight-3 key takes three turns per round. Equal
  // turns (say every key idle, one free slot) go round the keys from the queue's cursor: the key
  // served last keeps going while it has used fewer turns than its weight, then the keys after it,
  // then from the first again. So keys take turns, by weight, even when each claim starts only one.
  // A key's head has the turn running / weight; a key at the bound's priority needs only the
  // candidates whose turn is not past the bound's (the small margin keeps equal turns in).
  return `${keys},
     heads AS (
       SELECT k.key, k.priority, COALESCE(r.n, 0) AS running, COALESCE(($6::jsonb ->> k.key)::int4, 1) AS weight
       FROM keys k LEFT JOIN running r ON r.key = k.key WHERE COALESCE(r.n, 0) < $5::int4
     ),
     bound AS (
       SELECT COALESCE(max(priority), ${MAX_INT}) AS priority, max(turn) AS turn
       FROM (SELECT priority, running::float8 / weight AS turn FROM heads ORDER BY priority, turn OFFSET $4::int8 - 1 LIMIT 1) AS cut
     ),
     candidates AS (
       SELECT c.id, c.priority, c.seq, c.rn, h.key, h.running, h.weight FROM heads h CROSS JOIN bound b CROSS JOIN LATERAL (
         SELECT id, priority, seq, row_number() OVER (ORDER BY priority, seq) AS rn
         ${waiting} AND partition_key = h.key AND priority <= b.priority
         ORDER BY priority, seq
         LIMIT CASE WHEN b.turn IS NULL OR h.priority < b.priority THEN ${room}
                    ELSE least(${room}, greatest(0, floor(b.turn * h.weight - h.running + 1.000001)::int8)) END) AS c
     ),
     cursor AS (SELECT fair_cursor AS key, COALESCE(fair_turns, 0) AS turns FROM ${s}.queues WHERE name = $1),
     picked AS (
       SELECT c.id, c.key, row_number() OVER (
           ORDER BY c.priority, (c.running + c.rn - 1)::float8 / c.weight,
                    CASE WHEN c.key = q.key AND q.turns < c.weight THEN 0
                         WHEN q.key IS NULL OR c.key > q.key THEN 1 ELSE 2 END,
                    c.key, c.seq) AS place
       FROM candidates c LEFT JOIN cursor q ON true
       ORDER BY place LIMIT $4
     ),
     claimed AS (
       UPDATE ${s}.workflows SET ${set}
       WHERE status = 'ENQUEUED' AND id = ANY (ARRAY(SELECT id FROM picked))
       ${returning}
     ),
     moved AS (
       UPDATE ${s}.queues q SET fair_cursor = last.key,
         fair_turns = (CASE WHEN last.key = q.fair_cursor THEN COALESCE(q.fair_turns, 0) ELSE 0 END)
                      + (SELECT count(*)::int4 FROM picked p WHERE p.key = last.key)
       FROM (SELECT key FROM picked ORDER BY place DESC LIMIT 1) last
       WHERE q.name = $1 AND EXISTS (SELECT 1 FROM claimed)
     )
     SELECT * FROM claimed`;
}

async function claimHead(db: Queryable, s: string, request: ClaimRequest, count: number): Promise<WorkflowRecord[]> {
  const { limits } = request;
  const order = claimOrderOf(limits);
  const params: unknown[] = [request.queue, request.executorId, request.appVersion, count];
  if (order !== 'head') params.push(limits.partitionConcurrency ?? MAX_INT);
  if (order === 'fair') params.push(JSON.stringify(limits.partitionWeights ?? {}));
  const now = nowFor(params, request.virtualNow);
  const { rows } = await db.query<WorkflowRecord>(
    claimStatement(s, order, now),
    params,
    `${order === 'head' ? 'ballast_claim' : `ballast_claim_${order}`}${request.virtualNow === null ? '' : '_at'}`,
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
