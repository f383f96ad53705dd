import type { Queryable } from '../driver.js';
import { FINAL_STATUSES, WORKFLOW_COLUMNS, type WorkflowRecord, type WorkflowStatus } from '../records.js';

/** A validated workflow filter (see WorkflowFilter in the public API). */
export interface ListQuery {
  statuses: WorkflowStatus[] | null;
  name: string | null;
  queue: string | null;
  executorId: string | null;
  appVersion: string | null;
  parentId: string | null;
  idPrefix: string | null;
  /** Workflows that carry every one of these attributes. */
  attributes: Record<string, string> | null;
  createdAfter: number | null;
  createdBefore: number | null;
  completedAfter: number | null;
  completedBefore: number | null;
  limit: number;
  offset: number;
  order: 'asc' | 'desc';
  withPayloads: boolean;
  /** Keyset cursor: only workflows after this one in the list's order. */
  after: { createdAt: number; id: string } | null;
  /** Text searched for in input, output and error (case-insensitive); needs createdAfter. */
  search: string | null;
  /** Statement timeout of a search. */
  searchTimeoutMs: number;
}

/**
 * Each group of statuses has its own partial index. Finished workflows are indexed by creation
 * time; active ones have no such index (it would cost an entry on every enqueue and claim) and are
 * reached through the index of their state: waiting (workflows_queue_ready), delayed
 * (workflows_delayed), running (workflows_pending). Active rows are few next to the finished
 * history, so sorting them is cheap.
 */
const STATUS_GROUPS: ReadonlyArray<readonly WorkflowStatus[]> = [FINAL_STATUSES, ['PENDING'], ['ENQUEUED'], ['DELAYED']];

/**
 * One statement, built from the filters present: each status group present in the filter is read
 * through its own index, newest (or oldest) first, and the groups are merged by creation time.
 */
export async function listWorkflows(db: Queryable, s: string, query: ListQuery): Promise<WorkflowRecord[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (query.name !== null) where.push(`name = ${bind(query.name)}`);
  if (query.queue !== null) where.push(`queue = ${bind(query.queue)}`);
  if (query.executorId !== null) where.push(`owner = ${bind(query.executorId)}`);
  if (query.appVersion !== null) where.push(`app_version = ${bind(query.appVersion)}`);
  if (query.parentId !== null) where.push(`parent_id = ${bind(query.parentId)}`);
  if (query.idPrefix !== null) {
    // The range lets the planner read the primary key instead of walking the history by creation time.
    const upper = prefixUpperBound(query.idPrefix);
    where.push(`starts_with(id, ${bind(query.idPrefix)})`, `id >= ${bind(query.idPrefix)}`);
    if (upper !== null) where.push(`id < ${bind(upper)}`);
  }
  // Containment, which the GIN index of attributes (workflows_attributes) answers. A literal, not a
  // parameter: Ballast's connections plan generically, and a generic plan cannot tell how few rows a
  // containment matches, so it would walk the whole history by creation time instead of the index.
  if (query.attributes !== null) where.push(`attributes @> ${jsonbLiteral(query.attributes)}`);
  if (query.search !== null) {
    const pattern = bind(`%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(input ILIKE ${pattern} OR output ILIKE ${pattern} OR error ILIKE ${pattern})`);
  }
  if (query.createdAfter !== null) where.push(`created_at >= ${bind(query.createdAfter)}`);
  if (query.createdBefore !== null) where.push(`created_at < ${bind(query.createdBefore)}`);
  if (query.completedAfter !== null) where.push(`completed_at >= ${bind(query.completedAfter)}`);
  if (query.completedBefore !== null) where.push(`completed_at < ${bind(query.completedBefore)}`);
  if (query.after !== null) {
    where.push(`(created_at, id) ${query.order === 'asc' ? '>' : '<'} (${bind(query.after.createdAt)}::int8, ${bind(query.after.id)}::text)`);
  }
  const columns = query.withPayloads ? `${WORKFLOW_COLUMNS}, input, output, error` : WORKFLOW_COLUMNS;
  const direction = query.order === 'asc' ? 'ASC' : 'DESC';
  // Limits are literals too (validated integers): a generic plan that does not know how many rows are
  // wanted prefers walking an index in order and filtering, over reading the few rows an attribute matches.
  const reach = String(query.limit + query.offset);
  const parts = STATUS_GROUPS.flatMap((statuses) => {
    const wanted = statuses.filter((status) => query.statuses === null || query.statuses.includes(status));
    if (wanted.length === 0) return [];
    // Statuses are a closed set of literals, so they are spelled out: the planner must see them to
    // match the partial indexes.
    const filter = [`status IN (${wanted.map((status) => `'${status}'`).join(', ')})`, ...where].join(' AND ');
    return [`(SELECT ${columns} FROM ${s}.workflows WHERE ${filter} ORDER BY created_at ${direction}, id ${direction} LIMIT ${reach})`];
  });
  if (parts.length === 0) return [];
  const { rows } = await db.query<WorkflowRecord>(
    `SELECT * FROM (${parts.join(' UNION ALL ')}) AS found
     ORDER BY "createdAt" ${direction}, id ${direction}
     LIMIT ${query.limit} OFFSET ${query.offset}`,
    params,
  );
  return rows;
}

/**
 * A search reads payloads, so it runs under a statement timeout (SET LOCAL: the transaction's own),
 * within the time range its query must give.
 */
export async function searchWorkflows(tx: Queryable, s: string, query: ListQuery): Promise<WorkflowRecord[]> {
  await tx.query(`SELECT set_config('statement_timeout', $1, true)`, [String(query.searchTimeoutMs)]);
  return listWorkflows(tx, s, query);
}

/** The smallest string above every string that starts with `prefix` (ids compare byte-wise, COLLATE "C"). */
function prefixUpperBound(prefix: string): string | null {
  const chars = [...prefix];
  const last = chars.pop();
  if (last === undefined) return null;
  const code = (last.codePointAt(0) as number) + 1;
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return null;
  return chars.join('') + String.fromCodePoint(code);
}

/** A JSON value as an SQL literal (standard_conforming_strings: only the quote is special). */
function jsonbLiteral(value: unknown): string {
  return `'${JSON.stringify(value).replace(/'/g, "''")}'::jsonb`;
}
