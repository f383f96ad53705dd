import pg from 'pg';
import { transactionCharacteristics, type BeginOptions, type Driver, type NotificationHandlers, type Queryable, type QueryResult, type Transaction } from './driver.js';
import { Listener } from './pg-listener.js';
import { isTransientError } from './retry.js';
import { ConnectionStalledError, StallWatch, type Watched } from './stall-watch.js';

const INT8_OID = 20;
// Times are stored as bigint epoch milliseconds; they fit a JS number exactly.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** How long close() waits for connections to finish closing before cutting them. */
const CLOSE_WAIT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** Beyond the statement timeout, how long an unanswered statement waits before its connection is judged dead. */
const STALL_GRACE_MS = 2_000;
/** The default statement timeout, for processes that hold no lease (BallastClient, the CLI). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

export interface PgDriverOptions {
  connectionString: string;
  poolSize: number;
  applicationName: string;
  /**
   * A transaction left idle this long is ended by the server. Ballast's transactions are a few
   * statements long: one idle for that long belongs to a process that is paused or cut off, and
   * must not keep holding a queue's claim lock or a dead executor's row from the rest of the fleet.
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * The server ends a statement of Ballast's that runs longer than this (statement_timeout), and
   * a statement still unanswered a little after it is on a dead connection, which is closed (see
   * StallWatch). Default DEFAULT_STATEMENT_TIMEOUT_MS.
   */
  statementTimeoutMs?: number;
  logger: { warn(message: string): void };
}

/**
 * Postgres through node-postgres: a pool for statements and transactions, one pipelined connection
 * for the group-commit writer, one per LISTEN. However a connection fails (the server restarts, a
 * session is terminated, the network resets or freezes), the failure becomes an error of the
 * statements in flight on it, which the store retries, and never an unhandled `error` event: every
 * connection has an error listener from the moment it exists until it is closed.
 */
export class PgDriver implements Driver {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly watch: StallWatch;
  /** The watch's record of each pool connection. */
  private readonly pooled = new Map<pg.Client, Watched>();
  private readonly listeners = new Set<Listener>();
  private writerClient: pg.Client | undefined;
  private writerWatched: Watched | undefined;
  private writerConnecting: Promise<pg.Client> | undefined;
  private closing = false;

  constructor(private readonly options: PgDriverOptions) {
    const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.watch = new StallWatch(statementTimeoutMs + STALL_GRACE_MS, (watched, silentMs) => {
      options.logger.warn(`a database connection answered nothing for ${Math.round(silentMs)} ms: closing it, its statements are retried on another`);
      watched.destroy(new ConnectionStalledError(silentMs));
    });
    this.pool = new pg.Pool({ ...this.clientConfig(options.applicationName), max: options.poolSize, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection (server restart) must not crash the process; a checked
    // out one has a listener of its own (see checkout).
    this.pool.on('error', (error) => options.logger.warn(`idle database connection failed: ${error.message}`));
    this.pool.on('connect', (client) => this.pooled.set(client, this.watch.watch((error) => client.connection.stream.destroy(error))));
    this.pool.on('remove', (client) => {
      const watched = this.pooled.get(client);
      if (watched) this.watch.forget(watched);
      this.pooled.delete(client);
    });
  }

  private clientConfig(applicationName: string): pg.ClientConfig {
    const settings = [
      // Our statements are written so their generic plans are the good ones (see docs/schema.md);
      // re-planning a flush on every execution costs more than executing it.
      '-c plan_cache_mode=force_generic_plan',
      // Each statement reads a handful of rows, but a generic plan's row guesses can push its cost
      // over jit_above_cost: compiling it then takes 50-300 ms for well under a millisecond of work.
      '-c jit=off',
      `-c statement_timeout=${this.options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}`,
    ];
    if (this.options.idleInTransactionTimeoutMs !== undefined) {
      settings.push(`-c idle_in_transaction_session_timeout=${this.options.idleInTransactionTimeoutMs}`);
    }
    return {
      connectionString: this.options.connectionString,
      application_name: applicationName,
      types,
      options: settings.join(' '),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    };
  }

  query<Row>(sql: string, params?: unknown[], prepare?: string): Promise<QueryResult<Row>> {
    return this.checkout((client, watched) => this.run<Row>(client, watched, sql, params, prepare));
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: BeginOptions = {}): Promise<T> {
    return this.checkout(async (client, watched, markBroken) => {
      // Unbounded work (migrations: DDL that may run long or wait for a lock) is left unwatched.
      const watch = options.unbounded ? undefined : watched;
      const characteristics = transactionCharacteristics(options);
      const begin = characteristics ? `BEGIN ${characteristics}` : 'BEGIN';
      await this.run(client, watch, options.unbounded ? `${begin}; SET LOCAL statement_timeout = 0` : begin);
      try {
        const value = await fn({
          client,
          query: <Row>(sql: string, params?: unknown[], prepare?: string) => this.run<Row>(client, watch, sql, params, prepare),
          exec: async (sql: string) => {
            await this.run(client, watch, sql);
          },
        });
        await this.run(client, watch, 'COMMIT');
        return value;
      } catch (error) {
        // On a broken connection the server rolls back by itself, and the failed ROLLBACK keeps
        // the connection from being reused.
        await this.run(client, watch, 'ROLLBACK').catch(markBroken);
        throw error;
      }
    });
  }

  async session<T>(fn: (session: Queryable) => Promise<T>): Promise<T> {
    // Unwatched: a session may run one statement for minutes (an index build on a large table).
    return this.checkout(async (client, _watched, markBroken) => {
      try {
        await this.run(client, undefined, 'SET statement_timeout = 0');
        return await fn({
          query: <Row>(sql: string, params?: unknown[], prepare?: string) => this.run<Row>(client, undefined, sql, params, prepare),
          exec: async (sql: string) => {
            await this.run(client, undefined, sql);
          },
        });
      } finally {
        markBroken(new Error('session ended'));
      }
    });
  }

  /**
   * Runs `fn` on a pool connection. Between checkout and release the pool's own error listener is
   * detached, so this one stands in: a connection that fails while no statement of it is in flight
   * (the session terminated, the server restarted, idle_in_transaction_session_timeout) is only
   * marked broken, and its next statement fails instead. A broken connection leaves the pool.
   */
  private async checkout<T>(
    fn: (client: pg.PoolClient, watched: Watched | undefined, markBroken: (error: Error) => void) => Promise<T>,
  ): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const markBroken = (error: Error) => (broken ??= error);
    client.on('error', markBroken);
    try {
      return await fn(client, this.pooled.get(client), markBroken);
    } catch (error) {
      if (endsConnection(error)) markBroken(error as Error);
      throw error;
    } finally {
      client.off('error', markBroken);
      client.release(broken);
    }
  }

  private async run<Row>(client: pg.Client, watched: Watched | undefined, sql: string, params?: unknown[], prepare?: string): Promise<QueryResult<Row>> {
    if (watched) this.watch.sent(watched);
    try {
      const result = await client.query(prepare ? { name: prepare, text: sql, values: params } : { text: sql, values: params });
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    } finally {
      if (watched) this.watch.answered(watched);
    }
  }

  pipelined<Row>(sql: string, params: unknown[], prepare: string): Promise<QueryResult<Row>> {
    // Sent synchronously when connected, so a statement issued as a reply arrives is on the wire
    // before the reply's own callbacks run.
    const client = this.writerClient;
    if (client) return this.sendPipelined<Row>(client, this.writerWatched as Watched, sql, params, prepare);
    return this.connectWriter().then((connected) => this.sendPipelined<Row>(connected, this.writerWatched as Watched, sql, params, prepare));
  }

  private sendPipelined<Row>(client: pg.Client, watched: Watched, sql: string, params: unknown[], prepare: string): Promise<QueryResult<Row>> {
    this.watch.sent(watched);
    return client.query({ name: prepare, text: sql, values: params }).then(
      (result) => {
        this.watch.answered(watched);
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
      },
      (error: unknown) => {
        this.watch.answered(watched);
        throw error;
      },
    );
  }

  /** The writer's connection, in pipeline mode; a broken one is dropped and the next write reconnects. */
  private connectWriter(): Promise<pg.Client> {
    if (this.closing) return Promise.reject(new Error('Client was closed and is not queryable'));
    this.writerConnecting ??= (async () => {
      const client = new pg.Client({ ...this.clientConfig(this.options.applicationName), pipeline: true } as pg.ClientConfig);
      const watched = this.watch.watch((error) => client.connection.stream.destroy(error));
      const drop = () => {
        this.watch.forget(watched);
        if (this.writerClient === client) {
          this.writerClient = undefined;
          this.writerWatched = undefined;
        }
        void this.end(client);
      };
      client.on('error', drop);
      client.on('end', drop);
      try {
        await client.connect();
      } catch (error) {
        drop();
        throw error;
      } finally {
        this.writerConnecting = undefined;
      }
      if (this.closing) {
        drop();
        throw new Error('Client was closed and is not queryable');
      }
      this.writerClient = client;
      this.writerWatched = watched;
      return client;
    })();
    return this.writerConnecting;
  }

  async listen(channel: string, handlers: NotificationHandlers): Promise<() => Promise<void>> {
    const listener = new Listener(channel, handlers, {
      newClient: () => new pg.Client(this.clientConfig(`${this.options.applicationName}:listen`)),
      watch: this.watch,
      pingIntervalMs: Math.max(1_000, (this.options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS) / 2),
      end: (client) => this.end(client),
      logger: this.options.logger,
    });
    this.listeners.add(listener);
    try {
      await listener.connect();
    } catch (error) {
      this.listeners.delete(listener);
      await listener.close();
      throw error;
    }
    return async () => {
      this.listeners.delete(listener);
      await listener.close();
    };
  }

  /** Ends a client, cutting its connection if the server does not acknowledge within CLOSE_WAIT_MS (a frozen network). */
  private async end(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    client.connection.stream.destroy();
  }

  async close(): Promise<void> {
    this.closing = true;
    const writer = this.writerClient;
    this.writerClient = undefined;
    await Promise.all([...[...this.listeners].map((listener) => listener.close()), writer ? this.end(writer) : undefined]);
    this.listeners.clear();
    // pool.end() resolves once every client was told to end, not once each has: wait for their
    // 'remove' events too, so no connection outlives close() (briefly, or long enough for a server
    // that drops it meanwhile to report an error), and cut the ones a frozen network holds.
    const allRemoved = new Promise<void>((resolve) => {
      if (this.pooled.size === 0) return resolve();
      this.pool.on('remove', () => {
        if (this.pooled.size === 0) resolve();
      });
    });
    const connected = [...this.pooled.keys()];
    await this.pool.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allRemoved, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    for (const client of connected) client.connection.stream.destroy();
    this.watch.close();
  }
}

/** Whether a statement's error means its connection is gone (or going): a FATAL from the server, or a connection failure. */
function endsConnection(error: unknown): boolean {
  const severity = (error as { severity?: unknown } | null)?.severity;
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  return severity === undefined && isTransientError(error);
}
