import type { Queryable } from '../driver.js';
import { WORKFLOW_COLUMNS, type WorkflowRecord, type WorkflowStatus } from '../records.js';

/** A validated workflow filter (see WorkflowFilter in the public API). */
export interface ListQuery {
  statuses: WorkflowStatus[] | null;
  name: string | null;
  queue: string | null;
  executorId: string | null;
  appVersion: string | null;
  parentId: string | null;
  idPrefix: string | null;
  createdAfter: number | null;
  createdBefore: number | null;
  completedAfter: number | null;
  completedBefore: number | null;
  limit: number;
  offset: number;
  order: 'asc' | 'desc';
  withPayloads: boolean;
}

/** One statement, built from the filters present; ordered by creation time (the workflows_created index). */
export async function listWorkflows(db: Queryable, s: string, query: ListQuery): Promise<WorkflowRecord[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (query.statuses !== null) where.push(`status = ANY(${bind(query.statuses)}::text[])`);
  if (query.name !== null) where.push(`name = ${bind(query.name)}`);
  if (query.queue !== null) where.push(`queue = ${bind(query.queue)}`);
  if (query.executorId !== null) where.push(`owner = ${bind(query.executorId)}`);
  if (query.appVersion !== null) where.push(`app_version = ${bind(query.appVersion)}`);
  if (query.parentId !== null) where.push(`parent_id = ${bind(query.parentId)}`);
  if (query.idPrefix !== null) where.push(`starts_with(id, ${bind(query.idPrefix)})`);
  if (query.createdAfter !== null) where.push(`created_at >= ${bind(query.createdAfter)}`);
  if (query.createdBefore !== null) where.push(`created_at < ${bind(query.createdBefore)}`);
  if (query.completedAfter !== null) where.push(`completed_at >= ${bind(query.completedAfter)}`);
  if (query.completedBefore !== null) where.push(`completed_at < ${bind(query.completedBefore)}`);
  const columns = query.withPayloads ? `${WORKFLOW_COLUMNS}, input, output, error` : WORKFLOW_COLUMNS;
  const direction = query.order === 'asc' ? 'ASC' : 'DESC';
  const { rows } = await db.query<WorkflowRecord>(
    `SELECT ${columns} FROM ${s}.workflows
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY created_at ${direction}, id ${direction}
     LIMIT ${bind(query.limit)} OFFSET ${bind(query.offset)}`,
    params,
  );
  return rows;
}
