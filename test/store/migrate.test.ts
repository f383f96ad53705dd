// Migrations run exactly once however many replicas start at the same moment.
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
import { testDatabase } from '../support/postgres.js';

const versions = migrations.map((migration) => migration.version);
const logger = { warn: () => undefined };

async function applied(driver: Driver, schema: string): Promise<number[]> {
  return (await migrate(driver, schema)).applied;
}

describe('migrate() on Postgres', () => {
  let db: { url: string; close(): Promise<void> };

  before(async () => {
    db = await testDatabase('migrate');
  });

  after(async () => {
    await db.close();
  });

  test('ten concurrent migrations from ten pools apply each version exactly once', async () => {
    const drivers = Array.from(
      { length: 10 },
      (_, i) => new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: `migrate-test-${i}`, logger }),
    );
    try {
      // Connect every pool first so the ten migrate() calls really start together.
      await Promise.all(drivers.map((driver) => driver.query('SELECT 1')));
      const results = await Promise.all(drivers.map(async (driver) => (await migrate(driver, 'ballast')).applied));

      const appliers = results.filter((applied) => applied.length > 0);
      assert.equal(appliers.length, 1, `exactly one call applies migrations: ${JSON.stringify(results)}`);
      assert.deepEqual(appliers[0], versions);
      assert.equal(results.filter((applied) => applied.length === 0).length, 9);

      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number; name: string }>(
          'SELECT version, name FROM ballast.migrations ORDER BY version',
        );
        assert.deepEqual(rows, migrations.map(({ version, name }) => ({ version, name })));
        const tables = await client.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = 'ballast' ORDER BY table_name`,
        );
        assert.deepEqual(
          tables.rows.map((row) => row.table_name),
          ['app_versions', 'events', 'executors', 'messages', 'migrations', 'queue_depth_samples', 'queue_starts', 'queues', 'retention_pace', 'schedules', 'steps', 'streams', 'workflow_rollups', 'workflows'],
        );
      } finally {
        await client.end();
      }

      // Later runs (a restart, the CLI) find nothing to do.
      assert.deepEqual(await applied(drivers[0] as PgDriver, 'ballast'), []);
    } finally {
      await Promise.all(drivers.map((driver) => driver.close()));
    }
  });

  test('schemas are independent: a second schema migrates on its own', async () => {
    const driver = new PgDriver({ connectionString: db.url, poolSize: 2, applicationName: 'migrate-test', logger });
    try {
      const [a, b] = (await Promise.all([migrate(driver, 'tenant_a'), migrate(driver, 'tenant_b')])).map((report) => report.applied);
      assert.deepEqual(a, versions);
      assert.deepEqual(b, versions);
      const { rows } = await driver.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_a.migrations');
      assert.equal(rows[0]?.n, versions.length);
    } finally {
      await driver.close();
    }
  });

  test('a role without CREATE rights launches against a schema that is already up to date', async () => {
    const owner = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-owner', logger });
    const role = `ballast_app_${process.pid}`;
    const url = new URL(db.url);
    const database = url.pathname.slice(1);
    try {
      await migrate(owner, 'ballast');
      await owner.exec(`
        DROP ROLE IF EXISTS ${role};
        CREATE ROLE ${role} LOGIN;
        REVOKE CREATE ON DATABASE "${database}" FROM PUBLIC;
        GRANT USAGE ON SCHEMA ballast TO ${role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ballast TO ${role};
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA ballast TO ${role};`);
      url.username = role;
      const app = new PgDriver({ connectionString: url.toString(), poolSize: 1, applicationName: 'migrate-app', logger });
      try {
        assert.deepEqual(await applied(app, 'ballast'), []);
        await assert.rejects(migrate(app, 'fresh_schema'), /permission denied/);
      } finally {
        await app.close();
      }
    } finally {
      await owner.exec(`REASSIGN OWNED BY ${role} TO CURRENT_USER; DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role};`).catch(() => undefined);
      await owner.close();
    }
  });
});

describe('migrate() on PGlite', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-migrate-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('applies the migrations once and records them', async () => {
    const driver = await PgliteDriver.open(dir);
    try {
      assert.deepEqual(await applied(driver, 'ballast'), versions);
      assert.deepEqual(await applied(driver, 'ballast'), []);
      const { rows } = await driver.query<{ version: number }>('SELECT version FROM ballast.migrations ORDER BY version');
      assert.deepEqual(rows.map((row) => row.version), versions);
    } finally {
      await driver.close();
    }
    // The data outlives the process: reopening finds the schema migrated.
    const reopened = await PgliteDriver.open(dir);
    try {
      assert.deepEqual(await applied(reopened, 'ballast'), []);
    } finally {
      await reopened.close();
    }
  });
});
