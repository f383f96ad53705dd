import type { Queryable } from '../driver.js';

export async function readEvent(db: Queryable, s: string, workflowId: string, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>(
    `SELECT value FROM ${s}.events WHERE workflow_id = $1 AND key = $2`,
    [workflowId, key],
    'ballast_read_event',
  );
  return rows[0]?.value;
}

/** Every event a workflow set, by key (its latest value each). */
export async function listEvents(db: Queryable, s: string, workflowId: string): Promise<Array<{ key: string; value: string; updatedAt: number }>> {
  const { rows } = await db.query<{ key: string; value: string; updatedAt: number }>(
    `SELECT key, value, updated_at AS "updatedAt" FROM ${s}.events WHERE workflow_id = $1 ORDER BY key`,
    [workflowId],
  );
  return rows;
}
