// Outbox: enqueue and start in the caller's own transaction. The workflow exists if and only if
// the caller commits, the wake-up NOTIFY goes out with that commit, and a `transaction` that is
// not a client in a transaction is a typed error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import { ValidationError, type Ballast, type WorkflowDefinition } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

describe('outbox on Postgres: the workflow exists if and only if the caller commits', () => {
  let db: TestDatabase;
  let app: Ballast;
  let client: BallastClient;
  let caller: pg.Client;
  let listener: pg.Client;
  let pool: pg.Pool;
  const notifications: string[] = [];
  let greet: WorkflowDefinition<string, string>;
  let refusing: WorkflowDefinition<'enqueue' | 'start', string>;

  before(async () => {
    db = await openTestDatabase('postgres');
    app = newBallast(db, { name: 'shop', appVersion: 'v1', pollIntervalMs: 60_000 });
    app.queue('outbox', { workerConcurrency: 4 });
    greet = app.workflow('greet', async (ctx, name: string) => ctx.step('greet', () => `hello ${name}`));
    refusing = app.workflow('refusing', async (ctx, kind: 'enqueue' | 'start') => {
      const transaction = { query: async () => ({ rows: [] }) };
      try {
        if (kind === 'enqueue') await ctx.enqueue(greet, 'x', { queue: 'outbox', transaction });
        else await ctx.start(greet, 'x', { transaction });
        return 'accepted';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    await app.launch();
    client = new BallastClient({ appName: 'shop', databaseUrl: db.config.databaseUrl, pollIntervalMs: 60_000 });
    caller = new pg.Client({ connectionString: db.config.databaseUrl });
    listener = new pg.Client({ connectionString: db.config.databaseUrl });
    pool = new pg.Pool({ connectionString: db.config.databaseUrl, max: 2 });
    await Promise.all([caller.connect(), listener.connect()]);
    await caller.query('CREATE TABLE orders (id text PRIMARY KEY)');
    listener.on('notification', (message) => notifications.push(message.payload ?? ''));
    await listener.query('LISTEN ballast_wake');
  });

  after(async () => {
    await Promise.all([caller.end(), listener.end(), pool.end(), client.close()]);
    await app.shutdown({ drainMs: 1_000 });
    await db.close();
  });

  const exists = async (id: string) => (await app.workflows.get(id)) !== undefined;

  test('client.enqueue: a rolled-back transaction leaves no workflow and wakes nobody', async () => {
    await caller.query('BEGIN');
    await caller.query(`INSERT INTO orders VALUES ('o-1')`);
    const handle = await client.enqueue('greet', 'ada', { queue: 'outbox', id: 'outbox-rolled-back', transaction: caller });
    assert.equal(handle.id, 'outbox-rolled-back');
    assert.equal(await exists(handle.id), false, 'not visible before the commit');
    await caller.query('ROLLBACK');
    // A committed statement after it: the notifications it sends arrive after any of the rollback's.
    await caller.query(`SELECT pg_notify('ballast_wake', 'marker-1')`);
    await waitFor('the marker arrives', () => notifications.includes('marker-1'));
    assert.equal(await exists(handle.id), false);
    assert.deepEqual(notifications.filter((payload) => payload.includes('outbox')), [], 'no wake-up went out');
  });

  test('client.enqueue: a committed transaction runs the workflow, woken by the NOTIFY sent with the commit', async () => {
    await caller.query('BEGIN');
    await caller.query(`INSERT INTO orders VALUES ('o-2')`);
    const handle = await client.enqueue<string>('greet', 'grace', { queue: 'outbox', id: 'outbox-committed', transaction: caller });
    assert.equal(await exists(handle.id), false, 'not visible before the commit');
    assert.deepEqual(notifications.filter((payload) => payload.includes('outbox')), []);
    await caller.query('COMMIT');
    await waitFor('the wake-up arrives', () => notifications.some((payload) => payload.includes('outbox')));
    // The poll interval is a minute: the NOTIFY is what starts it.
    assert.equal(await handle.result({ timeout: '20s' }), 'hello grace');
  });

  test('workflow.enqueue with a PoolClient: rollback leaves nothing, commit runs it; the same ID twice is one workflow', async () => {
    const connection = await pool.connect();
    try {
      await connection.query('BEGIN');
      await greet.enqueue('x', { queue: 'outbox', id: 'pool-rolled-back', transaction: connection });
      await connection.query('ROLLBACK');
      assert.equal(await exists('pool-rolled-back'), false);

      await connection.query('BEGIN');
      const handle = await greet.enqueue('linus', { queue: 'outbox', id: 'pool-committed', transaction: connection });
      const again = await greet.enqueue('linus', { queue: 'outbox', id: 'pool-committed', transaction: connection });
      assert.equal(again.id, handle.id);
      await connection.query('COMMIT');
      assert.equal(await handle.result({ timeout: '20s' }), 'hello linus');
      assert.equal((await app.workflows.list({ idPrefix: 'pool-committed' })).length, 1);
    } finally {
      connection.release();
    }
  });

  test('workflow.start with a transaction: rollback leaves nothing; after the commit an executor adopts and runs it', async () => {
    await caller.query('BEGIN');
    await greet.start('nobody', { id: 'start-rolled-back', transaction: caller });
    await caller.query('ROLLBACK');
    assert.equal(await exists('start-rolled-back'), false);

    await caller.query('BEGIN');
    const handle = await greet.start('barbara', { id: 'start-committed', transaction: caller, timeout: '1h' });
    assert.equal(await exists(handle.id), false);
    await caller.query('COMMIT');
    assert.equal(await handle.result({ timeout: '20s' }), 'hello barbara');
    const info = await app.workflows.get(handle.id);
    assert.equal(info?.attempts, 1);
    assert.equal(info?.executorId, 'executor-1');
  });

  test('a transaction option that is not a client in a transaction is a ValidationError that says what to pass', async () => {
    const what = /pass your open transaction on the system database: a node-postgres Client or PoolClient on which you ran BEGIN/;
    for (const transaction of [{}, 'BEGIN', 42, null]) {
      await assert.rejects(client.enqueue('greet', 'x', { queue: 'outbox', transaction: transaction as never }), (error: unknown) => error instanceof ValidationError && what.test(error.message));
      await assert.rejects(greet.start('x', { transaction: transaction as never }), ValidationError);
    }
    await assert.rejects(greet.enqueue('x', { queue: 'outbox', transaction: pool }), /is a pool or a database, not a transaction/);
    assert.match(await (await refusing.start('enqueue')).result(), /^ValidationError: ctx\.enqueue of "greet": a workflow's enqueues are exactly once already/);
    assert.match(await (await refusing.start('start')).result(), /^ValidationError: ctx\.start of "greet": a workflow's children start exactly once already/);
  });

  test("a client on another database (no Ballast tables) is a ValidationError", async () => {
    const other = await testDatabase('not_system');
    const elsewhere = new pg.Client({ connectionString: other.url });
    await elsewhere.connect();
    try {
      await elsewhere.query('BEGIN');
      await assert.rejects(client.enqueue('greet', 'x', { queue: 'outbox', transaction: elsewhere }), /the transaction's database has no Ballast tables/);
      await elsewhere.query('ROLLBACK');
    } finally {
      await elsewhere.end();
      await other.close();
    }
  });
});

describe('outbox on the embedded database: in a ctx.transaction, with tx.client', () => {
  let db: TestDatabase;
  let app: Ballast;
  let parent: WorkflowDefinition<{ commit: boolean; id: string }, string>;

  before(async () => {
    db = await openTestDatabase('pglite');
    app = newBallast(db, { pollIntervalMs: 60_000 });
    app.queue('outbox');
    const child = app.workflow('child', async (ctx, n: number) => ctx.step('double', () => n * 2));
    parent = app.workflow('parent', async (ctx, input: { commit: boolean; id: string }) => {
      try {
        await ctx.transaction('enqueue-and-start', async (tx) => {
          const queued = await child.enqueue(21, { queue: 'outbox', id: `${input.id}-queued`, transaction: tx.client as never });
          const again = await child.enqueue(21, { queue: 'outbox', id: `${input.id}-queued`, transaction: tx.client as never });
          assert.equal(again.id, queued.id, 'the same ID enqueued twice is one workflow');
          await child.start(4, { id: `${input.id}-started`, transaction: tx.client as never });
          if (!input.commit) throw new Error('roll back');
        });
      } catch {
        return 'rolled back';
      }
      return 'committed';
    });
    await app.launch();
  });

  after(async () => {
    await app.shutdown({ drainMs: 1_000 });
    await db.close();
  });

  test('rolled back: no workflows; committed: both run', async () => {
    assert.equal(await (await parent.start({ commit: false, id: 'no' })).result(), 'rolled back');
    assert.equal(await app.workflows.get('no-queued'), undefined);
    assert.equal(await app.workflows.get('no-started'), undefined);
    assert.equal(await (await parent.start({ commit: true, id: 'yes' })).result(), 'committed');
    assert.equal(await app.result('yes-queued', { timeout: '20s' }), 42);
    assert.equal(await app.result('yes-started', { timeout: '20s' }), 8);
  });
});
