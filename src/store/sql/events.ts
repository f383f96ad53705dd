import type { Queryable } from '../driver.js';

export async function readEvent(db: Queryable, s: string, workflowId: string, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>(
    `SELECT value FROM ${s}.events WHERE workflow_id = $1 AND key = $2`,
    [workflowId, key],
    'ballast_read_event',
  );
  return rows[0]?.value;
}
