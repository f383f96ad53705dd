// Fair queues in one process. The acceptance case runs on real Postgres with the start order read
// from the database: each workflow's first step appends a row to `starts` (a bigserial gives the
// order), so "before A's 100th start after B arrived" is counted in rows, never in time. A control
// on a queue without fairness shows the same count failing. The smaller cases (weights, priority,
// partition limits, a partitioned queue whose head is full of one key) run on both backends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Ballast, ValidationError, type Queue, type WorkflowHandle } from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Job {
  tenant: string;
  ms: number;
}

/** Enqueues `count` jobs of one tenant in batches (one group commit each). */
async function flood(enqueueMany: (inputs: Job[], options: { queue: Queue; partitionKey: string }) => Promise<unknown[]>, queue: Queue, tenant: string, count: number, ms: number): Promise<void> {
  for (let done = 0; done < count; done += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, count - done) }, () => ({ tenant, ms }));
    await enqueueMany(batch, { queue, partitionKey: tenant });
  }
}

describe('a fair queue shares its slots among tenants (postgres, start order from the database)', () => {
  let db: TestDatabase;
  let ballast: Ballast;
  let pool: pg.Pool;
  let fair: Queue;
  let strict: Queue;
  let job: ReturnType<typeof define>;

  function define(app: Ballast) {
    return app.workflow('job', async (ctx, input: Job) => {
      await ctx.step('start', async () => {
        await pool.query('INSERT INTO starts (workflow_id, tenant) VALUES ($1, $2)', [ctx.workflowId, input.tenant]);
      });
      await ctx.step('work', () => pause(input.ms));
    });
  }

  before(async () => {
    db = await openTestDatabase('postgres');
    pool = new pg.Pool({ connectionString: db.config.databaseUrl, max: 4 });
    await pool.query('CREATE TABLE starts (n bigserial PRIMARY KEY, workflow_id text NOT NULL, tenant text NOT NULL)');
    ballast = newBallast(db);
    fair = ballast.queue('fair', { concurrency: 10, fairness: 'partition' });
    strict = ballast.queue('strict', { concurrency: 10, partitionConcurrency: 10 });
    job = define(ballast);
    await ballast.launch();
  });

  after(async () => {
    await ballast.shutdown({ drainMs: 0 });
    await pool.end();
    await db.close();
  });

  /** Enqueues `floodSize` of tenant A, then 10 of tenant B; returns how many of A started after B arrived and before B's last start. */
  async function aStartsBeforeBsLast(queue: Queue, floodSize: number, a: string, b: string): Promise<{ aBetween: number; firstB: number; arrival: number }> {
    await flood((inputs, options) => job.enqueueMany(inputs, options), queue, a, floodSize, 20);
    const handles: WorkflowHandle<void>[] = await job.enqueueMany(Array.from({ length: 10 }, () => ({ tenant: b, ms: 20 })), { queue, partitionKey: b });
    const { rows: at } = await pool.query<{ n: string | null }>('SELECT max(n) AS n FROM starts');
    const arrival = Number(at[0]?.n ?? 0);
    await Promise.all(handles.map((handle) => handle.result({ timeout: '120s' })));
    const { rows } = await pool.query<{ a_between: number; first_b: string; last_b: string }>(
      `SELECT (SELECT count(*)::int4 FROM starts WHERE tenant = $1 AND n > $3 AND n < (SELECT max(n) FROM starts WHERE tenant = $2)) AS a_between,
              (SELECT count(*)::int4 FROM starts WHERE tenant = $1 AND n > $3 AND n < (SELECT min(n) FROM starts WHERE tenant = $2)) AS first_b`,
      [a, b, arrival],
    );
    return { aBetween: rows[0]?.a_between ?? -1, firstB: Number(rows[0]?.first_b ?? -1), arrival };
  }

  test("tenant A enqueues 20,000, then tenant B 10: B's last starts before A's 100th start after B's arrival", async (t) => {
    const { aBetween, firstB, arrival } = await aStartsBeforeBsLast(fair, 20_000, 'A', 'B');
    t.diagnostic(`B arrived after ${arrival} starts; A started ${firstB} before B's first and ${aBetween} before B's last`);
    assert.ok(aBetween < 100, `A started ${aBetween} workflows between B's arrival and B's last start`);
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM ballast.workflows WHERE queue = 'fair' AND partition_key = 'A' AND status = 'ENQUEUED'`);
    assert.ok((rows[0]?.n ?? 0) > 10_000, 'most of the flood was still waiting');
  });

  test('the control: without fairness the same flood keeps B waiting (the count above can fail)', async (t) => {
    const { aBetween, firstB } = await aStartsBeforeBsLast(strict, 300, 'C', 'D');
    t.diagnostic(`A started ${firstB} before D's first and ${aBetween} before D's last`);
    assert.ok(firstB >= 100, `strict arrival order: C's backlog started first (${firstB} before D's first)`);
  });
});

for (const backend of backends()) {
  describe(`fair and partitioned claims (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const started: Array<{ queue: string; tenant: string; label: string }> = [];
    const runningByKey = new Map<string, number>();
    const maxByKey = new Map<string, number>();
    let gate: { open: boolean } = { open: true };
    let queues: Record<'weighted' | 'prioritised' | 'limited' | 'partitioned', Queue>;
    let job: ReturnType<typeof define>;

    interface Labelled {
      queue: string;
      tenant: string;
      label: string;
      ms: number;
    }

    function define(app: Ballast) {
      return app.workflow('labelled', async (ctx, input: Labelled) => {
        const key = `${input.queue}/${input.tenant}`;
        const now = (runningByKey.get(key) ?? 0) + 1;
        runningByKey.set(key, now);
        maxByKey.set(key, Math.max(maxByKey.get(key) ?? 0, now));
        started.push({ queue: input.queue, tenant: input.tenant, label: input.label });
        try {
          await ctx.step('work', async () => {
            await pause(input.ms);
            while (!gate.open) await pause(5);
          });
        } finally {
          runningByKey.set(key, (runningByKey.get(key) ?? 1) - 1);
        }
      });
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db);
      queues = {
        weighted: ballast.queue('weighted', { concurrency: 1, fairness: 'partition', partitionWeights: { gold: 3 } }),
        prioritised: ballast.queue('prioritised', { concurrency: 1, fairness: 'partition' }),
        limited: ballast.queue('limited', { concurrency: 6, partitionConcurrency: 2, fairness: 'partition' }),
        partitioned: ballast.queue('partitioned', { concurrency: 4, partitionConcurrency: 2 }),
      };
      job = define(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast.shutdown({ drainMs: 0 });
      await db.close();
    });

    const labelled = (queue: string, tenant: string, label: string, ms = 5): Labelled => ({ queue, tenant, label, ms });
    const startsIn = (queue: string) => started.filter((entry) => entry.queue === queue);

    /** Holds the queue's one slot with a blocker while the rest is enqueued, then lets everything run. */
    async function behindBlocker(queue: keyof typeof queues, enqueue: () => Promise<WorkflowHandle<void>[]>): Promise<string[]> {
      gate = { open: false };
      const blocker = await job.enqueue(labelled(queue, 'blocker', 'blocker'), { queue: queues[queue], partitionKey: 'blocker' });
      await waitFor('the blocker runs', async () => startsIn(queue).length === 1);
      const handles = await enqueue();
      await pause(100);
      gate.open = true;
      await Promise.all([blocker, ...handles].map((handle) => handle.result({ timeout: '60s' })));
      return startsIn(queue).slice(1).map((entry) => entry.label);
    }

    test('a weight-3 key takes three turns for every one of a key without a weight', async () => {
      const order = await behindBlocker('weighted', async () => [
        ...(await job.enqueueMany(Array.from({ length: 6 }, (_, n) => labelled('weighted', 'plain', `p${n}`)), { queue: queues.weighted, partitionKey: 'plain' })),
        ...(await job.enqueueMany(Array.from({ length: 6 }, (_, n) => labelled('weighted', 'gold', `g${n}`)), { queue: queues.weighted, partitionKey: 'gold' })),
      ]);
      // One slot, each workflow done before the next claim: every key is idle at every claim, and the
      // keys take turns from the cursor, gold three at a time.
      assert.deepEqual(order, ['g0', 'g1', 'g2', 'p0', 'g3', 'g4', 'g5', 'p1', 'p2', 'p3', 'p4', 'p5']);
    });

    test('priority comes before fairness: a prioritised workflow of any key goes first', async () => {
      const order = await behindBlocker('prioritised', async () => [
        ...(await job.enqueueMany(Array.from({ length: 3 }, (_, n) => labelled('prioritised', 'a', `a${n}`)), { queue: queues.prioritised, partitionKey: 'a' })),
        ...(await job.enqueueMany(Array.from({ length: 3 }, (_, n) => labelled('prioritised', 'b', `b${n}`)), { queue: queues.prioritised, partitionKey: 'b' })),
        await job.enqueue(labelled('prioritised', 'b', 'b-urgent'), { queue: queues.prioritised, partitionKey: 'b', priority: 1 }),
        await job.enqueue(labelled('prioritised', 'a', 'a-urgent'), { queue: queues.prioritised, partitionKey: 'a', priority: 1 }),
      ]);
      assert.deepEqual(order.slice(0, 2), ['a-urgent', 'b-urgent'], `prioritised first, shared among keys (${order.join(' ')})`);
      assert.deepEqual(order.slice(2), ['a0', 'b0', 'a1', 'b1', 'a2', 'b2'], 'then the keys in turn, from the one after the last served (b: wrap to a)');
    });

    test('fairness keeps partitionConcurrency: at most 2 per key while 3 keys share 6 slots', async () => {
      const handles = (
        await Promise.all(['x', 'y', 'z'].map((tenant) =>
          job.enqueueMany(Array.from({ length: 8 }, (_, n) => labelled('limited', tenant, `${tenant}${n}`, 20)), { queue: queues.limited, partitionKey: tenant }),
        ))
      ).flat();
      await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })));
      for (const tenant of ['x', 'y', 'z']) assert.equal(maxByKey.get(`limited/${tenant}`), 2, `${tenant}: at most 2 running, and 2 were reached`);
    });

    test('a partitioned queue whose head is one key at its limit still starts the next key at once', async () => {
      const { length: before } = startsIn('partitioned');
      await job.enqueueMany(Array.from({ length: 1_500 }, (_, n) => labelled('partitioned', 'busy', `busy${n}`, 20)), { queue: queues.partitioned, partitionKey: 'busy' });
      const other = await job.enqueue(labelled('partitioned', 'other', 'other'), { queue: queues.partitioned, partitionKey: 'other' });
      // Counted from the enqueue's commit: while it was on the wire (long on a loaded machine) busy went on starting.
      const arrivedAfter = startsIn('partitioned').length - before;
      await other.result({ timeout: '60s' });
      const labels = startsIn('partitioned').slice(before).map((entry) => entry.label);
      const busyBefore = labels.indexOf('other') - arrivedAfter;
      // 'busy' may run 2 at once; slots 3 and 4 of the queue are free for 'other' as soon as it arrives.
      assert.ok(busyBefore <= 2, `${busyBefore} of busy started between other's arrival and its start`);
    });
  });
}

describe('fair queue declarations are validated', () => {
  const app = new Ballast({ name: 'declarations', dataDir: 'memory://' });

  test('fairness takes only "partition"; weights need fairness and are integers from 1 to 1,000', () => {
    assert.throws(() => app.queue('f1', { fairness: 'tenant' as never }), /fairness must be 'partition'/);
    assert.throws(() => app.queue('f2', { partitionWeights: { a: 2 } }), /only a fair queue does; add fairness: 'partition'/);
    assert.throws(() => app.queue('f3', { fairness: 'partition', partitionWeights: { a: 0 } }), /weight of partition key "a" must be an integer from 1 to 1000/);
    assert.throws(() => app.queue('f4', { fairness: 'partition', partitionWeights: { a: 1.5 } }), ValidationError);
    assert.throws(() => app.queue('f5', { fairness: 'partition', partitionWeights: [3] as never }), /must map partition keys to weights/);
    app.queue('f6', { fairness: 'partition', partitionWeights: { a: 1_000 } });
  });

  test('a fair queue is partitioned: an enqueue without a partition key is refused', async (t) => {
    const db = await openTestDatabase('pglite');
    const ballast = newBallast(db);
    const queue = ballast.queue('fair', { fairness: 'partition' });
    const job = ballast.workflow('job', async () => undefined);
    await ballast.launch();
    t.after(async () => {
      await ballast.shutdown({ drainMs: 0 });
      await db.close();
    });
    await assert.rejects(job.enqueue(undefined, { queue }), /queue "fair" is partitioned: enqueue needs a partitionKey/);
    const limits = (await ballast.queues.list()).find((q) => q.name === 'fair');
    assert.deepEqual({ fairness: limits?.fairness, partitionWeights: limits?.partitionWeights }, { fairness: 'partition', partitionWeights: null });
    const updated = await ballast.queues.update('fair', { fairness: 'partition', partitionWeights: { big: 2, plain: 1 } });
    assert.deepEqual(updated.partitionWeights, { big: 2 }, 'weight 1 is the default and is not stored');
    assert.deepEqual((await ballast.queues.list()).find((q) => q.name === 'fair')?.partitionWeights, { big: 2 });
  });
});
