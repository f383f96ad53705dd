import type { Queryable } from '../driver.js';
import { FINAL_STATUSES_SQL, RUNNABLE_COLUMNS, type Lease, type RunnableWorkflow } from '../records.js';
import { wakeKey } from '../wakeups.js';

/**
 * The owner of a parked workflow: PENDING, run by no executor, resumed by whichever executor of its
 * version claims it once it is due. Not an executor ID any executor has (see checkExecutorId), and
 * not NULL, which marks orphans to adopt at once.
 */
export const PARKED_OWNER = 'ballast:parked';

/**
 * The wake_topic of a workflow parked until other workflows finish (ctx.waitFirst, ctx.waitAll, a
 * child's result()). A recv topic cannot take it: topics refuse control characters (requireName).
 * Migration 14's trigger spells it as E'\\x1Fworkflows'.
 */
export const WORKFLOWS_TOPIC = '\u001fworkflows';

/** What a parked workflow waits for: a time (null: none) and, for a recv, a message on a topic. */
export interface WakeCondition {
  wakeAt: number | null;
  topic: string | null;
}

/** A park of a workflow we hold, written by the group-commit writer (see flushStatement). */
export interface Park extends Lease, WakeCondition {
  parkedAt: number;
}

/**
 * The flush's CTE that parks workflows: gives each to PARKED_OWNER under the same epoch (the claim
 * that resumes it bumps it), fenced like every write of its owner, by primary key (see
 * flushStatement on the status that comes with the JSON rows).
 */
export function parkCte(s: string, rows: string, ids: string): string {
  return `p AS (
      UPDATE ${s}.workflows w SET owner = '${PARKED_OWNER}', wake_at = u."wakeAt", wake_topic = u.topic, updated_at = u."parkedAt"
      FROM ${rows} AS u("workflowId" text, owner text, epoch int4, "wakeAt" int8, topic text, "parkedAt" int8, "from" text)
      WHERE w.id = ANY(${ids}) AND w.id = u."workflowId" AND w.owner = u.owner AND w.epoch = u.epoch AND w.status = u."from"
      RETURNING w.id)`;
}

/**
 * After a recv's park committed: if a message on its topic is there now, the workflow is due at
 * once. Together with the sender's update of the destination row (wakeOnMessage), no message is
 * missed: either the send's update came after the park's and saw the row parked, or the park's
 * update waited for the send's commit, and this later statement sees the message.
 */
export async function recheckMessage(db: Queryable, s: string, channel: string, lease: Lease, topic: string, now: number): Promise<boolean> {
  const { rows } = await db.query<{ woken: boolean }>(
    `WITH woken AS (
       UPDATE ${s}.workflows SET wake_at = $4
       WHERE id = $1 AND owner = '${PARKED_OWNER}' AND epoch = $2 AND status = 'PENDING' AND EXISTS (
         SELECT 1 FROM ${s}.messages WHERE destination_id = $1 AND topic = $3 AND consumed_at IS NULL)
       RETURNING 1)
     SELECT pg_notify($5, $6) IS NULL AS woken FROM woken`,
    [lease.workflowId, lease.epoch, topic, now, channel, PARKED_WAKE_KEY],
    'ballast_park_recheck',
  );
  return rows.length > 0;
}

/** A park until other workflows finish: `needed` of `ids` must still be running for it to park. */
export interface WorkflowsWait {
  ids: string[];
  needed: number;
  wakeAt: number | null;
  parkedAt: number;
}

/** What became of a park on workflows: parked, not parked as a waitee has finished, or refused (not ours). */
export type WorkflowsPark = 'parked' | 'finished' | 'refused';

/**
 * Parks a workflow we hold until workflows it waits on finish, in one statement. `sub` adds it to
 * the waited_by of each waitee still running: that write of the waitee's row is ordered against the
 * waitee's completion by the row lock. If the completion committed first, `sub` re-reads the row
 * finished and leaves it out; if `sub` is first, the completion waits for this statement's commit
 * and its trigger (migration 14) finds the waiter parked and makes it due. The park itself is the
 * one parkCte makes, taken only while at least `needed` waitees are running.
 * An entry left in a waitee's waited_by after the waiter moved on costs a spurious wake at most, and
 * only of a workflow parked on workflows again (the trigger checks wake_topic): its replay reads
 * its waitees, and answers or parks again.
 */
export async function parkOnWorkflows(db: Queryable, s: string, lease: Lease, wait: WorkflowsWait): Promise<WorkflowsPark> {
  const { rows } = await db.query<{ parked: boolean; running: number }>(
    `WITH sub AS (
       UPDATE ${s}.workflows SET waited_by = CASE WHEN $1 = ANY(waited_by) THEN waited_by ELSE array_append(waited_by, $1) END
       WHERE id = ANY($4::text[]) AND status NOT IN ${FINAL_STATUSES_SQL}
       RETURNING 1
     ), p AS (
       UPDATE ${s}.workflows SET owner = '${PARKED_OWNER}', wake_at = $5, wake_topic = $6, updated_at = $7
       WHERE id = $1 AND owner = $2 AND epoch = $3 AND status = 'PENDING' AND (SELECT count(*) FROM sub) >= $8
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM p) AS parked, (SELECT count(*) FROM sub)::int AS running`,
    [lease.workflowId, lease.owner, lease.epoch, wait.ids, wait.wakeAt, WORKFLOWS_TOPIC, wait.parkedAt, wait.needed],
    'ballast_park_on_workflows',
  );
  const row = rows[0];
  if (row?.parked) return 'parked';
  return (row?.running ?? 0) < wait.needed ? 'finished' : 'refused';
}

/** The wake-up hint every executor's ParkedWakeups listens for. */
export const PARKED_WAKE_KEY = wakeKey('parked');

/**
 * The update a message's insert makes to its destination row, as a CTE body: due now if parked on
 * that topic, else unchanged. It writes the destination row whenever it is PENDING (not only when
 * parked), so that a park committing meanwhile is ordered against it (see recheckMessage).
 * `sent`: a FROM item with columns destination_id and topic; `now`: an SQL expression.
 */
export function wakeOnMessage(s: string, sent: string, now: string, updatedBySiblings?: string): string {
  const waiting = `w.owner = '${PARKED_OWNER}' AND w.wake_topic = sent.topic`;
  // A row another CTE of the statement updates (a completion, a park) must be left to it: of two
  // updates of one row in one statement only the first takes effect.
  const left = updatedBySiblings === undefined ? '' : ` AND NOT w.id = ANY(${updatedBySiblings})`;
  return `UPDATE ${s}.workflows w SET wake_at = CASE WHEN ${waiting} THEN LEAST(w.wake_at, ${now}) ELSE w.wake_at END
      FROM ${sent} AS sent
      WHERE w.id = sent.destination_id AND w.status = 'PENDING'${left}
      RETURNING ${waiting} AS parked`;
}

/**
 * Claims up to `limit` parked workflows of this version that are due, earliest first, for `owner`:
 * SKIP LOCKED lets every executor claim side by side, each row once (the epoch moves on).
 */
export async function claimDue(
  db: Queryable,
  s: string,
  claim: { owner: string; appName: string; appVersion: string; names: string[]; limit: number; now: number },
): Promise<RunnableWorkflow[]> {
  const { rows } = await db.query<RunnableWorkflow>(
    `UPDATE ${s}.workflows SET owner = $1, epoch = epoch + 1, attempts = attempts + 1, wake_at = NULL, wake_topic = NULL, updated_at = $6
     WHERE id IN (
       SELECT id FROM ${s}.workflows
       WHERE status = 'PENDING' AND owner = '${PARKED_OWNER}' AND app_name = $2 AND app_version = $3 AND wake_at <= $6 AND name = ANY($4::text[])
       ORDER BY wake_at LIMIT $5 FOR UPDATE SKIP LOCKED)
     RETURNING ${RUNNABLE_COLUMNS}`,
    [claim.owner, claim.appName, claim.appVersion, claim.names, claim.limit, claim.now],
    'ballast_claim_parked',
  );
  return rows;
}

/** When the next parked workflow of this version falls due (null: none has a time). */
export async function nextDue(db: Queryable, s: string, appName: string, appVersion: string): Promise<number | null> {
  const { rows } = await db.query<{ at: number | null }>(
    `SELECT min(wake_at) AS at FROM ${s}.workflows WHERE status = 'PENDING' AND owner = '${PARKED_OWNER}' AND app_name = $1 AND app_version = $2`,
    [appName, appVersion],
    'ballast_next_parked',
  );
  return rows[0]?.at ?? null;
}
