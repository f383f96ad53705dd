import type { Queryable } from '../driver.js';
import { FINAL_STATUSES_SQL as FINAL } from '../records.js';

/** Which finished workflows to delete: created before a time, and also completed before one if set. */
export interface RetentionCutoff {
  createdBefore: number;
  completedBefore: number | null;
}

/**
 * Deletes up to `batch` finished workflows within `cutoff`, with their checkpoints, events, streams
 * and unread messages, in one short statement. SKIP LOCKED lets several executors run retention at
 * once without waiting on each other. The scan walks finished workflows in creation order (their
 * only time index); an age limit bounds both times, since a workflow completes after it is created.
 */
/**
 * A statement deleting the workflows a `doomed` query selects (`SELECT id …`), with their
 * checkpoints, events, streams and the messages sent to them; `select` reads the deleted IDs from `gone`.
 */
export function deleteWithHistory(s: string, doomed: string, select: string): string {
  return `WITH doomed AS (
       ${doomed}
     ), steps AS (
       DELETE FROM ${s}.steps WHERE workflow_id IN (SELECT id FROM doomed)
     ), events AS (
       DELETE FROM ${s}.events WHERE workflow_id IN (SELECT id FROM doomed)
     ), streams AS (
       DELETE FROM ${s}.streams WHERE workflow_id IN (SELECT id FROM doomed)
     ), messages AS (
       DELETE FROM ${s}.messages WHERE destination_id IN (SELECT id FROM doomed)
     ), gone AS (
       DELETE FROM ${s}.workflows WHERE id IN (SELECT id FROM doomed) RETURNING id
     )
     ${select}`;
}

export async function deleteFinished(db: Queryable, s: string, cutoff: RetentionCutoff, batch: number): Promise<number> {
  const doomed = `SELECT id FROM ${s}.workflows
       WHERE status IN ${FINAL} AND created_at < $1 AND ($3::int8 IS NULL OR completed_at < $3::int8)
       ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`;
  const { rows } = await db.query<{ deleted: number }>(
    deleteWithHistory(s, doomed, 'SELECT count(*)::int4 AS deleted FROM gone'),
    [cutoff.createdBefore, batch, cutoff.completedBefore],
    'ballast_retention_delete',
  );
  return rows[0]?.deleted ?? 0;
}

/** The creation time below which finished workflows exceed the row budget (null: within budget). */
export async function budgetCutoff(db: Queryable, s: string, maxRows: number): Promise<number | null> {
  const { rows } = await db.query<{ createdAt: number }>(
    `SELECT created_at AS "createdAt" FROM ${s}.workflows
     WHERE status IN ${FINAL}
     ORDER BY created_at DESC OFFSET $1 LIMIT 1`,
    [maxRows],
    'ballast_retention_budget',
  );
  const newestOverBudget = rows[0]?.createdAt;
  return newestOverBudget === undefined ? null : newestOverBudget + 1;
}
