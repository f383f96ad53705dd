import pg from 'pg';
import type { NotificationHandlers } from './driver.js';
import type { StallWatch, Watched } from './stall-watch.js';

export interface ListenerOptions {
  /** Builds the connection (its settings, name and timeouts are the driver's). */
  newClient(): pg.Client;
  watch: StallWatch;
  /** How often an idle listening connection proves it is alive; the watch judges the answer. */
  pingIntervalMs: number;
  /** Closes a client for good within a bounded time. */
  end(client: pg.Client): Promise<void>;
  logger: { warn(message: string): void };
}

/**
 * One dedicated LISTEN connection that reconnects with backoff and reports every reconnect. It
 * pings itself while idle: a LISTEN connection only receives, so without a statement of its own
 * a dead one would never be noticed and wake-ups would silently wait for the fallback poll.
 */
export class Listener {
  private client: pg.Client | undefined;
  private watched: Watched | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private attempts = 0;

  constructor(
    private readonly channel: string,
    private readonly handlers: NotificationHandlers,
    private readonly options: ListenerOptions,
  ) {}

  async connect(): Promise<void> {
    const client = this.options.newClient();
    client.on('notification', (message) => {
      if (message.channel !== this.channel || message.payload === undefined) return;
      try {
        this.handlers.onNotification(message.payload);
      } catch (error) {
        // A failing handler must not take the connection (or the process) down with it.
        this.options.logger.warn(`a wake-up handler failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    });
    client.on('error', () => this.scheduleReconnect(client));
    client.on('end', () => this.scheduleReconnect(client));
    this.client = client;
    const watched = this.options.watch.watch((error) => client.connection.stream.destroy(error));
    this.watched = watched;
    await client.connect();
    await this.run(client, watched, `LISTEN ${pg.escapeIdentifier(this.channel)}`);
    this.attempts = 0;
    this.pingTimer = setInterval(() => {
      this.run(client, watched, 'SELECT 1').catch(() => this.scheduleReconnect(client));
    }, this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  private async run(client: pg.Client, watched: Watched, sql: string): Promise<void> {
    this.options.watch.sent(watched);
    try {
      await client.query(sql);
    } finally {
      this.options.watch.answered(watched);
    }
  }

  private scheduleReconnect(failed: pg.Client): void {
    if (this.closed || this.client !== failed || this.reconnectTimer) return;
    this.dropClient();
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

  private dropClient(): Promise<void> {
    clearInterval(this.pingTimer);
    if (this.watched) this.options.watch.forget(this.watched);
    const client = this.client;
    this.client = undefined;
    this.watched = undefined;
    return client ? this.options.end(client) : Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.dropClient();
  }
}
