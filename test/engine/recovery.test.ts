import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NonDeterminismError, type Ballast, type BallastConfig } from '../../src/index.js';
import { backends, capturingLogger, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

/** An in-process restart: a graceful shutdown hands unfinished workflows back, and the next instance of the version picks them up. */
for (const backend of backends()) {
  describe(`recovery at launch (${backend})`, () => {
    let db: TestDatabase;
    const config: Partial<BallastConfig> = { executorId: 'recovering-executor', appVersion: 'v1' };

    before(async () => {
      db = await openTestDatabase(backend);
    });

    after(async () => {
      await db.close();
    });

    async function run<T>(setup: (app: Ballast) => T, body: (app: Ballast, defs: T) => Promise<void>, extra: Partial<BallastConfig> = {}) {
      const app = newBallast(db, { ...config, ...extra });
      const defs = setup(app);
      await app.launch();
      try {
        await body(app, defs);
      } finally {
        await app.shutdown({ drainMs: 0 });
      }
    }

    test('a restarted executor resumes its PENDING workflows from the last checkpoint, keeping sleep deadlines', async () => {
      const runs: string[] = [];
      const define = (app: Ballast) =>
        app.workflow('resumable', async (ctx, n: number) => {
          const a = await ctx.step('before-sleep', () => {
            runs.push(`before:${ctx.workflowId}`);
            return n * 10;
          });
          await ctx.sleep('600ms');
          const b = await ctx.step('after-sleep', () => {
            runs.push(`after:${ctx.workflowId}`);
            return a + 1;
          });
          return b;
        });
      let sleptUntil = 0;
      await run(define, async (app, resumable) => {
        await resumable.start(4, { id: 'resume-me' });
        for (let i = 0; i < 100 && (await app.workflows.steps('resume-me')).length < 2; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const steps = await app.workflows.steps('resume-me');
        assert.equal(steps.length, 2, 'the sleep was checkpointed before the restart');
        sleptUntil = steps[1]?.output as number;
      });
      assert.equal((await statusAfter('resume-me')), 'PENDING');
      assert.deepEqual(runs, ['before:resume-me']);

      await run(define, async (app) => {
        assert.equal(await app.handle('resume-me').result(), 41);
        assert.ok(Date.now() >= sleptUntil, 'woke no earlier than the recorded deadline');
        const info = await app.workflows.get('resume-me');
        assert.equal(info?.status, 'SUCCESS');
        assert.equal(info?.attempts, 2);
      });
      assert.deepEqual(runs, ['before:resume-me', 'after:resume-me'], 'the checkpointed step did not run again');
    });

    test('replay that meets a different step than recorded fails with NonDeterminismError', async () => {
      await run(
        (app) =>
          app.workflow('changing', async (ctx) => {
            await ctx.step('original-name', () => 1);
            await ctx.sleep('1h');
          }),
        async (app, changing) => {
          await changing.start(undefined, { id: 'changing-1' });
          await waitForSteps(app, 'changing-1', 2);
        },
        // Kept in memory: a parked sleep would be replayed only when its hour is up.
        { parkAfter: false },
      );
      await run(
        (app) =>
          app.workflow('changing', async (ctx) => {
            await ctx.step('renamed-step', () => 1);
          }),
        async (app) => {
          await assert.rejects(app.handle('changing-1').result(), NonDeterminismError);
          const info = await app.workflows.get('changing-1', { withPayloads: true });
          assert.equal(info?.status, 'ERROR');
          assert.ok(info?.error instanceof NonDeterminismError);
        },
      );
    });

    test('a workflow handed back at shutdown waits, PENDING, for an executor that registers it', async () => {
      const define = (app: Ballast) => app.workflow('will-vanish', async (ctx) => {
        await ctx.sleep('300ms');
        return 'finished';
      });
      await run(define, async (app, vanishing) => {
        await vanishing.start(undefined, { id: 'vanish-1' });
        await waitForSteps(app, 'vanish-1', 1);
      });
      await run(
        () => undefined,
        async (app) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          const info = await app.workflows.get('vanish-1');
          assert.equal(info?.status, 'PENDING');
          assert.equal(info?.executorId, null, 'nobody adopted it: this executor does not have its code');
        },
        { executorId: 'without-the-code' },
      );
      await run(define, async (app) => {
        assert.equal(await app.handle('vanish-1').result({ timeout: '10s' }), 'finished');
        assert.equal((await app.workflows.get('vanish-1'))?.recoveries, 0, 'a graceful hand-back is not a recovery');
      });
    });

    test('shutdown lets quick workflows finish and leaves slow ones PENDING', async () => {
      await run(
        (app) => ({
          quick: app.workflow('quick', async (ctx) => ctx.step('q', async () => {
            await new Promise((resolve) => setTimeout(resolve, 100));
            return 'quick';
          })),
          slow: app.workflow('slow', async (ctx) => ctx.sleep('1h')),
        }),
        async (app, { quick, slow }) => {
          await quick.start(undefined, { id: 'quick-1' });
          await slow.start(undefined, { id: 'slow-1' });
          await waitForSteps(app, 'slow-1', 1);
          await app.shutdown({ drainMs: 1_000 });
        },
      );
      assert.equal(await statusAfter('quick-1'), 'SUCCESS');
      assert.equal(await statusAfter('slow-1'), 'PENDING');
    });

    test('a workflow that starts and enqueues children while its executor drains finishes', async () => {
      await run(
        (app) => {
          app.queue('drain-children', {});
          const child = app.workflow('drain-child', async (ctx, n: number) => ctx.step('c', () => n + 1));
          const parent = app.workflow('drain-parent', async (ctx) => {
            await ctx.sleep('300ms');
            const direct = await ctx.start(child, 1);
            const queued = await ctx.enqueue(child, 2, { queue: 'drain-children' });
            return { direct: await direct.result(), queued: queued.id };
          });
          return { parent };
        },
        async (app, { parent }) => {
          await parent.start(undefined, { id: 'drain-parent-1' });
          await waitForSteps(app, 'drain-parent-1', 1);
          // The parent wakes during the drain and starts its children then.
          await app.shutdown({ drainMs: 5_000 });
        },
      );
      assert.equal(await statusAfter('drain-parent-1'), 'SUCCESS');
    });

    async function statusAfter(id: string): Promise<string | undefined> {
      let status: string | undefined;
      await run(() => undefined, async (app) => {
        status = (await app.workflows.get(id))?.status;
      }, { executorId: 'observer', logger: capturingLogger() });
      return status;
    }
  });
}

async function waitForSteps(app: Ballast, id: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await app.workflows.steps(id)).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`workflow ${id} did not reach ${count} checkpoints`);
}
