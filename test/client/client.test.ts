import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BallastClient } from '../../src/client/index.js';
import { LifecycleError, UnknownQueueError, ValidationError, type Ballast } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

describe('BallastClient: enqueue by name, list, metrics and management from another process', () => {
  let db: TestDatabase;
  let app: Ballast;
  let client: BallastClient;

  before(async () => {
    db = await openTestDatabase('postgres');
    app = newBallast(db, { name: 'shop', appVersion: 'v7', pollIntervalMs: 1_000 });
    app.queue('emails', { workerConcurrency: 4 });
    app.queue('slow', { workerConcurrency: 1 });
    app.workflow('send-email', async (ctx, to: string) => {
      await ctx.setEvent('stage', 'sending');
      return ctx.step('send', () => `sent to ${to}`);
    });
    app.workflow('wait-for-approval', async (ctx) => ctx.recv<string>('approval', { timeout: '10s' }));
    app.workflow('nap', async (ctx) => ctx.sleep('1h'));
    await app.launch();
    client = new BallastClient({ appName: 'shop', databaseUrl: db.config.databaseUrl, pollIntervalMs: 1_000 });
  });

  after(async () => {
    await client.close();
    await app.shutdown({ drainMs: 0 });
    await db.close();
  });

  test('enqueue by name runs on the application executors, at the live version', async () => {
    const handle = await client.enqueue<string>('send-email', 'ada@example.com', { queue: 'emails', id: 'email-1' });
    assert.equal(await handle.result({ timeout: '10s' }), 'sent to ada@example.com');
    const info = await client.workflows.get('email-1');
    assert.equal(info?.appVersion, 'v7');
    assert.equal(info?.executorId, 'executor-1');
    assert.equal(await client.getEvent('email-1', 'stage', { timeout: '1s' }), 'sending');
  });

  test('enqueueMany inserts a batch and every workflow runs once', async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => `user${i}@example.com`);
    const handles = await client.enqueueMany<string>('send-email', inputs, { queue: 'emails' });
    assert.equal(new Set(handles.map((h) => h.id)).size, 200);
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '30s' })));
    assert.deepEqual(results, inputs.map((to) => `sent to ${to}`));
  });

  test('send reaches a waiting workflow', async () => {
    const handle = await client.enqueue('wait-for-approval', undefined, { queue: 'emails' });
    await client.send(handle.id, 'approval', 'yes');
    assert.equal(await handle.result({ timeout: '10s' }), 'yes');
  });

  test('list filters by status, queue, name, version, executor, ID prefix and time; queuedOnly counts ENQUEUED + PENDING', async () => {
    const running = await client.enqueue('nap', undefined, { queue: 'slow', id: 'nap-running' });
    const waiting = await client.enqueue('nap', undefined, { queue: 'slow', id: 'nap-waiting' });
    const delayed = await client.enqueue('nap', undefined, { queue: 'slow', id: 'nap-delayed', delay: '1h' });
    for (let i = 0; i < 100 && (await running.status()).status !== 'PENDING'; i++) await new Promise((r) => setTimeout(r, 20));

    const queued = await client.workflows.list({ queue: 'slow', queuedOnly: true, order: 'asc' });
    assert.deepEqual(queued.map((w) => [w.id, w.status]), [['nap-running', 'PENDING'], ['nap-waiting', 'ENQUEUED']]);
    assert.deepEqual((await client.workflows.list({ status: 'DELAYED' })).map((w) => w.id), ['nap-delayed']);
    assert.deepEqual((await client.workflows.list({ idPrefix: 'nap-', status: ['PENDING', 'DELAYED'], order: 'asc' })).map((w) => w.id), ['nap-running', 'nap-delayed']);
    assert.equal((await client.workflows.list({ name: 'send-email', limit: 1000 })).length, 201);
    assert.equal((await client.workflows.list({ name: 'send-email', limit: 10, offset: 195 })).length, 6);
    assert.equal((await client.workflows.list({ appVersion: 'other' })).length, 0);
    assert.equal((await client.workflows.list({ executorId: 'executor-1', queue: 'slow' })).length, 1);
    assert.equal((await client.workflows.list({ createdAfter: new Date(Date.now() + 60_000) })).length, 0);
    const withPayloads = await client.workflows.list({ idPrefix: 'email-1', withPayloads: true });
    assert.equal(withPayloads[0]?.input, 'ada@example.com');
    assert.equal(withPayloads[0]?.output, 'sent to ada@example.com');
    assert.equal((await client.workflows.list({ idPrefix: 'email-1' }))[0]?.input, undefined);

    const metrics = await client.queues.metrics('slow');
    assert.deepEqual([metrics.enqueued, metrics.pending, metrics.delayed, metrics.queueLength], [1, 1, 1, 2]);
    assert.equal(metrics.runningHere, 0);
    assert.equal((await app.queues.metrics('slow')).runningHere, 1);

    for (const h of [running, waiting, delayed]) assert.equal(await client.workflows.cancel(h.id), true);
    assert.equal((await client.queues.metrics('slow')).queueLength, 0);
  });

  test('queue limits changed through the client reach the executors', async () => {
    await client.queues.update('slow', { workerConcurrency: 2 });
    const limits = await client.queues.list();
    assert.equal(limits.find((q) => q.name === 'slow')?.workerConcurrency, 2);
    const first = await client.enqueue('nap', undefined, { queue: 'slow' });
    const second = await client.enqueue('nap', undefined, { queue: 'slow' });
    for (let i = 0; i < 150; i++) {
      if ((await app.queues.metrics('slow')).runningHere === 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await app.queues.metrics('slow')).runningHere, 2);
    for (const h of [first, second]) await client.workflows.cancel(h.id);
  });

  test('enqueue by name stores attributes; list and bulk operations filter by them', async () => {
    const tagged = await client.enqueue('send-email', 'grace@example.com', { queue: 'emails', id: 'email-acme', attributes: { tenant: 'acme', orderId: '42' } });
    await client.enqueue('send-email', 'linus@example.com', { queue: 'emails', id: 'email-globex', attributes: { tenant: 'globex' } });
    await tagged.result({ timeout: '10s' });
    assert.deepEqual((await client.workflows.get('email-acme'))?.attributes, { tenant: 'acme', orderId: '42' });
    const listed = await client.workflows.list({ attributes: { tenant: 'acme' } });
    assert.deepEqual(listed.map((info) => [info.id, info.attributes]), [['email-acme', { tenant: 'acme', orderId: '42' }]]);
    await client.enqueue('nap', undefined, { queue: 'slow', id: 'nap-acme', delay: '1h', attributes: { tenant: 'acme' } });
    const cancelled = await client.workflows.cancelMany({ attributes: { tenant: 'acme' } });
    assert.deepEqual(cancelled.applied, ['nap-acme']);
    await assert.rejects(client.enqueue('send-email', 'x', { queue: 'emails', attributes: { tenant: 7 as never } }), ValidationError);
    await assert.rejects(client.workflows.list({ attributes: { 'bad key': 'x' } }), ValidationError);
  });

  test('bad input gets typed errors', async () => {
    await assert.rejects(client.enqueue('send-email', 'x', { queue: 'no-such-queue' }), UnknownQueueError);
    await assert.rejects(client.enqueue('', 'x', { queue: 'emails' }), ValidationError);
    await assert.rejects(client.workflows.list({ status: 'RUNNING' as never }), /unknown status/);
    await assert.rejects(client.workflows.list({ limit: 0 }), ValidationError);
    await assert.rejects(client.workflows.list({ createdAfter: 'yesterday' as never }), ValidationError);
    assert.throws(() => new BallastClient({ appName: 'x', databaseUrl: '' }), /Postgres/);
    const stranger = new BallastClient({ appName: 'never-launched', databaseUrl: db.config.databaseUrl });
    try {
      await assert.rejects(stranger.enqueue('wf', 1, { queue: 'emails' }), LifecycleError);
    } finally {
      await stranger.close();
    }
  });
});
