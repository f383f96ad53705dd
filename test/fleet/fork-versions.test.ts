// Moving work between application versions: fork and resume hand a workflow of another version to
// the executors of that version (only its own code may replay its history), and a fork to a
// version no executor ever ran is refused. Two instances of different versions in one process.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Ballast, UnknownVersionError, ValidationError, WorkflowCancelledError } from '../../src/index.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';

let db: { url: string; close(): Promise<void> };
const apps: Record<'v1' | 'v2', Ballast> = {} as never;
const defs = {} as Record<'v1' | 'v2', ReturnType<typeof define>>;

function define(app: Ballast, version: string) {
  return {
    report: app.workflow('report', async (ctx, input: { hold: boolean }) => {
      await ctx.step('before', () => version);
      if (input.hold) await ctx.recv('go', { timeout: '30s' });
      return ctx.step('after', () => version);
    }),
  };
}

before(async () => {
  db = await testDatabase('fork_versions');
  for (const version of ['v1', 'v2'] as const) {
    const app = new Ballast({ name: 'fork-app', databaseUrl: db.url, executorId: `fork-${version}`, appVersion: version, pollIntervalMs: 500, logger: capturingLogger() });
    defs[version] = define(app, version);
    apps[version] = app;
  }
  for (const app of Object.values(apps)) await app.launch();
});

after(async () => {
  await Promise.all(Object.values(apps).map((app) => app.shutdown({ drainMs: 0 })));
  await db.close();
});

test('a fork to another version runs on that version; a fork to a version nobody runs is refused and changes nothing', async () => {
  const original = await defs.v1.report.start({ hold: false });
  assert.equal(await original.result(), 'v1');
  const before = (await apps.v1.workflows.list({ limit: 1_000 })).length;

  await assert.rejects(apps.v1.workflows.fork(original.id, { appVersion: 'v3-typo' }), (error: unknown) => {
    assert.ok(error instanceof UnknownVersionError);
    assert.equal(error.code, 'UNKNOWN_VERSION');
    assert.match(error.message, /"v3-typo"/);
    assert.match(error.message, /ballast versions/);
    return true;
  });
  await assert.rejects(apps.v1.workflows.fork(original.id, { appVersion: 7 as unknown as string }), ValidationError);
  assert.equal((await apps.v1.workflows.list({ limit: 1_000 })).length, before, 'nothing was inserted');

  const forked = await apps.v1.workflows.fork(original.id, { appVersion: 'v2', fromStep: 1 });
  assert.equal(await forked.result({ timeout: '10s' }), 'v2', 'the fork ran on v2');
  const info = await apps.v1.workflows.get(forked.id);
  assert.equal(info?.appVersion, 'v2');
  assert.equal(info?.executorId, 'fork-v2', 'adopted by the v2 executor');
  const steps = await apps.v1.workflows.steps(forked.id);
  assert.deepEqual(steps.map((step) => [step.name, step.output]), [['before', 'v1'], ['after', 'v2']], 'step 0 kept, step 1 run again by v2');
});

test('resuming a cancelled workflow of another version hands it to that version', async () => {
  const held = await defs.v2.report.start({ hold: true });
  await apps.v2.workflows.cancel(held.id);
  await assert.rejects(held.result(), WorkflowCancelledError);
  const resumed = await apps.v1.workflows.resume(held.id);
  await apps.v1.send(held.id, 'go', true);
  assert.equal(await resumed.result({ timeout: '10s' }), 'v2');
  assert.equal((await apps.v1.workflows.get(held.id))?.executorId, 'fork-v2');
});
