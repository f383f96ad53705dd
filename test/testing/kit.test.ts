import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CrashPointMissedError,
  LifecycleError,
  UnknownWorkflowError,
  ValidationError,
  WorkflowTimeoutError,
  type ScheduledRun,
} from '../../src/index.js';
import { createTestBallast, type TestBallast } from '../../src/testing/index.js';
import { backends } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';

const DAY = 86_400_000;

for (const backend of backends()) {
  describe(`testing kit (${backend})`, () => {
    let t: TestBallast;
    let closeDatabase: (() => Promise<void>) | undefined;
    let workflows: ReturnType<typeof register>;
    /** What the workflows saw, in the order they saw it, with the virtual time of each. */
    const seen: Array<{ what: string; at: number }> = [];
    const stepRuns = new Map<string, number>();
    const ticks: ScheduledRun[] = [];

    function register(kit: TestBallast) {
      const app = kit.ballast;
      const note = async (ctx: { now(): Promise<number> }, what: string) => seen.push({ what, at: await ctx.now() });
      const daily = app.workflow('daily', async (ctx, days: number) => {
        for (let day = 1; day <= days; day++) {
          await ctx.sleep('1d');
          await note(ctx, `daily ${day}`);
        }
        const approval = await ctx.recv<string>('approval', { timeout: '2d' });
        await note(ctx, `approval ${String(approval)}`);
        return approval;
      });
      const sleeper = app.workflow('sleeper', async (ctx, input: { tag: string; hours: number[] }) => {
        for (const hours of input.hours) {
          await ctx.sleep(hours * 3_600_000);
          await note(ctx, `${input.tag} after ${hours}h`);
        }
      });
      const receiver = app.workflow('receiver', async (ctx, timeout: string) => {
        const message = await ctx.recv<string>('greeting', { timeout });
        await ctx.setEvent('received', message ?? 'nothing');
        return message;
      });
      const queued = app.workflow('queued', async (ctx, tag: string) => {
        await note(ctx, `queued ${tag}`);
        return tag;
      });
      const slow = app.workflow('slow', async (ctx) => {
        await ctx.sleep('2d');
        return 'too late';
      });
      const counted = app.workflow('counted', async (ctx, tag: string) => {
        const results: string[] = [];
        for (const name of ['a', 'b', 'c']) {
          results.push(
            await ctx.step(name, () => {
              const key = `${ctx.workflowId}:${name}`;
              stepRuns.set(key, (stepRuns.get(key) ?? 0) + 1);
              return `${tag}-${name}`;
            }),
          );
        }
        return results;
      });
      const tick = app.workflow('tick', async (_ctx, run: ScheduledRun) => {
        ticks.push(run);
      });
      const emails = app.queue('emails');
      const rated = app.queue('rated', { rateLimit: { limit: 1, period: '1h' } });
      app.schedule('midnight', '0 0 * * *', tick);
      return { daily, sleeper, receiver, queued, slow, counted, emails, rated };
    }

    before(async () => {
      let databaseUrl: string | undefined;
      if (backend === 'postgres') {
        const db = await testDatabase('kit');
        databaseUrl = db.url;
        closeDatabase = db.close;
      }
      t = await createTestBallast({ databaseUrl });
      workflows = register(t);
      await t.launch();
    });

    after(async () => {
      await t.close();
      await closeDatabase?.();
    });

    test('30 days of sleeps, a recv timeout and a daily schedule pass in a moment of real time', async (context) => {
      const from = t.now().getTime();
      const ticksBefore = ticks.length;
      const handle = await workflows.daily.start(27);
      const began = performance.now();
      const cpuBefore = process.cpuUsage();
      await t.advance('30d');
      const elapsedMs = performance.now() - began;
      const cpu = process.cpuUsage(cpuBefore);
      context.diagnostic(
        `advancing 30 virtual days took ${elapsedMs.toFixed(0)} ms of real time, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms of this process's CPU (${backend})`,
      );
      assert.equal(await handle.result(), undefined, 'the recv timed out');
      const days = seen.filter((entry) => entry.what.startsWith('daily '));
      assert.deepEqual(days.map((entry) => entry.what), Array.from({ length: 27 }, (_, i) => `daily ${i + 1}`));
      days.forEach((entry, i) => assert.ok(Math.abs(entry.at - (from + (i + 1) * DAY)) < 60_000, `day ${i + 1} woke at its due time`));
      const timedOut = seen.find((entry) => entry.what === 'approval undefined');
      assert.ok(timedOut !== undefined && Math.abs(timedOut.at - (from + 29 * DAY)) < 60_000, 'the recv timed out 2 days after the last sleep');
      assert.equal(ticks.length - ticksBefore, 30, 'one scheduled run per midnight');
      assert.ok(t.now().getTime() - from >= 30 * DAY);
      const executors = await t.ballast.executors.list();
      assert.deepEqual(executors.map((executor) => executor.alive), [true], 'the lease runs on real time: the jump expired nothing');
    });

    test('sleeps of several workflows fire in due order', async () => {
      seen.length = 0;
      await workflows.sleeper.start({ tag: 'A', hours: [1, 2, 3] }); // wakes at 1, 3, 6
      await workflows.sleeper.start({ tag: 'B', hours: [2, 2] }); // wakes at 2, 4
      await t.advance('7h');
      assert.deepEqual(
        seen.map((entry) => entry.what),
        ['A after 1h', 'B after 2h', 'A after 2h', 'B after 2h', 'A after 3h'],
      );
      const times = seen.map((entry) => entry.at);
      assert.deepEqual([...times].sort((a, b) => a - b), times);
    });

    test('recv and getEvent time out when their time comes, not before', async () => {
      const handle = await workflows.receiver.start('1h');
      const event = t.ballast.getEvent(handle.id, 'never-set', { timeout: '3h' });
      await t.advance('59m');
      assert.equal((await handle.status()).status, 'PENDING');
      await t.advance('1m');
      assert.equal(await handle.result(), undefined);
      assert.equal(await t.ballast.getEvent(handle.id, 'received'), 'nothing');
      await t.advance('3h');
      assert.equal(await event, undefined);
    });

    test('a delayed enqueue runs once its delay has passed', async () => {
      const handle = await workflows.queued.enqueue('later', { queue: workflows.emails, delay: '1h' });
      await t.advance('30m');
      assert.equal((await handle.status()).status, 'DELAYED');
      await t.advance('30m');
      assert.equal(await handle.result(), 'later');
    });

    test('a rate-limited queue starts the next workflow when its window frees a slot', async () => {
      const first = await workflows.queued.enqueue('r1', { queue: workflows.rated });
      const second = await workflows.queued.enqueue('r2', { queue: workflows.rated });
      assert.equal(await first.result(), 'r1');
      await t.advance('30m');
      assert.equal((await second.status()).status, 'ENQUEUED');
      await t.advance('31m');
      assert.equal(await second.result(), 'r2');
    });

    test('a workflow timeout fails the workflow when it falls due', async () => {
      const handle = await workflows.slow.start(undefined, { timeout: '1d' });
      await t.advance('23h');
      assert.equal((await handle.status()).status, 'PENDING');
      await t.advance('1h');
      await assert.rejects(handle.result(), WorkflowTimeoutError);
    });

    test('a schedule fires every tick of an advanced span, each with its own tick time', async () => {
      const before = ticks.length;
      const from = t.now().getTime();
      await t.advance('3d');
      const fired = ticks.slice(before).map((run) => new Date(run.scheduledAt).getTime());
      assert.equal(fired.length, 3);
      for (const at of fired) {
        assert.equal(at % DAY, 0, 'at midnight');
        assert.ok(at > from && at <= from + 3 * DAY);
      }
    });

    test('crashAfterStep stops a run after the checkpoint; recover replays it without re-running checkpointed steps', async () => {
      const crash = t.crashAfterStep(workflows.counted, 'b');
      const handle = await workflows.counted.start('x');
      assert.deepEqual(await crash.reached, { workflowId: handle.id, idx: 1, step: 'b' });
      assert.equal((await handle.status()).status, 'PENDING');
      assert.deepEqual((await t.history(handle.id)).steps.map((step) => step.name), ['a', 'b']);
      assert.deepEqual(await t.recover(), [handle.id]);
      assert.deepEqual(await handle.result(), ['x-a', 'x-b', 'x-c']);
      for (const name of ['a', 'b', 'c']) assert.equal(stepRuns.get(`${handle.id}:${name}`), 1, `step ${name} ran once`);
      const status = await handle.status();
      assert.equal(status.status, 'SUCCESS');
      assert.equal(status.attempts, 2, 'the recovery counts as an attempt');
    });

    test('crashAfterStep by workflow ID and position, after the last step: recovery only completes it', async () => {
      const id = 'crash-by-position';
      const crash = t.crashAfterStep(id, 2);
      const handle = await workflows.counted.start('y', { id });
      assert.equal((await crash.reached).step, 'c');
      assert.equal((await handle.status()).status, 'PENDING', 'the completion was not written');
      await t.recover();
      assert.deepEqual(await handle.result(), ['y-a', 'y-b', 'y-c']);
      for (const name of ['a', 'b', 'c']) assert.equal(stepRuns.get(`${id}:${name}`), 1);
    });

    test('the history reader shows checkpoints, events and messages', async () => {
      const handle = await workflows.receiver.start('1d');
      await t.ballast.send(handle.id, 'greeting', 'hello');
      await t.ballast.send(handle.id, 'other-topic', { n: 1 });
      assert.equal(await handle.result(), 'hello');
      const history = await t.history(handle.id);
      assert.equal(history.workflow.status, 'SUCCESS');
      assert.equal(history.workflow.output, 'hello');
      assert.deepEqual(history.steps.map((step) => step.name), ['ballast.recv-deadline:greeting', 'ballast.recv:greeting', 'ballast.setEvent:received']);
      assert.deepEqual(history.events.map(({ key, value }) => ({ key, value })), [{ key: 'received', value: 'hello' }]);
      assert.deepEqual(
        history.messages.map(({ topic, message, receivedAt }) => ({ topic, message, received: receivedAt !== null })),
        [
          { topic: 'greeting', message: 'hello', received: true },
          { topic: 'other-topic', message: { n: 1 }, received: false },
        ],
      );
    });

    test('bad input gets typed errors', async () => {
      await assert.rejects(t.advance('soon'), ValidationError);
      await assert.rejects(t.advance(-1), ValidationError);
      await assert.rejects(t.advance('-1d'), ValidationError);
      assert.throws(() => t.crashAfterStep(workflows.counted, -1), ValidationError);
      assert.throws(() => t.crashAfterStep(workflows.counted, ''), ValidationError);
      assert.throws(() => t.crashAfterStep({ name: 'nope', start: () => undefined } as never, 'a'), UnknownWorkflowError);
      assert.throws(() => t.crashAfterStep(42 as never, 'a'), ValidationError);
      const missed = t.crashAfterStep(workflows.counted, 'no-such-step');
      const handle = await workflows.counted.start('z');
      await handle.result();
      await assert.rejects(missed.reached, (error: unknown) => error instanceof CrashPointMissedError && error.code === 'CRASH_POINT_MISSED');
      await assert.rejects(t.history('no-such-workflow'), (error: unknown) => (error as { code?: string }).code === 'WORKFLOW_NOT_FOUND');
    });
  });
}

test('the kit refuses to advance before launch and after close', async () => {
  const t = await createTestBallast();
  await assert.rejects(t.advance('1d'), LifecycleError);
  await t.close();
  await assert.rejects(t.advance('1d'), LifecycleError);
  await assert.rejects(createTestBallast({ startAt: Number.NaN }), ValidationError);
});
