// Parked workflows, on both backends: a workflow that waits longer than parkAfter leaves memory,
// its row records what it waits for, and it resumes by replay when its timer falls due or its
// message arrives (from outside or from another workflow), without running a finished step again.
// Also: the per-workflow override and the off switch, and validated options.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ValidationError, type Ballast, type WorkflowContext } from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const PARKED_OWNER = 'ballast:parked';

for (const backend of backends()) {
  describe(`parked workflows (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    const ran = new Map<string, number>();
    const count = (key: string) => ran.set(key, (ran.get(key) ?? 0) + 1);
    let flows: ReturnType<typeof define>;

    function define(app: Ballast) {
      return {
        sleeper: app.workflow('sleeper', async (ctx: WorkflowContext, tag: string) => {
          const before = await ctx.step('before', () => {
            count(`${tag}:before`);
            return `${tag}-before`;
          });
          await ctx.sleep(3_000);
          const afterSleep = await ctx.step('after', () => {
            count(`${tag}:after`);
            return 'after';
          });
          return [before, afterSleep];
        }),
        receiver: app.workflow('receiver', async (ctx: WorkflowContext, tag: string) => {
          await ctx.step('before', () => count(`${tag}:before`));
          const message = await ctx.recv<string>('go', { timeout: '1h' });
          await ctx.step('after', () => count(`${tag}:after`));
          return message;
        }),
        sender: app.workflow('sender', async (ctx: WorkflowContext, target: string) => {
          await ctx.send(target, 'go', 'from a workflow');
          return 'sent';
        }),
        inMemory: app.workflow(
          'in-memory',
          async (ctx: WorkflowContext) => {
            await ctx.sleep(600);
            return 'slept in memory';
          },
          { parkAfter: false },
        ),
      };
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = newBallast(db, { parkAfter: '200ms' });
      flows = define(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast?.shutdown({ drainMs: 0 });
      await db?.close();
    });

    const ownerOf = async (id: string) => (await ballast.workflows.get(id))?.executorId ?? null;

    test('a sleep longer than parkAfter parks the workflow; its timer resumes it by replay, no step runs twice', async () => {
      const handle = await flows.sleeper.start('timer');
      await waitFor('the workflow is parked', async () => (await ownerOf(handle.id)) === PARKED_OWNER);
      assert.deepEqual(await handle.result({ timeout: '20s' }), ['timer-before', 'after']);
      assert.equal(ran.get('timer:before'), 1);
      assert.equal(ran.get('timer:after'), 1);
      const info = await ballast.workflows.get(handle.id);
      assert.equal(info?.status, 'SUCCESS');
      assert.equal(info?.executorId, 'executor-1');
    });

    test('a recv parks after parkAfter; a message from outside resumes it with the message', async () => {
      const handle = await flows.receiver.start('outside');
      await waitFor('the workflow is parked', async () => (await ownerOf(handle.id)) === PARKED_OWNER);
      await ballast.send(handle.id, 'go', 'hello');
      assert.equal(await handle.result({ timeout: '20s' }), 'hello');
      assert.equal(ran.get('outside:before'), 1);
      assert.equal(ran.get('outside:after'), 1);
    });

    test("a message sent by another workflow (ctx.send) resumes a parked recv", async () => {
      const handle = await flows.receiver.start('inside');
      await waitFor('the workflow is parked', async () => (await ownerOf(handle.id)) === PARKED_OWNER);
      await flows.sender.start(handle.id);
      assert.equal(await handle.result({ timeout: '20s' }), 'from a workflow');
      assert.equal(ran.get('inside:before'), 1);
    });

    test('a message on another topic does not wake a parked recv', async () => {
      const handle = await flows.receiver.start('other-topic');
      await waitFor('the workflow is parked', async () => (await ownerOf(handle.id)) === PARKED_OWNER);
      await ballast.send(handle.id, 'unrelated', 'x');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await ownerOf(handle.id), PARKED_OWNER);
      await ballast.send(handle.id, 'go', 'now');
      assert.equal(await handle.result({ timeout: '20s' }), 'now');
    });

    test('parkAfter: false on a workflow keeps it in memory', async () => {
      const handle = await flows.inMemory.start(undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await ownerOf(handle.id), 'executor-1');
      assert.equal(await handle.result({ timeout: '20s' }), 'slept in memory');
    });

    // A second instance needs a second connection, which the embedded database does not serve.
    test('parkAfter: false on the instance keeps every wait in memory', { skip: backend === 'pglite' && 'one instance per embedded database' }, async () => {
      const other = newBallast(db, { executorId: 'executor-2', parkAfter: false });
      const sleeper = other.workflow('sleeper', async (ctx: WorkflowContext) => {
        await ctx.sleep(600);
        return 'slept';
      });
      await other.launch();
      try {
        const handle = await sleeper.start(undefined);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(await ownerOf(handle.id), 'executor-2');
        assert.equal(await handle.result({ timeout: '20s' }), 'slept');
      } finally {
        await other.shutdown({ drainMs: 0 });
      }
    });

    test('parkAfter is validated, on the instance and per workflow', async () => {
      assert.throws(() => newBallast(db, { parkAfter: 'soon' as never }), ValidationError);
      assert.throws(() => newBallast(db, { parkAfter: -5 }), ValidationError);
      assert.throws(() => newBallast(db, { executorId: PARKED_OWNER }), /reserved for parked workflows/);
      const other = newBallast(db);
      assert.throws(() => other.workflow('x', async () => 1, { parkAfter: 'later' as never }), ValidationError);
      assert.throws(() => other.workflow('y', async () => 1, { parkafter: '1m' } as never), /unknown option "parkafter"; the options are parkAfter/);
    });
  });
}
