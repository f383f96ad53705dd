import type { Queryable } from '../driver.js';
import { deleteWithHistory } from './retention.js';
import { FINAL_STATUSES_SQL, RUN_COLUMNS, STEP_COLUMNS, WORKFLOW_COLUMNS, type Lease, type StepRecord, type WorkflowRecord, type WorkflowStatus } from '../records.js';

export async function getWorkflow(db: Queryable, s: string, id: string, withPayloads: boolean): Promise<WorkflowRecord | undefined> {
  const columns = withPayloads ? `${WORKFLOW_COLUMNS}, input, output, error` : `${WORKFLOW_COLUMNS}, output, error`;
  const { rows } = await db.query<WorkflowRecord>(
    `SELECT ${columns} FROM ${s}.workflows WHERE id = $1`,
    [id],
    withPayloads ? 'ballast_get_workflow_full' : 'ballast_get_workflow',
  );
  return rows[0];
}

/** Many workflows by ID in one query (status and outcome, without input). */
export async function getWorkflows(db: Queryable, s: string, ids: string[]): Promise<Map<string, WorkflowRecord>> {
  const { rows } = await db.query<WorkflowRecord>(
    `SELECT ${WORKFLOW_COLUMNS}, output, error FROM ${s}.workflows WHERE id = ANY($1::text[])`,
    [ids],
    'ballast_get_workflows',
  );
  return new Map(rows.map((row) => [row.id, row]));
}

export async function loadSteps(db: Queryable, s: string, workflowId: string): Promise<StepRecord[]> {
  const { rows } = await db.query<StepRecord>(
    `SELECT ${STEP_COLUMNS} FROM ${s}.steps WHERE workflow_id = $1 ORDER BY idx`,
    [workflowId],
    'ballast_load_steps',
  );
  return rows;
}

export async function finishedAmong(db: Queryable, s: string, ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM ${s}.workflows WHERE id = ANY($1::text[]) AND status IN ${FINAL_STATUSES_SQL}`,
    [ids],
    'ballast_finished_among',
  );
  return rows.map((row) => row.id);
}

/**
 * Takes over this executor's PENDING workflows after a restart (a crash: a graceful shutdown hands
 * them back): bumping the epoch fences any previous incarnation that might still be writing, and
 * the takeover counts as a recovery.
 */
export async function reclaimOwnPending(
  db: Queryable,
  s: string,
  owner: string,
  appVersion: string,
  now: number,
  only: string[] | null = null,
): Promise<WorkflowRecord[]> {
  const { rows } = await db.query<WorkflowRecord>(
    `UPDATE ${s}.workflows SET epoch = epoch + 1, attempts = attempts + 1, recoveries = recoveries + 1, updated_at = $3
     WHERE owner = $1 AND status = 'PENDING' AND app_version = $2${only === null ? '' : ' AND id = ANY($4::text[])'}
     RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`,
    only === null ? [owner, appVersion, now] : [owner, appVersion, now, only],
  );
  return rows;
}

/**
 * Ends a running workflow from outside its code (its deadline passed, or it exhausted its
 * recoveries), fenced like any write of its owner: only if still PENDING under this lease.
 */
export async function finishFenced(
  db: Queryable,
  s: string,
  lease: Lease,
  status: 'ERROR' | 'DEAD_LETTER',
  error: string,
  now: number,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${s}.workflows SET status = $4, error = $5, completed_at = $6, updated_at = $6
     WHERE id = $1 AND owner = $2 AND epoch = $3 AND status = 'PENDING'`,
    [lease.workflowId, lease.owner, lease.epoch, status, error, now],
  );
  return rowCount > 0;
}

export interface LeaseState {
  status: WorkflowStatus;
  owned: boolean;
  /** The checkpoint recorded at the asked position, if any. */
  step: { output: string | null; error: string | null } | null;
}

/** After a write was refused: why? (cancelled, finished, taken over, or applied by an earlier try). */
export async function leaseState(db: Queryable, s: string, lease: Lease, idx: number | null): Promise<LeaseState | undefined> {
  const { rows } = await db.query<LeaseState>(
    `SELECT w.status, (w.owner = $2 AND w.epoch = $3) AS owned,
            (SELECT json_build_object('output', st.output, 'error', st.error) FROM ${s}.steps st
             WHERE st.workflow_id = w.id AND st.idx = $4) AS step
     FROM ${s}.workflows w WHERE w.id = $1`,
    [lease.workflowId, lease.owner, lease.epoch, idx ?? -1],
  );
  return rows[0];
}

/**
 * Cancels an active workflow and, with `withChildren`, every active workflow below it (children,
 * their children, …, through the parent index). Returns the IDs it cancelled.
 */
export async function cancelWorkflows(db: Queryable, s: string, id: string, withChildren: boolean, now: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH RECURSIVE tree AS (
       SELECT $1::text COLLATE "C" AS id
       UNION
       SELECT w.id FROM ${s}.workflows w JOIN tree t ON w.parent_id = t.id WHERE $2::bool
     )
     UPDATE ${s}.workflows SET status = 'CANCELLED', completed_at = $3, updated_at = $3
     WHERE id IN (SELECT id FROM tree) AND status IN ('ENQUEUED', 'DELAYED', 'PENDING')
     RETURNING id`,
    [id, withChildren, now],
  );
  return rows.map((row) => row.id);
}

/** The statuses a workflow can be resumed from. */
export const RESUMABLE_STATUSES = ['CANCELLED', 'ERROR', 'DEAD_LETTER'] as const;

/**
 * Resumes a cancelled, failed or dead-lettered workflow: it replays its checkpoints and carries on,
 * with a fresh recovery count. One with a queue goes back to it (its limits apply; it keeps its
 * priority and place in arrival order); one without runs under `owner`, or, with owner null, is
 * left for an executor of its version to adopt. A workflow timeout starts counting again. Returns
 * undefined when the workflow is not in a resumable status (or does not exist): nothing changed.
 */
export async function resumeWorkflow(db: Queryable, s: string, id: string, owner: string | null, now: number): Promise<WorkflowRecord | undefined> {
  const { rows } = await db.query<WorkflowRecord>(
    `UPDATE ${s}.workflows
     SET status = CASE WHEN queue IS NOT NULL THEN 'ENQUEUED' ELSE 'PENDING' END,
         owner = CASE WHEN queue IS NOT NULL THEN NULL ELSE $2::text END,
         -- attempts keeps counting (it is at least 1 here): a claim or adoption that finds more than one
         -- knows the workflow ran before, and loads its history to replay it
         epoch = epoch + 1, attempts = attempts + CASE WHEN queue IS NULL AND $2::text IS NOT NULL THEN 1 ELSE 0 END, recoveries = 0,
         output = NULL, error = NULL, completed_at = NULL, started_at = COALESCE(started_at, $3), updated_at = $3,
         deadline_at = CASE WHEN timeout_ms IS NULL OR queue IS NOT NULL THEN NULL ELSE $3 + timeout_ms END
     WHERE id = $1 AND status IN (${RESUMABLE_STATUSES.map((status) => `'${status}'`).join(', ')})
     RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`,
    [id, owner, now],
  );
  return rows[0];
}

/** Deletes finished workflows among `ids` with their checkpoints, events and messages; returns the IDs deleted. */
export async function deleteWorkflows(db: Queryable, s: string, ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    deleteWithHistory(s, `SELECT id FROM ${s}.workflows WHERE id = ANY($1::text[]) AND status IN ${FINAL_STATUSES_SQL} FOR UPDATE`, 'SELECT id FROM gone'),
    [ids],
  );
  return rows.map((row) => row.id);
}

/** Copies a workflow into a new one that keeps the checkpoints before `fromStep`. */
export async function forkWorkflow(
  db: Queryable,
  s: string,
  sourceId: string,
  newId: string,
  fromStep: number,
  fields: { owner: string | null; appVersion: string; now: number },
): Promise<WorkflowRecord | undefined> {
  const { rows } = await db.query<WorkflowRecord>(
    `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, priority, owner, epoch, attempts, parent_id,
       input, timeout_ms, deadline_at, created_at, started_at, updated_at, attributes)
     SELECT $2, name, 'PENDING', app_name, $4, NULL, priority, $3::text, 1, CASE WHEN $3::text IS NULL THEN 0 ELSE 1 END, parent_id,
       input, timeout_ms, CASE WHEN timeout_ms IS NULL THEN NULL ELSE $5 + timeout_ms END, $5, $5, $5, attributes
     FROM ${s}.workflows WHERE id = $1
     RETURNING ${WORKFLOW_COLUMNS}, ${RUN_COLUMNS}`,
    [sourceId, newId, fields.owner, fields.appVersion, fields.now],
  );
  if (rows.length === 0) return undefined;
  await db.query(
    `INSERT INTO ${s}.steps (workflow_id, idx, name, output, error, child_id, started_at, completed_at, attempts)
     SELECT $2, idx, name, output, error, child_id, started_at, completed_at, attempts FROM ${s}.steps WHERE workflow_id = $1 AND idx < $3`,
    [sourceId, newId, fromStep],
  );
  return rows[0];
}
