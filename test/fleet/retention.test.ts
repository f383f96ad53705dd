// Background retention beside live work: several executors share one pace, delete only finished
// workflows (with their steps, events, streams and messages) past maxAge or beyond maxRows, and
// leave every active workflow and its history alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ValidationError, type Ballast, type RetentionConfig } from '../../src/index.js';
import { capturingLogger, newBallast, openTestDatabase, type CapturingLogger, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const DAY_MS = 86_400_000;

/** `count` workflows finished two days ago (IDs `old-1` …), each with three steps, an event, a stream row and a message. */
async function seedFinished(client: pg.Client, count: number): Promise<void> {
  const at = Date.now() - 2 * DAY_MS;
  await client.query(
    `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, epoch, attempts, input, output, created_at, started_at, completed_at, updated_at)
     SELECT 'old-' || i, 'echo', 'SUCCESS', 'test-app', 'v1', 1, 1, 'null', 'null', $1::int8 + i, $1::int8 + i, $1::int8 + i, $1::int8 + i
     FROM generate_series(1, $2::int4) AS i`,
    [at, count],
  );
  await client.query(
    `INSERT INTO ballast.steps (workflow_id, idx, name, output, completed_at)
     SELECT 'old-' || i, s, 'step', 'null', $1::int8 FROM generate_series(1, $2::int4) AS i, generate_series(0, 2) AS s`,
    [at, count],
  );
  await client.query(`INSERT INTO ballast.events (workflow_id, key, value, updated_at) SELECT 'old-' || i, 'k', '1', $1::int8 FROM generate_series(1, $2::int4) AS i`, [at, count]);
  await client.query(`INSERT INTO ballast.streams (workflow_id, key, position, value, written_at) SELECT 'old-' || i, 's', 0, '1', $1::int8 FROM generate_series(1, $2::int4) AS i`, [at, count]);
  await client.query(`INSERT INTO ballast.messages (destination_id, topic, payload, created_at) SELECT 'old-' || i, 't', '1', $1::int8 FROM generate_series(1, $2::int4) AS i`, [at, count]);
}

async function count(client: pg.Client, sql: string): Promise<number> {
  return Number((await client.query<{ n: string }>(sql)).rows[0]?.n);
}

/** Rows of the seeded history still present, in every table it has rows in. */
async function seededLeft(client: pg.Client): Promise<number> {
  return count(
    client,
    `SELECT (SELECT count(*) FROM ballast.workflows WHERE id LIKE 'old-%') + (SELECT count(*) FROM ballast.steps WHERE workflow_id LIKE 'old-%')
          + (SELECT count(*) FROM ballast.events WHERE workflow_id LIKE 'old-%') + (SELECT count(*) FROM ballast.streams WHERE workflow_id LIKE 'old-%')
          + (SELECT count(*) FROM ballast.messages WHERE destination_id LIKE 'old-%') AS n`,
  );
}

describe('background retention on a live fleet', () => {
  let db: TestDatabase;
  let client: pg.Client;

  before(async () => {
    db = await openTestDatabase('postgres');
    // Creates the schema; the tests launch their own instances.
    const schema = newBallast(db, { executorId: 'schema' });
    await schema.launch();
    await schema.shutdown();
    client = new pg.Client({ connectionString: db.config.databaseUrl });
    await client.connect();
  });

  after(async () => {
    await client.end();
    await db.close();
  });

  function pruner(id: string, retention: RetentionConfig, logger: CapturingLogger = capturingLogger()): Ballast {
    return newBallast(db, { executorId: id, appVersion: 'v1', logger, retention: { interval: 20, dutyCycle: 1, batchSize: 500, ...retention } });
  }

  test('three executors remove old history while workflows run, wait and queue beside it; none of those is touched', async () => {
    await seedFinished(client, 6_000);
    const worker = newBallast(db, { executorId: 'worker', appVersion: 'v1' });
    const echo = worker.workflow('echo', async (ctx, n: number) => {
      const a = await ctx.step('a', async () => n + 1);
      return ctx.step('b', async () => a * 2);
    });
    const waiter = worker.workflow('waiter', async (ctx, n: number) => {
      const before = await ctx.step('before', async () => n);
      await ctx.setEvent('stage', 'waiting');
      await ctx.writeStream('progress', before);
      const go = await ctx.recv<number>('go');
      return before + (go ?? -1000);
    });
    const open = worker.queue('open');
    await worker.launch();
    const loggers = [capturingLogger(), capturingLogger(), capturingLogger()];
    const pruners = loggers.map((logger, k) => pruner(`pruner-${k}`, { maxAge: '1d' }, logger));
    try {
      const waiting = await Promise.all(Array.from({ length: 20 }, (_, n) => waiter.start(n)));
      await waitFor('every waiter waits in recv', async () => (await count(client, `SELECT count(*) AS n FROM ballast.steps WHERE name = 'before'`)) === 20);
      // Enqueued (two days ago) for a version no executor runs, and delayed by an hour: they wait through the whole test.
      await client.query(
        `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, created_at, updated_at)
         SELECT 'queued-' || i, 'echo', 'ENQUEUED', 'test-app', 'v0', 'open', '1', $1::int8, $1::int8 FROM generate_series(1, 30) AS i`,
        [Date.now() - 2 * DAY_MS],
      );
      const delayed = await Promise.all(Array.from({ length: 30 }, (_, n) => echo.enqueue(n, { queue: open, delay: '1h' })));

      await Promise.all(pruners.map((app) => app.launch()));
      const live: Array<{ n: number; result: Promise<number> }> = [];
      for (let n = 0; (await count(client, `SELECT count(*) AS n FROM ballast.workflows WHERE id LIKE 'old-%'`)) > 0; n += 2) {
        live.push({ n, result: (await echo.start(n)).result() }, { n: n + 1, result: (await echo.enqueue(n + 1, { queue: open })).result() });
        await sleep(5);
      }
      await waitFor('the seeded history is gone from every table', async () => (await seededLeft(client)) === 0);
      assert.ok(live.length > 0);
      for (const { n, result } of live) assert.equal(await result, (n + 1) * 2);

      assert.equal(await count(client, `SELECT count(*) AS n FROM ballast.workflows WHERE id LIKE 'queued-%' AND status = 'ENQUEUED'`), 30);
      for (const handle of delayed) assert.equal((await worker.workflows.get(handle.id))?.status, 'DELAYED');
      assert.equal(await count(client, `SELECT count(*) AS n FROM ballast.events e JOIN ballast.workflows w ON w.id = e.workflow_id WHERE w.name = 'waiter'`), 20);
      assert.equal(await count(client, `SELECT count(*) AS n FROM ballast.streams s JOIN ballast.workflows w ON w.id = s.workflow_id WHERE w.name = 'waiter'`), 20);
      for (const handle of waiting) await worker.send(handle.id, 'go', 100);
      assert.deepEqual(await Promise.all(waiting.map((handle) => handle.result())), waiting.map((_, n) => n + 100));
      for (const logger of loggers) assert.deepEqual(logger.warnings, []);
    } finally {
      await Promise.all(pruners.map((app) => app.shutdown({ drainMs: 0 })));
      await worker.shutdown({ drainMs: 0 });
    }
  });

  test('the fleet keeps one pace: while another executor holds the turn, nothing is deleted', async () => {
    await seedFinished(client, 1_000);
    await client.query(`UPDATE ballast.retention_pace SET next_at = $1, holder = 'someone-else'`, [Date.now() + DAY_MS]);
    const app = pruner('paced', { maxAge: '1d' });
    await app.launch();
    try {
      // Fifty intervals in which the janitor asks for the turn and is refused.
      await sleep(1_000);
      assert.equal(await count(client, `SELECT count(*) AS n FROM ballast.workflows WHERE id LIKE 'old-%'`), 1_000);
      await client.query(`UPDATE ballast.retention_pace SET next_at = 0`);
      await waitFor('the history is deleted once the pause is over', async () => (await seededLeft(client)) === 0);
      const { rows } = await client.query<{ holder: string }>(`SELECT holder FROM ballast.retention_pace`);
      assert.deepEqual(rows, [{ holder: 'paced' }]);
    } finally {
      await app.shutdown({ drainMs: 0 });
    }
  });

  test('background retention keeps the newest maxRows finished workflows', async () => {
    await client.query(`DELETE FROM ballast.workflows WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER')`);
    await seedFinished(client, 3_000);
    const app = pruner('budget', { maxRows: 1_200, dutyCycle: 0.5 });
    await app.launch();
    try {
      await waitFor('1,800 are deleted', async () => (await count(client, `SELECT count(*) AS n FROM ballast.workflows WHERE id LIKE 'old-%'`)) === 1_200);
      // The first created go: old-1801 … old-3000 stay, with their steps.
      assert.equal(await count(client, `SELECT min(substr(id, 5)::int) AS n FROM ballast.workflows WHERE id LIKE 'old-%'`), 1_801);
      assert.equal(await count(client, `SELECT count(*) AS n FROM ballast.steps WHERE workflow_id LIKE 'old-%'`), 3_600);
    } finally {
      await app.shutdown({ drainMs: 0 });
    }
    await client.query(`DELETE FROM ballast.workflows WHERE id LIKE 'old-%'`);
    for (const table of ['steps', 'events', 'streams']) await client.query(`DELETE FROM ballast.${table} WHERE workflow_id LIKE 'old-%'`);
    await client.query(`DELETE FROM ballast.messages WHERE destination_id LIKE 'old-%'`);
  });

  test('pruneFinished on three executors at once deletes each workflow once', async () => {
    await seedFinished(client, 5_000);
    const apps = ['now-1', 'now-2', 'now-3'].map((id) => newBallast(db, { executorId: id, appVersion: 'v1', retention: { maxAge: '1d', batchSize: 300 } }));
    await Promise.all(apps.map((app) => app.launch()));
    try {
      const deleted = await Promise.all(apps.map((app) => app.pruneFinished()));
      assert.equal(deleted.reduce((a, b) => a + b, 0), 5_000);
      assert.equal(await seededLeft(client), 0);
    } finally {
      await Promise.all(apps.map((app) => app.shutdown({ drainMs: 0 })));
    }
  });
});

describe('retention options are validated', () => {
  const app = (retention: unknown) => () => newBallast({ backend: 'pglite', config: {}, close: async () => undefined }, { retention: retention as RetentionConfig });

  test('dutyCycle is a share above 0 and at most 1; unknown options are named', () => {
    for (const dutyCycle of [0, -0.1, 1.5, Number.NaN, '5%']) {
      assert.throws(app({ maxAge: '7d', dutyCycle }), (error: Error) => error instanceof ValidationError && /dutyCycle must be a number greater than 0 and at most 1/.test(error.message));
    }
    assert.throws(app({ maxAge: '7d', maxRow: 10 }), /unknown option "maxRow"; the options are maxAge, maxRows, interval, batchSize, dutyCycle/);
    app({ maxAge: '7d', dutyCycle: 1 })();
    app({ maxRows: 10, dutyCycle: 0.01 })();
  });
});

describe('background retention on the embedded database', () => {
  test('finished workflows beyond maxRows go in the background, with their steps', async () => {
    const db = await openTestDatabase('pglite');
    const app = newBallast(db, { retention: { maxRows: 0, interval: 20, dutyCycle: 0.5 } });
    const echo = app.workflow('echo', async (ctx, n: number) => ctx.step('double', async () => n * 2));
    await app.launch();
    try {
      const handle = await echo.start(21);
      assert.equal(await handle.result(), 42);
      await waitFor('the finished workflow is deleted', async () => (await app.workflows.get(handle.id)) === undefined);
      assert.deepEqual(await app.workflows.steps(handle.id), []);
    } finally {
      await app.shutdown();
      await db.close();
    }
  });
});
