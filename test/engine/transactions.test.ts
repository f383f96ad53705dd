// ctx.transaction: the function's writes and the checkpoint commit together, on both drivers; a
// serialization failure retries and commits once; a throw leaves no row and records the error; a
// fenced-off zombie's transaction rolls back; options and isolation levels apply; bad input is a
// typed error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  DuplicateRegistrationError,
  LifecycleError,
  UnknownDataSourceError,
  ValidationError,
  type Ballast,
  type Transaction,
} from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type CapturingLogger, type TestDatabase } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

type Rows = Record<string, unknown>[];

/** Lets two callers through once both have arrived. */
function barrier(parties: number) {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    arrive: () => {
      if (++arrived === parties) open();
      return opened;
    },
  };
}
const skewBarrier = barrier(2);

/** Where a transaction waits inside itself until the test releases it. */
function gate() {
  let enter!: () => void;
  let release!: () => void;
  return {
    entered: new Promise<void>((resolve) => (enter = resolve)),
    released: new Promise<void>((resolve) => (release = resolve)),
    enter: () => enter(),
    release: () => release(),
  };
}

for (const backend of backends()) {
  describe(`ctx.transaction on the system database (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const runs = new Map<string, number>();
    const ran = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);
    const held = gate();
    let workflows: ReturnType<typeof define>;

    function define(app: Ballast) {
      return {
        /** Runs one statement in a transaction (setup, and reading what the others wrote). */
        sql: app.workflow('sql', async (ctx, input: { text: string; readOnly?: boolean }) =>
          ctx.transaction('sql', async (tx) => (await tx.query(input.text)).rows as Rows, { readOnly: input.readOnly ?? false }),
        ),
        order: app.workflow('order', async (ctx, sku: string) => {
          const id = await ctx.transaction('insert-order', async (tx) => {
            ran(`order:${ctx.workflowId}`);
            const { rows, rowCount } = await tx.query<{ id: number }>('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2) RETURNING id', [ctx.workflowId, sku]);
            assert.equal(rowCount, 1);
            return rows[0]?.id;
          });
          const after = await ctx.step('after', () => `order ${id}`);
          return { id, after };
        }),
        failing: app.workflow('failing', async (ctx) =>
          ctx.transaction('insert-then-throw', async (tx) => {
            await tx.query('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2)', [ctx.workflowId, 'x']);
            throw new Error('changed my mind');
          }),
        ),
        conflicted: app.workflow('conflicted', async (ctx) =>
          ctx.transaction('serialization-failure-once', async (tx) => {
            ran(`conflicted:${ctx.workflowId}`);
            await tx.query('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2)', [ctx.workflowId, 'c']);
            // A real serialization failure from the server, on the first run only.
            if (runs.get(`conflicted:${ctx.workflowId}`) === 1) {
              await tx.query(`DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure'; END $$`);
            }
            return 'committed';
          }, { isolation: 'serializable' }),
        ),
        retried: app.workflow('retried', async (ctx) =>
          ctx.transaction('fails-twice', async (tx) => {
            ran(`retried:${ctx.workflowId}`);
            await tx.query('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2)', [ctx.workflowId, 'r']);
            if ((runs.get(`retried:${ctx.workflowId}`) ?? 0) <= 2) throw new Error('not yet');
            return runs.get(`retried:${ctx.workflowId}`);
          }, { retries: 2, backoff: { initial: 1 } }),
        ),
        settings: app.workflow('settings', async (ctx, options: { isolation?: 'repeatable read' | 'serializable'; readOnly?: boolean }) =>
          ctx.transaction('show', async (tx) => {
            const isolation = (await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows[0]?.transaction_isolation;
            const readOnly = (await tx.query<{ transaction_read_only: string }>('SHOW transaction_read_only')).rows[0]?.transaction_read_only;
            return { isolation, readOnly };
          }, options),
        ),
        readOnlyWrite: app.workflow('read-only-write', async (ctx) =>
          ctx.transaction('write-in-read-only', async (tx) => tx.query('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2)', [ctx.workflowId, 'ro']), { readOnly: true }),
        ),
        rawClient: app.workflow('raw-client', async (ctx) =>
          ctx.transaction('through-the-client', async (tx) => {
            // The driver's own client, inside the same transaction: what a query builder wraps.
            const client = tx.client as { query(text: string, params: unknown[]): Promise<{ rows: Rows }> };
            await client.query('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2)', [ctx.workflowId, 'raw']);
            const counted = (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE workflow_id = $1', [ctx.workflowId])).rows[0];
            // rowCount counts the rows a SELECT returned, on both drivers, as node-postgres does.
            return { ...counted, selected: (await tx.query('SELECT 1 UNION ALL SELECT 2')).rowCount };
          }),
        ),
        writeSkew: app.workflow('write-skew', async (ctx) =>
          ctx.transaction('read-then-insert', async (tx) => {
            ran('write-skew');
            const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE sku = 'skew'`);
            // The first two runs both read before either writes: a real read/write conflict.
            if ((runs.get('write-skew') ?? 0) <= 2) await skewBarrier.arrive();
            await tx.query(`INSERT INTO orders (workflow_id, sku) VALUES ($1, 'skew')`, [ctx.workflowId]);
            return rows[0]?.n;
          }, { isolation: 'serializable' }),
        ),
        holding: app.workflow('holding', async (ctx) =>
          ctx.transaction('hold-then-roll-back', async (tx) => {
            await tx.query(`INSERT INTO orders (workflow_id, sku) VALUES ($1, 'held')`, [ctx.workflowId]);
            held.enter();
            await held.released;
            throw new Error('rolled back while others ran');
          }),
        ),
        badInput: app.workflow('bad-input', async (ctx, input: { fn?: unknown; options?: unknown }) => {
          try {
            await ctx.transaction('bad', (input.fn ?? (async () => 1)) as (tx: Transaction) => Promise<number>, input.options as object);
            return 'accepted';
          } catch (error) {
            return { name: (error as Error).name, code: (error as { code?: string }).code, message: (error as Error).message };
          }
        }),
      };
    }

    const sql = async (text: string, readOnly = true) => (await workflows.sql.start({ text, readOnly })).result();
    const ordersOf = async (id: string) => (await sql(`SELECT sku FROM orders WHERE workflow_id = '${id}' ORDER BY id`)).map((row) => row.sku);
    const stepsOf = async (id: string) => ballast.workflows.steps(id);

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db);
      workflows = define(ballast);
      await ballast.launch();
      await sql('CREATE TABLE orders (id serial PRIMARY KEY, workflow_id text NOT NULL, sku text NOT NULL)', false);
    });

    after(async () => {
      await ballast.shutdown({ drainMs: 1_000 });
      await db.close();
    });

    test('the writes and the checkpoint commit together; the step after it sees its value', async () => {
      const handle = await workflows.order.start('sku-1');
      const result = await handle.result();
      assert.deepEqual(await ordersOf(handle.id), ['sku-1']);
      assert.equal(runs.get(`order:${handle.id}`), 1);
      assert.deepEqual(result, { id: result.id, after: `order ${result.id}` });
      const steps = await stepsOf(handle.id);
      assert.deepEqual(steps.map((step) => [step.name, step.output, step.error]), [['insert-order', result.id, undefined], ['after', `order ${result.id}`, undefined]]);
    });

    test('a replay returns the recorded value and does not run the transaction again', async () => {
      const handle = await workflows.order.start('sku-2');
      await handle.result();
      const fork = await ballast.workflows.fork(handle.id, { fromStep: 1 });
      assert.deepEqual(await fork.result(), await handle.result());
      assert.equal(runs.get(`order:${fork.id}`), undefined, 'the fork replayed the transaction');
      assert.deepEqual(await ordersOf(fork.id), []);
    });

    test('a transaction that throws leaves no row; its error is recorded as a failed step is', async () => {
      const handle = await workflows.failing.start(undefined);
      await assert.rejects(handle.result(), /changed my mind/);
      assert.deepEqual(await ordersOf(handle.id), []);
      const steps = await stepsOf(handle.id);
      assert.equal(steps.length, 1);
      assert.equal(steps[0]?.output, undefined, 'no output was checkpointed');
      assert.match(String((steps[0]?.error as Error).message), /changed my mind/);
    });

    test('a serialization failure rolls back and retries; the transaction commits once', async () => {
      const handle = await workflows.conflicted.start(undefined);
      assert.equal(await handle.result(), 'committed');
      assert.equal(runs.get(`conflicted:${handle.id}`), 2);
      assert.deepEqual(await ordersOf(handle.id), ['c']);
    });

    if (backend === 'postgres') {
      test('two serializable transactions in a real read/write conflict: one is retried, both commit once', async () => {
        const [a, b] = await Promise.all([workflows.writeSkew.start(undefined), workflows.writeSkew.start(undefined)]);
        const counts = (await Promise.all([a.result(), b.result()])).sort();
        assert.deepEqual(counts, [0, 1], 'the retried one saw the other\'s row');
        assert.equal(runs.get('write-skew'), 3);
        assert.deepEqual(await ordersOf(a.id), ['skew']);
        assert.deepEqual(await ordersOf(b.id), ['skew']);
      });
    }

    test('other workflows started while a transaction is open are written outside it: its rollback loses none of them', async () => {
      const holder = await workflows.holding.start(undefined);
      await held.entered;
      // On the embedded database these wait for the open transaction; on Postgres they run beside it.
      const others = Promise.all(['i-1', 'i-2', 'i-3'].map(async (sku) => (await workflows.order.start(sku)).id));
      // Let the writer send their rows (a flush goes on the next turn of the event loop) before the rollback.
      await new Promise((resolve) => setTimeout(resolve, 50));
      held.release();
      await assert.rejects(holder.result(), /rolled back while others ran/);
      for (const id of await others) {
        await ballast.result(id);
        assert.equal((await ordersOf(id)).length, 1, `${id} wrote its row once`);
        assert.deepEqual((await stepsOf(id)).map((step) => step.name), ['insert-order', 'after']);
      }
      assert.deepEqual(await ordersOf(holder.id), []);
    });

    test('other failures retry as a step does with retries; only the last attempt commits', async () => {
      const handle = await workflows.retried.start(undefined);
      assert.equal(await handle.result(), 3);
      assert.deepEqual(await ordersOf(handle.id), ['r']);
      assert.equal((await stepsOf(handle.id))[0]?.attempts, 3);
    });

    test('isolation levels and read-only transactions apply', async () => {
      assert.deepEqual(await (await workflows.settings.start({ isolation: 'serializable' })).result(), { isolation: 'serializable', readOnly: 'off' });
      assert.deepEqual(await (await workflows.settings.start({ isolation: 'repeatable read', readOnly: true })).result(), { isolation: 'repeatable read', readOnly: 'on' });
      const handle = await workflows.readOnlyWrite.start(undefined);
      await assert.rejects(handle.result(), /read-only transaction/);
      assert.deepEqual(await ordersOf(handle.id), []);
    });

    test("tx.client is the driver's client in the same transaction", async () => {
      const handle = await workflows.rawClient.start(undefined);
      assert.deepEqual(await handle.result(), { n: 1, selected: 2 });
      assert.deepEqual(await ordersOf(handle.id), ['raw']);
    });

    test('bad input is a typed error', async () => {
      const run = async (input: { fn?: unknown; options?: unknown }) => (await workflows.badInput.start(input)).result();
      const notAFunction = await run({ fn: 'SELECT 1' });
      assert.equal((notAFunction as { name: string }).name, 'ValidationError');
      assert.match((notAFunction as { message: string }).message, /fn must be a function/);
      const badIsolation = await run({ options: { isolation: 'snapshot' } });
      assert.equal((badIsolation as { code: string }).code, 'INVALID_ARGUMENT');
      assert.match((badIsolation as { message: string }).message, /isolation must be one of 'read committed', 'repeatable read', 'serializable', got "snapshot"/);
      const unknownOption = await run({ options: { timeout: '1s' } });
      assert.match((unknownOption as { message: string }).message, /unknown option "timeout"/);
      assert.match((await run({ options: { readOnly: 'yes' } }) as { message: string }).message, /readOnly must be true or false/);
      assert.match((await run({ options: { retries: -1 } }) as { message: string }).message, /retries must be a non-negative integer/);
      const unknownSource = (await run({ options: { dataSource: 'nope' } })) as { name: string; code: string; message: string };
      assert.equal(unknownSource.name, UnknownDataSourceError.name);
      assert.equal(unknownSource.code, 'UNKNOWN_DATA_SOURCE');
      assert.match(unknownSource.message, /ballast\.dataSource\("nope", \{ databaseUrl \}\)/);
      assert.throws(() => ballast.dataSource('late', { databaseUrl: 'postgresql://x' }), LifecycleError);
    });

    if (backend === 'postgres') {
      test("a zombie's transaction is rolled back: the workflow was taken over while it ran", async () => {
        const client = new pg.Client({ connectionString: db.config.databaseUrl });
        await client.connect();
        try {
          const handle = await workflows.sql.start({ text: "INSERT INTO orders (workflow_id, sku) SELECT 'zombie', 'z' FROM pg_sleep(1)", readOnly: false });
          const sleeping = async () => (await client.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%FROM pg_sleep(1)' AND pid <> pg_backend_pid()`)).rowCount === 1;
          await waitFor('the transaction is running', sleeping);
          // Another executor takes the workflow over while the transaction runs.
          await client.query(`UPDATE ballast.workflows SET owner = 'other-executor', epoch = epoch + 1 WHERE id = $1`, [handle.id]);
          const logger = ballast.config.logger as CapturingLogger;
          await waitFor('the zombie found out', () => logger.warnings.some((warning) => warning.includes(handle.id) && warning.includes('took it over')));
          assert.equal((await client.query(`SELECT 1 FROM orders WHERE workflow_id = 'zombie'`)).rowCount, 0, "the zombie's write was rolled back");
          assert.equal((await client.query(`SELECT 1 FROM ballast.steps WHERE workflow_id = $1`, [handle.id])).rowCount, 0, 'and so was its checkpoint');
        } finally {
          await client.end();
        }
      });
    }
  });
}

describe('ctx.transaction on a data source (another Postgres)', () => {
  let system: TestDatabase;
  let app: { url: string; close(): Promise<void> };
  let ballast: Ballast;
  let appClient: pg.Client;
  let runs = 0;
  let order: ReturnType<typeof define>;
  const define = (instance: Ballast) =>
    instance.workflow('order', async (ctx, sku: string) => {
      const id = await ctx.transaction('insert-order', async (tx) => {
        runs++;
        return (await tx.query<{ id: number }>('INSERT INTO orders (workflow_id, sku) VALUES ($1, $2) RETURNING id', [ctx.workflowId, sku])).rows[0]?.id;
      }, { dataSource: 'app', isolation: 'serializable' });
      return ctx.step('after', () => id);
    });

  before(async () => {
    system = await openTestDatabase('postgres');
    app = await testDatabase('app');
    appClient = new pg.Client({ connectionString: app.url });
    await appClient.connect();
    await appClient.query('CREATE TABLE orders (id serial PRIMARY KEY, workflow_id text NOT NULL UNIQUE, sku text NOT NULL)');
    ballast = newBallast(system);
    ballast.dataSource('app', { databaseUrl: app.url });
    order = define(ballast);
    await ballast.launch();
  });

  after(async () => {
    await ballast.shutdown({ drainMs: 1_000 });
    await appClient.end();
    await Promise.all([system.close(), app.close()]);
  });

  test('the write and its completion commit together in the data source; the checkpoint follows', async () => {
    const handle = await order.start('sku-1');
    const id = await handle.result();
    const { rows } = await appClient.query('SELECT workflow_id, step_idx, output FROM ballast.transaction_completions');
    assert.deepEqual(rows, [{ workflow_id: handle.id, step_idx: 0, output: String(id) }]);
    assert.deepEqual((await appClient.query('SELECT workflow_id FROM orders')).rows, [{ workflow_id: handle.id }]);
    assert.deepEqual((await ballast.workflows.steps(handle.id)).map((step) => [step.name, step.output]), [['insert-order', id], ['after', id]]);
  });

  test('a run that finds its completion recorded (a crash before the checkpoint) returns the recorded output instead of running again', async () => {
    const handle = await order.start('sku-2');
    const id = await handle.result();
    const before = runs;
    // The system database forgets the checkpoint, as if the process had died before writing it.
    const fork = await ballast.workflows.fork(handle.id, { fromStep: 0, id: 'fork-of-sku-2' });
    await appClient.query(`INSERT INTO ballast.transaction_completions (workflow_id, step_idx, output, completed_at) VALUES ('fork-of-sku-2', 0, $1, 0)`, [String(id)]);
    assert.equal(await fork.result(), id);
    assert.equal(runs, before, 'the function did not run again');
    assert.equal((await appClient.query(`SELECT 1 FROM orders WHERE workflow_id = 'fork-of-sku-2'`)).rowCount, 0);
  });

  test('declaring data sources validates', async () => {
    const other = newBallast(system);
    assert.throws(() => other.dataSource('', { databaseUrl: app.url }), ValidationError);
    assert.throws(() => other.dataSource('x', { databaseUrl: '' }), /databaseUrl must be the Postgres URL/);
    assert.throws(() => other.dataSource('x', { databaseUrl: app.url, pool: 3 } as never), /unknown option "pool"/);
    assert.throws(() => other.dataSource('x', { databaseUrl: app.url, poolSize: 0 }), /poolSize must be a positive integer/);
    other.dataSource('x', { databaseUrl: app.url });
    assert.throws(() => other.dataSource('x', { databaseUrl: app.url }), DuplicateRegistrationError);
  });
});
