// Which Postgres server the benchmark runs on, and fresh databases on it.
// Order: BALLAST_BENCH_DATABASE_URL (a server URL), else a local server on 127.0.0.1:5432, else a
// throwaway server started by the test support helper.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const LOCAL_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface BenchServer {
  source: 'env' | 'local' | 'throwaway';
  /** Creates an empty database and returns its URL. */
  createDatabase(prefix: string): Promise<string>;
  dropDatabase(url: string): Promise<void>;
  info(): Promise<{ version: string; synchronousCommit: string; autovacuum: string }>;
  stop(): Promise<void>;
}

export async function openServer(): Promise<BenchServer> {
  const fromEnv = process.env.BALLAST_BENCH_DATABASE_URL;
  if (fromEnv) return serverAt(fromEnv, 'env');
  if (await reachable(LOCAL_URL)) return serverAt(LOCAL_URL, 'local');
  return throwawayServer();
}

/**
 * The benchmark's server if it vacuums like a production server, else a throwaway one (which keeps
 * Postgres' defaults): a measurement of deletes and of a table's growth depends on autovacuum, which
 * CI machines often turn off.
 */
export async function vacuumingServer(server: BenchServer): Promise<{ server: BenchServer; own: boolean }> {
  if ((await server.info()).autovacuum === 'on') return { server, own: false };
  process.stderr.write(`the ${server.source} server runs without autovacuum: measuring on a throwaway server\n`);
  return { server: await throwawayServer(), own: true };
}

/**
 * A measurement run as a script of its own: on a fresh database of the benchmark's server (with
 * `autovacuum`, see vacuumingServer), dropped afterwards; prints its result as one JSON line.
 */
export async function measureStandalone(prefix: string, measure: (databaseUrl: string) => Promise<object>, options: { autovacuum?: boolean } = {}): Promise<void> {
  const opened = await openServer();
  const server = options.autovacuum ? (await vacuumingServer(opened)).server : opened;
  const databaseUrl = await server.createDatabase(prefix);
  try {
    console.log(JSON.stringify(await measure(databaseUrl)));
  } finally {
    await server.dropDatabase(databaseUrl).catch(() => undefined);
    await server.stop();
  }
}

/** A server of its own in a temp dir, stopped and deleted by `stop()`. */
export async function throwawayServer(): Promise<BenchServer> {
  const { startThrowawayPostgres } = await import('../../test/support/postgres.js');
  const throwaway = await startThrowawayPostgres();
  const server = serverAt(throwaway.url, 'throwaway');
  return {
    ...server,
    createDatabase: (prefix) => throwaway.createDatabase(prefix),
    dropDatabase: async () => {}, // gone with the server
    stop: () => throwaway.stop(),
  };
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function serverAt(serverUrl: string, source: BenchServer['source']): BenchServer {
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  return {
    source,
    async createDatabase(prefix) {
      const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE "${name}"`));
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async dropDatabase(url) {
      const name = decodeURIComponent(new URL(url).pathname.slice(1));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`));
    },
    async info() {
      return admin(async (c) => {
        const { rows } = await c.query<{ version: string; synchronous_commit: string; autovacuum: string }>(
          `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS synchronous_commit,
             current_setting('autovacuum') AS autovacuum`,
        );
        const row = rows[0];
        return { version: row?.version ?? 'unknown', synchronousCommit: row?.synchronous_commit ?? 'unknown', autovacuum: row?.autovacuum ?? 'unknown' };
      });
    },
    async stop() {},
  };
}
