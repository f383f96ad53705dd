import pg from 'pg';
import type { Driver, NotificationHandlers, Queryable, QueryResult } from './driver.js';

const INT8_OID = 20;
// Times are stored as bigint epoch milliseconds; they fit a JS number exactly.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** How long close() waits for the pool's connections to finish closing. */
const CLOSE_WAIT_MS = 2_000;

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
  logger: { warn(message: string): void };
}

/** Settings of every session: generic plans (see the pool's comment) and the idle-transaction limit. */
function sessionOptions(options: PgDriverOptions): string {
  const settings = ['-c plan_cache_mode=force_generic_plan'];
  if (options.idleInTransactionTimeoutMs !== undefined) settings.push(`-c idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs}`);
  return settings.join(' ');
}

export class PgDriver implements Driver {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly listeners = new Set<Listener>();
  private writerClient: pg.Client | undefined;
  private writerConnecting: Promise<pg.Client> | undefined;
  private closing = false;

  constructor(private readonly options: PgDriverOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize,
      application_name: options.applicationName,
      types,
      // Our statements are written so their generic plans are the good ones (see docs/schema.md);
      // re-planning a flush on every execution costs more than executing it.
      options: sessionOptions(options),
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection (server restart) must not crash the process.
    this.pool.on('error', (error) => options.logger.warn(`idle database connection failed: ${error.message}`));
  }

  async query<Row>(sql: string, params?: unknown[], prepare?: string): Promise<QueryResult<Row>> {
    const result = await this.pool.query(prepare ? { name: prepare, text: sql, values: params } : { text: sql, values: params });
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  pipelined<Row>(sql: string, params: unknown[], prepare: string): Promise<QueryResult<Row>> {
    const run = async (client: pg.Client): Promise<QueryResult<Row>> => {
      const result = await client.query({ name: prepare, text: sql, values: params });
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    };
    // Sent synchronously when connected, so a statement issued as a reply arrives is on the wire
    // before the reply's own callbacks run.
    const client = this.writerClient;
    return client ? run(client) : this.connectWriter().then(run);
  }

  /** The writer's connection, in pipeline mode; a broken one is dropped and the next write reconnects. */
  private connectWriter(): Promise<pg.Client> {
    if (this.closing) return Promise.reject(new Error('Client was closed and is not queryable'));
    this.writerConnecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.connectionString,
        application_name: this.options.applicationName,
        types,
        options: sessionOptions(this.options),
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
        pipeline: true,
      });
      const drop = () => {
        if (this.writerClient === client) this.writerClient = undefined;
        client.end().catch(() => undefined);
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
      return client;
    })();
    return this.writerConnecting;
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const tx: Queryable = {
        async query<Row>(sql: string, params?: unknown[], prepare?: string) {
          const result = await client.query(prepare ? { name: prepare, text: sql, values: params } : { text: sql, values: params });
          return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
        },
        async exec(sql: string) {
          await client.query(sql);
        },
      };
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async listen(channel: string, handlers: NotificationHandlers): Promise<() => Promise<void>> {
    const listener = new Listener(this.options, channel, handlers);
    this.listeners.add(listener);
    await listener.connect();
    return async () => {
      this.listeners.delete(listener);
      await listener.close();
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.listeners].map((listener) => listener.close()));
    this.listeners.clear();
    const writer = this.writerClient;
    this.writerClient = undefined;
    await writer?.end().catch(() => undefined);
    // pool.end() resolves once every client was told to end, not once each has: wait for their
    // 'remove' events too, so no connection outlives close() (briefly, or long enough for a server
    // that drops it meanwhile to report an error).
    let connected = this.pool.totalCount;
    const allRemoved = new Promise<void>((resolve) => {
      if (connected === 0) return resolve();
      this.pool.on('remove', () => {
        if (--connected === 0) resolve();
      });
    });
    await this.pool.end();
    await Promise.race([allRemoved, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
  }
}

/** One dedicated LISTEN connection that reconnects with backoff and reports every reconnect. */
class Listener {
  private client: pg.Client | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;

  constructor(
    private readonly options: PgDriverOptions,
    private readonly channel: string,
    private readonly handlers: NotificationHandlers,
  ) {}

  async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: `${this.options.applicationName}:listen`,
      types,
      keepAlive: true,
    });
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== undefined) this.handlers.onNotification(message.payload);
    });
    client.on('error', () => this.scheduleReconnect(client));
    client.on('end', () => this.scheduleReconnect(client));
    this.client = client;
    await client.connect();
    await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    this.attempts = 0;
  }

  private scheduleReconnect(failed: pg.Client): void {
    if (this.closed || this.client !== failed || this.reconnectTimer) return;
    this.client = undefined;
    failed.end().catch(() => undefined);
    const delay = Math.min(5_000, 100 * 2 ** Math.min(this.attempts++, 6));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.connect().then(
        () => this.handlers.onReconnect(),
        (error: Error) => {
          this.options.logger.warn(`LISTEN connection failed, retrying: ${error.message}`);
          if (this.client) this.scheduleReconnect(this.client);
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
