// Indexes a migration declares online are built with CREATE INDEX CONCURRENTLY after its DDL
// commits: a live fleet writing a large workflows table keeps writing during the build; a build
// killed halfway leaves an INVALID index that the next migrate() replaces; two migrators at once
// build it once; PGlite builds it plainly. Each Postgres test starts from a schema at the version
// before fair queues (migration 12, whose partition index is online) with 300,000 workflows in it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Driver } from '../../src/store/driver.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { PgliteDriver } from '../../src/store/pglite-driver.js';
import { migrations } from '../../src/store/schema.js';
import { claimStatement } from '../../src/store/sql/queues.js';
import { quoteIdent } from '../../src/store/sql/identifiers.js';
import { ballastInProcess, expectExit } from '../cli/helpers.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const INDEX = 'workflows_partition_ready';
const INDEX_VERSION = 12;
const ROWS = 300_000;
const logger = { warn: () => undefined };
const laterVersions = migrations.filter((migration) => migration.version >= INDEX_VERSION).map((migration) => migration.version);

/** Migrates `schema` to the version before INDEX_VERSION, as a database of that time was. */
async function migrateToBeforeIndex(driver: Driver, schema: string): Promise<void> {
  const later = migrations.splice(migrations.findIndex((migration) => migration.version >= INDEX_VERSION));
  try {
    await migrate(driver, schema);
  } finally {
    migrations.push(...later);
  }
}

/** Finished history, and a partitioned queue with waiting work the claim must still find. */
async function seed(client: pg.Client, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await client.query(
    `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, partition_key, input, output, created_at, completed_at, updated_at)
     SELECT 'done-' || i, 'job', 'SUCCESS', 'app', 'v1', 'tenants', 'tenant-' || (i % 50), 'null', 'null', i, i, i
     FROM generate_series(1, ${ROWS}) AS i`,
  );
  await client.query(
    `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, partition_key, input, created_at, updated_at)
     SELECT 'waiting-' || k || '-' || i, 'job', 'ENQUEUED', 'app', 'v1', 'tenants', 'tenant-' || k, 'null', ${ROWS} + i, ${ROWS} + i
     FROM generate_series(1, 5) AS k, generate_series(1, 4) AS i`,
  );
  await client.query(`VACUUM ANALYZE ${s}.workflows`);
}

async function indexState(client: pg.Client, schema: string): Promise<Array<{ valid: boolean }>> {
  const { rows } = await client.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, INDEX],
  );
  return rows;
}

async function pendingIndexes(client: pg.Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(`SELECT unnest(pending_indexes) AS name FROM ${quoteIdent(schema)}.migrations`);
  return rows.map((row) => row.name);
}

/** The backend running the online build of INDEX, if one runs now. */
async function buildingBackend(client: pg.Client): Promise<number | undefined> {
  const { rows } = await client.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'CREATE INDEX %${INDEX}%'`,
  );
  return rows[0]?.pid;
}

describe('online index builds on Postgres', () => {
  let db: { url: string; close(): Promise<void> };
  let client: pg.Client;

  before(async () => {
    db = await testDatabase('migrate_online');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  after(async () => {
    await client?.end();
    await db?.close();
  });

  async function databaseBeforeIndex(schema: string): Promise<void> {
    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-old', logger });
    try {
      await migrateToBeforeIndex(driver, schema);
    } finally {
      await driver.close();
    }
    await seed(client, schema);
  }

  test(`writers keep committing on a table of ${ROWS.toLocaleString('en')} workflows while its index is built`, async (t) => {
    const schema = 'online_writes';
    const s = quoteIdent(schema);
    await databaseBeforeIndex(schema);

    // A fleet of the old version: each transaction enqueues a partitioned workflow and finishes an old one.
    const writer = new pg.Client({ connectionString: db.url, application_name: 'old-fleet' });
    await writer.connect();
    let commits = 0;
    let stop = false;
    const writing = (async () => {
      for (let n = 1; !stop; n++) {
        await writer.query('BEGIN');
        await writer.query(
          `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, partition_key, input, created_at, updated_at)
           VALUES ($1, 'job', 'ENQUEUED', 'app', 'v1', 'tenants', 'tenant-live', 'null', 0, 0)`,
          [`live-${n}`],
        );
        await writer.query(`UPDATE ${s}.workflows SET updated_at = $2 WHERE id = $1`, [`done-${n}`, n]);
        await writer.query('COMMIT');
        commits++;
      }
    })();

    // Watches the build from outside: the writer's commits while it runs, and any lock the writer waits on.
    const observer = new pg.Client({ connectionString: db.url });
    await observer.connect();
    let firstSeen: number | undefined;
    let lastSeen: number | undefined;
    const writerLockWaits: string[] = [];
    let migrating = true;
    const observing = (async () => {
      while (migrating) {
        if ((await buildingBackend(observer)) !== undefined) {
          firstSeen ??= commits;
          lastSeen = commits;
          const { rows } = await observer.query<{ mode: string }>(
            `SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.application_name = 'old-fleet' AND NOT l.granted`,
          );
          writerLockWaits.push(...rows.map((row) => row.mode));
        }
      }
    })();

    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-new', logger });
    try {
      await waitFor('the old fleet writes', () => commits >= 10);
      const report = await migrate(driver, schema);
      assert.deepEqual(report, { applied: laterVersions, indexesBuilt: [INDEX] });
    } finally {
      migrating = false;
      await observing;
      stop = true;
      await writing;
      await Promise.all([driver.close(), writer.end(), observer.end()]);
    }

    assert.ok(firstSeen !== undefined && lastSeen !== undefined, 'the build was seen running');
    t.diagnostic(`writer commits while the build was seen running: ${lastSeen - firstSeen} (of ${commits})`);
    assert.ok(lastSeen > firstSeen, `the writer committed while the index was built (${firstSeen} → ${lastSeen} commits)`);
    assert.deepEqual(writerLockWaits, [], 'the writer never waited for a lock during the build');
    assert.deepEqual(await indexState(client, schema), [{ valid: true }]);
    assert.deepEqual(await pendingIndexes(client, schema), []);
    // Every row the writer enqueued during the build is in the index.
    await client.query('BEGIN');
    try {
      await client.query('SET LOCAL enable_seqscan = off');
      await client.query('SET LOCAL enable_bitmapscan = off');
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s}.workflows WHERE status = 'ENQUEUED' AND partition_key = 'tenant-live' AND queue = 'tenants' AND app_version = 'v1'`,
      );
      assert.equal(rows[0]?.n, commits);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  test('a build killed halfway leaves an INVALID index; claims still work; the next migrate() rebuilds it valid', async (t) => {
    const schema = 'online_killed';
    const s = quoteIdent(schema);
    await databaseBeforeIndex(schema);

    const first = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-killed', logger });
    try {
      const migrating = migrate(first, schema);
      const failed = assert.rejects(migrating);
      // Killed once its catalog entry exists: Postgres leaves such an index behind, INVALID.
      await waitFor('the build has created its index entry', async () => (await indexState(client, schema)).length === 1, 30_000, 5);
      const pid = await buildingBackend(client);
      assert.ok(pid !== undefined, 'the build is still running');
      await client.query('SELECT pg_terminate_backend($1)', [pid]);
      await failed;
    } finally {
      await first.close();
    }
    assert.deepEqual(await indexState(client, schema), [{ valid: false }]);
    assert.deepEqual(await pendingIndexes(client, schema), [INDEX]);
    const { rows: recorded } = await client.query<{ version: number }>(`SELECT version FROM ${s}.migrations WHERE version >= $1 ORDER BY version`, [INDEX_VERSION]);
    assert.deepEqual(recorded.map((row) => row.version), laterVersions, 'the DDL committed before the build');

    // Without a valid index the fair claim plans without it and still takes each key's head.
    await client.query(`INSERT INTO ${s}.queues (name, concurrency, fairness, updated_at) VALUES ('tenants', 10, 'partition', 0)`);
    await client.query('BEGIN');
    try {
      // The generic plan, as Ballast's connections run it.
      await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE claim AS ${claimStatement(s, 'fair')}`);
      const { rows: plan } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE claim('tenants', 'claimer', 'v1', 10, 2147483647, '{}')`);
      const planText = plan.map((row) => row['QUERY PLAN']).join('\n');
      assert.ok(!planText.includes(INDEX), `the INVALID index is not used:\n${planText}`);
      assert.ok(!/Seq Scan on workflows/.test(planText), `no sequential scan of workflows:\n${planText}`);
      t.diagnostic(`fair claim without ${INDEX}:\n${planText}`);
      const { rows } = await client.query<{ partitionKey: string }>(`EXECUTE claim('tenants', 'claimer', 'v1', 10, 2147483647, '{}')`);
      assert.deepEqual(rows.map((row) => row.partitionKey).sort(), ['tenant-1', 'tenant-1', 'tenant-2', 'tenant-2', 'tenant-3', 'tenant-3', 'tenant-4', 'tenant-4', 'tenant-5', 'tenant-5']);
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE ALL');
    }

    const second = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-again', logger });
    try {
      assert.deepEqual(await migrate(second, schema), { applied: [], indexesBuilt: [INDEX] });
      assert.deepEqual(await migrate(second, schema), { applied: [], indexesBuilt: [] });
    } finally {
      await second.close();
    }
    assert.deepEqual(await indexState(client, schema), [{ valid: true }]);
    assert.deepEqual(await pendingIndexes(client, schema), []);
  });

  test('two migrators at once: one builds the index, both return with it valid', async () => {
    const schema = 'online_twice';
    await databaseBeforeIndex(schema);
    const drivers = [0, 1].map((i) => new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: `migrate-twice-${i}`, logger }));
    try {
      await Promise.all(drivers.map((driver) => driver.query('SELECT 1')));
      const reports = await Promise.all(drivers.map((driver) => migrate(driver, schema)));
      assert.deepEqual(
        reports.map((report) => report.indexesBuilt.length).sort(),
        [0, 1],
        `exactly one builds: ${JSON.stringify(reports)}`,
      );
      assert.deepEqual(reports.flatMap((report) => report.applied), laterVersions, 'the DDL is applied once');
      // The one that did not build returned after the build, not before.
      assert.deepEqual(await indexState(client, schema), [{ valid: true }]);
    } finally {
      await Promise.all(drivers.map((driver) => driver.close()));
    }
    assert.deepEqual(await pendingIndexes(client, schema), []);
  });

  test('an index a newer release owes is left to it: an older replica launches while its build runs', async () => {
    const schema = 'online_newer';
    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-older', logger });
    try {
      await migrate(driver, schema);
      await client.query(`INSERT INTO ${quoteIdent(schema)}.migrations (version, name, pending_indexes) VALUES (1000, 'from a newer release', '{future_index}')`);
      // The newer release's migrator holds the lock for its build: this migrate() would wait for it if it looked.
      await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [`ballast:migrate-session:${schema}`]);
      try {
        assert.deepEqual(await migrate(driver, schema), { applied: [], indexesBuilt: [] });
      } finally {
        await client.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`ballast:migrate-session:${schema}`]);
      }
    } finally {
      await driver.close();
    }
  });

  test('ballast migrate says which indexes it built online', async () => {
    const schema = 'online_cli';
    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-old', logger });
    try {
      await migrateToBeforeIndex(driver, schema);
    } finally {
      await driver.close();
    }
    const result = await ballastInProcess(['migrate', '--schema', schema, '--database-url', db.url]);
    expectExit(result, 0);
    assert.match(result.stdout, new RegExp(`Applied ${laterVersions.length} migrations? to schema "${schema}"`));
    assert.match(result.stdout, new RegExp(`Built index ${INDEX} concurrently`));
    const again = await ballastInProcess(['migrate', '--schema', schema, '--json', '--database-url', db.url]);
    expectExit(again, 0);
    const report = JSON.parse(again.stdout) as { applied: unknown[]; indexesBuilt: string[] };
    assert.deepEqual([report.applied, report.indexesBuilt], [[], []]);
  });
});

describe('online indexes on PGlite', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-migrate-online-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('a schema from scratch and one from before the index both get it, built in the transaction', async () => {
    const driver = await PgliteDriver.open(dir);
    try {
      assert.deepEqual(await migrate(driver, 'fresh'), { applied: migrations.map((migration) => migration.version), indexesBuilt: [] });
      await migrateToBeforeIndex(driver, 'older');
      await driver.exec(
        `INSERT INTO older.workflows (id, name, status, app_name, app_version, queue, partition_key, input, created_at, updated_at)
         SELECT 'w-' || i, 'job', 'ENQUEUED', 'app', 'v1', 'tenants', 'tenant-' || (i % 7), 'null', i, i FROM generate_series(1, 1000) AS i`,
      );
      assert.deepEqual(await migrate(driver, 'older'), { applied: laterVersions, indexesBuilt: [] });
      for (const schema of ['fresh', 'older']) {
        const { rows } = await driver.query<{ valid: boolean }>(
          `SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`,
          [`${schema}.${INDEX}`],
        );
        assert.deepEqual(rows, [{ valid: true }], schema);
        const { rows: pending } = await driver.query(`SELECT version FROM ${schema}.migrations WHERE cardinality(pending_indexes) > 0`);
        assert.deepEqual(pending, [], schema);
      }
    } finally {
      await driver.close();
    }
  });
});
