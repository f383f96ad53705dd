// Debounce: calls for one key collapse into one workflow that starts with the last input once the
// key is quiet (or at maxWait), in one process on both backends and across real processes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BallastClient } from '../../src/client/index.js';
import { ValidationError, type Ballast, type WorkflowDefinition, type WorkflowHandle } from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';

for (const backend of backends()) {
  describe(`debounce (${backend})`, () => {
    let db: TestDatabase;
    let app: Ballast;
    let digest: WorkflowDefinition<{ n: number }, { n: number }>;

    before(async () => {
      db = await openTestDatabase(backend);
      app = newBallast(db, { pollIntervalMs: 200 });
      app.queue('digests');
      digest = app.workflow('digest', async (_ctx, input: { n: number }) => input);
      await app.launch();
    });

    after(async () => {
      await app.shutdown({ drainMs: 1_000 });
      await db.close();
    });

    test('calls within the delay collapse into one workflow that runs with the last input', async () => {
      const handles: WorkflowHandle<{ n: number }>[] = [];
      for (let n = 0; n < 20; n++) handles.push(await digest.debounce('user-1', { n }, { delay: '500ms', queue: 'digests' }));
      assert.equal(new Set(handles.map((handle) => handle.id)).size, 1);
      const waiting = await app.workflows.get(handles[0]!.id, { withPayloads: true });
      assert.equal(waiting?.status, 'DELAYED');
      assert.deepEqual(await handles[0]!.result(), { n: 19 });
      const runs = await app.workflows.list({ name: 'digest', queue: 'digests' });
      assert.equal(runs.filter((run) => run.id === handles[0]!.id).length, 1);
    });

    test('a call after the run began opens a new window; other keys are separate', async () => {
      const first = await digest.debounce('user-2', { n: 1 }, { delay: '200ms', queue: 'digests' });
      const other = await digest.debounce('user-3', { n: 3 }, { delay: '200ms', queue: 'digests' });
      assert.notEqual(first.id, other.id);
      assert.deepEqual(await first.result(), { n: 1 });
      const second = await digest.debounce('user-2', { n: 2 }, { delay: '200ms', queue: 'digests' });
      assert.notEqual(second.id, first.id);
      assert.deepEqual(await second.result(), { n: 2 });
      assert.deepEqual(await other.result(), { n: 3 });
    });

    test('maxWait starts the workflow even when the key never goes quiet', async () => {
      const maxWaitMs = 1_000;
      const first = await digest.debounce('busy', { n: 0 }, { delay: '300ms', maxWait: maxWaitMs, queue: 'digests' });
      let n = 0;
      let status = 'DELAYED';
      // Calls every 50 ms, well inside the delay: only maxWait can end the window.
      for (const giveUpAt = Date.now() + 30_000; status === 'DELAYED' && Date.now() < giveUpAt; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await digest.debounce('busy', { n: ++n }, { delay: '300ms', maxWait: maxWaitMs, queue: 'digests' });
        status = (await app.workflows.get(first.id))?.status ?? 'missing';
      }
      assert.notEqual(status, 'DELAYED', 'the window stayed open although calls came for longer than maxWait');
      // The input of the last call before the window closed: a later one than the first.
      const { n: ran } = (await first.result()) as { n: number };
      // Read once it ran: a promoted workflow is ENQUEUED, not started, until a dispatcher claims it.
      const run = await app.workflows.get(first.id);
      assert.ok(run?.startedAt && run.startedAt.getTime() >= run.createdAt.getTime() + maxWaitMs, 'not due before maxWait');
      assert.ok(ran >= 1 && ran <= n, `ran with call ${ran} of ${n}`);
    });

    test('attributes and options of the last call apply', async () => {
      const handle = await digest.debounce('tagged', { n: 1 }, { delay: '100ms', queue: 'digests', attributes: { tenant: 'a' } });
      await digest.debounce('tagged', { n: 2 }, { delay: '100ms', queue: 'digests', attributes: { tenant: 'b' } });
      await handle.result();
      assert.deepEqual((await app.workflows.get(handle.id))?.attributes, { tenant: 'b' });
    });

    test('bad input is refused with ValidationError', async () => {
      const bad: Array<[unknown, unknown, RegExp]> = [
        ['', { delay: '1s', queue: 'digests' }, /key must be a non-empty string/],
        [42, { delay: '1s', queue: 'digests' }, /key must be a non-empty string/],
        ['k', undefined, /options must be an object/],
        ['k', { queue: 'digests' }, /delay is required/],
        ['k', { delay: 'soon', queue: 'digests' }, /Invalid debounce of workflow "digest" delay/],
        ['k', { delay: 0, queue: 'digests' }, /delay must be longer than zero/],
        ['k', { delay: '5s', maxWait: '1s', queue: 'digests' }, /maxWait \(1000 ms\) must not be shorter than delay/],
        ['k', { delay: '1s', queue: 'digests', id: 'mine' }, /unknown option "id"/],
        ['k', { delay: '1s', queue: 'digests', dedupId: 'x' }, /unknown option "dedupId"/],
        ['k', { delay: '1s' }, /options.queue must be a queue/],
        ['k', { delay: '1s', queue: 'digests', attributes: { tenant: 1 } }, /attribute "tenant" must be a string/],
      ];
      for (const [key, options, message] of bad) {
        await assert.rejects(digest.debounce(key as string, { n: 0 }, options as never), (error: unknown) => {
          assert.ok(error instanceof ValidationError, `${String(error)}`);
          assert.equal(error.code, 'INVALID_ARGUMENT');
          assert.match(error.message, message);
          return true;
        });
      }
    });
  });
}

describe('debounce from a BallastClient, by workflow name', () => {
  let db: TestDatabase;
  let app: Ballast;
  let client: BallastClient;

  before(async () => {
    db = await openTestDatabase('postgres');
    app = newBallast(db, { pollIntervalMs: 200 });
    app.queue('digests');
    app.workflow('digest', async (_ctx, input: { n: number }) => input);
    await app.launch();
    client = new BallastClient({ appName: 'test-app', databaseUrl: db.config.databaseUrl });
  });

  after(async () => {
    await client.close();
    await app.shutdown({ drainMs: 1_000 });
    await db.close();
  });

  test('collapses with the application\'s own calls for the key', async () => {
    const fromClient = await client.debounce('digest', 'shared', { n: 1 }, { delay: '300ms', queue: 'digests' });
    const fromApp = await client.debounce('digest', 'shared', { n: 2 }, { delay: '300ms', queue: 'digests' });
    assert.equal(fromClient.id, fromApp.id);
    assert.deepEqual(await fromClient.result(), { n: 2 });
    await assert.rejects(client.debounce('digest', 'shared', { n: 3 }, { delay: '1s', queue: 'digests', maxWait: 10 }), ValidationError);
  });
});

describe('debounce across processes', () => {
  const CALLS = 500;
  let database: { url: string; close(): Promise<void> };
  let dir: string;
  const workers: ChildHandle[] = [];

  before(async () => {
    database = await testDatabase('debounce');
    dir = mkdtempSync(join(tmpdir(), 'ballast-debounce-'));
  });

  after(async () => {
    for (const worker of workers) worker.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    rmSync(dir, { recursive: true, force: true });
    await database.close();
  });

  test(`3 processes calling ${CALLS} times each within the window start exactly one workflow, with the last call's input`, async () => {
    const goFile = join(dir, 'go');
    for (const executorId of ['replica-a', 'replica-b', 'replica-c']) {
      workers.push(
        spawnNode('test/queues/workers/debouncer.ts', {
          env: { DEBOUNCE_DATABASE_URL: database.url, EXECUTOR_ID: executorId, GO_FILE: goFile, CALLS: String(CALLS) },
        }),
      );
    }
    await Promise.all(workers.map((worker) => worker.waitForLine((line) => line.startsWith('ready'), 60_000)));
    writeFileSync(goFile, 'go');
    const done = await Promise.all(workers.map((worker) => worker.waitForLine((line) => line.startsWith('done '), 60_000)));
    const ids = new Set(done.map((line) => line.slice('done '.length)));
    assert.equal(ids.size, 1, `every call joined one workflow: ${[...ids].join(', ')}`);
    const [id] = [...ids] as [string];

    const client = new BallastClient({ appName: 'debounce-app', databaseUrl: database.url });
    try {
      const output = (await client.result(id, { timeout: '60s' })) as { process: string; call: number };
      // Each process calls in sequence, so the last call to commit is some process's last call.
      assert.equal(output.call, CALLS - 1, `ran with ${JSON.stringify(output)}`);
      const runs = await client.workflows.list({ name: 'digest' });
      assert.deepEqual(runs.map((run) => [run.id, run.status]), [[id, 'SUCCESS']]);
    } finally {
      await client.close();
    }
  });
});
