import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  NotInWorkflowError,
  StepTimeoutError,
  WorkflowCancelledError,
  type Ballast,
  type WorkflowContext,
} from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

for (const backend of backends()) {
  describe(`workflows and steps (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const calls = new Map<string, number>();
    const count = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);

    let threeSteps: ReturnType<typeof defineThreeSteps>;
    function defineThreeSteps(app: Ballast) {
      return app.workflow('three-steps', async (ctx, input: { n: number }) => {
        const a = await ctx.step('a', () => input.n + 1);
        const b = await ctx.step('b', async () => a * 2);
        const c = await ctx.step('c', () => ({ total: b, at: new Date(0), big: 10n ** 20n }));
        count(`three-steps:${ctx.workflowId}`);
        return c;
      });
    }

    let flaky: ReturnType<typeof defineFlaky>;
    function defineFlaky(app: Ballast) {
      return app.workflow('flaky', async (ctx, failures: number) => {
        return ctx.step(
          'flaky-step',
          ({ attempt }) => {
            count(`flaky:${ctx.workflowId}`);
            if (attempt <= failures) throw new Error(`attempt ${attempt} failed`);
            return attempt;
          },
          { retries: 3, backoff: { initial: 5, factor: 2 } },
        );
      });
    }

    /** Why each slow step's signal was aborted, by workflow ID. */
    const abortReasons = new Map<string, unknown>();
    const slowStarted = new Set<string>();
    const slowStep = (app: Ballast) =>
      app.workflow('slow-step', async (ctx, timeout: number | undefined) =>
        ctx.step('slow', ({ signal }) => new Promise((resolve) => {
          slowStarted.add(ctx.workflowId);
          const timer = setTimeout(resolve, 5_000);
          signal.addEventListener('abort', () => {
            abortReasons.set(ctx.workflowId, signal.reason);
            clearTimeout(timer);
          });
        }), { timeout }),
      );
    let slow: ReturnType<typeof slowStep>;

    let escaped: WorkflowContext | undefined;
    const escaping = (app: Ballast) =>
      app.workflow('escaping', async (ctx) => {
        escaped = ctx;
        return 'done';
      });
    let escape: ReturnType<typeof escaping>;

    const failing = (app: Ballast) =>
      app.workflow('failing', async (ctx) => {
        await ctx.step('ok', () => 1);
        const cause = new RangeError('inner cause');
        const error = new Error('workflow failed on purpose', { cause });
        (error as Error & { code: string }).code = 'E_PURPOSE';
        throw error;
      });
    let fail: ReturnType<typeof failing>;

    /** Weak references to step outputs, taken by a helper whose frame is gone once it returns. */
    let outputRefs: WeakRef<object>[] = [];
    let releaseLongRunner: (() => void) | undefined;
    const longRunning = (app: Ballast) =>
      app.workflow('long-running', async (ctx) => {
        const watchOutput = async (i: number): Promise<void> => {
          outputRefs.push(new WeakRef(await ctx.step(`big-${i}`, () => ({ payload: 'x'.repeat(10_000) }))));
        };
        for (let i = 0; i < 5; i++) await watchOutput(i);
        await new Promise<void>((resolve) => (releaseLongRunner = resolve));
        return 'done';
      });
    let longRunner: ReturnType<typeof longRunning>;

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db);
      threeSteps = defineThreeSteps(ballast);
      flaky = defineFlaky(ballast);
      slow = slowStep(ballast);
      escape = escaping(ballast);
      fail = failing(ballast);
      longRunner = longRunning(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast.shutdown({ drainMs: 1_000 });
      await db.close();
    });

    test('a workflow runs its steps, checkpoints each one and returns its result', async () => {
      const handle = await threeSteps.start({ n: 1 }, { id: 'three-1' });
      assert.equal(handle.id, 'three-1');
      assert.deepEqual(await handle.result(), { total: 4, at: new Date(0), big: 10n ** 20n });
      const status = await handle.status();
      assert.equal(status.status, 'SUCCESS');
      assert.equal(status.executorId, 'executor-1');
      assert.equal(status.attempts, 1);
      assert.ok(status.completedAt instanceof Date);
      const steps = await ballast.workflows.steps('three-1');
      assert.deepEqual(
        steps.map((s) => [s.index, s.name, s.output]),
        [
          [0, 'a', 2],
          [1, 'b', 4],
          [2, 'c', { total: 4, at: new Date(0), big: 10n ** 20n }],
        ],
      );
      const info = await ballast.workflows.get('three-1', { withPayloads: true });
      assert.deepEqual(info?.input, { n: 1 });
    });

    test('starting an existing workflow ID never runs it twice', async () => {
      const first = await threeSteps.start({ n: 5 }, { id: 'idem-1' });
      const second = await threeSteps.start({ n: 999 }, { id: 'idem-1' });
      assert.deepEqual(await first.result(), await second.result());
      const third = await threeSteps.start({ n: 7 }, { id: 'idem-1' });
      assert.equal((await third.result() as { total: number }).total, 12);
      assert.equal(calls.get('three-steps:idem-1'), 1);
    });

    test('two starts of one new ID in the same moment run it once', async () => {
      // Both inserts share a group-commit flush: one row is inserted, and only one start may run it.
      const [first, second] = await Promise.all([
        threeSteps.start({ n: 1 }, { id: 'idem-same-tick' }),
        threeSteps.start({ n: 2 }, { id: 'idem-same-tick' }),
      ]);
      assert.deepEqual(await first.result(), await second.result());
      assert.equal(calls.get('three-steps:idem-same-tick'), 1);
    });

    test('concurrent starts of many workflows all complete', async () => {
      const handles = await Promise.all(Array.from({ length: 100 }, (_, i) => threeSteps.start({ n: i })));
      const results = await Promise.all(handles.map((h) => h.result()));
      results.forEach((result, i) => assert.equal((result as { total: number }).total, (i + 1) * 2));
    });

    test('a step retries with backoff and records the attempt that succeeded', async () => {
      const handle = await flaky.start(2);
      assert.equal(await handle.result(), 3);
      assert.equal(calls.get(`flaky:${handle.id}`), 3);
      const [step] = await ballast.workflows.steps(handle.id);
      assert.equal(step?.attempts, 3, 'the checkpoint records the attempts the step took');
      const [once] = await ballast.workflows.steps((await flaky.start(0).then(async (h) => (await h.result(), h))).id);
      assert.equal(once?.attempts, 1);
    });

    test('a step that exhausts its retries fails the workflow with its error', async () => {
      const handle = await flaky.start(10);
      await assert.rejects(handle.result(), /attempt 4 failed/);
      assert.equal((await handle.status()).status, 'ERROR');
      const [step] = await ballast.workflows.steps(handle.id);
      assert.match(String((step?.error as Error).message), /attempt 4 failed/);
      assert.equal(step?.attempts, 4);
    });

    test('a step timeout aborts the attempt with StepTimeoutError', async () => {
      const handle = await slow.start(50);
      await assert.rejects(handle.result(), StepTimeoutError);
      assert.ok(abortReasons.get(handle.id) instanceof StepTimeoutError, 'the signal carries the timeout');
    });

    test('cancelling a workflow aborts its running step and abandons it without waiting', async () => {
      const handle = await slow.start(undefined);
      await waitFor('the slow step runs', () => slowStarted.has(handle.id));
      const began = Date.now();
      assert.equal(await ballast.workflows.cancel(handle.id), true);
      await assert.rejects(handle.result(), WorkflowCancelledError);
      assert.ok(Date.now() - began < 4_000, 'the 5 s step was not waited for');
      await waitFor('the step is aborted', () => abortReasons.has(handle.id));
      assert.ok(abortReasons.get(handle.id) instanceof WorkflowCancelledError, 'the signal carries the cancellation');
      assert.equal((await ballast.workflows.steps(handle.id)).length, 0, 'the abandoned attempt is never checkpointed');
    });

    test('a running workflow does not keep the outputs of its finished steps alive', async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      outputRefs = [];
      const handle = await longRunner.start(undefined);
      await waitFor('the workflow is past its steps', () => releaseLongRunner !== undefined);
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(outputRefs.length, 5);
      assert.deepEqual(
        outputRefs.map((ref) => ref.deref() === undefined),
        [true, true, true, true, true],
        'every output was collected while the workflow still runs',
      );
      releaseLongRunner?.();
      assert.equal(await handle.result(), 'done');
    });

    test('a failed workflow persists its error: name, message, cause and fields round-trip', async () => {
      const handle = await fail.start(undefined, { id: 'failing-1' });
      await assert.rejects(handle.result(), /workflow failed on purpose/);
      // A handle that is not the local run reads the persisted error.
      const stored = ballast.handle('failing-1');
      const error = await stored.result().then(
        () => assert.fail('expected an error'),
        (e: unknown) => e as Error & { code: string; cause: Error },
      );
      assert.equal(error.name, 'Error');
      assert.equal(error.message, 'workflow failed on purpose');
      assert.equal(error.code, 'E_PURPOSE');
      assert.ok(error.cause instanceof RangeError);
      assert.equal(error.cause.message, 'inner cause');
      assert.equal((await stored.status()).status, 'ERROR');
    });

    test('a context used after its workflow finished throws NotInWorkflowError', async () => {
      const handle = await escape.start(undefined);
      assert.equal(await handle.result(), 'done');
      assert.ok(escaped);
      await assert.rejects(escaped.step('late', () => 1), NotInWorkflowError);
      await assert.rejects(escaped.sleep(10), NotInWorkflowError);
    });
  });
}
