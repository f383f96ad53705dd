// A database created by migrations 1–10 (the schema before retention kept one pace for the fleet),
// with history written through the public API, migrates in place while a worker keeps running on
// it: the migration of retention takes no lock the worker waits on, every row is still there
// afterwards, and retention then removes the old history and nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Ballast } from '../../src/index.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { migrations } from '../../src/store/schema.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const HISTORY_TABLES = [
  ['workflows', 'id'],
  ['steps', 'workflow_id, idx'],
  ['events', 'workflow_id, key'],
  ['streams', 'workflow_id, key, position'],
  ['messages', 'id'],
] as const;

/** Every row of the history tables except those of the `live-` workflows, which keep changing. */
async function snapshot(client: pg.Client): Promise<Record<string, unknown[]>> {
  const tables: Record<string, unknown[]> = {};
  for (const [table, key] of HISTORY_TABLES) {
    const owner = table === 'workflows' ? 'id' : table === 'messages' ? 'destination_id' : 'workflow_id';
    const { rows } = await client.query(`SELECT * FROM ballast.${table} WHERE ${owner} NOT LIKE 'live-%' ORDER BY ${key}`);
    tables[table] = rows;
  }
  return tables;
}

/** Launches an application on a schema that has migrations 1–10 only, as a database of that time would. */
async function launchAtMigration10(app: Ballast): Promise<void> {
  const later = migrations.splice(migrations.findIndex((migration) => migration.version > 10));
  try {
    await app.launch();
  } finally {
    migrations.push(...later);
  }
}

test('a database at migration 10 with history in it migrates in place while a worker runs, and loses no row', async () => {
  const db = await testDatabase('retention_migration');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const worker = new Ballast({ name: 'test-app', databaseUrl: db.url, executorId: 'worker', appVersion: 'v1', logger: capturingLogger() });
  const history = worker.workflow('history', async (ctx, n: number) => {
    const doubled = await ctx.step('double', async () => n * 2);
    await ctx.setEvent('doubled', doubled);
    await ctx.writeStream('values', doubled);
    await ctx.closeStream('values');
    await ctx.send(ctx.workflowId, 'note', { n });
    return { doubled, note: await ctx.recv<{ n: number }>('note') };
  });
  const waiter = worker.workflow('waiter', async (ctx, n: number) => {
    const before = await ctx.step('before', async () => n);
    return before + ((await ctx.recv<number>('go')) ?? -1000);
  });
  const live = worker.workflow('live', async (ctx, n: number) => ctx.step('one', async () => n + 1));
  const later = worker.queue('later');
  let pruner: Ballast | undefined;
  try {
    await launchAtMigration10(worker);
    assert.equal((await client.query(`SELECT max(version) AS v FROM ballast.migrations`)).rows[0]?.v, 10);

    const finished = await Promise.all(Array.from({ length: 200 }, (_, n) => history.start(n)));
    for (const [n, handle] of finished.entries()) assert.deepEqual(await handle.result(), { doubled: n * 2, note: { n } });
    const waiting = await Promise.all(Array.from({ length: 10 }, (_, n) => waiter.start(n)));
    await waitFor('every waiter waits', async () => Number((await client.query(`SELECT count(*) AS n FROM ballast.steps WHERE name = 'before'`)).rows[0]?.n) === 10);
    await worker.send(waiting[0]?.id as string, 'other-topic', 'kept', { idempotencyKey: 'key-1' });
    const delayed = await Promise.all(Array.from({ length: 10 }, (_, n) => live.enqueue(n, { queue: later, delay: '1h' })));
    const before = await snapshot(client);

    // Live work all along: the worker starts and finishes workflows while the schema changes under it.
    let stop = false;
    let liveDone = 0;
    const load = (async () => {
      for (let n = 0; !stop; n++) {
        assert.equal(await (await live.start(n, { id: `live-${n}` })).result(), n + 1);
        liveDone++;
      }
    })();

    // The migration of retention, held open in its transaction: the worker still finishes workflows meanwhile.
    const retention = migrations.find((migration) => migration.name.startsWith('retention'));
    assert.ok(retention);
    await client.query('BEGIN');
    await client.query(retention.sql('"ballast"'));
    const whileOpen = liveDone;
    await waitFor('the worker finishes workflows while the migration is open', () => liveDone >= whileOpen + 20);
    await client.query('ROLLBACK');

    const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: 'migrate-test', logger: { warn: () => undefined } });
    try {
      assert.deepEqual((await migrate(driver, 'ballast')).applied, migrations.filter((migration) => migration.version > 10).map((migration) => migration.version));
    } finally {
      await driver.close();
    }
    const afterMigration = liveDone;
    await waitFor('the worker goes on after the migration', () => liveDone >= afterMigration + 20);
    stop = true;
    await load;
    assert.deepEqual(await snapshot(client), before);

    // New code on the migrated database: retention removes the finished history, and only that.
    pruner = new Ballast({ name: 'test-app', databaseUrl: db.url, executorId: 'pruner', appVersion: 'v1', logger: capturingLogger(), retention: { maxRows: 0, interval: 20, dutyCycle: 1 } });
    await pruner.launch();
    await waitFor('the finished history is removed', async () => Number((await client.query(`SELECT count(*) AS n FROM ballast.workflows WHERE name = 'history'`)).rows[0]?.n) === 0);
    for (const [table, owner] of [['steps', 'workflow_id'], ['events', 'workflow_id'], ['streams', 'workflow_id'], ['messages', 'destination_id']]) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ballast.${table} t JOIN ballast.workflows w ON w.id = t.${owner} WHERE w.name = 'history'`);
      assert.equal(rows[0]?.n, 0, table);
      const orphans = await client.query(`SELECT count(*)::int AS n FROM ballast.${table} t WHERE NOT EXISTS (SELECT 1 FROM ballast.workflows w WHERE w.id = t.${owner})`);
      assert.equal(orphans.rows[0]?.n, 0, `${table} rows of deleted workflows`);
    }
    for (const handle of delayed) assert.equal((await worker.workflows.get(handle.id))?.status, 'DELAYED');
    const waitingRows = await client.query(`SELECT count(*)::int AS n FROM ballast.workflows WHERE name = 'waiter' AND status = 'PENDING'`);
    assert.equal(waitingRows.rows[0]?.n, 10);
    const kept = await client.query(`SELECT payload FROM ballast.messages WHERE idempotency_key = 'key-1'`);
    assert.equal(kept.rows.length, 1);
    for (const handle of waiting) await worker.send(handle.id, 'go', 100);
    assert.deepEqual(await Promise.all(waiting.map((handle) => handle.result())), waiting.map((_, n) => n + 100));
  } finally {
    await pruner?.shutdown({ drainMs: 0 });
    await worker.shutdown({ drainMs: 0 });
    await client.end();
    await db.close();
  }
});
