// Every public entry point that takes an options object refuses an option it does not know with a
// ValidationError that names the unknown option and lists the valid ones, instead of ignoring it
// (a misspelt `fairness` used to be silently dropped). One case per entry point; inside workflows,
// the workflow fails with that error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BallastClient } from '../../src/client/index.js';
import { Ballast, ValidationError } from '../../src/index.js';
import { createTestBallast } from '../../src/testing/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

/** The error names the unknown option in quotes and lists `valid` among the options there are. */
function isUnknownOption(option: string, valid: string[]): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ValidationError, `a ValidationError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_ARGUMENT');
    assert.ok(error.message.includes(`unknown option "${option}"`), `names the unknown option: ${error.message}`);
    const listed = error.message.slice(error.message.indexOf('the options are'));
    for (const name of valid) assert.ok(listed.includes(name), `lists ${name}: ${error.message}`);
    return true;
  };
}

const typo = <T>(options: T, key: string): T => ({ ...options, [key]: 1 }) as T;

describe('unknown options are refused at every public entry point', () => {
  let db: TestDatabase;
  let ballast: Ballast;
  let client: BallastClient;
  let echo: ReturnType<typeof define>['echo'];
  let misuse: ReturnType<typeof define>['misuse'];

  function define(app: Ballast) {
    const queue = app.queue('validated');
    const echo = app.workflow('echo', async (ctx, input: unknown) => ctx.step('echo', () => input));
    const misuse = app.workflow('misuse', async (ctx, kind: string) => {
      const bad = { timeout: '1s', tmeout: '1s' } as never;
      switch (kind) {
        case 'step': return ctx.step('s', () => 1, { retries: 1, retires: 2 } as never);
        case 'backoff': return ctx.step('s', () => 1, { backoff: { initial: 10, fctor: 2 } } as never);
        case 'transaction': return ctx.transaction('t', async () => 1, { isolation: 'serializable', isolaton: 'serializable' } as never);
        case 'recv': return ctx.recv('topic', bad);
        case 'waitFirst': return ctx.waitFirst([await ctx.start(echo, 1)], bad);
        case 'start': return ctx.start(echo, 1, { idd: 'x' } as never);
        default: return ctx.enqueue(echo, 1, { queue, priorty: 1 } as never);
      }
    });
    return { echo, misuse };
  }

  before(async () => {
    db = await openTestDatabase('postgres');
    ballast = newBallast(db);
    ({ echo, misuse } = define(ballast));
    await ballast.launch();
    client = new BallastClient({ appName: 'test-app', databaseUrl: db.config.databaseUrl, appVersion: ballast.appVersion });
  });

  after(async () => {
    await client.close();
    await ballast.shutdown({ drainMs: 0 });
    await db.close();
  });

  test("ballast.queue(): an unknown option such as a misspelt 'fairness'", () => {
    const app = newBallast(db);
    assert.throws(() => app.queue('q', { concurrency: 10, fairnes: 'partition' } as never), isUnknownOption('fairnes', ['fairness', 'partitionConcurrency', 'concurrency']));
    assert.throws(() => app.queue('q', { rateLimit: { limit: 1, period: '1s', burst: 2 } } as never), isUnknownOption('burst', ['limit', 'period']));
    assert.throws(() => app.queue('q', 'fast' as never), /options must be an object/);
  });

  test('queues.update() (the admin API and CLI go through it)', async () => {
    await assert.rejects(ballast.queues.update('validated', { concurency: 3 } as never), isUnknownOption('concurency', ['concurrency', 'workerConcurrency']));
  });

  test('new Ballast(config), config.retention and config.admin', () => {
    assert.throws(() => new Ballast({ name: 'x', databaseURL: 'postgres://' } as never), isUnknownOption('databaseURL', ['databaseUrl', 'schema', 'pollIntervalMs']));
    assert.throws(() => new Ballast({ name: 'x', retention: { maxAge: '1d', max_rows: 5 } } as never), isUnknownOption('max_rows', ['maxAge', 'maxRows']));
    assert.throws(() => new Ballast({ name: 'x', admin: { port: 0, prot: 1 } } as never), isUnknownOption('prot', ['port', 'host', 'token']));
    assert.throws(() => new Ballast({ name: 'x', admin: { port: 0, readiness: async () => ({ ready: true }) } } as never), isUnknownOption('readiness', ['port']));
  });

  test('ballast.schedule() and ballast.dataSource()', () => {
    const app = newBallast(db);
    const job = app.workflow('job', async () => undefined);
    assert.throws(() => app.schedule('s', '* * * * *', job, { timeZone: 'UTC' } as never), isUnknownOption('timeZone', ['timezone', 'queue', 'backfill']));
    assert.throws(() => app.dataSource('app', { databaseUrl: 'postgres://x', pool: 2 } as never), isUnknownOption('pool', ['databaseUrl', 'poolSize']));
  });

  test('adminHandler() and its dashboard options', () => {
    assert.throws(() => ballast.adminHandler({ readonly: true } as never), isUnknownOption('readonly', ['readOnly', 'token']));
    assert.throws(() => ballast.adminHandler({ dashboard: { liveInterval: 1000 } } as never), isUnknownOption('liveInterval', ['liveIntervalMs']));
  });

  test('start, enqueue, enqueueMany and debounce of a workflow', async () => {
    await assert.rejects(echo.start(1, typo({ id: 'v-1' }, 'idempotencyKey')), isUnknownOption('idempotencyKey', ['id', 'timeout', 'attributes']));
    await assert.rejects(echo.enqueue(1, typo({ queue: 'validated' }, 'partition')), isUnknownOption('partition', ['partitionKey', 'priority', 'dedupId']));
    await assert.rejects(echo.enqueueMany([1], typo({ queue: 'validated' }, 'dedupId')), isUnknownOption('dedupId', ['queue', 'priority']));
    await assert.rejects(echo.debounce('k', 1, typo({ queue: 'validated', delay: '1s' }, 'maxwait')), isUnknownOption('maxwait', ['maxWait', 'delay']));
  });

  test('send, getEvent, result, readStream and the management calls', async () => {
    const handle = await echo.start(1);
    await handle.result();
    await assert.rejects(ballast.send(handle.id, 't', 1, { idempotency: 'x' } as never), isUnknownOption('idempotency', ['idempotencyKey']));
    await assert.rejects(ballast.getEvent(handle.id, 'k', { wait: '1s' } as never), isUnknownOption('wait', ['timeout']));
    await assert.rejects(handle.result({ timeoutMs: 10 } as never), isUnknownOption('timeoutMs', ['timeout']));
    assert.throws(() => ballast.readStream(handle.id, 'k', { offset: 0 } as never), isUnknownOption('offset', ['from', 'signal']));
    await assert.rejects(ballast.workflows.get(handle.id, { payloads: true } as never), isUnknownOption('payloads', ['withPayloads']));
    await assert.rejects(ballast.workflows.list({ state: 'ERROR' } as never), isUnknownOption('state', ['status', 'queue', 'attributes']));
    await assert.rejects(ballast.workflows.cancel(handle.id, { recursive: true } as never), isUnknownOption('recursive', ['children']));
    await assert.rejects(ballast.workflows.fork(handle.id, { step: 1 } as never), isUnknownOption('step', ['fromStep', 'appVersion']));
    await assert.rejects(ballast.workflows.cancelMany({}, { batch: 10 } as never), isUnknownOption('batch', ['batchSize', 'children']));
    await assert.rejects(ballast.workflows.resumeMany({}, { children: true } as never), isUnknownOption('children', ['batchSize', 'onBatch']));
    await assert.rejects(ballast.workflows.deleteMany({ status: 'SUCCESS' }, { size: 1 } as never), isUnknownOption('size', ['batchSize']));
    await assert.rejects(ballast.executors.list({ dead: true } as never), isUnknownOption('dead', ['includeDead']));
    await assert.rejects(ballast.queues.metrics('validated', { appVersion: 'v' } as never), isUnknownOption('appVersion', ['version']));
    await assert.rejects(ballast.queues.allMetrics({ appVersion: 'v' } as never), isUnknownOption('appVersion', ['version']));
    await assert.rejects(ballast.shutdown({ drain: 0 } as never), isUnknownOption('drain', ['drainMs']));
  });

  test('inside a workflow: step, backoff, transaction, recv, waitFirst, ctx.start and ctx.enqueue fail the workflow', async () => {
    const expected: Record<string, [string, string[]]> = {
      step: ['retires', ['retries', 'backoff', 'timeout']],
      backoff: ['fctor', ['initial', 'factor', 'max']],
      transaction: ['isolaton', ['isolation', 'dataSource', 'readOnly']],
      recv: ['tmeout', ['timeout']],
      waitFirst: ['tmeout', ['timeout']],
      start: ['idd', ['id', 'timeout']],
      enqueue: ['priorty', ['priority', 'queue']],
    };
    for (const [kind, [option, valid]] of Object.entries(expected)) {
      const handle = await misuse.start(kind);
      await assert.rejects(handle.result({ timeout: '30s' }), isUnknownOption(option, valid), kind);
    }
  });

  test('BallastClient: its config, enqueue, enqueueMany, debounce, send, getEvent and result', async () => {
    assert.throws(() => new BallastClient({ appName: 'x', databaseUrl: db.config.databaseUrl, app: 'y' } as never), isUnknownOption('app', ['appName', 'appVersion']));
    await assert.rejects(client.enqueue('echo', 1, typo({ queue: 'validated' }, 'version')), isUnknownOption('version', ['appVersion', 'queue', 'partitionKey']));
    await assert.rejects(client.enqueueMany('echo', [1], typo({ queue: 'validated' }, 'id')), isUnknownOption('id', ['appVersion', 'queue']));
    await assert.rejects(client.debounce('echo', 'k', 1, typo({ queue: 'validated', delay: '1s' }, 'wait')), isUnknownOption('wait', ['appVersion', 'maxWait']));
    const handle = await client.enqueue('echo', 1, { queue: 'validated' });
    await assert.rejects(client.send(handle.id, 't', 1, { key: 'x' } as never), isUnknownOption('key', ['idempotencyKey']));
    await assert.rejects(client.getEvent(handle.id, 'k', { wait: '1s' } as never), isUnknownOption('wait', ['timeout']));
    await assert.rejects(client.result(handle.id, { wait: '1s' } as never), isUnknownOption('wait', ['timeout']));
  });

  test('createTestBallast()', async () => {
    await assert.rejects(createTestBallast({ start: 0 } as never), isUnknownOption('start', ['startAt', 'databaseUrl', 'config']));
  });
});
