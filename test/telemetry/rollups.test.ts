// The dashboard's history: executors count runs in memory and add them once a minute; what two
// executors counted adds up, percentiles are exact to the bucket, history older than the retention
// is pruned, and the embedded database keeps it too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Ballast } from '../../src/index.js';
import { ROLLUP_BUCKETS_MS } from '../../src/store/sql/rollups.js';
import { percentile } from '../../src/telemetry/history.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

function define(ballast: Ballast) {
  return {
    quick: ballast.workflow('quick', async (ctx, n: number) => ctx.step('add', () => n + 1)),
    slow: ballast.workflow('slow', async (ctx) => ctx.step('wait', () => new Promise((resolve) => setTimeout(resolve, 600)))),
    parked: ballast.workflow('parked', async (ctx) => ctx.recv('never', { timeout: '1h' })),
    failing: ballast.workflow('failing', async (ctx) =>
      ctx.step('boom', () => {
        throw new Error('boom');
      }),
    ),
  };
}

const flush = (ballast: Ballast) => (ballast as unknown as { rollups: { flush(): Promise<void> } }).rollups.flush();

test('percentiles are the upper bound of the bucket that holds them', () => {
  const buckets = new Array<number>(ROLLUP_BUCKETS_MS.length + 1).fill(0);
  buckets[0] = 90; // ≤ 10 ms
  buckets[7] = 9; // ≤ 2.5 s
  buckets[ROLLUP_BUCKETS_MS.length] = 1; // beyond the last bound
  assert.equal(percentile(buckets, 0.5), 10);
  assert.equal(percentile(buckets, 0.95), 2_500);
  assert.equal(percentile(buckets, 0.999), ROLLUP_BUCKETS_MS[ROLLUP_BUCKETS_MS.length - 1]);
  assert.equal(percentile(new Array<number>(buckets.length).fill(0), 0.5), null);
});

describe('on Postgres, two executors', () => {
  let db: TestDatabase;
  let a: Ballast;
  let b: Ballast;
  let sql: pg.Client;

  before(async () => {
    db = await openTestDatabase('postgres');
    a = newBallast(db, { executorId: 'rollup-a', appVersion: 'v1' });
    b = newBallast(db, { executorId: 'rollup-b', appVersion: 'v1' });
    const defsA = define(a);
    const defsB = define(b);
    for (const app of [a, b]) {
      app.queue('q', { workerConcurrency: 4 });
      app.queue('held', { workerConcurrency: 1, rateLimit: { limit: 1, period: '1h' } });
    }
    await Promise.all([a.launch(), b.launch()]);
    sql = new pg.Client({ connectionString: db.config.databaseUrl });
    await sql.connect();
    await Promise.all([1, 2, 3, 4, 5].map(async (n) => (await defsA.quick.start(n)).result()));
    await Promise.all([1, 2, 3].map(async (n) => (await defsB.quick.start(n)).result()));
    await Promise.all([1, 2].map(async () => (await defsA.failing.start(undefined)).result().catch(() => undefined)));
    await Promise.all([1, 2].map(async () => (await defsB.slow.enqueue(undefined, { queue: 'q' })).result()));
    await Promise.all([1, 2].map(() => defsA.parked.enqueue(undefined, { queue: 'held' })));
    await waitFor('one parked workflow started', async () => (await a.queues.metrics('held')).pending === 1);
    const old = Date.now() - 16 * 86_400_000;
    await sql.query(
      `INSERT INTO ballast.workflow_rollups (period_ms, period_start, app_name, queue, workflow_name, app_version, outcome, n, duration_ms_sum)
       VALUES (3600000, $1, 'test-app', '', 'quick', 'v0', 'STARTED', 7, 0), (60000, $2, 'test-app', '', 'quick', 'v0', 'STARTED', 7, 0)`,
      [old - (old % 3_600_000), Date.now() - 2 * 86_400_000],
    );
    await Promise.all([flush(a), flush(b)]);
  });

  after(async () => {
    await sql.end();
    await Promise.all([a.shutdown({ drainMs: 0 }), b.shutdown({ drainMs: 0 })]);
    await db.close();
  });

  test('what both counted adds up, per workflow, queue and outcome', async () => {
    const history = await a.stats.history({ window: '1h' });
    assert.deepEqual(
      { started: history.totals.started, succeeded: history.totals.succeeded, failed: history.totals.failed },
      { started: 13, succeeded: 10, failed: 2 },
    );
    assert.equal(history.points.length, 60);
    assert.equal(history.points.reduce((sum, point) => sum + point.started, 0), 13);
    const breakdown = await b.stats.breakdown({ window: '1h' });
    assert.deepEqual(
      breakdown.map((entry) => [entry.workflowName, entry.queue, entry.started, entry.succeeded, entry.failed]),
      [['failing', null, 2, 0, 2], ['quick', null, 8, 8, 0], ['slow', 'q', 2, 2, 0], ['parked', 'held', 1, 0, 0]],
    );
    const slow = await a.stats.history({ window: '1h', name: 'slow' });
    assert.equal(slow.totals.p50Ms, 1_000, 'a 600 ms run lies in the (500 ms, 1 s] bucket');
    const queued = await a.stats.history({ window: '1h', queue: 'q' });
    assert.equal(queued.totals.started, 2);
  });

  test('history older than the retention is pruned; queue depth is sampled once a minute', async () => {
    const old = (await sql.query(`SELECT count(*)::int AS n FROM ballast.workflow_rollups WHERE app_version = 'v0'`)).rows[0].n;
    assert.equal(old, 0);
    const depth = await b.stats.queueDepth('held', { window: '1h' });
    const last = depth.points.filter((point) => point.enqueued + point.pending > 0).at(-1);
    assert.deepEqual(last && { enqueued: last.enqueued, pending: last.pending, byVersion: last.byVersion }, { enqueued: 1, pending: 1, byVersion: { v1: 2 } });
  });
});

test('on the embedded database too', async () => {
  const db = await openTestDatabase('pglite');
  const app = newBallast(db, { appVersion: 'v1' });
  const defs = define(app);
  await app.launch();
  try {
    await Promise.all([1, 2, 3].map(async (n) => (await defs.quick.start(n)).result()));
    await flush(app);
    const history = await app.stats.history({ window: '6h' });
    assert.equal(history.totals.succeeded, 3);
    assert.equal(history.stepMs, 2 * 60_000, '6 h in 180 points of 2 minutes');
  } finally {
    await app.shutdown({ drainMs: 0 });
    await db.close();
  }
});
