/** Shapes of the rows the engine reads and writes; SQL selects alias columns to these names. */
export type WorkflowStatus = 'ENQUEUED' | 'DELAYED' | 'PENDING' | 'SUCCESS' | 'ERROR' | 'CANCELLED' | 'DEAD_LETTER';

export const ACTIVE_STATUSES: readonly WorkflowStatus[] = ['ENQUEUED', 'DELAYED', 'PENDING'];
export const FINAL_STATUSES: readonly WorkflowStatus[] = ['SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER'];
/**
 * FINAL_STATUSES as an SQL list, spelled exactly as the predicate of the index of finished rows
 * (workflows_finished_created), so that the planner can match a query to that index.
 */
export const FINAL_STATUSES_SQL = `(${FINAL_STATUSES.map((status) => `'${status}'`).join(', ')})`;

export function isFinal(status: WorkflowStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** A workflow row to insert (a direct start, an enqueue, or a child). */
export interface NewWorkflow {
  id: string;
  name: string;
  status: 'PENDING' | 'ENQUEUED' | 'DELAYED';
  appName: string;
  appVersion: string;
  queue: string | null;
  partitionKey: string | null;
  dedupId: string | null;
  priority: number;
  owner: string | null;
  epoch: number;
  input: string;
  parentId: string | null;
  timeoutMs: number | null;
  deadlineAt: number | null;
  availableAt: number | null;
  createdAt: number;
  startedAt: number | null;
  /**
   * A child's parent lease: the insert is refused in its own statement unless the parent is still
   * PENDING under this owner and epoch, so a fenced-out parent starts no child.
   */
  parentOwner?: string;
  parentEpoch?: number;
  /** The W3C trace context of the code that started or enqueued it (null or absent: none). */
  traceContext?: string | null;
  /** Its attributes (absent or null: none). */
  attributes?: Record<string, string> | null;
}

export interface WorkflowRecord extends Omit<NewWorkflow, 'status' | 'input' | 'parentOwner' | 'parentEpoch'> {
  /** Arrival order (FIFO tie-breaker within a priority). */
  seq: number;
  status: WorkflowStatus;
  attempts: number;
  /** Times the workflow was taken over after its executor died (see maxRecoveryAttempts). */
  recoveries: number;
  /** Present when selected: payloads are read only on request. */
  input?: string | null;
  output?: string | null;
  error?: string | null;
  completedAt: number | null;
  updatedAt: number;
}

/** What running a workflow needs of its row (all an executor reads back when it claims one). */
export interface RunnableWorkflow {
  id: string;
  /** The W3C trace context it was started or enqueued under (a run's span continues that trace). */
  traceContext?: string | null;
  name: string;
  queue: string | null;
  epoch: number;
  attempts: number;
  timeoutMs: number | null;
  deadlineAt: number | null;
  input?: string | null;
}

export interface StepRecord {
  idx: number;
  name: string;
  output: string | null;
  error: string | null;
  childId: string | null;
  startedAt: number | null;
  completedAt: number;
  /** Attempts of a step that was retried; null for one. */
  attempts: number | null;
}

/** Ownership of a running workflow: checkpoints and completions are fenced on both. */
export interface Lease {
  workflowId: string;
  owner: string;
  epoch: number;
}

export interface NewCheckpoint extends Lease {
  idx: number;
  name: string;
  output: string | null;
  error: string | null;
  childId: string | null;
  startedAt: number | null;
  completedAt: number;
  /** A step's attempts, when it was retried. */
  attempts?: number;
  /** Written in the same transaction, only if the checkpoint is. */
  message?: { destinationId: string; topic: string; payload: string };
  event?: { key: string; value: string };
  /** Set by the writer: the workflow's own row is inserted by the same statement. */
  withStart?: true;
}

/** One position of a workflow's stream: a value, or (value null) the end that closeStream marks. */
export interface StreamRow {
  key: string;
  position: number;
  value: string | null;
  writtenAt: number;
}

/** Stream rows of one workflow written together, fenced like its checkpoints. */
export interface StreamAppend extends Lease {
  rows: StreamRow[];
}

export interface Completion extends Lease {
  /** The workflow's queue, if any: its completion frees a slot there. */
  queue: string | null;
  status: 'SUCCESS' | 'ERROR' | 'CANCELLED';
  output: string | null;
  error: string | null;
  completedAt: number;
}

export const WORKFLOW_COLUMNS = `id, seq, name, status, app_name AS "appName", app_version AS "appVersion", queue,
  partition_key AS "partitionKey", dedup_id AS "dedupId", priority, owner, epoch, attempts, recoveries, parent_id AS "parentId",
  timeout_ms AS "timeoutMs", deadline_at AS "deadlineAt", available_at AS "availableAt", created_at AS "createdAt",
  started_at AS "startedAt", completed_at AS "completedAt", updated_at AS "updatedAt", attributes`;

export const RUNNABLE_COLUMNS = `id, name, queue, epoch, attempts, timeout_ms AS "timeoutMs", deadline_at AS "deadlineAt", input,
  trace_context AS "traceContext"`;

/** What running a workflow needs beyond WORKFLOW_COLUMNS: its input and trace context. */
export const RUN_COLUMNS = `input, trace_context AS "traceContext"`;

export const STEP_COLUMNS = `idx, name, output, error, child_id AS "childId", started_at AS "startedAt", completed_at AS "completedAt", attempts`;
