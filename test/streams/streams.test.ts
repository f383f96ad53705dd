// Durable streams in one process, on both backends: order, positions, resuming from an offset,
// readers that wait for values, ends by closeStream and by the workflow finishing, deletion with
// the workflow, and typed errors for bad input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  SerializationError,
  StreamClosedError,
  ValidationError,
  WorkflowNotFoundError,
  type Ballast,
  type WorkflowContext,
} from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

for (const backend of backends()) {
  describe(`streams (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const gates = new Map<string, () => void>();
    const gate = (id: string) => new Promise<void>((resolve) => gates.set(id, resolve));
    let numbers: ReturnType<typeof define>['numbers'];
    let gated: ReturnType<typeof define>['gated'];
    let unclosed: ReturnType<typeof define>['unclosed'];
    let afterClose: ReturnType<typeof define>['afterClose'];
    let badValue: ReturnType<typeof define>['badValue'];

    function define(app: Ballast) {
      return {
        numbers: app.workflow('numbers', async (ctx: WorkflowContext, count: number) => {
          for (let n = 0; n < count; n++) await ctx.writeStream('numbers', { n, at: new Date(n) });
          await ctx.closeStream('numbers');
          await ctx.closeStream('numbers'); // a second close changes nothing
          return count;
        }),
        gated: app.workflow('gated', async (ctx: WorkflowContext) => {
          await ctx.writeStream('s', 'first');
          await ctx.step('wait', () => gate(ctx.workflowId));
          await ctx.writeStream('s', 'second');
          await ctx.writeStream('other', 'elsewhere');
          return 'done';
        }),
        unclosed: app.workflow('unclosed', async (ctx: WorkflowContext) => {
          await ctx.writeStream('s', 1);
          await ctx.writeStream('s', 2);
          return 'finished without closing';
        }),
        afterClose: app.workflow('after-close', async (ctx: WorkflowContext) => {
          await ctx.writeStream('s', 1);
          await ctx.closeStream('s');
          await ctx.writeStream('s', 2);
        }),
        badValue: app.workflow('bad-value', async (ctx: WorkflowContext, what: string) => {
          if (what === 'function') await ctx.writeStream('s', () => 1);
          if (what === 'empty-key') await ctx.writeStream('', 1);
          if (what === 'number-key') await ctx.writeStream(7 as unknown as string, 1);
          if (what === 'close-empty-key') await ctx.closeStream('');
        }),
      };
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db, { pollIntervalMs: 60_000 }); // readers must wake on NOTIFY, not by polling
      ({ numbers, gated, unclosed, afterClose, badValue } = define(ballast));
      await ballast.launch();
    });

    after(async () => {
      await ballast?.shutdown({ drainMs: 1_000 });
      await db?.close();
    });

    test('values arrive once each, in order, with dense positions; a reader resumes from an offset', async () => {
      const handle = await numbers.start(500);
      assert.equal(await handle.result(), 500);
      const all = await collect(ballast.readStream<{ n: number; at: Date }>(handle.id, 'numbers', { from: 0 }));
      assert.deepEqual(all, Array.from({ length: 500 }, (_, n) => ({ n, at: new Date(n) })));
      const entries = await collect(ballast.readStreamEntries<{ n: number }>(handle.id, 'numbers', { from: 490 }));
      assert.deepEqual(entries.map((entry) => [entry.position, entry.value.n]), Array.from({ length: 10 }, (_, k) => [490 + k, 490 + k]));
      assert.deepEqual(await collect(ballast.readStream(handle.id, 'numbers', { from: 500 })), []);
      assert.deepEqual(await collect(ballast.readStream(handle.id, 'numbers', { from: 10_000 })), []);
      assert.deepEqual(await collect(ballast.readStream(handle.id, 'never-written')), [], "a finished workflow's unknown stream is empty");
    });

    test('a reader waits for values, wakes on NOTIFY, and ends when the workflow finishes', async () => {
      const handle = await gated.start(undefined);
      const reader = ballast.readStream<string>(handle.id, 's')[Symbol.asyncIterator]();
      assert.deepEqual(await reader.next(), { value: 'first', done: false });
      const second = reader.next();
      await new Promise((resolve) => setTimeout(resolve, 50));
      gates.get(handle.id)?.();
      assert.deepEqual(await second, { value: 'second', done: false });
      assert.deepEqual(await reader.next(), { value: undefined, done: true });
      assert.deepEqual(await collect(ballast.readStream(handle.id, 'other')), ['elsewhere']);
    });

    test('a finished workflow closes the streams it left open', async () => {
      const handle = await unclosed.start(undefined);
      const reading = collect(ballast.readStream(handle.id, 's'));
      await handle.result();
      assert.deepEqual(await reading, [1, 2]);
    });

    test('an aborted signal ends a reader that waits', async () => {
      const handle = await gated.start(undefined);
      const controller = new AbortController();
      const reading = collect(ballast.readStream(handle.id, 's', { from: 1, signal: controller.signal }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      assert.deepEqual(await reading, []);
      gates.get(handle.id)?.();
      await handle.result();
    });

    test('writing to a closed stream is a StreamClosedError', async () => {
      const handle = await afterClose.start(undefined);
      await assert.rejects(handle.result(), (error: unknown) => error instanceof StreamClosedError && error.code === 'STREAM_CLOSED');
      assert.deepEqual(await collect(ballast.readStream(handle.id, 's')), [1]);
    });

    test('bad input: keys, values and reader options are refused with typed errors', async () => {
      const fails = async (what: string, check: (error: unknown) => boolean) =>
        assert.rejects((await badValue.start(what)).result(), check, what);
      await fails('function', (error) => error instanceof SerializationError && error.code === 'NOT_SERIALIZABLE');
      await fails('empty-key', (error) => error instanceof ValidationError && /stream key/.test(error.message));
      await fails('number-key', (error) => error instanceof ValidationError);
      await fails('close-empty-key', (error) => error instanceof ValidationError);

      const invalid = (error: unknown) => error instanceof ValidationError && error.code === 'INVALID_ARGUMENT';
      assert.throws(() => ballast.readStream('wf', 'k', { from: -1 }), invalid);
      assert.throws(() => ballast.readStream('wf', 'k', { from: 1.5 }), invalid);
      assert.throws(() => ballast.readStream('wf', 'k', { from: '3' as unknown as number }), invalid);
      assert.throws(() => ballast.readStream('wf', '', {}), invalid);
      assert.throws(() => ballast.readStream('', 'k'), invalid);
      assert.throws(() => ballast.readStream('wf', 'k', 5 as unknown as object), invalid);
      assert.throws(() => ballast.readStream('wf', 'k', { signal: 'stop' as unknown as AbortSignal }), invalid);
      await assert.rejects(collect(ballast.readStream('no-such-workflow', 'k')), WorkflowNotFoundError);
    });

    test('deleting a workflow deletes its streams', async () => {
      const handle = await numbers.start(3);
      await handle.result();
      await ballast.workflows.delete(handle.id);
      await assert.rejects(collect(ballast.readStream(handle.id, 'numbers')), WorkflowNotFoundError);
    });
  });
}
