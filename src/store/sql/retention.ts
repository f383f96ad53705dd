import type { Queryable } from '../driver.js';
import { FINAL_STATUSES_SQL as FINAL } from '../records.js';
import { DB_NOW } from './clock.js';

/** Which finished workflows to delete: created before a time, and also completed before one if set. */
export interface RetentionCutoff {
  createdBefore: number;
  completedBefore: number | null;
}

/**
 * The fleet's turn to delete a batch: held by one executor at a time, until it hands it back with
 * the pause the fleet keeps before the next batch (see `releaseTurn`). `leaseMs` bounds how long an
 * executor that died holding the turn keeps the others waiting.
 */
export interface RetentionTurn {
  holder: string;
  leaseMs: number;
}

export interface DeleteOutcome {
  /** False when another executor holds the turn or the fleet's pause has not ended: nothing was deleted. */
  turn: boolean;
  deleted: number;
  /** Creation time of the last workflow deleted (null: none), where the pass's next batch starts. */
  reached: number | null;
  /** Without the turn: how long until the pause ends, as far as this statement could see. */
  waitMs: number;
}

/**
 * A statement deleting the workflows a `doomed` query selects (`SELECT id …`), with their
 * checkpoints, events, streams and the messages sent to them; `select` reads the deleted IDs from `gone`.
 */
export function deleteWithHistory(s: string, doomed: string, select: string, before = ''): string {
  return `WITH ${before}doomed AS (
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

/**
 * Deletes up to `batch` finished workflows within `cutoff`, with their checkpoints, events, streams
 * and unread messages, in one short statement. The scan walks finished workflows in creation order
 * (their only time index); an age limit bounds both times, since a workflow completes after it is
 * created. SKIP LOCKED lets several executors delete at once without waiting on each other.
 * `from` starts the scan at the creation time a pass has reached: the index entries of the rows it
 * deleted stay until a vacuum, and walking them again on every batch made each batch slower than
 * the last (26 ms of a 54 ms batch, 50,000 rows into a pass).
 * With a `turn`, the statement first takes the fleet's turn (a row of retention_pace whose pause has
 * ended, locked SKIP LOCKED so that no executor waits on another's batch) and deletes only if it got it.
 */
export async function deleteFinished(
  db: Queryable,
  s: string,
  cutoff: RetentionCutoff,
  from: number | null,
  batch: number,
  turn: RetentionTurn | null,
): Promise<DeleteOutcome> {
  const params: unknown[] = [cutoff.createdBefore, batch, cutoff.completedBefore, from];
  let before = '';
  let ours = '';
  let outcome = `true AS turn, 0::int8 AS "waitMs"`;
  if (turn !== null) {
    params.push(turn.holder, turn.leaseMs);
    before = `turn AS (
       UPDATE ${s}.retention_pace p SET holder = $5, next_at = ${DB_NOW} + $6::int8
       FROM (SELECT id FROM ${s}.retention_pace WHERE next_at <= ${DB_NOW} FOR UPDATE SKIP LOCKED) AS free
       WHERE p.id = free.id
       RETURNING 1
     ), `;
    ours = ' AND EXISTS (SELECT 1 FROM turn)';
    outcome = `EXISTS (SELECT 1 FROM turn) AS turn, (SELECT GREATEST(next_at - ${DB_NOW}, 0) FROM ${s}.retention_pace) AS "waitMs"`;
  }
  const doomed = `SELECT id, created_at FROM ${s}.workflows
       WHERE status IN ${FINAL} AND created_at < $1 AND created_at >= COALESCE($4::int8, 0)
         AND ($3::int8 IS NULL OR completed_at < $3::int8)${ours}
       ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`;
  const { rows } = await db.query<{ turn: boolean; deleted: number; waitMs: string | null; reached: string | null }>(
    deleteWithHistory(s, doomed, `SELECT ${outcome}, (SELECT count(*)::int4 FROM gone) AS deleted, (SELECT max(created_at) FROM doomed) AS reached`, before),
    params,
    turn === null ? 'ballast_retention_delete' : 'ballast_retention_delete_turn',
  );
  const row = rows[0];
  const reached = row?.reached ?? null;
  return { turn: row?.turn ?? false, deleted: row?.deleted ?? 0, reached: reached === null ? null : Number(reached), waitMs: Number(row?.waitMs ?? 0) };
}

/** Hands the turn back: the fleet's next batch may start `pauseMs` from now (unless another executor took the turn meanwhile). */
export async function releaseTurn(db: Queryable, s: string, holder: string, pauseMs: number): Promise<void> {
  await db.query(
    `UPDATE ${s}.retention_pace SET next_at = ${DB_NOW} + $2::int8 WHERE holder = $1`,
    [holder, Math.ceil(pauseMs)],
    'ballast_retention_release',
  );
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
