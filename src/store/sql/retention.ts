import type { Queryable } from '../driver.js';

const FINAL = `('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER')`;

/**
 * Deletes up to `batch` finished workflows completed before `cutoff`, with their checkpoints,
 * events and unread messages, in one short statement. SKIP LOCKED lets several executors run
 * retention at once without waiting on each other.
 */
export async function deleteFinishedBefore(db: Queryable, s: string, cutoff: number, batch: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>(
    `WITH doomed AS (
       SELECT id FROM ${s}.workflows
       WHERE status IN ${FINAL} AND completed_at < $1
       ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), steps AS (
       DELETE FROM ${s}.steps WHERE workflow_id IN (SELECT id FROM doomed)
     ), events AS (
       DELETE FROM ${s}.events WHERE workflow_id IN (SELECT id FROM doomed)
     ), messages AS (
       DELETE FROM ${s}.messages WHERE destination_id IN (SELECT id FROM doomed)
     ), gone AS (
       DELETE FROM ${s}.workflows WHERE id IN (SELECT id FROM doomed) RETURNING 1
     )
     SELECT count(*)::int4 AS deleted FROM gone`,
    [cutoff, batch],
    'ballast_retention_delete',
  );
  return rows[0]?.deleted ?? 0;
}

/** The completion time below which finished workflows exceed the row budget (null: within budget). */
export async function budgetCutoff(db: Queryable, s: string, maxRows: number): Promise<number | null> {
  const { rows } = await db.query<{ completedAt: number }>(
    `SELECT completed_at AS "completedAt" FROM ${s}.workflows
     WHERE status IN ${FINAL}
     ORDER BY completed_at DESC OFFSET $1 LIMIT 1`,
    [maxRows],
    'ballast_retention_budget',
  );
  const newestOverBudget = rows[0]?.completedAt;
  return newestOverBudget === undefined ? null : newestOverBudget + 1;
}
