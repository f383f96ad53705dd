import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { serialize } from '../../src/codec.js';
import { Ballast } from '../../src/index.js';
import type { BeginOptions, Driver, Transaction } from '../../src/store/driver.js';
import { queuePollStatement } from '../../src/store/sql/queues.js';
import { capturingLogger, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { analyzeWholeTables, explainGeneric } from '../support/plans.js';

const POLL_INTERVAL_MS = 200;

/** Counts the statements (and transactions) an instance sends while `on`, by prepared name. */
class StatementCounter {
  on = false;
  total = 0;
  readonly byName = new Map<string, number>();

  wrap(driver: Driver): Driver {
    const count = (prepare = 'unnamed') => {
      if (!this.on) return;
      this.total++;
      this.byName.set(prepare, (this.byName.get(prepare) ?? 0) + 1);
    };
    return {
      kind: driver.kind,
      query: (sql, params, prepare) => (count(prepare), driver.query(sql, params, prepare)),
      exec: (sql) => (count(), driver.exec(sql)),
      pipelined: (sql, params, prepare) => (count(prepare), driver.pipelined(sql, params, prepare)),
      transaction: <T>(fn: (tx: Transaction) => Promise<T>, options?: BeginOptions) => (count('transaction'), driver.transaction(fn, options)),
      listen: (channel, handlers) => driver.listen(channel, handlers),
      session: (fn) => (count('session'), driver.session(fn)),
      close: () => driver.close(),
    };
  }

  named(prefix: string): number {
    let n = 0;
    for (const [name, count] of this.byName) if (name.startsWith(prefix)) n += count;
    return n;
  }
}

function instance(db: TestDatabase, queues: number, counter?: StatementCounter): Ballast {
  const app = new Ballast(
    { name: 'idle-app', executorId: `idle-${queues}`, appVersion: 'v1', logger: capturingLogger(), pollIntervalMs: POLL_INTERVAL_MS, admin: false, ...db.config },
    counter ? { wrapDriver: (driver) => counter.wrap(driver) } : {},
  );
  for (let i = 0; i < queues; i++) app.queue(`tenant-${i}`, { workerConcurrency: 2 });
  return app;
}

describe('idle queues', () => {
  test('an idle instance sends as many statements with 200 queues as with 1, and claims nothing', async () => {
    const dbs = await Promise.all([openTestDatabase('postgres'), openTestDatabase('postgres')]);
    const [one, many] = [new StatementCounter(), new StatementCounter()];
    const apps = [instance(dbs[0]!, 1, one), instance(dbs[1]!, 200, many)];
    try {
      for (const app of apps) app.workflow('noop', async () => undefined);
      await Promise.all(apps.map((app) => app.launch()));
      // Past the quick polls after launch, then about twenty poll intervals side by side.
      await sleep(POLL_INTERVAL_MS * 5);
      one.on = many.on = true;
      await sleep(POLL_INTERVAL_MS * 20);
      one.on = many.on = false;
      // Queue claims only: the claim of due parked workflows is one statement per poll whatever the queues.
      const queueClaims = many.named('ballast_claim') - many.named('ballast_claim_parked');
      assert.equal(queueClaims, 0, `idle queues claimed: ${JSON.stringify([...many.byName])}`);
      assert.equal(many.named('ballast_promote_delayed'), 0);
      assert.ok(many.named('ballast_poll_queues') > 0, 'the fallback poll ran');
      // Per-queue polling would send 200 times as many; the poll is one statement for all of them.
      assert.ok(
        many.total <= one.total * 1.5 + 5,
        `200 idle queues sent ${many.total} statements, 1 idle queue ${one.total}: ${JSON.stringify([...many.byName])}`,
      );
    } finally {
      await Promise.all(apps.map((app) => app.shutdown({ drainMs: 0 })));
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  describe('work no notification announced, on one queue of 200', () => {
    let db: TestDatabase;
    let app: Ballast;
    let client: pg.Client;
    const started = new Map<string, (at: number) => void>();

    before(async () => {
      db = await openTestDatabase('postgres');
      app = instance(db, 200);
      app.workflow('probe', async (_ctx, tag: string) => {
        started.get(tag)?.(Date.now());
      });
      await app.launch();
      client = new pg.Client({ connectionString: db.config.databaseUrl });
      await client.connect();
    });

    after(async () => {
      await client.end();
      await app.shutdown({ drainMs: 0 });
      await db.close();
    });

    /** Inserts a row as another process would, but sends no NOTIFY; resolves when the workflow starts here. */
    async function insertSilently(tag: string, status: 'ENQUEUED' | 'DELAYED', queue: string, availableAt: number | null): Promise<number> {
      const start = new Promise<number>((resolve) => started.set(tag, resolve));
      const now = Date.now();
      await client.query(
        `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, available_at, created_at, updated_at)
         VALUES ($1, 'probe', $2, 'idle-app', 'v1', $3, $4, $5, $6, $6)`,
        [`silent-${tag}`, status, queue, serialize(tag, 'input'), availableAt, now],
      );
      return start;
    }

    test('an ENQUEUED row is found by the fallback poll and runs', async () => {
      await insertSilently('enqueued', 'ENQUEUED', 'tenant-137', null);
    });

    test('a DELAYED row is promoted when due, not before, and runs', async () => {
      const dueAt = Date.now() + 600;
      const startedAt = await insertSilently('delayed', 'DELAYED', 'tenant-58', dueAt);
      assert.ok(startedAt >= dueAt, `started ${dueAt - startedAt} ms before it was due`);
    });

    test('delayed work on many queues is promoted together and each runs once', async () => {
      const dueAt = Date.now() + 300;
      const starts = await Promise.all(
        Array.from({ length: 20 }, (_, i) => insertSilently(`batch-${i}`, 'DELAYED', `tenant-${i * 10}`, dueAt)),
      );
      assert.equal(starts.length, 20);
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE id LIKE 'silent-batch-%' AND attempts = 1`);
      assert.equal(rows[0]?.n, 20);
    });
  });

  test('the poll reads only the partial indexes of waiting work, whatever the history', async () => {
    const db = await openTestDatabase('postgres');
    const app = instance(db, 1);
    app.workflow('noop', async () => undefined);
    await app.launch();
    await app.shutdown({ drainMs: 0 });
    const client = new pg.Client({ connectionString: db.config.databaseUrl });
    await client.connect();
    try {
      // 50,000 finished workflows over 500 queues; a little waiting and delayed work in a few of them.
      await client.query(
        `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, input, available_at, created_at, updated_at)
         SELECT 'w' || i, 'noop', CASE WHEN i % 5000 = 0 THEN 'ENQUEUED' WHEN i % 5000 = 1 THEN 'DELAYED' ELSE 'SUCCESS' END,
           'idle-app', CASE WHEN i % 2 = 0 THEN 'v1' ELSE 'v2' END, 'tenant-' || (i % 500), 'null',
           CASE WHEN i % 5000 = 1 THEN i END, i, i
         FROM generate_series(1, 50000) AS i`,
      );
      await analyzeWholeTables(client, 'ballast.workflows');
      const declared = Array.from({ length: 500 }, (_, i) => `tenant-${i}`);
      const { nodes } = await explainGeneric(client, queuePollStatement('ballast'), ['v1', 25_000, declared]);
      const scans = nodes.filter((node) => node['Relation Name'] === 'workflows');
      assert.ok(scans.length > 0);
      for (const scan of scans) {
        assert.ok(['workflows_queue_ready', 'workflows_delayed'].includes(scan['Index Name'] ?? ''), `the poll reads workflows through ${scan['Node Type']} ${scan['Index Name'] ?? ''}`);
      }
    } finally {
      await client.end();
      await db.close();
    }
  });
});
