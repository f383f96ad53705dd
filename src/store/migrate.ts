import { setTimeout as sleep } from 'node:timers/promises';
import { MigrationBlockedError } from '../errors.js';
import { migrations, type OnlineIndex } from './schema.js';
import type { Driver, Queryable } from './driver.js';
import { quoteIdent } from './sql/identifiers.js';

/** How often a replica asks again for the migration lock while another replica migrates. */
const LOCK_POLL_MS = 200;
/**
 * Longest the DDL waits for a table lock before it gives up and tries again later. A waiting
 * ALTER TABLE queues every later statement on that table behind it, so a long transaction of the
 * running fleet would otherwise stop all of its writes for as long as it lasts.
 */
const DDL_LOCK_TIMEOUT_MS = 2_000;
/** How long the DDL keeps trying, by default, before migrate() gives up naming what blocks it. */
const DDL_PATIENCE_MS = 120_000;
const LOCK_NOT_AVAILABLE = '55P03';

export interface MigrationReport {
  /** Versions whose transaction this call applied. */
  applied: number[];
  /** Online indexes this call built (see Migration.indexes); those another replica built are not listed. */
  indexesBuilt: string[];
}

/**
 * Applies pending migrations, so ten replicas starting at once migrate exactly once (the others
 * wait, then find nothing to do). An up-to-date schema is detected with a plain read first, so a
 * role without CREATE rights can launch against a schema migrated by someone else.
 *
 * On Postgres the migrator holds a session-level advisory lock, taken by polling outside any
 * transaction: the pending migrations' DDL commits in one transaction, then their online indexes
 * are built one by one with CREATE INDEX CONCURRENTLY, which takes no lock a writer waits on but
 * waits itself for every transaction older than it. A replica that queued for a lock inside a
 * transaction would be such a transaction, waiting for the builder that waits for it: so waiting
 * replicas poll, idle, instead. A fresh schema (empty tables) and PGlite (one process, no
 * concurrent writer) build their indexes plainly in the migration's transaction.
 */
export async function migrate(driver: Driver, schema: string, options: { lockPatienceMs?: number } = {}): Promise<MigrationReport> {
  if (await isUpToDate(driver, schema)) return { applied: [], indexesBuilt: [] };
  if (driver.kind === 'pglite') {
    const applied = await driver.transaction((tx) => applyPending(tx, schema, { embedded: true }), { unbounded: true });
    return { applied, indexesBuilt: [] };
  }
  return driver.session(async (session) => {
    const key = `ballast:migrate-session:${schema}`;
    while (!(await tryLock(session, key))) await sleep(LOCK_POLL_MS);
    try {
      const applied = await applyWithLockTimeout(session, schema, options.lockPatienceMs ?? DDL_PATIENCE_MS);
      return { applied, indexesBuilt: await buildPendingIndexes(session, schema) };
    } finally {
      await session.query(`SELECT pg_advisory_unlock(hashtext($1))`, [key]).catch(() => undefined);
    }
  });
}

/**
 * Applies the pending DDL in one transaction whose lock waits are bounded (DDL_LOCK_TIMEOUT_MS): on
 * a lock another transaction holds, it rolls back, lets the fleet's writes through for a while and
 * tries again, for up to `patienceMs`.
 */
async function applyWithLockTimeout(session: Queryable, schema: string, patienceMs: number): Promise<number[]> {
  const giveUpAt = Date.now() + patienceMs;
  for (let attempt = 1; ; attempt++) {
    await session.exec(`BEGIN; SET LOCAL lock_timeout = ${DDL_LOCK_TIMEOUT_MS}`);
    try {
      const applied = await applyPending(session, schema, { embedded: false });
      await session.exec('COMMIT');
      return applied;
    } catch (error) {
      await session.exec('ROLLBACK').catch(() => undefined);
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
      if (Date.now() >= giveUpAt) throw new MigrationBlockedError(schema, attempt, await lockHolders(session, schema), error);
      await sleep(Math.min(5_000, 250 * attempt) * (0.5 + Math.random()));
    }
  }
}

/** The sessions holding locks on the schema's tables, as "pid N (state, since T): query" lines. */
async function lockHolders(session: Queryable, schema: string): Promise<string[]> {
  const { rows } = await session.query<{ line: string }>(
    `SELECT DISTINCT 'pid ' || a.pid || ' (' || a.state || ' since ' || COALESCE(a.xact_start::text, '?') || '): ' || left(a.query, 120) AS line
     FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE n.nspname = $1 AND l.granted AND a.pid <> pg_backend_pid()`,
    [schema],
  );
  return rows.map((row) => row.line);
}

async function tryLock(session: Queryable, key: string): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS locked`, [key]);
  return rows[0]?.locked === true;
}

/**
 * Runs the pending migrations' DDL in the caller's transaction and records each, with the online
 * indexes it still owes. Returns the versions applied.
 */
async function applyPending(tx: Queryable, schema: string, options: { embedded: boolean }): Promise<number[]> {
  const s = quoteIdent(schema);
  // Serializes with Ballast versions that migrated under this transaction-scoped lock alone.
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`ballast:migrate:${schema}`]);
  await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await tx.query(
    `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  // The online indexes a version's transaction committed without; emptied as each is built.
  await tx.query(`ALTER TABLE ${s}.migrations ADD COLUMN IF NOT EXISTS pending_indexes text[] NOT NULL DEFAULT '{}'`);
  const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${s}.migrations`);
  const done = new Set(rows.map((row) => row.version));
  // Tables this transaction creates are empty and invisible to writers: their indexes cost nothing now.
  const buildInline = options.embedded || done.size === 0;
  const applied: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    await tx.exec(migration.sql(s));
    const online = migration.indexes ?? [];
    if (buildInline) for (const index of online) await tx.exec(`CREATE INDEX ${quoteIdent(index.name)} ON ${index.on(s)}`);
    const pending = buildInline ? [] : online.map((index) => index.name);
    await tx.query(`INSERT INTO ${s}.migrations (version, name, pending_indexes) VALUES ($1, $2, $3)`, [migration.version, migration.name, pending]);
    applied.push(migration.version);
  }
  return applied;
}

/**
 * Builds the online indexes recorded as pending, oldest migration first, on the session (outside
 * any transaction, holding the migration lock). An index a killed build left INVALID is dropped and
 * built again; one found valid (built before the process died) is only recorded.
 */
async function buildPendingIndexes(session: Queryable, schema: string): Promise<string[]> {
  const s = quoteIdent(schema);
  const { rows } = await session.query<{ version: number; pending: string[] }>(
    `SELECT version, pending_indexes AS pending FROM ${s}.migrations WHERE cardinality(pending_indexes) > 0 ORDER BY version`,
  );
  const built: string[] = [];
  for (const { version, pending } of rows) {
    const migration = migrations.find((candidate) => candidate.version === version);
    for (const name of pending) {
      const index = migration?.indexes?.find((candidate) => candidate.name === name);
      // A version this code does not know (a newer release migrated): that release builds it.
      if (!migration || !index) continue;
      if (await buildOnline(session, schema, index)) built.push(name);
      await session.query(`UPDATE ${s}.migrations SET pending_indexes = array_remove(pending_indexes, $1) WHERE version = $2`, [name, version]);
    }
  }
  return built;
}

/** Builds `index` concurrently unless a valid one exists; returns whether it built it. */
async function buildOnline(session: Queryable, schema: string, index: OnlineIndex): Promise<boolean> {
  const qualified = `${quoteIdent(schema)}.${quoteIdent(index.name)}`;
  const { rows } = await session.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`,
    [qualified],
  );
  if (rows[0]?.valid) return false;
  if (rows[0]) await session.exec(`DROP INDEX CONCURRENTLY ${qualified}`);
  await session.exec(`CREATE INDEX CONCURRENTLY ${quoteIdent(index.name)} ON ${index.on(quoteIdent(schema))}`);
  return true;
}

/** Whether every migration and every online index is in place (false when unsure: migrate then looks closer). */
async function isUpToDate(driver: Driver, schema: string): Promise<boolean> {
  if ((await appliedVersion(driver, schema)) < latestVersion()) return false;
  try {
    const { rows } = await driver.query<{ pending: boolean }>(
      // An index a newer release owes is that release's to build: an older replica restarting mid-rollout must not wait for it.
      `SELECT EXISTS (SELECT FROM ${quoteIdent(schema)}.migrations WHERE version <= $1 AND cardinality(pending_indexes) > 0) AS pending`,
      [latestVersion()],
    );
    return rows[0]?.pending === false;
  } catch (error) {
    // undefined_column: a schema migrated before online indexes existed, whose indexes all were built inline.
    if ((error as { code?: string }).code === '42703') return true;
    throw error;
  }
}

export function latestVersion(): number {
  return Math.max(...migrations.map((migration) => migration.version));
}

/** The newest migration recorded in `schema` (0 when the schema has none). */
export async function appliedVersion(driver: Driver, schema: string): Promise<number> {
  const { rows } = await driver.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${quoteIdent(schema)}.migrations`]);
  if (!rows[0]?.present) return 0;
  const { rows: versions } = await driver.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${quoteIdent(schema)}.migrations`);
  return versions[0]?.version ?? 0;
}
