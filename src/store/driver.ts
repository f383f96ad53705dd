/**
 * The one interface the engine uses to talk to a database. Two implementations: node-postgres
 * (a pool, for real servers and fleets) and PGlite (embedded, one process).
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  /** `prepare` names the statement so drivers that support it reuse the parsed plan. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], prepare?: string): Promise<QueryResult<Row>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface NotificationHandlers {
  onNotification(payload: string): void;
  /** Called after the listening connection was (re)established: wake-ups may have been missed. */
  onReconnect(): void;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface BeginOptions {
  /**
   * No statement timeout and no watch for a dead connection: for migrations, whose DDL may run
   * long on a large table or wait for another replica's migration.
   */
  unbounded?: boolean;
  /** The transaction's isolation level (default: the server's, normally read committed). */
  isolation?: IsolationLevel;
  readOnly?: boolean;
}

/** A transaction in progress, with the driver's own client for libraries that wrap one (Kysely, Drizzle, Knex). */
export interface Transaction extends Queryable {
  /** node-postgres: the pool's `PoolClient`; PGlite: its `Transaction`. */
  readonly client: unknown;
}

/**
 * Rows a PGlite statement affected or returned, as node-postgres counts them: PGlite reports 0
 * affected rows for a SELECT (one over a data-modifying CTE included) whatever it returned.
 */
export function pgliteRowCount(result: { rows: unknown[]; affectedRows?: number }): number {
  return Math.max(result.affectedRows ?? 0, result.rows.length);
}

/** `SET TRANSACTION` characteristics for `options`, or undefined for the defaults. */
export function transactionCharacteristics(options: BeginOptions): string | undefined {
  const parts: string[] = [];
  if (options.isolation) parts.push(`ISOLATION LEVEL ${options.isolation.toUpperCase()}`);
  if (options.readOnly) parts.push('READ ONLY');
  return parts.length === 0 ? undefined : parts.join(' ');
}

export interface Driver extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs a prepared statement on the connection reserved for the group-commit writer. A statement
   * sent while earlier ones still run is pipelined behind them: each is its own transaction and
   * they execute in the order sent, the next starting as soon as the previous one commits.
   */
  pipelined<Row = Record<string, unknown>>(sql: string, params: unknown[], prepare: string): Promise<QueryResult<Row>>;
  /** Runs `fn` in one transaction on one connection; commits if it resolves, rolls back if it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: BeginOptions): Promise<T>;
  /**
   * Runs `fn` on one connection of its own, outside any transaction and without a statement timeout:
   * for work that must not run in a transaction block (CREATE INDEX CONCURRENTLY) or that holds a
   * session-level advisory lock. The connection is closed afterwards, so no session state leaks.
   */
  session<T>(fn: (session: Queryable) => Promise<T>): Promise<T>;
  /** LISTEN on `channel` on a connection of its own, re-established after it drops. */
  listen(channel: string, handlers: NotificationHandlers): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
