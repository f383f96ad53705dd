import type { Queryable } from '../driver.js';
import { RUNNABLE_COLUMNS, type Lease, type RunnableWorkflow } from '../records.js';
import { DB_NOW } from './clock.js';

/** The executor judging others dead, and how long its own lease must have been unbroken first. */
export interface Judge {
  executorId: string;
  unbrokenForMs: number;
}

/**
 * Who may judge, as SQL ($judge, $unbroken): an executor whose own lease is current and has been
 * unbroken for a while, at the moment the statement runs, on the database's clock. A statement
 * sent before a partition and run after it, or by an executor that has just come back from one,
 * judges nobody: its peers, cut off the same way, get the same while to renew.
 */
function judgeMay(s: string, judge: string, unbroken: string): string {
  return `EXISTS (SELECT 1 FROM ${s}.executors me
     WHERE me.id = ${judge} AND me.lease_expires_at > ${DB_NOW} AND me.lease_started_at <= ${DB_NOW} - ${unbroken})`;
}

/**
 * Executors of an application whose lease has expired and whose workflows have not been handed
 * over yet, oldest expiry first, if `judge` may judge them (judgeMay). Reads only the unrecovered
 * part of the executors index.
 */
export async function expiredExecutors(db: Queryable, s: string, appName: string, judge: Judge, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM ${s}.executors
     WHERE app_name = $1 AND recovered_at IS NULL AND lease_expires_at < ${DB_NOW} AND ${judgeMay(s, '$3::text', '$4::int8')}
     ORDER BY lease_expires_at LIMIT $2`,
    [appName, limit, judge.executorId, judge.unbrokenForMs],
    'ballast_expired_executors',
  );
  return rows.map((row) => row.id);
}

/**
 * Locks an expired, unrecovered executor for this transaction, so that one claimer at a time hands
 * its workflows over; false when it renewed meanwhile, was recovered, another claimer has it, or
 * `judge` may not judge it now (judgeMay).
 */
export async function lockExpiredExecutor(tx: Queryable, s: string, id: string, judge: Judge): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT 1 FROM ${s}.executors WHERE id = $1 AND recovered_at IS NULL AND lease_expires_at < ${DB_NOW}
       AND ${judgeMay(s, '$2::text', '$3::int8')}
     FOR UPDATE SKIP LOCKED`,
    [id, judge.executorId, judge.unbrokenForMs],
  );
  return rows.length > 0;
}

export interface OwnedWorkflow {
  id: string;
  queue: string | null;
  recoveries: number;
}

/** Up to `limit` of an executor's PENDING workflows, oldest first, locked for this transaction. */
export async function pendingOwnedBy(tx: Queryable, s: string, owner: string, limit: number): Promise<OwnedWorkflow[]> {
  const { rows } = await tx.query<OwnedWorkflow>(
    `SELECT id, queue, recoveries FROM ${s}.workflows WHERE owner = $1 AND status = 'PENDING' ORDER BY seq LIMIT $2 FOR UPDATE`,
    [owner, limit],
  );
  return rows;
}

export interface Release {
  id: string;
  /** ENQUEUED (back to its queue), PENDING (orphaned, for adoption) or DEAD_LETTER. */
  status: 'ENQUEUED' | 'PENDING' | 'DEAD_LETTER';
  /** The serialized DeadLetterError, for DEAD_LETTER. */
  error: string | null;
  /** Counted as a recovery (the owner died); a graceful hand-back is not. */
  recovered: boolean;
}

/**
 * Hands locked workflows over: the owner is cleared and the epoch bumped, which fences every later
 * write of the former owner; a queued workflow keeps its priority and arrival order (seq), so it
 * returns to its queue's head.
 */
export async function releaseWorkflows(tx: Queryable, s: string, releases: Release[]): Promise<void> {
  if (releases.length === 0) return;
  await tx.query(
    `UPDATE ${s}.workflows w
     SET status = u.status, epoch = w.epoch + 1, recoveries = w.recoveries + CASE WHEN u.recovered THEN 1 ELSE 0 END,
         owner = CASE WHEN u.status = 'DEAD_LETTER' THEN w.owner ELSE NULL END,
         error = CASE WHEN u.status = 'DEAD_LETTER' THEN u.error ELSE w.error END,
         completed_at = CASE WHEN u.status = 'DEAD_LETTER' THEN ${DB_NOW} ELSE NULL END,
         updated_at = ${DB_NOW}
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[]) AS u(id, status, error, recovered)
     WHERE w.id = u.id AND w.status = 'PENDING'`,
    [releases.map((r) => r.id), releases.map((r) => r.status), releases.map((r) => r.error), releases.map((r) => r.recovered)],
  );
}

/** The executor holds no more workflows: the fleet stops looking at it. `endLease` for a graceful exit. */
export async function markRecovered(tx: Queryable, s: string, id: string, endLease: boolean): Promise<void> {
  await tx.query(
    `UPDATE ${s}.executors SET recovered_at = ${DB_NOW}${endLease ? `, lease_expires_at = ${DB_NOW}, heartbeat_at = ${DB_NOW}, running = 0` : ''}
     WHERE id = $1`,
    [id],
  );
}

/** Counts for sharing orphans fairly: orphaned direct workflows of a version, and its live executors. */
export async function orphanShare(db: Queryable, s: string, appName: string, appVersion: string): Promise<{ orphans: number; executors: number }> {
  const { rows } = await db.query<{ orphans: number; executors: number }>(
    `SELECT (SELECT count(*)::int4 FROM ${s}.workflows
             WHERE status = 'PENDING' AND queue IS NULL AND owner IS NULL AND app_name = $1 AND app_version = $2) AS orphans,
            (SELECT count(*)::int4 FROM ${s}.executors
             WHERE app_name = $1 AND app_version = $2 AND lease_expires_at > ${DB_NOW}) AS executors`,
    [appName, appVersion],
    'ballast_orphan_share',
  );
  return rows[0] ?? { orphans: 0, executors: 0 };
}

/**
 * Adopts up to `limit` orphaned direct workflows of this version whose code this executor has
 * (`names`), oldest first; SKIP LOCKED lets the survivors of a dead executor adopt side by side.
 */
export async function adoptOrphans(
  db: Queryable,
  s: string,
  adoption: { owner: string; appName: string; appVersion: string; names: string[]; limit: number },
): Promise<RunnableWorkflow[]> {
  const { rows } = await db.query<RunnableWorkflow>(
    `UPDATE ${s}.workflows SET owner = $1, epoch = epoch + 1, attempts = attempts + 1, started_at = ${DB_NOW}, updated_at = ${DB_NOW}
     WHERE id IN (
       SELECT id FROM ${s}.workflows
       WHERE status = 'PENDING' AND queue IS NULL AND owner IS NULL AND app_name = $2 AND app_version = $3 AND name = ANY($4::text[])
       ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED)
     RETURNING ${RUNNABLE_COLUMNS}`,
    [adoption.owner, adoption.appName, adoption.appVersion, adoption.names, adoption.limit],
    'ballast_adopt_orphans',
  );
  return rows;
}

/**
 * Which of these leases this executor still holds (the workflow PENDING under the same owner and
 * epoch). One primary-key probe per lease: the status is a parameter, which the partial index of
 * running rows cannot match (see flushStatement).
 */
export async function heldAmong(db: Queryable, s: string, leases: Lease[]): Promise<string[]> {
  if (leases.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `SELECT w.id FROM unnest($1::text[], $2::text[], $3::int4[]) AS l(id, owner, epoch)
     CROSS JOIN LATERAL (SELECT id FROM ${s}.workflows WHERE id = l.id AND owner = l.owner AND epoch = l.epoch AND status = $4::text LIMIT 1) AS w`,
    [leases.map((l) => l.workflowId), leases.map((l) => l.owner), leases.map((l) => l.epoch), 'PENDING'],
  );
  return rows.map((row) => row.id);
}
