// A database created by the schema of migrations 1–10, with the history the code of that time wrote
// in it, migrates in place while the old fleet keeps writing: no writer waits on the migration's
// online index build (only, briefly, on the DDL that adds columns), every row is unchanged afterwards (new columns at their
// defaults), and the current code then recovers the old fleet's waiting workflows and lets
// retention remove the finished history and nothing else. Current code never runs on the old
// schema: in production, launch migrates first; what runs during a migration is the old fleet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Ballast } from '../../src/index.js';
import type { Driver, Queryable } from '../../src/store/driver.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { migrations } from '../../src/store/schema.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const OLD_VERSION = 10;
const S = 'ballast';
const APP = 'test-app';
const HISTORY = 40;
const WAITERS = 10;
const DELAYED = 10;
const FINAL = `('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER')`;
/** The rows of a table that existed at version 10: not those the old fleet's writer or the migrations add. */
const OLD_ROWS: Record<string, string> = {
  workflows: `id NOT LIKE 'fleet-%'`,
  steps: `workflow_id NOT LIKE 'fleet-%'`,
  migrations: `version <= ${OLD_VERSION}`,
};

type Columns = Map<string, string[]>;
type Snapshot = Record<string, string[]>;

/** Creates the schema as migrations 1–10 left it, with the migrations table of that time. */
async function createAtOldVersion(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  await client.query(`CREATE SCHEMA ${S}`);
  await client.query(`CREATE TABLE ${S}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  for (const migration of migrations.filter((candidate) => candidate.version <= OLD_VERSION)) {
    await client.query(migration.sql(S));
    await client.query(`INSERT INTO ${S}.migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
  }
  await client.query('COMMIT');
}

async function columnsOf(client: pg.Client): Promise<Columns> {
  const { rows } = await client.query<{ table: string; column: string }>(
    `SELECT table_name AS table, column_name AS column FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    [S],
  );
  const columns: Columns = new Map();
  for (const { table, column } of rows) columns.set(table, [...(columns.get(table) ?? []), column]);
  return columns;
}

/**
 * The history the version-10 code wrote, as it wrote it (values in the codec's JSON): finished
 * workflows with steps, events, streams and messages; workflows waiting in recv, owned by an
 * executor whose lease has expired; DELAYED and ENQUEUED workflows of a queue.
 */
async function writeOldHistory(client: pg.Client, now: number): Promise<void> {
  const t0 = now - 3_600_000;
  await client.query(`INSERT INTO ${S}.app_versions (app_name, version, first_seen_at, last_seen_at) VALUES ($1, 'v1', $2, $2)`, [APP, t0]);
  await client.query(
    `INSERT INTO ${S}.executors (id, app_name, app_version, hostname, pid, started_at, heartbeat_at, lease_expires_at, queues, running, lease_started_at)
     VALUES ('old-exec', $1, 'v1', 'old-host', 4242, $2, $3, $4, '{later}', ${WAITERS}, $2)`,
    [APP, t0, now - 60_000, now - 50_000],
  );
  await client.query(`INSERT INTO ${S}.queues (name, concurrency, worker_concurrency, updated_at) VALUES ('later', 5, 2, $1)`, [t0]);

  // Finished: every fourth failed after its steps; each received the note it sent itself.
  await client.query(
    `INSERT INTO ${S}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, output, error,
       created_at, started_at, completed_at, updated_at)
     SELECT 'history-' || i, 'history', CASE WHEN i % 4 = 3 THEN 'ERROR' ELSE 'SUCCESS' END, $1, 'v1', 'old-exec', 1, 1, i::text,
       CASE WHEN i % 4 = 3 THEN NULL ELSE '{"doubled":' || 2 * i || ',"note":{"n":' || i || '}}' END,
       CASE WHEN i % 4 = 3 THEN '{"$":"err","n":"Error","m":"boom ' || i || '"}' END,
       $2::int8 + i, $2::int8 + i, $2::int8 + i + 5, $2::int8 + i + 5
     FROM generate_series(0, ${HISTORY - 1}) AS i`,
    [APP, t0],
  );
  await client.query(
    `INSERT INTO ${S}.steps (workflow_id, idx, name, output, error, started_at, completed_at, attempts)
     SELECT 'history-' || i, 0, 'double', (2 * i)::text, NULL::text, $1::int8 + i, $1::int8 + i + 1, NULL::int4 FROM generate_series(0, ${HISTORY - 1}) AS i
     UNION ALL
     SELECT 'history-' || i, 1, 'ballast.recv:note', '{"n":' || i || '}', NULL::text, $1::int8 + i + 2, $1::int8 + i + 3, NULL::int4 FROM generate_series(0, ${HISTORY - 1}) AS i
     UNION ALL
     SELECT 'history-' || i, 2, 'fail', NULL, '{"$":"err","n":"Error","m":"boom ' || i || '"}', $1::int8 + i + 3, $1::int8 + i + 4, 3
     FROM generate_series(0, ${HISTORY - 1}) AS i WHERE i % 4 = 3`,
    [t0],
  );
  await client.query(
    `INSERT INTO ${S}.events (workflow_id, key, value, updated_at) SELECT 'history-' || i, 'doubled', (2 * i)::text, $1::int8 + i + 1 FROM generate_series(0, ${HISTORY - 1}) AS i`,
    [t0],
  );
  await client.query(
    `INSERT INTO ${S}.streams (workflow_id, key, position, value, written_at)
     SELECT 'history-' || i, 'values', p, CASE WHEN p = 0 THEN (2 * i)::text END, $1::int8 + i + 1 FROM generate_series(0, ${HISTORY - 1}) AS i, generate_series(0, 1) AS p`,
    [t0],
  );
  await client.query(
    `INSERT INTO ${S}.messages (destination_id, topic, payload, idempotency_key, created_at, consumed_at)
     SELECT 'history-' || i, 'note', '{"n":' || i || '}', NULL, $1::int8 + i + 1, $1::int8 + i + 3 FROM generate_series(0, ${HISTORY - 1}) AS i
     UNION ALL
     SELECT 'history-' || i, 'late', '"never read"', 'late-' || i, $1::int8 + i + 6, NULL FROM generate_series(0, ${HISTORY - 1}) AS i WHERE i % 10 = 0`,
    [t0],
  );

  // Waiting in recv('go') under the dead executor, with their 'before' step checkpointed; one has a message on another topic.
  await client.query(
    `INSERT INTO ${S}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, created_at, started_at, updated_at)
     SELECT 'waiter-' || n, 'waiter', 'PENDING', $1, 'v1', 'old-exec', 1, 1, n::text, $2::int8 + n, $2::int8 + n, $2::int8 + n FROM generate_series(0, ${WAITERS - 1}) AS n`,
    [APP, now - 120_000],
  );
  await client.query(
    `INSERT INTO ${S}.steps (workflow_id, idx, name, output, started_at, completed_at)
     SELECT 'waiter-' || n, 0, 'before', n::text, $1::int8 + n, $1::int8 + n + 1 FROM generate_series(0, ${WAITERS - 1}) AS n`,
    [now - 120_000],
  );
  await client.query(
    `INSERT INTO ${S}.messages (destination_id, topic, payload, idempotency_key, created_at) VALUES ('waiter-0', 'other-topic', '"kept"', 'key-1', $1)`,
    [now - 100_000],
  );

  // Queued: DELAYED for an hour yet, and one ENQUEUED that no executor has claimed.
  await client.query(
    `INSERT INTO ${S}.workflows (id, name, status, app_name, app_version, queue, input, available_at, created_at, updated_at)
     SELECT 'delayed-' || n, 'later-job', 'DELAYED', $1, 'v1', 'later', n::text, $2::int8 + 3600000, $2::int8 + n, $2::int8 + n FROM generate_series(0, ${DELAYED - 1}) AS n`,
    [APP, now - 50_000],
  );
  await client.query(
    `INSERT INTO ${S}.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at)
     VALUES ('enqueued-0', 'queued-job', 'ENQUEUED', $1, 'v1', 'later', 3, '7', $2, $2)`,
    [APP, now - 40_000],
  );
}

/** Every row of every table in `columns` (those columns only) that existed at version 10 (OLD_ROWS). */
async function snapshot(client: pg.Client, columns: Columns): Promise<Snapshot> {
  const tables: Snapshot = {};
  for (const [table, names] of columns) {
    const where = OLD_ROWS[table];
    const { rows } = await client.query(`SELECT ${names.map((name) => `"${name}"`).join(', ')} FROM ${S}.${table}${where ? ` WHERE ${where}` : ''}`);
    tables[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return tables;
}

/**
 * The version-10 hot path of a direct workflow, in plain SQL as that code sent it: the start, its
 * checkpoints, its completion, each a short transaction of its own. Counts finished workflows.
 */
function oldFleetWriter(client: pg.Client): { finished(): number; stop(): Promise<void> } {
  let finished = 0;
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const id = `fleet-${n}`;
      const now = Date.now();
      await client.query(
        `INSERT INTO ${S}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, created_at, started_at, updated_at)
         VALUES ($1, 'fleet-job', 'PENDING', $2, 'v1', 'old-fleet', 1, 1, $3, $4, $4, $4)`,
        [id, APP, String(n), now],
      );
      await client.query(
        `INSERT INTO ${S}.steps (workflow_id, idx, name, output, started_at, completed_at) VALUES ($1, 0, 'one', $2, $3, $3), ($1, 1, 'two', $2, $3, $3)`,
        [id, String(n), now],
      );
      const { rowCount } = await client.query(
        `UPDATE ${S}.workflows SET status = 'SUCCESS', output = $2, completed_at = $3, updated_at = $3
         WHERE id = $1 AND owner = 'old-fleet' AND epoch = 1 AND status = 'PENDING'`,
        [id, String(n), now],
      );
      assert.equal(rowCount, 1);
      finished++;
    }
  })();
  // Awaited by stop(); a failure meanwhile is reported there.
  loop.catch(() => undefined);
  return {
    finished: () => finished,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** `driver`, with a hook run on its migration session before the DDL transaction's COMMIT (its locks still held). */
function beforeDdlCommit(driver: Driver, hook: () => Promise<void>): Driver {
  return {
    kind: driver.kind,
    query: (sql, params, prepare) => driver.query(sql, params, prepare),
    exec: (sql) => driver.exec(sql),
    pipelined: (sql, params, prepare) => driver.pipelined(sql, params, prepare),
    transaction: (fn, options) => driver.transaction(fn, options),
    listen: (channel, handlers) => driver.listen(channel, handlers),
    close: () => driver.close(),
    session: (fn) =>
      driver.session((session) => {
        const hooked: Queryable = {
          query: (sql, params, prepare) => session.query(sql, params, prepare),
          exec: async (sql) => {
            if (sql === 'COMMIT') await hook();
            await session.exec(sql);
          },
        };
        return fn(hooked);
      }),
  };
}

test('a database of migration 10 with its history migrates in place under the old fleet, loses no row, and retention then removes only the finished history', async (t) => {
  const db = await testDatabase('retention_migration');
  const clients = Array.from({ length: 4 }, () => new pg.Client({ connectionString: db.url }));
  const [client, writerClient, observer, holder] = clients as [pg.Client, pg.Client, pg.Client, pg.Client];
  await Promise.all(clients.map((c) => c.connect()));
  let app: Ballast | undefined;
  let writer: ReturnType<typeof oldFleetWriter> | undefined;
  try {
    await createAtOldVersion(client);
    const oldColumns = await columnsOf(client);
    await writeOldHistory(client, Date.now());
    const before = await snapshot(client, oldColumns);

    // The old fleet writes all along; an observer samples the locks its connection waits for.
    const writerPid = (await writerClient.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    writer = oldFleetWriter(writerClient);
    const fleet = writer;
    await waitFor('the old fleet writes', () => fleet.finished() >= 5);
    let migrating = true;
    let samples = 0;
    // Adding a column takes an ACCESS EXCLUSIVE lock on its table until the DDL commits: the old fleet
    // may wait for that short transaction, never for the index build.
    let phase: 'ddl' | 'build' = 'ddl';
    const writerLockWaits: Record<'ddl' | 'build', string[]> = { ddl: [], build: [] };
    const sampling = (async () => {
      while (migrating) {
        const { rows } = await observer.query<{ lock: string }>(`SELECT locktype || ' ' || mode AS lock FROM pg_locks WHERE pid = $1 AND NOT granted`, [writerPid]);
        writerLockWaits[phase].push(...rows.map((row) => row.lock));
        samples++;
      }
    })();

    // Held open at the point that could stall a live fleet for long: the online build, which waits
    // (holding its own lock on workflows) for a transaction the holder keeps open. The old fleet
    // must commit meanwhile.
    const progress: Record<string, [number, number]> = {};
    let building: Promise<void> | undefined;
    const watchBuild = async (): Promise<void> => {
      await waitFor(
        'the online index build waits for the open writer transaction',
        async () =>
          (await observer.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`)).rows.length > 0,
      );
      phase = 'build';
      const from = fleet.finished();
      await waitFor('the old fleet finishes workflows while the index is built', () => fleet.finished() >= from + 5);
      progress.build = [from, fleet.finished()];
      await holder.query('COMMIT');
    };
    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-test', logger: { warn: () => undefined } });
    const heldOpen = beforeDdlCommit(driver, async () => {
      // A snapshot older than the build's: it waits for it to end. Taken before the DDL commits, since
      // a lock on workflows would wait for the DDL's own lock (migration 11 adds columns to it).
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT 1');
      building = watchBuild();
      // Awaited after migrate(); if migrate() fails first, its failure is the one reported.
      building.catch(() => undefined);
    });
    const later = migrations.filter((migration) => migration.version > OLD_VERSION);
    try {
      const report = await migrate(heldOpen, S);
      await building;
      assert.deepEqual(report, {
        applied: later.map((migration) => migration.version),
        indexesBuilt: later.flatMap((migration) => (migration.indexes ?? []).map((index) => index.name)),
      });
    } finally {
      migrating = false;
      await sampling;
      await driver.close();
    }
    t.diagnostic(`old fleet workflows finished while the index was built: ${JSON.stringify(progress.build)}; its lock waits during the DDL: ${writerLockWaits.ddl.length} samples`);
    assert.ok(progress.build, 'the online build was held open');
    assert.ok(samples > 0);
    t.diagnostic(`samples of the old fleet's locks during migrate(): ${samples}`);
    assert.deepEqual(writerLockWaits.build, [], 'the old fleet never waited for a lock during the index build');
    const afterMigration = fleet.finished();
    await waitFor('the old fleet goes on after the migration', () => fleet.finished() >= afterMigration + 5);
    await fleet.stop();

    // Every row written at version 10 is unchanged; each column added since holds its default.
    assert.deepEqual(await snapshot(client, oldColumns), before);
    const newColumns = [...(await columnsOf(client))].flatMap(([table, names]) =>
      oldColumns.has(table) ? names.filter((name) => !oldColumns.get(table)?.includes(name)).map((name) => [table, name] as const) : [],
    );
    assert.ok(newColumns.length > 0, 'the migrations add columns to existing tables');
    t.diagnostic(`columns added to existing tables: ${newColumns.map((column) => column.join('.')).join(', ')}`);
    for (const [table, column] of newColumns) {
      const { rows: defaults } = await client.query<{ value: string | null }>(
        `SELECT column_default AS value FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
        [S, table, column],
      );
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${S}.${table} WHERE "${column}" IS DISTINCT FROM ${defaults[0]?.value ?? 'NULL'}`);
      assert.equal(rows[0]?.n, 0, `${table}.${column} holds its default in every row`);
    }

    // The current code, launched on the migrated database under the same workflow names.
    const reran: number[] = [];
    const claimed: number[] = [];
    const results = new Map<string, number>();
    app = new Ballast({
      name: APP,
      databaseUrl: db.url,
      executorId: 'new-exec',
      appVersion: 'v1',
      executorLeaseMs: 1_000,
      logger: capturingLogger(),
      retention: { maxRows: 0, interval: 20, dutyCycle: 1 },
    });
    app.workflow('history', async () => assert.fail('a finished workflow never runs again'));
    app.workflow('waiter', async (ctx, n: number) => {
      const first = await ctx.step('before', async () => {
        reran.push(n);
        return -1_000_000;
      });
      const result = first + ((await ctx.recv<number>('go')) ?? -1000);
      results.set(ctx.workflowId, result);
      return result;
    });
    app.workflow('later-job', async (ctx, n: number) => ctx.step('one', async () => n + 1));
    app.workflow('queued-job', async (ctx, n: number) =>
      ctx.step('run', async () => {
        claimed.push(n);
        return n;
      }),
    );
    app.queue('later', { concurrency: 5 });
    await app.launch();

    await waitFor('the waiters are taken over from the dead executor', async () =>
      Number((await client.query(`SELECT count(*) AS n FROM ${S}.workflows WHERE name = 'waiter' AND status = 'PENDING' AND owner = 'new-exec'`)).rows[0]?.n) === WAITERS,
    );
    await waitFor('the enqueued workflow runs', () => claimed.length === 1);
    assert.deepEqual(claimed, [7]);
    await waitFor('retention removes every finished workflow', async () =>
      Number((await client.query(`SELECT count(*) AS n FROM ${S}.workflows WHERE status IN ${FINAL}`)).rows[0]?.n) === 0,
    );
    for (const [table, owner] of [['steps', 'workflow_id'], ['events', 'workflow_id'], ['streams', 'workflow_id'], ['messages', 'destination_id']]) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${S}.${table} t WHERE NOT EXISTS (SELECT 1 FROM ${S}.workflows w WHERE w.id = t.${owner})`,
      );
      assert.equal(rows[0]?.n, 0, `${table} rows of deleted workflows`);
    }
    // What was not finished is all there: the DELAYED rows untouched, the waiters' checkpoints and unread message.
    const remaining = await snapshot(client, oldColumns);
    const kept = (snap: Snapshot, table: string, prefixes: string[]) =>
      snap[table]?.filter((row) => prefixes.some((prefix) => row.includes(`"${prefix}`)));
    assert.deepEqual(kept(remaining, 'workflows', ['delayed-']), kept(before, 'workflows', ['delayed-']));
    assert.equal(kept(remaining, 'workflows', ['delayed-'])?.length, DELAYED);
    assert.deepEqual(kept(remaining, 'steps', ['waiter-']), kept(before, 'steps', ['waiter-']));
    assert.deepEqual(kept(remaining, 'messages', ['waiter-']), kept(before, 'messages', ['waiter-']));
    assert.equal(kept(remaining, 'messages', ['waiter-'])?.length, 1);
    assert.deepEqual(remaining.events, []);
    assert.deepEqual(remaining.streams, []);

    for (let n = 0; n < WAITERS; n++) await app.send(`waiter-${n}`, 'go', 100);
    await waitFor('every waiter finishes', () => results.size === WAITERS);
    assert.deepEqual(
      [...results].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })),
      Array.from({ length: WAITERS }, (_, n) => [`waiter-${n}`, n + 100]),
    );
    assert.deepEqual(reran, [], "the waiters' recorded 'before' step is used, not run again");
  } finally {
    await writer?.stop().catch(() => undefined);
    await app?.shutdown({ drainMs: 0 });
    await Promise.all(clients.map((c) => c.end()));
    await db.close();
  }
});
