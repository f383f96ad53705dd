import type { Queryable } from '../driver.js';
import type { WorkflowStatus } from '../records.js';

/** Rows of a stream from a position on, and the status of its workflow, read in one snapshot. */
export interface StreamPage {
  /** Undefined when no workflow has this ID. */
  status: WorkflowStatus | undefined;
  /** In position order; a row with a null value is the stream's end. */
  rows: Array<{ position: number; value: string | null }>;
}

/**
 * One statement, so one snapshot: a workflow seen finished has no row that this read missed,
 * which is what lets a reader end at a finished workflow's last value.
 */
export async function readStreamPage(db: Queryable, s: string, workflowId: string, key: string, from: number, limit: number): Promise<StreamPage> {
  const { rows } = await db.query<{ status: WorkflowStatus; position: number | null; value: string | null }>(
    `SELECT w.status, t.position, t.value
     FROM ${s}.workflows w
     LEFT JOIN LATERAL (
       SELECT position, value FROM ${s}.streams
       WHERE workflow_id = w.id AND key = $2 AND position >= $3
       ORDER BY position LIMIT $4) AS t ON true
     WHERE w.id = $1`,
    [workflowId, key, from, limit],
    'ballast_read_stream',
  );
  return {
    status: rows[0]?.status,
    rows: rows.flatMap((row) => (row.position === null ? [] : [{ position: row.position, value: row.value }])),
  };
}
