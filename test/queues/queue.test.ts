import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DuplicateRegistrationError,
  DuplicateWorkflowError,
  UnknownQueueError,
  ValidationError,
  WorkflowTimeoutError,
  type Ballast,
} from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of backends()) {
  describe(`queues in one process (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const order: string[] = [];
    let running = 0;
    let maxRunning = 0;
    let defs: ReturnType<typeof define>;

    function define(app: Ballast) {
      const serial = app.queue('serial', { workerConcurrency: 1 });
      const pair = app.queue('pair', { workerConcurrency: 2 });
      const partitioned = app.queue('by-customer', { partitionConcurrency: 1 });
      const open = app.queue('open');
      const track = app.workflow('track', async (ctx, label: string) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        try {
          await ctx.step('record', async () => {
            order.push(label);
            await pause(30);
          });
          return label;
        } finally {
          running--;
        }
      });
      const echo = app.workflow('echo', async (ctx, value: number) => ctx.step('echo', () => value));
      const sleepy = app.workflow('sleepy', async (ctx) => ctx.sleep('5s'));
      const fanOut = app.workflow('fan-out', async (ctx, n: number) => {
        const handles = [];
        for (let i = 0; i < n; i++) handles.push(await ctx.enqueue(echo, i, { queue: 'open' }));
        const results: number[] = [];
        for (const handle of handles) results.push((await handle.result()) as number);
        return results;
      });
      return { serial, pair, partitioned, open, track, echo, sleepy, fanOut };
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db, { pollIntervalMs: 2_000 });
      defs = define(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast.shutdown({ drainMs: 500 });
      await db.close();
    });

    test('an enqueued workflow runs and returns its result', async () => {
      const handle = await defs.echo.enqueue(7, { queue: defs.open });
      assert.equal(await handle.result(), 7);
      const info = await ballast.workflows.get(handle.id);
      assert.equal(info?.status, 'SUCCESS');
      assert.equal(info?.queue, 'open');
      assert.equal(info?.executorId, 'executor-1');
    });

    test('workerConcurrency bounds how many run at once in this executor', async () => {
      maxRunning = 0;
      const handles = await defs.track.enqueueMany(['a', 'b', 'c', 'd', 'e', 'f'], { queue: defs.pair });
      await Promise.all(handles.map((h) => h.result()));
      assert.equal(maxRunning, 2);
    });

    test('lower priority numbers run first; unprioritised work runs after prioritised work', async () => {
      order.length = 0;
      // Occupy the single slot so that the rest queue up before any of them can start.
      const blocker = await defs.sleepy.enqueue(undefined, { queue: defs.serial });
      await pause(100);
      const handles = [
        await defs.track.enqueue('none-1', { queue: defs.serial }),
        await defs.track.enqueue('p5', { queue: defs.serial, priority: 5 }),
        await defs.track.enqueue('none-2', { queue: defs.serial }),
        await defs.track.enqueue('p1', { queue: defs.serial, priority: 1 }),
        await defs.track.enqueue('p0', { queue: 'serial', priority: 0 }),
      ];
      await ballast.workflows.cancel(blocker.id);
      await Promise.all(handles.map((h) => h.result()));
      assert.deepEqual(order, ['p0', 'p1', 'p5', 'none-1', 'none-2']);
    });

    test('dedupId allows one active workflow per key: reject or return the existing one', async () => {
      const first = await defs.sleepy.enqueue(undefined, { queue: defs.open, dedupId: 'user-1' });
      await assert.rejects(defs.sleepy.enqueue(undefined, { queue: defs.open, dedupId: 'user-1' }), (error: unknown) => {
        assert.ok(error instanceof DuplicateWorkflowError);
        assert.equal(error.code, 'DEDUPLICATED');
        assert.equal(error.existingWorkflowId, first.id);
        return true;
      });
      const existing = await defs.sleepy.enqueue(undefined, { queue: defs.open, dedupId: 'user-1', onDuplicate: 'existing' });
      assert.equal(existing.id, first.id);
      await ballast.workflows.cancel(first.id);
      const again = await defs.echo.enqueue(1, { queue: defs.open, dedupId: 'user-1' });
      assert.notEqual(again.id, first.id);
      assert.equal(await again.result(), 1);
    });

    test('enqueue is idempotent by workflow ID', async () => {
      const a = await defs.echo.enqueue(3, { queue: defs.open, id: 'queued-idem' });
      const b = await defs.echo.enqueue(4, { queue: defs.open, id: 'queued-idem' });
      assert.equal(await a.result(), 3);
      assert.equal(await b.result(), 3);
    });

    test('delayed work stays DELAYED until it is due, then runs', async () => {
      const enqueuedAt = Date.now();
      const handle = await defs.echo.enqueue(9, { queue: defs.open, delay: '400ms' });
      assert.equal((await handle.status()).status, 'DELAYED');
      assert.equal((await ballast.queues.metrics('open')).delayed, 1);
      assert.equal(await handle.result(), 9);
      const info = await handle.status();
      assert.ok((info.startedAt?.getTime() ?? 0) >= enqueuedAt + 400, 'did not start early');
    });

    test('a queued workflow timeout counts from dequeue', async () => {
      const blocker = await defs.sleepy.enqueue(undefined, { queue: defs.serial });
      await pause(50);
      const handle = await defs.sleepy.enqueue(undefined, { queue: defs.serial, timeout: '300ms' });
      await pause(500); // waiting in the queue longer than the timeout does not count
      assert.equal((await handle.status()).status, 'ENQUEUED');
      await ballast.workflows.cancel(blocker.id);
      await assert.rejects(handle.result(), WorkflowTimeoutError);
      const info = await handle.status();
      assert.ok((info.completedAt?.getTime() ?? 0) - (info.startedAt?.getTime() ?? 0) >= 300);
    });

    test('a workflow enqueues children exactly once and waits for them', async () => {
      const handle = await defs.fanOut.start(5, { id: 'fan-out-1' });
      assert.deepEqual(await handle.result(), [0, 1, 2, 3, 4]);
      const steps = await ballast.workflows.steps('fan-out-1');
      assert.deepEqual(steps.map((s) => s.childWorkflowId), [0, 1, 2, 3, 4].map((i) => `fan-out-1-${i}`));
      for (let i = 0; i < 5; i++) assert.equal((await ballast.workflows.get(`fan-out-1-${i}`))?.parentId, 'fan-out-1');
    });

    test('partitioned queues need a partition key and run one per key at a time', async () => {
      order.length = 0;
      const handles = [];
      for (const [customer, label] of [['c1', 'c1-a'], ['c1', 'c1-b'], ['c2', 'c2-a'], ['c1', 'c1-c']]) {
        handles.push(await defs.track.enqueue(label as string, { queue: defs.partitioned, partitionKey: customer as string }));
      }
      await Promise.all(handles.map((h) => h.result()));
      assert.deepEqual(order.filter((label) => label.startsWith('c1')), ['c1-a', 'c1-b', 'c1-c']);
      await assert.rejects(defs.track.enqueue('x', { queue: defs.partitioned }), /needs a partitionKey/);
      await assert.rejects(defs.track.enqueue('x', { queue: defs.open, partitionKey: 'c1' }), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.match(error.message, /not partitioned/);
        return true;
      });
    });

    test('queue metrics count ENQUEUED, PENDING and DELAYED per queue', async () => {
      const blocker = await defs.sleepy.enqueue(undefined, { queue: defs.serial });
      const waiting = await defs.sleepy.enqueue(undefined, { queue: defs.serial });
      const later = await defs.echo.enqueue(1, { queue: defs.serial, delay: '1h' });
      await pause(200);
      const metrics = await ballast.queues.metrics('serial');
      assert.equal(metrics.pending, 1);
      assert.equal(metrics.enqueued, 1);
      assert.equal(metrics.delayed, 1);
      assert.equal(metrics.queueLength, 2);
      assert.equal(metrics.runningHere, 1);
      assert.ok(metrics.oldestEnqueuedAgeMs !== null && metrics.oldestEnqueuedAgeMs >= 100);
      const versioned = await ballast.queues.metrics('serial', { version: 'no-such-version' });
      assert.equal(versioned.queueLength, 0);
      for (const h of [blocker, waiting, later]) await ballast.workflows.cancel(h.id);
      assert.equal((await ballast.queues.metrics('serial')).queueLength, 0);
      const all = await ballast.queues.allMetrics();
      assert.deepEqual(all.map((m) => m.queue), ['by-customer', 'open', 'pair', 'serial']);
    });

    test('bad queue input gets typed errors', async () => {
      await assert.rejects(defs.echo.enqueue(1, { queue: 'no-such-queue' }), UnknownQueueError);
      await assert.rejects(ballast.queues.metrics('no-such-queue'), UnknownQueueError);
      await assert.rejects(defs.echo.enqueue(1, { queue: defs.open, priority: -1 }), ValidationError);
      await assert.rejects(defs.echo.enqueue(1, { queue: defs.open, priority: 1.5 }), ValidationError);
      await assert.rejects(defs.echo.enqueue(1, { queue: defs.open, delay: -1 }), ValidationError);
      await assert.rejects(defs.echo.enqueue(1, undefined as never), ValidationError);
      await assert.rejects(ballast.queues.update('open', { workerConcurrency: 0 }), ValidationError);
    });
  });
}

describe('a handle from an enqueue in this process', () => {
  test('keeps the result of a workflow that succeeded here, even once retention deleted its row', async () => {
    const db = await openTestDatabase('postgres');
    const app = newBallast(db, { retention: { maxRows: 0 } });
    const echo = app.workflow('echo', async (ctx, value: number) => ctx.step('echo', () => value));
    const keep = app.queue('keep');
    await app.launch();
    try {
      const handle = await echo.enqueue(5, { queue: keep });
      assert.equal(await handle.result(), 5);
      await app.pruneFinished();
      assert.equal(await app.workflows.get(handle.id), undefined);
      assert.equal(await handle.result(), 5);
    } finally {
      await app.shutdown();
      await db.close();
    }
  });
});

describe('queue declarations are validated', () => {
  test('invalid limits are refused with clear messages', () => {
    const app = newBallast({ backend: 'pglite', config: {}, close: async () => undefined });
    assert.throws(() => app.queue('q1', { workerConcurrency: 5, concurrency: 2 }), /cannot exceed concurrency/);
    assert.throws(() => app.queue('q2', { concurrency: 0 }), ValidationError);
    assert.throws(() => app.queue('q3', { workerConcurrency: -1 }), ValidationError);
    assert.throws(() => app.queue('q4', { workerConcurrency: 1.5 }), /positive integer/);
    assert.throws(() => app.queue('q5', { rateLimit: { limit: 0, period: '1s' } }), ValidationError);
    assert.throws(() => app.queue('q6', { rateLimit: { limit: 5, period: 0 } }), /longer than zero/);
    assert.throws(() => app.queue('q7', { partitionConcurrency: 0 }), ValidationError);
    assert.throws(() => app.queue(''), ValidationError);
    app.queue('ok', { workerConcurrency: 2, concurrency: 10, rateLimit: { limit: 100, period: '1m' } });
    assert.throws(() => app.queue('ok'), DuplicateRegistrationError);
  });
});
