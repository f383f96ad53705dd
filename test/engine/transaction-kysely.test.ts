// The example in docs/workflows.md ("Transactions", with a query builder): Kysely on the
// transaction's own client, so that its queries commit with the checkpoint.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kysely, PostgresDialect, type Generated } from 'kysely';
import pg from 'pg';
import type { Ballast, Transaction } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

// --- as in the docs ---
interface Database {
  stock: { sku: string; n: number };
  reservations: { id: Generated<number>; workflow_id: string; sku: string };
}

/** A Kysely whose queries run on the transaction's connection, inside the transaction. */
function kyselyIn(tx: Transaction): Kysely<Database> {
  const client = tx.client as pg.PoolClient;
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      // One connection, already in the transaction: Kysely must neither release nor end it.
      pool: {
        options: {},
        connect: async () => ({ query: client.query.bind(client), release: () => undefined }) as unknown as pg.PoolClient,
        end: async () => undefined,
      },
    }),
  });
}
// --- end of the docs' example ---

describe('ctx.transaction with Kysely (the docs example)', () => {
  let db: TestDatabase;
  let ballast: Ballast;
  let reserve: ReturnType<typeof define>;
  const define = (app: Ballast) =>
    app.workflow('reserve', async (ctx, sku: string) => {
      const left = await ctx.transaction('reserve', async (tx) => {
        const kysely = kyselyIn(tx);
        await kysely.updateTable('stock').set((eb) => ({ n: eb('n', '-', 1) })).where('sku', '=', sku).execute();
        await kysely.insertInto('reservations').values({ workflow_id: ctx.workflowId, sku }).execute();
        const { n } = await kysely.selectFrom('stock').select('n').where('sku', '=', sku).executeTakeFirstOrThrow();
        if (n < 0) throw new Error(`${sku} is sold out`);
        return n;
      });
      return ctx.step('confirm', () => `reserved, ${left} left`);
    });

  before(async () => {
    db = await openTestDatabase('postgres');
    ballast = newBallast(db);
    reserve = define(ballast);
    const setup = ballast.workflow('setup', async (ctx) =>
      ctx.transaction('create', async (tx) => {
        await tx.query('CREATE TABLE stock (sku text PRIMARY KEY, n int NOT NULL)');
        await tx.query('CREATE TABLE reservations (id serial PRIMARY KEY, workflow_id text NOT NULL, sku text NOT NULL)');
        await tx.query(`INSERT INTO stock VALUES ('lamp', 1)`);
      }),
    );
    await ballast.launch();
    await (await setup.start(undefined)).result();
  });

  after(async () => {
    await ballast.shutdown({ drainMs: 1_000 });
    await db.close();
  });

  test("Kysely's writes commit with the checkpoint, and roll back with a failure", async () => {
    const first = await reserve.start('lamp');
    assert.equal(await first.result(), 'reserved, 0 left');
    const second = await reserve.start('lamp');
    await assert.rejects(second.result(), /lamp is sold out/);
    const client = new pg.Client({ connectionString: db.config.databaseUrl });
    await client.connect();
    try {
      assert.deepEqual((await client.query('SELECT workflow_id FROM reservations')).rows, [{ workflow_id: first.id }]);
      assert.deepEqual((await client.query('SELECT n FROM stock')).rows, [{ n: 0 }]);
    } finally {
      await client.end();
    }
  });
});
