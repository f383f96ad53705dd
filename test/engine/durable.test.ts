import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowCancelledError, WorkflowTimeoutError, type Ballast } from '../../src/index.js';
import { createTestBallast, type TestBallast } from '../../src/testing/index.js';
import { backends } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';

const DAY = 86_400_000;

for (const backend of backends()) {
  describe(`durable operations (${backend})`, () => {
    let closeDatabase: (() => Promise<void>) | undefined;
    // On the testing kit: waits that fall due later are reached with t.advance instead of waiting.
    let t: TestBallast;
    let ballast: Ballast;
    let workflows: ReturnType<typeof register>;
    const stepRuns = new Map<string, number>();

    function register(app: Ballast) {
      const sleeper = app.workflow('sleeper', async (ctx, ms: number) => {
        const before = await ctx.now();
        await ctx.sleep(ms);
        return (await ctx.now()) - before;
      });
      const receiver = app.workflow('receiver', async (ctx, timeout: string | undefined) => {
        const first = await ctx.recv<{ n: number }>('greeting', timeout === undefined ? {} : { timeout });
        await ctx.setEvent('progress', 'received-first');
        const second = await ctx.recv<{ n: number }>('greeting', { timeout: '50ms' });
        return { first, second };
      });
      const sender = app.workflow('sender', async (ctx, target: string) => {
        await ctx.send(target, 'greeting', { n: 42 });
        return 'sent';
      });
      const child = app.workflow('child', async (ctx, n: number) => {
        stepRuns.set(ctx.workflowId, (stepRuns.get(ctx.workflowId) ?? 0) + 1);
        return ctx.step('double', () => n * 2);
      });
      const parent = app.workflow('parent', async (ctx, n: number) => {
        const a = await ctx.start(child, n);
        const b = await ctx.start(child, n + 1, { id: `${ctx.workflowId}-named-child` });
        return { ids: [a.id, b.id], results: [await a.result(), await b.result()] };
      });
      const identity = app.workflow('identity', async (ctx) => ({ uuid: await ctx.uuid(), now: await ctx.now() }));
      const timed = app.workflow('timed', async (ctx) => {
        await ctx.sleep('2d');
        return 'too late';
      });
      const stuckStep = app.workflow('stuck-step', async (ctx) => ctx.step('never', () => new Promise(() => undefined)));
      const waiter = app.workflow('waiter', async (ctx) => ctx.recv('never-sent'));
      const forkable = app.workflow('forkable', async (ctx, tag: string) => {
        const results: string[] = [];
        for (let i = 0; i < 3; i++) {
          results.push(await ctx.step(`step-${i}`, () => {
            stepRuns.set(`${ctx.workflowId}:${i}`, (stepRuns.get(`${ctx.workflowId}:${i}`) ?? 0) + 1);
            return `${tag}-${i}`;
          }));
        }
        return results;
      });
      // Each step looks at what the database holds of the steps before it, and of itself.
      const observer = app.workflow('observer', async (ctx) => {
        const seen: string[][] = [];
        for (const name of ['a', 'b', 'c']) {
          await ctx.step(name, async () => {
            seen.push((await app.workflows.steps(ctx.workflowId)).map((step) => step.name));
          });
        }
        await ctx.send(ctx.workflowId, 'self', 'note');
        return seen;
      });
      return { sleeper, receiver, sender, parent, identity, timed, stuckStep, waiter, forkable, observer };
    }

    before(async () => {
      let databaseUrl: string | undefined;
      if (backend === 'postgres') {
        const db = await testDatabase('engine');
        databaseUrl = db.url;
        closeDatabase = db.close;
      }
      t = await createTestBallast({ databaseUrl, config: { pollIntervalMs: 10_000 } });
      ballast = t.ballast;
      workflows = register(ballast);
      await t.launch();
    });

    after(async () => {
      await t.close();
      await closeDatabase?.();
    });

    test("a step's checkpoint is durable before the workflow's next durable operation begins", async () => {
      const handle = await workflows.observer.start(undefined);
      assert.deepEqual(await handle.result(), [[], ['a'], ['a', 'b']]);
      const steps = await ballast.workflows.steps(handle.id);
      assert.deepEqual(steps.map((step) => step.name), ['a', 'b', 'c', 'ballast.send:self']);
    });

    test('ctx.sleep waits durably and records its wake-up time, also past the 24.8 days a timer can hold', async () => {
      const handle = await workflows.sleeper.start(30 * DAY);
      await t.advance('29d');
      assert.equal((await handle.status()).status, 'PENDING');
      await t.advance('1d');
      const elapsed = (await handle.result()) as number;
      assert.ok(elapsed >= 30 * DAY, `slept ${elapsed} ms`);
      const steps = await ballast.workflows.steps(handle.id);
      assert.deepEqual(steps.map((s) => s.name), ['ballast.now', 'ballast.sleep', 'ballast.now']);
      assert.equal(typeof steps[1]?.output, 'number');
    });

    test('send and recv deliver a message exactly once; recv times out with undefined', async () => {
      const handle = await workflows.receiver.start(undefined);
      await ballast.send(handle.id, 'greeting', { n: 1 });
      assert.equal(await ballast.getEvent(handle.id, 'progress', { timeout: '5s' }), 'received-first');
      assert.deepEqual(await handle.result(), { first: { n: 1 }, second: undefined });
    });

    test('messages sent before the receiver waits are kept, and idempotency keys deduplicate', async () => {
      const id = 'receiver-early';
      await ballast.send(id, 'greeting', { n: 1 }, { idempotencyKey: 'k1' });
      await ballast.send(id, 'greeting', { n: 1 }, { idempotencyKey: 'k1' });
      const handle = await workflows.receiver.start(undefined, { id });
      assert.deepEqual(await handle.result(), { first: { n: 1 }, second: undefined });
    });

    test('a workflow sends to another workflow exactly once', async () => {
      const receiver = await workflows.receiver.start('5s');
      const sender = await workflows.sender.start(receiver.id);
      assert.equal(await sender.result(), 'sent');
      assert.deepEqual(await receiver.result(), { first: { n: 42 }, second: undefined });
    });

    test('recv with a timeout returns undefined when nothing arrives', async () => {
      const handle = await workflows.receiver.start('1h');
      const started = t.now().getTime();
      await ballast.send(handle.id, 'other-topic', 'ignored');
      await t.advance('1h');
      assert.deepEqual(await handle.result(), { first: undefined, second: undefined });
      assert.ok(t.now().getTime() - started >= 3_600_000);
    });

    test('getEvent returns undefined after its timeout when the event never comes', async () => {
      assert.equal(await ballast.getEvent('no-such-workflow', 'progress', { timeout: 50 }), undefined);
    });

    test('child workflows start durably with deterministic or given IDs', async () => {
      const handle = await workflows.parent.start(3, { id: 'parent-1' });
      const result = (await handle.result()) as { ids: string[]; results: number[] };
      assert.deepEqual(result, { ids: ['parent-1-0', 'parent-1-named-child'], results: [6, 8] });
      const child = await ballast.workflows.get('parent-1-0');
      assert.equal(child?.parentId, 'parent-1');
      const steps = await ballast.workflows.steps('parent-1');
      assert.deepEqual(steps.map((s) => s.childWorkflowId), ['parent-1-0', 'parent-1-named-child']);
    });

    test('ctx.uuid and ctx.now are checkpointed', async () => {
      const handle = await workflows.identity.start(undefined);
      const result = (await handle.result()) as { uuid: string; now: number };
      const steps = await ballast.workflows.steps(handle.id);
      assert.equal(steps[0]?.output, result.uuid);
      assert.equal(steps[1]?.output, result.now);
    });

    test('a workflow timeout fails it with WorkflowTimeoutError, even inside a step that never returns', async () => {
      const sleeping = await workflows.timed.start(undefined, { timeout: '1d' });
      await t.advance('1d');
      await assert.rejects(sleeping.result(), WorkflowTimeoutError);
      const stuck = await workflows.stuckStep.start(undefined, { timeout: 100 });
      await assert.rejects(stuck.result(), WorkflowTimeoutError);
      const status = await ballast.workflows.get(stuck.id, { withPayloads: true });
      assert.equal(status?.status, 'ERROR');
      assert.ok(status?.error instanceof Error);
      assert.equal((status.error as Error).name, 'WorkflowTimeoutError');
      await assert.rejects(ballast.handle(stuck.id).result(), WorkflowTimeoutError);
    });

    test('cancel stops a waiting workflow; callers get WorkflowCancelledError; resume carries on', async () => {
      const handle = await workflows.waiter.start(undefined);
      const rejected = assert.rejects(handle.result(), WorkflowCancelledError);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await ballast.workflows.cancel(handle.id), true);
      await rejected;
      assert.equal((await handle.status()).status, 'CANCELLED');
      await assert.rejects(ballast.handle(handle.id).result(), WorkflowCancelledError);
      assert.equal(await ballast.workflows.cancel(handle.id), false);

      const resumed = await ballast.workflows.resume(handle.id);
      await ballast.send(handle.id, 'never-sent', 'finally');
      assert.equal(await resumed.result(), 'finally');
      assert.equal((await handle.status()).status, 'SUCCESS');
    });

    test('fork reuses checkpoints before fromStep and re-runs the rest', async () => {
      const original = await workflows.forkable.start('x', { id: 'fork-src' });
      assert.deepEqual(await original.result(), ['x-0', 'x-1', 'x-2']);
      const fork = await ballast.workflows.fork('fork-src', { fromStep: 2, id: 'fork-dst' });
      assert.deepEqual(await fork.result(), ['x-0', 'x-1', 'x-2']);
      assert.equal(stepRuns.get('fork-dst:0'), undefined);
      assert.equal(stepRuns.get('fork-dst:1'), undefined);
      assert.equal(stepRuns.get('fork-dst:2'), 1);
      assert.equal((await ballast.workflows.steps('fork-dst')).length, 3);
    });
  });
}
