// The version registry counts parked workflows as parked, not as work without a live owner: they
// belong to no executor on purpose, and any live executor of their version wakes them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Ballast, WorkflowContext } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

let db: TestDatabase;
let ballast: Ballast;

before(async () => {
  db = await openTestDatabase('postgres');
  ballast = newBallast(db, { parkAfter: '100ms', appVersion: 'v1' });
  const sleeper = ballast.workflow('sleeper', async (ctx: WorkflowContext) => {
    await ctx.sleep('1h');
  });
  const runner = ballast.workflow('runner', (ctx: WorkflowContext) => ctx.recv('never'), { parkAfter: false });
  await ballast.launch();
  await Promise.all([sleeper.start(undefined), sleeper.start(undefined), runner.start(undefined)]);
});

after(async () => {
  await ballast?.shutdown({ drainMs: 0 });
  await db?.close();
});

test('parked workflows are counted apart from running and unowned ones', async () => {
  await waitFor('two sleepers parked', async () => (await ballast.versions.list())[0]?.backlog.parked === 2);
  const [version] = await ballast.versions.list();
  assert.deepEqual(version?.backlog, { enqueued: 0, delayed: 0, pending: 3, parked: 2, pendingWithoutLiveOwner: 0 });
});
