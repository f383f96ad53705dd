// ctx.waitFirst and ctx.waitAll, in one process on both backends: the first to finish and how it
// ended, every outcome in order, timeouts, the recorded answer on replay (even once the winner is
// gone), and typed errors for bad input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ValidationError, WorkflowNotFoundError, type Ballast, type WorkflowContext } from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

interface Plan {
  ms: number;
  value: string;
  fail?: boolean;
}

for (const backend of backends()) {
  describe(`waitFirst and waitAll (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    let flows: ReturnType<typeof define>;

    function define(app: Ballast) {
      const child = app.workflow('child', async (ctx: WorkflowContext, plan: Plan) => {
        await ctx.sleep(plan.ms);
        if (plan.fail) throw new RangeError(plan.value);
        return plan.value;
      });
      const hold = app.workflow('hold', async (ctx: WorkflowContext) => ctx.recv<string>('release'));
      return {
        child,
        hold,
        first: app.workflow('first', async (ctx: WorkflowContext, plans: Plan[]) => {
          const handles = [];
          for (const plan of plans) handles.push(await ctx.start(child, plan));
          const winner = await ctx.waitFirst(handles);
          return { index: winner.index, id: winner.handle.id, ids: handles.map((h) => h.id), status: winner.status, output: winner.output, error: winner.error };
        }),
        all: app.workflow('all', async (ctx: WorkflowContext, plans: Plan[]) => {
          const handles = [];
          for (const plan of plans) handles.push(await ctx.start(child, plan));
          const outcomes = await ctx.waitAll(handles);
          return outcomes.map((outcome) => ({ index: outcome.index, status: outcome.status, output: outcome.output, error: outcome.error }));
        }),
        timeouts: app.workflow('timeouts', async (ctx: WorkflowContext) => {
          const held = await ctx.start(hold, undefined);
          const quick = await ctx.start(child, { ms: 0, value: 'quick' });
          const none = await ctx.waitFirst([held], { timeout: 50 });
          const some = await ctx.waitAll([quick, held], { timeout: '100ms' });
          await ctx.send(held.id, 'release', 'released');
          const late = await ctx.waitFirst([held], { timeout: '10s' });
          return { none, some: some.map((outcome) => outcome?.output), late: late?.output };
        }),
        replayed: app.workflow('replayed', async (ctx: WorkflowContext) => {
          const held = await ctx.start(hold, undefined);
          const quick = await ctx.start(child, { ms: 0, value: 'quick' });
          const winner = await ctx.waitFirst([held, quick]);
          await ctx.recv('go');
          return { id: winner.handle.id, index: winner.index, output: winner.output, quick: quick.id };
        }),
        bad: app.workflow('bad', async (ctx: WorkflowContext, what: string) => {
          const wait = ctx.waitFirst.bind(ctx) as (handles: unknown, options?: unknown) => Promise<unknown>;
          const handle = ballast.handle(ctx.workflowId);
          if (what === 'not-an-array') await wait('wf-1');
          if (what === 'empty') await wait([]);
          if (what === 'not-a-handle') await wait([handle, { name: 'x' }]);
          if (what === 'null') await wait([null]);
          if (what === 'options') await wait([handle], 'soon');
          if (what === 'timeout') await wait([handle], { timeout: -5 });
          if (what === 'unknown') await ctx.waitAll([ballast.handle('no-such-workflow')]);
        }),
      };
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db, { pollIntervalMs: 60_000 }); // waits must wake on NOTIFY, not by polling
      flows = define(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast?.shutdown({ drainMs: 1_000 });
      await db?.close();
    });

    test('waitFirst answers the first workflow to finish, with its output or its error', async () => {
      const won = await (await flows.first.start([{ ms: 2_000, value: 'slow' }, { ms: 10, value: 'fast' }])).result();
      assert.deepEqual({ ...won, ids: undefined }, { index: 1, id: won.ids[1], ids: undefined, status: 'SUCCESS', output: 'fast', error: undefined });
      const failed = await (await flows.first.start([{ ms: 10, value: 'boom', fail: true }, { ms: 2_000, value: 'slow' }])).result();
      assert.equal(failed.status, 'ERROR');
      assert.equal(failed.index, 0);
      assert.ok(failed.error instanceof RangeError && failed.error.message === 'boom');
    });

    test('waitAll answers every outcome, in the order given', async () => {
      const outcomes = await (await flows.all.start([{ ms: 100, value: 'a' }, { ms: 0, value: 'b', fail: true }, { ms: 20, value: 'c' }])).result();
      assert.deepEqual(outcomes.map(({ index, status, output }) => ({ index, status, output })), [
        { index: 0, status: 'SUCCESS', output: 'a' },
        { index: 1, status: 'ERROR', output: undefined },
        { index: 2, status: 'SUCCESS', output: 'c' },
      ]);
      assert.ok(outcomes[1]?.error instanceof RangeError);
    });

    test('with a timeout: waitFirst answers undefined, waitAll undefined for each workflow not finished', async () => {
      assert.deepEqual(await (await flows.timeouts.start(undefined)).result(), { none: undefined, some: ['quick', undefined], late: 'released' });
    });

    test('a replay answers the recorded winner, even once that workflow is gone', async () => {
      const handle = await flows.replayed.start(undefined);
      await waitFor('the choice is recorded', async () => (await ballast.workflows.steps(handle.id)).some((step) => step.name === 'ballast.waitFirst'));
      await ballast.workflows.cancel(handle.id);
      const steps = await ballast.workflows.steps(handle.id);
      const quick = steps.find((step) => step.name === 'ballast.start:child')?.childWorkflowId as string;
      await ballast.workflows.delete(quick); // a fresh choice would now fail: the winner no longer exists
      await ballast.workflows.resume(handle.id);
      await ballast.send(handle.id, 'go', true);
      assert.deepEqual(await ballast.result(handle.id), { id: quick, index: 1, output: 'quick', quick });
    });

    test('bad input: not a list, an empty list, things that are not handles, bad options, unknown workflows', async () => {
      const fails = async (what: string, check: (error: unknown) => boolean) => assert.rejects((await flows.bad.start(what)).result(), check, what);
      const invalid = (error: unknown) => error instanceof ValidationError && error.code === 'INVALID_ARGUMENT';
      for (const what of ['not-an-array', 'empty', 'not-a-handle', 'null', 'options', 'timeout']) await fails(what, invalid);
      await fails('unknown', (error) => error instanceof WorkflowNotFoundError);
    });
  });
}
