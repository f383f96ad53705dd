import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { EmbeddedDatabaseBusyError } from '../errors.js';
import { pgliteRowCount, transactionCharacteristics, type BeginOptions, type Driver, type NotificationHandlers, type Queryable, type QueryResult, type Transaction } from './driver.js';

/** The dataDir of an embedded database that lives in memory only, gone when the instance closes. */
export const IN_MEMORY = 'memory://';

const parsers = { [pgliteTypes.INT8]: (value: string) => Number(value) };

/**
 * Postgres's memory settings for one process on one connection. PGlite allocates shared memory
 * inside its WASM heap and zeroes it at start, so every megabyte of shared_buffers is resident
 * from the first moment (the default, 128 MB and more, was most of `npm start`'s footprint). The
 * data files are ordinary files, so the OS page cache still holds what the buffer pool does not.
 * docs/deployment.md ("The embedded database") has the measurements.
 */
const MEMORY_SETTINGS = {
  shared_buffers: '16MB',
  wal_buffers: '1MB',
  maintenance_work_mem: '16MB',
  temp_buffers: '1MB',
} as const;

const startParams = [...PGlite.defaultStartParams, ...Object.entries(MEMORY_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
const options = { parsers, startParams };

/**
 * Embedded Postgres (WASM) for zero-install development. PGlite is single-connection and
 * single-process: queries are serialised by PGlite itself, and a lock file refuses a second process.
 */
export class PgliteDriver implements Driver {
  readonly kind = 'pglite' as const;

  private constructor(
    private readonly db: PGlite,
    private readonly lockFile: string | undefined,
  ) {}

  static async open(dataDir: string): Promise<PgliteDriver> {
    // In memory: nothing to share with another process, so nothing to lock.
    if (dataDir.startsWith(IN_MEMORY)) return new PgliteDriver(await PGlite.create(IN_MEMORY, options), undefined);
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    const lockFile = join(dir, 'ballast.pid');
    acquireProcessLock(dir, lockFile);
    try {
      const pgdata = join(dir, 'pgdata');
      if (!existsSync(join(pgdata, 'PG_VERSION'))) await createCluster(pgdata);
      const db = await PGlite.create(pgdata, options);
      return new PgliteDriver(db, lockFile);
    } catch (error) {
      rmSync(lockFile, { force: true });
      throw error;
    }
  }

  async query<Row>(sql: string, params?: unknown[]): Promise<QueryResult<Row>> {
    const result = await this.db.query<Row>(sql, params);
    return { rows: result.rows, rowCount: pgliteRowCount(result) };
  }

  /** PGlite runs one statement at a time anyway. */
  pipelined<Row>(sql: string, params: unknown[]): Promise<QueryResult<Row>> {
    return this.query<Row>(sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  /**
   * PGlite holds its transaction lock for the whole of `fn`: every other statement (the
   * group-commit writer's flushes included) waits until it commits, so nothing interleaves with a
   * transaction on the single connection.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: BeginOptions = {}): Promise<T> {
    return this.db.transaction(async (tx) => {
      const characteristics = transactionCharacteristics(options);
      if (characteristics) await tx.query(`SET TRANSACTION ${characteristics}`);
      return fn({
        client: tx,
        async query<Row>(sql: string, params?: unknown[]) {
          const result = await tx.query<Row>(sql, params);
          return { rows: result.rows, rowCount: pgliteRowCount(result) };
        },
        async exec(sql: string) {
          await tx.exec(sql);
        },
      });
    });
  }

  /** PGlite has one connection and no session state worth isolating: the session is the database. */
  session<T>(fn: (session: Queryable) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async listen(channel: string, handlers: NotificationHandlers): Promise<() => Promise<void>> {
    return this.db.listen(channel, (payload) => handlers.onNotification(payload));
  }

  async close(): Promise<void> {
    await this.db.close();
    if (this.lockFile !== undefined) rmSync(this.lockFile, { force: true });
  }
}

/**
 * Runs initdb for a new data directory in a short-lived Node process. PGlite runs initdb in a second
 * WASM instance of its own, and what that instance held (about 500 MB) stayed resident in the
 * process long after, freed late by the garbage collector and then kept by the allocator; in a
 * process of its own it all goes back to the OS when the process exits.
 */
async function createCluster(pgdata: string): Promise<void> {
  const script = 'const { PGlite } = await import(process.argv[1]); await (await PGlite.create(process.argv[2], { startParams: JSON.parse(process.argv[3]) })).close();';
  const pglite = import.meta.resolve('@electric-sql/pglite');
  await new Promise<void>((resolvePromise, reject) => {
    execFile(process.execPath, ['--input-type=module', '--eval', script, pglite, pgdata, JSON.stringify(startParams)], { env: { ...process.env, NODE_OPTIONS: '' } }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`Could not create the embedded database in ${pgdata}: ${stderr.trim() || error.message}`));
      else resolvePromise();
    });
  });
}

function acquireProcessLock(dir: string, lockFile: string): void {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
    return;
  } catch {
    // A lock file exists: honour it only while its process is alive.
  }
  const holder = Number(readFileSync(lockFile, 'utf8').trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw new EmbeddedDatabaseBusyError(dir, holder);
  }
  if (holder === process.pid) throw new EmbeddedDatabaseBusyError(dir, holder);
  writeFileSync(lockFile, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
