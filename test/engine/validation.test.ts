import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Ballast,
  DuplicateRegistrationError,
  EmbeddedDatabaseBusyError,
  LifecycleError,
  PayloadTooLargeError,
  SerializationError,
  UnknownWorkflowError,
  ValidationError,
  WorkflowNotFoundError,
  type BallastConfig,
} from '../../src/index.js';
import { resolveConfig } from '../../src/config.js';
import { capturingLogger, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

describe('bad input gets a typed error with a clear message', () => {
  let db: TestDatabase;
  let ballast: Ballast;
  let echo: ReturnType<typeof define>;
  let patches: ReturnType<typeof definePatches>;
  const define = (app: Ballast) => app.workflow('echo', async (ctx, input: unknown) => ctx.step('echo', () => input));
  const definePatches = (app: Ballast) => ({
    patchedWith: app.workflow('patched-with', async (ctx, name: unknown) => ctx.patched(name as string)),
    deprecatedWith: app.workflow('deprecated-with', async (ctx, name: unknown) => ctx.deprecatePatch(name as string)),
  });

  before(async () => {
    db = await openTestDatabase('postgres');
    ballast = newBallast(db, { maxPayloadBytes: 1_000 });
    echo = define(ballast);
    patches = definePatches(ballast);
    await ballast.launch();
  });

  after(async () => {
    await ballast.shutdown({ drainMs: 500 });
    await db.close();
  });

  test('non-serializable workflow arguments are refused at the call site', async () => {
    await assert.rejects(echo.start({ callback: () => 1 }), (error: unknown) => {
      assert.ok(error instanceof SerializationError);
      assert.equal(error.code, 'NOT_SERIALIZABLE');
      assert.match(error.message, /\$\.callback/);
      assert.match(error.message, /function/);
      return true;
    });
    class Money {
      constructor(readonly cents: number) {}
    }
    await assert.rejects(echo.start(new Money(5)), /Money/);
  });

  test('oversized inputs and messages are refused with PayloadTooLargeError', async () => {
    await assert.rejects(echo.start('x'.repeat(2_000)), (error: unknown) => {
      assert.ok(error instanceof PayloadTooLargeError);
      assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
      assert.match(error.message, /maxPayloadBytes/);
      return true;
    });
    await assert.rejects(ballast.send('any', 'topic', 'y'.repeat(2_000)), PayloadTooLargeError);
  });

  test('a duplicate registration is refused', () => {
    const app = new Ballast({ name: 'dup', databaseUrl: db.config.databaseUrl });
    app.workflow('same', async () => 1);
    assert.throws(() => app.workflow('same', async () => 2), (error: unknown) => {
      assert.ok(error instanceof DuplicateRegistrationError);
      assert.equal(error.code, 'DUPLICATE_REGISTRATION');
      assert.match(error.message, /"same"/);
      return true;
    });
  });

  test('negative or malformed timeouts and durations are refused', async () => {
    await assert.rejects(echo.start(1, { timeout: -5 }), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.match(error.message, /timeout/);
      return true;
    });
    await assert.rejects(echo.start(1, { timeout: '5 fortnights' }), ValidationError);
    await assert.rejects(ballast.getEvent('x', 'k', { timeout: -1 }), ValidationError);
    await assert.rejects(ballast.handle('x').result({ timeout: 'soon' }), ValidationError);
  });

  test('bad step options fail the workflow with ValidationError', async () => {
    const app = newBallast(db, { executorId: 'steps-validation' });
    const bad = app.workflow('bad-step', async (ctx, kind: string) => {
      if (kind === 'retries') return ctx.step('s', () => 1, { retries: -1 });
      if (kind === 'timeout') return ctx.step('s', () => 1, { timeout: -10 });
      if (kind === 'name') return ctx.step('', () => 1);
      if (kind === 'sleep') return ctx.sleep(-1);
      return ctx.step('s', 'not a function' as never);
    });
    await app.launch();
    try {
      for (const kind of ['retries', 'timeout', 'name', 'sleep', 'fn']) {
        const handle = await bad.start(kind);
        await assert.rejects(handle.result(), ValidationError, kind);
      }
    } finally {
      await app.shutdown({ drainMs: 0 });
    }
  });

  test('invalid IDs, names and unknown workflows are refused', async () => {
    await assert.rejects(echo.start(1, { id: '' }), ValidationError);
    await assert.rejects(echo.start(1, { id: 'line\nbreak' }), /control characters/);
    assert.throws(() => ballast.handle(42 as unknown as string), ValidationError);
    await assert.rejects(ballast.handle('no-such-workflow').result(), WorkflowNotFoundError);
    await assert.rejects(ballast.workflows.cancel('no-such-workflow'), WorkflowNotFoundError);
    await assert.rejects(ballast.workflows.fork('no-such-workflow'), WorkflowNotFoundError);
    await assert.rejects(ballast.workflows.fork('x', { fromStep: -1 }), ValidationError);
  });

  test('starting a workflow that belongs to another instance is UnknownWorkflowError inside ctx.start', async () => {
    const other = new Ballast({ name: 'other', databaseUrl: db.config.databaseUrl });
    const foreign = other.workflow('foreign', async () => 1);
    const app = newBallast(db, { executorId: 'foreign-parent' });
    const parent = app.workflow('parent-of-foreign', async (ctx) => ctx.start(foreign, undefined));
    await app.launch();
    try {
      await assert.rejects((await parent.start(undefined)).result(), UnknownWorkflowError);
    } finally {
      await app.shutdown({ drainMs: 0 });
    }
  });

  test('lifecycle misuse: start before launch, register after launch, launch twice', async () => {
    const app = new Ballast({ name: 'lifecycle', databaseUrl: db.config.databaseUrl, logger: capturingLogger() });
    const wf = app.workflow('lifecycle-wf', async () => 1);
    await assert.rejects(wf.start(undefined), LifecycleError);
    assert.throws(() => app.workflows, LifecycleError);
    await app.launch();
    try {
      assert.throws(() => app.workflow('late', async () => 1), LifecycleError);
      await assert.rejects(app.launch(), LifecycleError);
    } finally {
      await app.shutdown();
    }
    await assert.rejects(wf.start(undefined), LifecycleError);
  });

  test('waits still pending when the instance shuts down end with LifecycleError', async () => {
    const app = newBallast(db, { executorId: 'shutting-down' });
    const napping = app.workflow('napping', async (ctx) => ctx.sleep('1h'));
    await app.launch();
    const handle = await napping.start(undefined);
    const result = assert.rejects(handle.result(), LifecycleError);
    const event = assert.rejects(app.getEvent(handle.id, 'never', { timeout: '1h' }), LifecycleError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await app.shutdown({ drainMs: 0 });
    await result;
    await event;
  });

  test('invalid configuration is refused in the constructor', () => {
    assert.throws(() => new Ballast({ name: '' }), ValidationError);
    assert.throws(() => new Ballast({ name: 'x', schema: 'bad-schema;' }), /schema/);
    assert.throws(() => new Ballast({ name: 'x', poolSize: 0 }), /poolSize/);
    assert.throws(() => new Ballast(undefined as never), ValidationError);
  });

  test('an executor lease that is zero, negative, too short or not above two heartbeats is refused', () => {
    const refused = (config: Partial<BallastConfig>, message: RegExp, env: NodeJS.ProcessEnv = {}) =>
      assert.throws(() => resolveConfig({ name: 'x', ...config }, env), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.match(error.message, message);
        return true;
      });
    refused({ executorLeaseMs: 0 }, /executorLeaseMs must be a positive integer, got 0/);
    refused({ executorLeaseMs: -5_000 }, /executorLeaseMs must be a positive integer/);
    refused({ executorLeaseMs: 1.5 }, /executorLeaseMs must be a positive integer/);
    refused({ executorLeaseMs: 50 }, /at least 100 ms.*garbage-collection pause/);
    refused({ executorLeaseMs: 3_000, heartbeatIntervalMs: 3_000 }, /at least twice heartbeatIntervalMs \(3000\)/);
    refused({ executorLeaseMs: 3_000, heartbeatIntervalMs: 5_000 }, /at least twice heartbeatIntervalMs/);
    refused({ heartbeatIntervalMs: 0 }, /heartbeatIntervalMs must be a positive integer/);
    refused({}, /BALLAST_EXECUTOR_LEASE_MS must be a positive whole number/, { BALLAST_EXECUTOR_LEASE_MS: '10s' });
    refused({ patching: 'yes' as unknown as boolean }, /config.patching must be true or false/);
    refused({ statementTimeoutMs: 0 }, /statementTimeoutMs must be a positive integer, got 0/);
    refused({ statementTimeoutMs: '10s' as unknown as number }, /statementTimeoutMs must be a positive integer/);

    const defaults = resolveConfig({ name: 'x' }, {});
    assert.deepEqual([defaults.executorLeaseMs, defaults.heartbeatIntervalMs], [10_000, 3_333]);
    const fromEnv = resolveConfig({ name: 'x' }, { BALLAST_EXECUTOR_LEASE_MS: '4500' });
    assert.deepEqual([fromEnv.executorLeaseMs, fromEnv.heartbeatIntervalMs], [4_500, 1_500]);
    assert.equal(defaults.statementTimeoutMs, 10_000, 'the statement timeout follows the lease');
    assert.equal(fromEnv.statementTimeoutMs, 5_000, 'but is at least 5 s');
    assert.equal(resolveConfig({ name: 'x', executorLeaseMs: 30_000 }, {}).statementTimeoutMs, 30_000);
    assert.equal(resolveConfig({ name: 'x', statementTimeoutMs: 2_500 }, {}).statementTimeoutMs, 2_500);
    assert.equal(resolveConfig({ name: 'x', executorLeaseMs: 900 }, { BALLAST_EXECUTOR_LEASE_MS: '4500' }).executorLeaseMs, 900, 'config wins over the environment');
  });

  test('a patch name that is empty or not a string fails the workflow with ValidationError', async () => {
    const { patchedWith, deprecatedWith } = patches;
    for (const bad of ['', 42, null, 'line\nbreak']) {
      for (const wf of [patchedWith, deprecatedWith]) {
        await assert.rejects((await wf.start(bad)).result(), (error: unknown) => {
          assert.ok(error instanceof ValidationError, `${wf.name}(${JSON.stringify(bad)}): ValidationError`);
          assert.match(error.message, /patch name/);
          return true;
        });
      }
    }
    assert.equal(await (await patchedWith.start('fine')).result(), true, 'a good name on a new workflow: the patched path');
  });
});

describe('the embedded database serves one process', () => {
  test('a second instance on the same data directory gets EmbeddedDatabaseBusyError', async () => {
    const db = await openTestDatabase('pglite');
    const first = newBallast(db);
    await first.launch();
    try {
      const second = newBallast(db, { executorId: 'second' });
      await assert.rejects(second.launch(), (error: unknown) => {
        assert.ok(error instanceof EmbeddedDatabaseBusyError);
        assert.match(error.message, /BALLAST_DATABASE_URL/);
        return true;
      });
    } finally {
      await first.shutdown();
      await db.close();
    }
  });
});
