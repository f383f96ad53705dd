// A migration's DDL waits at most a bounded time for its table locks: a long transaction of the
// running fleet must not queue every write behind the ALTER TABLE for as long as it lasts. The
// migrator gives way, retries, and applies the migration once the transaction ends; if it never
// ends, migrate() gives up with a MigrationBlockedError that names the sessions holding the locks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { MigrationBlockedError } from '../../src/errors.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { migrations, type Migration } from '../../src/store/schema.js';
import { testDatabase } from '../support/postgres.js';

const SCHEMA = 'ballast';
const logger = { warn: () => undefined };

describe('migration DDL behind a long transaction', () => {
  let db: { url: string; close(): Promise<void> };
  let driver: PgDriver;
  let blocker: pg.Client;
  let writer: pg.Client;
  let version = Math.max(...migrations.map((migration) => migration.version));

  before(async () => {
    db = await testDatabase('migrate_lock');
    driver = new PgDriver({ connectionString: db.url, poolSize: 2, applicationName: 'migrate-lock-test', logger });
    await migrate(driver, SCHEMA);
    blocker = new pg.Client({ connectionString: db.url });
    writer = new pg.Client({ connectionString: db.url });
    await Promise.all([blocker.connect(), writer.connect()]);
  });

  after(async () => {
    await Promise.all([blocker?.end(), writer?.end()]);
    await driver?.close();
    await db?.close();
  });

  /** Runs `fn` with one more migration, which adds a column to workflows (an ACCESS EXCLUSIVE lock). */
  async function withMigration<T>(fn: (column: string) => Promise<T>): Promise<T> {
    version += 1;
    const column = `probe_${version}`;
    const migration: Migration = { version, name: 'lock probe', sql: (s) => `ALTER TABLE ${s}.workflows ADD COLUMN ${column} integer` };
    migrations.push(migration);
    try {
      return await fn(column);
    } finally {
      migrations.splice(migrations.indexOf(migration), 1);
    }
  }

  /** Inserts a workflow every 20 ms until `done`; resolves to the longest single insert, in ms. */
  async function keepWriting(done: Promise<unknown>): Promise<number> {
    let finished = false;
    void done.finally(() => (finished = true)).catch(() => undefined);
    let longest = 0;
    for (let n = 0; !finished; n++) {
      const started = Date.now();
      await writer.query(
        `INSERT INTO ${SCHEMA}.workflows (id, name, status, app_name, app_version, created_at, updated_at) VALUES ($1, 'w', 'PENDING', 'app', 'v1', 0, 0)`,
        [`write-${version}-${n}`],
      );
      longest = Math.max(longest, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return longest;
  }

  const columnExists = async (column: string) =>
    (await writer.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'workflows' AND column_name = $2`, [SCHEMA, column])).rowCount === 1;

  test('writers wait a bounded time, not the long transaction; the migration lands when it ends', async () => {
    await withMigration(async (column) => {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT count(*) FROM ${SCHEMA}.workflows`);
      const migrating = migrate(driver, SCHEMA);
      const writing = keepWriting(migrating);
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      assert.equal(await columnExists(column), false, 'the DDL waits while the transaction lasts');
      await blocker.query('COMMIT');
      const report = await migrating;
      const longestWrite = await writing;
      assert.deepEqual(report.applied, [version]);
      assert.equal(await columnExists(column), true);
      // Without the DDL's lock_timeout a write queued behind the ALTER TABLE waits the whole 8 s.
      assert.ok(longestWrite < 5_000, `the longest write waited ${longestWrite} ms`);
    });
  });

  test('a transaction that never ends: migrate() gives up and names it', async () => {
    await withMigration(async (column) => {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT count(*) FROM ${SCHEMA}.workflows`);
      try {
        await assert.rejects(migrate(driver, SCHEMA, { lockPatienceMs: 3_000 }), (error: unknown) => {
          assert.ok(error instanceof MigrationBlockedError);
          assert.equal(error.code, 'MIGRATION_BLOCKED');
          assert.match(error.message, /SELECT count\(\*\) FROM ballast\.workflows/);
          return true;
        });
        assert.equal(await columnExists(column), false);
      } finally {
        await blocker.query('COMMIT');
      }
    });
  });
});
