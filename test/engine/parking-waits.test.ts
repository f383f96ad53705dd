// Waits on other workflows park, on both backends: a child's result(), ctx.waitFirst and
// ctx.waitAll leave memory after parkAfter, the waitee's row lists the waiter in waited_by, and the
// waitee's end (success, cancellation, a delete by hand) wakes the waiter in the same statement,
// whose replay answers without running a finished step again. Waitees that finish right around the
// park never leave a waiter parked for good. A timed waitFirst parks until its deadline; parkAfter
// false keeps every wait in memory. Polling is slowed down so that only the wakes themselves count.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deserialize } from '../../src/codec.js';
import { Ballast, WorkflowCancelledError, WorkflowNotFoundError, type WorkflowContext, type WorkflowHandle } from '../../src/index.js';
import type { Driver } from '../../src/store/driver.js';
import { backends, capturingLogger, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const PARKED_OWNER = 'ballast:parked';
const WORKFLOWS_TOPIC = '\u001fworkflows';
const PARK_AFTER_MS = 100;

interface Row {
  owner: string | null;
  status: string;
  wake_at: string | number | null;
  wake_topic: string | null;
  waited_by: string[] | null;
}

for (const backend of backends()) {
  describe(`parked waits on workflows (${backend})`, () => {
    let db: TestDatabase;
    let ballast: Ballast;
    let driver: Driver;
    const ran = new Map<string, number>();
    const count = (key: string) => ran.set(key, (ran.get(key) ?? 0) + 1);
    let flows: ReturnType<typeof define>;

    function define(app: Ballast) {
      const held = app.workflow('held', async (ctx: WorkflowContext) => `got ${await ctx.recv<string>('go')}`);
      const napper = app.workflow('napper', async (ctx: WorkflowContext, ms: number) => {
        await ctx.sleep(ms);
        return ms;
      });
      const awaitResult = async (ctx: WorkflowContext, child: WorkflowHandle<string>) => {
        try {
          return await child.result();
        } catch (error) {
          return (error as Error).name;
        }
      };
      return {
        held,
        parent: app.workflow('parent', async (ctx: WorkflowContext, tag: string) => {
          await ctx.step('before', () => count(`${tag}:before`));
          const child = await ctx.start(held, undefined);
          const output = await awaitResult(ctx, child);
          await ctx.step('after', () => count(`${tag}:after`));
          return output;
        }),
        first: app.workflow('first', async (ctx: WorkflowContext, tag: string) => {
          await ctx.step('before', () => count(`${tag}:before`));
          const children = [await ctx.start(held, undefined), await ctx.start(held, undefined)];
          try {
            const winner = await ctx.waitFirst(children);
            return { index: winner.index, status: winner.status, output: winner.output ?? null };
          } catch (error) {
            return { error: (error as Error).name };
          }
        }),
        all: app.workflow('all', async (ctx: WorkflowContext, tag: string) => {
          await ctx.step('before', () => count(`${tag}:before`));
          const children = [await ctx.start(held, undefined), await ctx.start(held, undefined)];
          const outcomes = await ctx.waitAll(children);
          return outcomes.map((outcome) => outcome.output);
        }),
        timed: app.workflow('timed', async (ctx: WorkflowContext) => {
          const child = await ctx.start(held, undefined);
          const winner = await ctx.waitFirst([child], { timeout: '1s' });
          return winner === undefined ? 'timed out' : 'finished';
        }),
        racer: app.workflow('racer', async (ctx: WorkflowContext, ms: number) => {
          const child = await ctx.start(napper, ms);
          if (ms % 2 === 0) return child.result();
          return (await ctx.waitFirst([child])).output;
        }),
        // A child's result raced against an hour's sleep, and a recv raced against it: whichever ends first wins.
        raceTimer: app.workflow('race-timer', async (ctx: WorkflowContext, via: 'result' | 'recv') => {
          const child = await ctx.start(held, undefined);
          const waited = via === 'result' ? child.result() : ctx.recv<string>('reply');
          return Promise.race([waited, ctx.sleep('1h').then(() => 'timer')]);
        }),
        inMemory: app.workflow(
          'in-memory',
          async (ctx: WorkflowContext) => {
            const child = await ctx.start(held, undefined);
            const [outcome] = await ctx.waitAll([child]);
            return [outcome?.output, await child.result()];
          },
          { parkAfter: false },
        ),
      };
    }

    before(async () => {
      db = await openTestDatabase(backend);
      ballast = new Ballast(
        // Polling once a minute: a waiter that is not woken does not finish in time.
        { name: 'test-app', executorId: 'executor-1', logger: capturingLogger(), pollIntervalMs: 60_000, parkAfter: PARK_AFTER_MS, ...db.config },
        { launched: ({ store }) => (driver = store.driver) },
      );
      flows = define(ballast);
      await ballast.launch();
    });

    after(async () => {
      await ballast?.shutdown({ drainMs: 0 });
      await db?.close();
    });

    const row = async (id: string): Promise<Row | undefined> =>
      (await driver.query<Row>(`SELECT owner, status, wake_at, wake_topic, waited_by FROM ballast.workflows WHERE id = $1`, [id])).rows[0];
    const isParked = async (id: string) => (await row(id))?.owner === PARKED_OWNER;
    const children = async (id: string) =>
      (await driver.query<{ id: string }>(`SELECT id FROM ballast.workflows WHERE parent_id = $1 ORDER BY id`, [id])).rows.map((child) => child.id);

    /** Waits until `id` is parked on workflows, and checks that each of `waitees` lists it. */
    async function parkedOn(id: string, waitees: number): Promise<string[]> {
      await waitFor('the waiter is parked', () => isParked(id));
      const parked = await row(id);
      assert.equal(parked?.status, 'PENDING');
      assert.equal(parked?.wake_topic, WORKFLOWS_TOPIC);
      const ids = await children(id);
      assert.equal(ids.length, waitees);
      for (const child of ids) assert.deepEqual((await row(child))?.waited_by, [id]);
      return ids;
    }

    test("a child's result() parks the parent; the child's end wakes it with the child's output, no step runs twice", async () => {
      const handle = await flows.parent.start('result');
      const [child] = await parkedOn(handle.id, 1);
      assert.equal((await row(handle.id))?.wake_at, null);
      await ballast.send(child as string, 'go', 'hello');
      assert.equal(await handle.result({ timeout: '10s' }), 'got hello');
      assert.equal(ran.get('result:before'), 1);
      assert.equal(ran.get('result:after'), 1);
    });

    test('waitFirst parks on both children; the first to finish wakes it and is the answer', async () => {
      const handle = await flows.first.start('first');
      const [, second] = await parkedOn(handle.id, 2);
      await ballast.send(second as string, 'go', 'second');
      assert.deepEqual(await handle.result({ timeout: '10s' }), { index: 1, status: 'SUCCESS', output: 'got second' });
      assert.equal(ran.get('first:before'), 1);
    });

    test('waitAll parks, wakes when one child finishes and parks again on the other, answers once both are done', async () => {
      const handle = await flows.all.start('all');
      const [first, second] = await parkedOn(handle.id, 2);
      await ballast.send(first as string, 'go', 'one');
      await waitFor('the first child finished', async () => (await row(first as string))?.status === 'SUCCESS');
      await waitFor('the waiter is parked on the second alone', async () => (await isParked(handle.id)) && (await row(handle.id))?.wake_at === null);
      await ballast.send(second as string, 'go', 'two');
      assert.deepEqual(await handle.result({ timeout: '10s' }), ['got one', 'got two']);
      assert.equal(ran.get('all:before'), 1);
    });

    test('a waitee that finishes right around the park never leaves the waiter parked', async () => {
      const handles = [];
      // Half of them wait with result(), half with waitFirst (see racer); all end near parkAfter.
      for (let n = 0; n < 16; n++) handles.push(await flows.racer.start(PARK_AFTER_MS - 8 + n));
      const outputs = await Promise.all(handles.map((handle) => handle.result({ timeout: '5s' })));
      assert.deepEqual(outputs, handles.map((_, n) => PARK_AFTER_MS - 8 + n));
    });

    test('a cancelled waitee wakes the waiter: result() rejects with the cancellation, waitFirst answers CANCELLED', async () => {
      const viaResult = await flows.parent.start('cancelled');
      const viaWait = await flows.first.start('cancelled-first');
      const [child] = await parkedOn(viaResult.id, 1);
      const [firstChild] = await parkedOn(viaWait.id, 2);
      await ballast.workflows.cancel(child as string);
      await ballast.workflows.cancel(firstChild as string);
      assert.equal(await viaResult.result({ timeout: '10s' }), new WorkflowCancelledError(child as string).name);
      assert.deepEqual(await viaWait.result({ timeout: '10s' }), { index: 0, status: 'CANCELLED', output: null });
      assert.equal(ran.get('cancelled:after'), 1);
    });

    test('a waitee deleted by hand wakes the waiter, which finds it gone', async () => {
      const handle = await flows.first.start('deleted');
      const [child] = await parkedOn(handle.id, 2);
      await driver.query(`DELETE FROM ballast.workflows WHERE id = $1`, [child]);
      assert.deepEqual(await handle.result({ timeout: '10s' }), { error: new WorkflowNotFoundError(child as string).name });
    });

    test('a timed waitFirst parks until its deadline and answers undefined then', async () => {
      const handle = await flows.timed.start(undefined);
      await waitFor('the waiter is parked', () => isParked(handle.id));
      const { rows } = await driver.query<{ output: string }>(`SELECT output FROM ballast.steps WHERE workflow_id = $1 AND name = 'ballast.waitFirst-deadline'`, [handle.id]);
      const deadline = deserialize(rows[0]?.output as string) as number;
      assert.equal(Number((await row(handle.id))?.wake_at), deadline);
      assert.equal(await handle.result({ timeout: '10s' }), 'timed out');
      assert.ok(Date.now() >= deadline);
    });

    test('a wait raced against a long sleep does not park: the other wait still ends the race', async () => {
      // A park ends the run: parked on the sleep's timer alone, the workflow would sleep the hour out.
      for (const via of ['result', 'recv'] as const) {
        const handle = await flows.raceTimer.start(via);
        await waitFor('the child is waiting', async () => (await children(handle.id)).length === 1);
        const [child] = await children(handle.id);
        await new Promise((resolve) => setTimeout(resolve, PARK_AFTER_MS * 3));
        assert.equal((await row(handle.id))?.owner, 'executor-1', `${via}: still in memory`);
        await ballast.send(via === 'result' ? (child as string) : handle.id, via === 'result' ? 'go' : 'reply', 'raced');
        assert.equal(await handle.result({ timeout: '10s' }), via === 'result' ? 'got raced' : 'raced');
      }
    });

    test('parkAfter: false keeps waits on workflows in memory', async () => {
      const handle = await flows.inMemory.start(undefined);
      await waitFor('the child is waiting', async () => (await children(handle.id)).length === 1);
      const [child] = await children(handle.id);
      await new Promise((resolve) => setTimeout(resolve, PARK_AFTER_MS * 3));
      assert.equal((await row(handle.id))?.owner, 'executor-1');
      assert.equal((await row(child as string))?.waited_by, null);
      await ballast.send(child as string, 'go', 'kept');
      assert.deepEqual(await handle.result({ timeout: '10s' }), ['got kept', 'got kept']);
    });
  });
}
