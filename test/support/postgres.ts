// Throwaway PostgreSQL servers for tests.
//
// `startThrowawayPostgres()` runs initdb into a fresh temp dir and starts a real server on a free
// 127.0.0.1 port with durable defaults (fsync and synchronous_commit on). `testDatabase()` is the
// common case: a fresh database on a server shared by the calling process (or on
// BALLAST_TEST_DATABASE_URL when set). As root, the binaries run as the `postgres` OS user, since
// initdb and postgres refuse to run as root.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import pg from 'pg';

export type StopMode = 'fast' | 'immediate';

export interface ThrowawayPostgres {
  /** postgresql://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  /** Creates a uniquely named database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server, keeping its data dir; `startServer()` brings it back on the same port. */
  stopServer(mode?: StopMode): Promise<void>;
  startServer(): Promise<void>;
  restart(mode?: StopMode): Promise<void>;
  /** Terminates matching client backends (never the one it uses itself); returns how many. */
  terminateBackends(filter?: { applicationName?: string; query?: string }): Promise<number>;
  /** Stops the server and deletes its temp dir. */
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

const shutdownOnExit = new Map<string, () => void>();

export async function startThrowawayPostgres(options: { port?: number } = {}): Promise<ThrowawayPostgres> {
  const bindir = postgresBindir();
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ballast-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);

  const run = (program: string, args: string[]) => runProgram(join(bindir, program), args, dir, runAs);
  const logTail = () => tail(logFile, 40);
  let port = options.port ?? (await freePort());
  let running = false;

  const fail = (what: string, error: unknown): Error =>
    new Error(`${what} (data dir ${dataDir}): ${message(error)}\n--- server log tail ---\n${logTail()}`);

  const pgCtl = (args: string[]) => run('pg_ctl', ['-D', dataDir, '-l', logFile, ...args]);

  const startServer = async (): Promise<void> => {
    try {
      await pgCtl(['start', '-w', '-t', '60', '-o', `-p ${port}`]);
    } catch (error) {
      throw fail(`could not start PostgreSQL on port ${port}`, error);
    }
    running = true;
  };

  const stopServer = async (mode: StopMode = 'fast'): Promise<void> => {
    if (!running) return;
    try {
      await pgCtl(['stop', '-w', '-t', '60', '-m', mode]);
    } catch (error) {
      throw fail('could not stop PostgreSQL', error);
    }
    running = false;
  };

  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  shutdownOnExit.set(dir, () => {
    if (running) {
      spawnSync(join(bindir, 'pg_ctl'), ['-D', dataDir, 'stop', '-m', 'immediate', '-w', '-t', '10'], {
        cwd: dir,
        stdio: 'ignore',
        ...runAs,
      });
    }
    removeDir();
  });
  installExitHooks();

  try {
    try {
      await run('initdb', [
        '-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync',
      ]);
    } catch (error) {
      throw fail('initdb failed', error);
    }
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# ballast throwaway test server',
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'max_connections = 200',
        'shared_buffers = 64MB',
        'fsync = on',
        'synchronous_commit = on',
        '',
      ].join('\n'),
    );
    // Another process may grab the probed port before postgres binds it: retry with a new one.
    for (let attempt = 1; ; attempt++) {
      try {
        await startServer();
        break;
      } catch (error) {
        const portTaken = /could not (bind|create listen socket)|Address already in use/i.test(logTail());
        if (options.port !== undefined || attempt >= 3 || !portTaken) throw error;
        port = await freePort();
      }
    }
  } catch (error) {
    shutdownOnExit.get(dir)?.();
    shutdownOnExit.delete(dir);
    throw error;
  }

  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;

  return {
    url,
    port,
    createDatabase: (prefix = 'test') => createDatabaseOn(url, prefix),
    stopServer,
    startServer: async () => {
      if (!running) await startServer();
    },
    restart: async (mode: StopMode = 'fast') => {
      await stopServer(mode);
      await startServer();
    },
    terminateBackends: (filter = {}) =>
      withClient(url, async (client) => {
        const { rows } = await client.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE backend_type = 'client backend'
              AND pid <> pg_backend_pid()
              AND ($1::text IS NULL OR application_name = $1)
              AND ($2::text IS NULL OR strpos(query, $2) > 0)`,
          [filter.applicationName ?? null, filter.query ?? null],
        );
        const pids = rows.map((row) => row.pid);
        if (pids.length === 0) return 0;
        await client.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
        // pg_terminate_backend only signals; wait until the backends are really gone.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const left = await client.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1::int[])', [pids]);
          if (left.rowCount === 0) break;
          await sleep(20);
        }
        return pids.length;
      }),
    stop: async () => {
      try {
        await stopServer('fast');
      } catch {
        await stopServer('immediate').catch(() => undefined);
      }
      if (!running) {
        shutdownOnExit.delete(dir);
        removeDir();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

interface SharedServer {
  server: Promise<ThrowawayPostgres>;
  users: number;
}

let shared: SharedServer | undefined;

/**
 * A fresh, uniquely named database for one test file. Uses BALLAST_TEST_DATABASE_URL when set;
 * otherwise a throwaway server shared by this process, stopped when its last database is closed.
 */
export async function testDatabase(prefix = 'test'): Promise<{ url: string; close(): Promise<void> }> {
  const external = process.env.BALLAST_TEST_DATABASE_URL;
  if (external) {
    const url = await createDatabaseOn(external, prefix);
    return { url, close: once(() => dropDatabaseOn(external, url)) };
  }

  const entry: SharedServer = shared ?? { server: startThrowawayPostgres(), users: 0 };
  shared = entry;
  entry.users++;
  const release = async () => {
    entry.users--;
    if (entry.users > 0) return;
    if (shared === entry) shared = undefined;
    await (await entry.server).stop();
  };

  let server: ThrowawayPostgres;
  let url: string;
  try {
    server = await entry.server;
    url = await server.createDatabase(prefix);
  } catch (error) {
    if (shared === entry) shared = undefined;
    await release().catch(() => undefined);
    throw error;
  }
  return {
    url,
    close: once(async () => {
      try {
        await dropDatabaseOn(server.url, url);
      } finally {
        await release();
      }
    }),
  };
}

// ---------------------------------------------------------------------------------------------

let databaseCounter = 0;

async function createDatabaseOn(serverUrl: string, prefix: string): Promise<string> {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 30) || 'test';
  const name = `${clean}_${process.pid}_${++databaseCounter}_${randomBytes(3).toString('hex')}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabaseOn(serverUrl: string, databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  await withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'ballast-test-support' });
  client.on('error', () => undefined); // a restart or termination during use surfaces via the query
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

function runProgram(program: string, args: string[], cwd: string, runAs: RunAs | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { cwd, ...runAs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve();
      const output = `${stdout}${stderr}`.trim().split('\n').slice(-20).join('\n');
      const status = error.code ?? error.signal ?? error.message;
      reject(new Error(`${basename(program)} ${args.join(' ')} failed (${status})\n${output}`));
    });
  });
}

/** BALLAST_PG_BINDIR, else the highest /usr/lib/postgresql/N/bin, else `pg_config --bindir`. */
function postgresBindir(): string {
  const fromEnv = process.env.BALLAST_PG_BINDIR;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bindir, 'initdb'))) return bindir;
  } catch {
    // fall through
  }
  throw new Error('PostgreSQL server binaries not found: install postgresql or set BALLAST_PG_BINDIR');
}

function postgresUser(): RunAs {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, but there is no `postgres` OS user to run initdb and postgres as');
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let exitHooksInstalled = false;

/** Best effort: a test process that exits or is signalled does not leave a postgres behind. */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const shutdownAll = () => {
    for (const shutdown of shutdownOnExit.values()) {
      try {
        shutdown();
      } catch {
        // best effort
      }
    }
    shutdownOnExit.clear();
  };
  process.on('exit', shutdownAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // If someone else handles this signal, they decide when to exit; the 'exit' hook cleans up.
      if (process.listenerCount(signal) > 1) return;
      process.off(signal, onSignal);
      shutdownAll();
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
