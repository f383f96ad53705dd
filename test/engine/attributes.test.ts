// Attributes: small string key/values stored with a workflow by start, enqueue and a child start,
// returned by get and list, filtered on by list and by the bulk operations, validated at every door.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_ATTRIBUTES, ValidationError, type Ballast, type WorkflowDefinition } from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

for (const backend of backends()) {
  describe(`workflow attributes (${backend})`, () => {
    let db: TestDatabase;
    let app: Ballast;
    let echo: WorkflowDefinition<string, string>;
    let parent: WorkflowDefinition<string, string>;
    let nap: WorkflowDefinition<undefined, void>;

    before(async () => {
      db = await openTestDatabase(backend);
      app = newBallast(db);
      app.queue('tasks');
      echo = app.workflow('echo', async (_ctx, input: string) => input);
      nap = app.workflow('nap', async (ctx) => ctx.sleep('1h'));
      parent = app.workflow('parent', async (ctx, tenant: string) => {
        const child = await ctx.start(echo, 'child', { attributes: { tenant, role: 'child' } });
        return child.result();
      });
      await app.launch();
    });

    after(async () => {
      await app.shutdown({ drainMs: 0 });
      await db.close();
    });

    test('start, enqueue and a child start store attributes; get and list return them', async () => {
      const started = await echo.start('a', { id: 'attr-start', attributes: { tenant: 'acme', orderId: '42' } });
      const queued = await echo.enqueue('b', { queue: 'tasks', id: 'attr-queued', attributes: { tenant: 'globex' } });
      await parent.start('acme', { id: 'attr-parent' }).then((handle) => handle.result());
      await Promise.all([started.result(), queued.result()]);
      assert.deepEqual((await app.workflows.get('attr-start'))?.attributes, { tenant: 'acme', orderId: '42' });
      assert.deepEqual((await app.workflows.get('attr-queued'))?.attributes, { tenant: 'globex' });
      assert.deepEqual((await app.workflows.get('attr-parent'))?.attributes, {});
      const [child] = await app.workflows.list({ parentId: 'attr-parent' });
      assert.deepEqual(child?.attributes, { tenant: 'acme', role: 'child' });
      const forked = await app.workflows.fork('attr-start', { id: 'attr-fork' });
      await forked.result();
      assert.deepEqual((await app.workflows.get('attr-fork'))?.attributes, { tenant: 'acme', orderId: '42' });
    });

    test('list filters by attributes: every given pair must match, with the other filters', async () => {
      await echo.start('c', { id: 'attr-other', attributes: { tenant: 'acme', orderId: '43' } }).then((h) => h.result());
      const ids = async (filter: Parameters<Ballast['workflows']['list']>[0]) =>
        (await app.workflows.list({ ...filter, order: 'asc' })).map((info) => info.id).filter((id) => id.startsWith('attr-'));
      assert.deepEqual(await ids({ attributes: { tenant: 'acme' } }), ['attr-start', 'attr-parent-0', 'attr-fork', 'attr-other']);
      assert.deepEqual(await ids({ attributes: { tenant: 'acme', orderId: '43' } }), ['attr-other']);
      assert.deepEqual(await ids({ attributes: { tenant: 'acme', role: 'child' } }), ['attr-parent-0']);
      assert.deepEqual(await ids({ attributes: { tenant: 'globex' }, queue: 'tasks', status: 'SUCCESS' }), ['attr-queued']);
      assert.deepEqual(await ids({ attributes: { tenant: 'globex' }, status: 'ERROR' }), []);
      assert.deepEqual(await ids({ attributes: { tenant: 'initech' } }), []);
      const quoted = `O'Brien "\\" ' OR true --`;
      await echo.start('q', { id: 'attr-quoted', attributes: { owner: quoted } }).then((h) => h.result());
      assert.deepEqual(await ids({ attributes: { owner: quoted } }), ['attr-quoted']);
      assert.deepEqual(await ids({ attributes: { owner: "O'Brien" } }), []);
    });

    test('bulk cancel, resume and delete take the same attribute filter', async () => {
      for (const n of [1, 2, 3]) await nap.enqueue(undefined, { queue: 'tasks', id: `bulk-${n}`, delay: '1h', attributes: { batch: n === 3 ? 'other' : 'b1' } });
      const cancelled = await app.workflows.cancelMany({ attributes: { batch: 'b1' } });
      assert.deepEqual(cancelled.applied.sort(), ['bulk-1', 'bulk-2']);
      assert.equal((await app.workflows.get('bulk-3'))?.status, 'DELAYED');
      const resumed = await app.workflows.resumeMany({ attributes: { batch: 'b1' }, status: 'CANCELLED' });
      assert.deepEqual(resumed.applied.sort(), ['bulk-1', 'bulk-2']);
      await app.workflows.cancelMany({ attributes: { batch: 'b1' } });
      const deleted = await app.workflows.deleteMany({ attributes: { batch: 'b1' } });
      assert.deepEqual(deleted.applied.sort(), ['bulk-1', 'bulk-2']);
      assert.equal(await app.workflows.get('bulk-1'), undefined);
      assert.equal((await app.workflows.get('bulk-3'))?.status, 'DELAYED');
      await app.workflows.cancel('bulk-3');
    });

    test('bad attributes are refused with ValidationError, on start, enqueue and in a filter', async () => {
      const tooMany = Object.fromEntries(Array.from({ length: MAX_ATTRIBUTES + 1 }, (_, i) => [`k${i}`, 'v']));
      const bad: Array<[unknown, RegExp]> = [
        [{ tenant: 42 }, /attribute "tenant" must be a string, got number 42/],
        [{ tenant: null }, /attribute "tenant" must be a string/],
        [{ tenant: 'x'.repeat(257) }, /attribute "tenant" is longer than 256 characters/],
        [{ tenant: 'a\nb' }, /must not contain control characters/],
        [{ '': 'x' }, /attribute key "" must be 1 to 64/],
        [{ 'ten ant': 'x' }, /attribute key "ten ant"/],
        [{ 'a=b': 'x' }, /attribute key "a=b"/],
        [{ ['k'.repeat(65)]: 'x' }, /attribute key/],
        [tooMany, new RegExp(`at most ${MAX_ATTRIBUTES} attributes, got ${MAX_ATTRIBUTES + 1}`)],
        ['tenant=acme', /attributes must be a plain object of strings/],
        [['acme'], /attributes must be a plain object of strings/],
        [new Map([['tenant', 'acme']]), /attributes must be a plain object of strings/],
      ];
      const isValidation = (message: RegExp) => (error: unknown) => {
        assert.ok(error instanceof ValidationError, String(error));
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.match(error.message, message);
        return true;
      };
      for (const [attributes, message] of bad) {
        await assert.rejects(echo.start('x', { attributes: attributes as never }), isValidation(message));
        await assert.rejects(echo.enqueue('x', { queue: 'tasks', attributes: attributes as never }), isValidation(message));
        await assert.rejects(app.workflows.list({ attributes: attributes as never }), isValidation(message));
        await assert.rejects(app.workflows.cancelMany({ attributes: attributes as never }), isValidation(message));
      }
      assert.equal((await app.workflows.list({ name: 'echo', createdAfter: Date.now() - 1_000 })).filter((w) => w.input === 'x').length, 0);
    });
  });
}
