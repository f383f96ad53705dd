import { ValidationError } from '../errors.js';
import { pgliteRowCount, type Queryable, type QueryResult } from './driver.js';
import type { QueueLimits } from '../queues/options.js';
import type { NewWorkflow } from './records.js';
import { flushStatement } from './sql/flush.js';
import { findActiveByDedup, readQueues } from './sql/queues.js';
import { insertOrphan, type OrphanWorkflow } from './sql/schedules.js';
import { packWakeKeys, wakeKey } from './wakeups.js';

/** Where an enqueue inserts its row and looks when the insert conflicts. */
export interface WorkflowInserts {
  /** False when a row with that ID (or dedup key) already exists. */
  insert(row: NewWorkflow): Promise<boolean>;
  exists(id: string): Promise<boolean>;
  activeByDedup(queue: string, dedupId: string): Promise<string | undefined>;
}

const WHAT_TO_PASS =
  'pass your open transaction on the system database: a node-postgres Client or PoolClient on which you ran BEGIN ' +
  '(and will COMMIT), or a PGlite transaction';

/** Inserts in the caller's transaction, which also reads the queue's limits. */
export interface OutboxInserts extends WorkflowInserts {
  queueLimits(queue: string): Promise<QueueLimits | undefined>;
}

/**
 * The caller's own transaction (the outbox option) as a Queryable, after checking it looks like
 * one: a pool or a whole PGlite database would run each statement in a transaction of its own.
 */
export function callerTransaction(value: unknown, what: string): Queryable {
  const candidate = value as { query?: unknown; totalCount?: unknown; transaction?: unknown } | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.query !== 'function') {
    throw new ValidationError(`${what}: transaction must be a database client in a transaction; ${WHAT_TO_PASS}. Got ${describeValue(value)}.`);
  }
  if (typeof candidate.totalCount === 'number' || typeof candidate.transaction === 'function') {
    throw new ValidationError(`${what}: transaction is a pool or a database, not a transaction (each statement would commit on its own); ${WHAT_TO_PASS}.`);
  }
  const client = candidate as { query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null; affectedRows?: number }> };
  return {
    async query<Row>(sql: string, params?: unknown[]): Promise<QueryResult<Row>> {
      let result: Awaited<ReturnType<typeof client.query>>;
      try {
        result = await client.query(sql, params);
      } catch (error) {
        if ((error as { code?: unknown }).code === '42P01') {
          throw new ValidationError(`${what}: the transaction's database has no Ballast tables; ${WHAT_TO_PASS}. (${(error as Error).message})`);
        }
        throw error;
      }
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? pgliteRowCount(result) };
    },
    exec: () => Promise.reject(new Error('not used on a caller transaction')),
  };
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'} without a query method`;
  return `a ${typeof value}`;
}

/**
 * Inserts in the caller's transaction, with the wake-up NOTIFY in it too: the workflow exists, and
 * the dispatchers hear of it, if and only if the caller commits. The insert is the group-commit
 * writer's own statement for one start (see flushStatement).
 */
export function outboxInserts(tx: Queryable, s: string, channel: string): OutboxInserts {
  return {
    // Through the caller's transaction: on the embedded database, any other statement would wait for it.
    queueLimits: async (queue) => (await readQueues(tx, s, [queue]))[0],
    async insert(row) {
      const keys = row.queue === null ? [] : [wakeKey(row.status === 'DELAYED' ? 'delayed' : 'queue', row.queue)];
      const noWaiter = { resolve: () => undefined, reject: () => undefined };
      const statement = flushStatement(s, channel, { starts: [{ item: row, waiter: noWaiter }], checkpoints: [], completions: [], streams: [] }, packWakeKeys(keys));
      const { rows } = await tx.query<{ k: string }>(statement.text, statement.params);
      return rows.some((row) => row.k === 's');
    },
    async exists(id) {
      return (await tx.query(`SELECT 1 FROM ${s}.workflows WHERE id = $1`, [id])).rowCount > 0;
    },
    activeByDedup: (queue, dedupId) => findActiveByDedup(tx, s, queue, dedupId),
  };
}

/** A direct start in the caller's transaction: an ownerless workflow that an executor adopts after the commit. */
export function insertOrphanIn(tx: Queryable, s: string, channel: string, orphan: OrphanWorkflow): Promise<boolean> {
  return insertOrphan(tx, s, channel, wakeKey('orphans'), orphan);
}
