// The ownership rules of schedule rows, statement by statement (src/store/sql/schedules.ts): which
// version a launch or a claim takes a row for, what a launch retires, and that the paused flag and
// the last tick survive all of it. Executors are registered directly; a lease of 1 ms is a dead one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgDriver } from '../../src/store/pg-driver.js';
import { SystemStore, type ScheduleDefinition } from '../../src/store/system-store.js';
import { testDatabase } from '../support/postgres.js';

const APP = 'owners';

function definition(name: string, cron = '0 3 * * *'): ScheduleDefinition {
  return { name, cron, timezone: 'UTC', workflowName: 'report', queue: null, backfill: false };
}

describe('schedule ownership', () => {
  let db: { url: string; close(): Promise<void> };
  let store: SystemStore;

  /** Registers an executor of `version`: alive for a minute, or already dead. */
  const executor = async (id: string, version: string, alive: boolean) => {
    await store.registerExecutor({ id, appName: APP, appVersion: version, hostname: 'test', pid: 1, leaseMs: alive ? 60_000 : 1, queues: [] });
    await sleep(5); // versions first seen in distinct milliseconds; a 1 ms lease has run out
  };
  const row = async (name: string) => {
    const [found] = await store.readSchedules(APP, name);
    assert.ok(found, `row ${name}`);
    return found;
  };

  before(async () => {
    db = await testDatabase('schedule_owners');
    store = new SystemStore(new PgDriver({ connectionString: db.url, poolSize: 2, applicationName: 'owners-test', logger: { warn: () => undefined } }), {
      schema: 'ballast',
      logger: { warn: () => undefined },
    });
    await store.migrate();
  });

  after(async () => {
    await store.close();
    await db.close();
  });

  test('a launch writes new rows; its own version overwrites the definition and keeps paused flag and last tick', async () => {
    await executor('v1-a', 'v1', true);
    assert.deepEqual(await store.declareSchedules(APP, 'v1', [definition('a'), definition('b')]), { written: ['a', 'b'], retired: [] });
    await store.setSchedulePaused(APP, 'a', true);
    await store.recordScheduleTick(APP, 'a', 1_000, 'sched:a:x');
    await store.recordScheduleTick(APP, 'a', 500, 'sched:a:older');
    assert.equal((await row('a')).lastTickAt, 1_000, 'the tick record only moves forward');
    await store.declareSchedules(APP, 'v1', [definition('a', '0 4 * * *'), definition('b')]);
    const a = await row('a');
    assert.equal(a.cron, '0 4 * * *');
    assert.equal(a.paused, true);
    assert.equal(a.lastWorkflowId, 'sched:a:x');
    assert.equal(a.ownerAlive, true);
  });

  test('a newer version takes rows over and retires the ones it does not declare; an older one with a live owner takes nothing', async () => {
    await executor('v2-a', 'v2', true);
    assert.deepEqual(await store.declareSchedules(APP, 'v2', [definition('a', '0 5 * * *')]), { written: ['a'], retired: ['b'] });
    assert.equal((await row('a')).appVersion, 'v2');
    assert.equal((await row('a')).paused, true);
    const b = await row('b');
    assert.equal(b.declared, false, 'kept, but not declared: nobody fires it');
    assert.equal(b.appVersion, 'v2');

    // An old pod restarting: v2 is alive and newer.
    assert.deepEqual(await store.declareSchedules(APP, 'v1', [definition('a'), definition('b')]), { written: [], retired: [] });
    assert.equal((await row('a')).cron, '0 5 * * *');
    assert.deepEqual(await store.claimSchedules(APP, 'v1', [definition('a'), definition('b')]), [], 'no claim while the owner lives');
    // A process of v2 that declares nothing retires nothing of its own version.
    assert.deepEqual(await store.declareSchedules(APP, 'v2', []), { written: [], retired: [] });
    assert.equal((await row('a')).declared, true);
  });

  test('once the owning version has no live executor, a declaring version claims the row; a retired row of its own version too', async () => {
    await executor('v2-a', 'v2', false);
    assert.equal((await row('a')).ownerAlive, false);
    assert.deepEqual(await store.claimSchedules(APP, 'v1', [definition('a'), definition('b')]), ['a', 'b']);
    const [a, b] = [await row('a'), await row('b')];
    assert.equal(a.appVersion, 'v1');
    assert.equal(a.cron, '0 3 * * *');
    assert.equal(a.paused, true);
    assert.equal(b.declared, true);

    // A claim never overwrites a declared row of its own version (two codes under one version).
    assert.deepEqual(await store.claimSchedules(APP, 'v1', [definition('a', '0 6 * * *')]), []);
    assert.equal((await row('a')).cron, '0 3 * * *');

    // v3 (newer, declares nothing) retires both; a v3 process that declares `a` claims it back.
    await executor('v3-worker', 'v3', true);
    assert.deepEqual((await store.declareSchedules(APP, 'v3', [])).retired, ['a', 'b']);
    assert.deepEqual(await store.claimSchedules(APP, 'v3', [definition('a')]), ['a']);
    assert.equal((await row('a')).declared, true);
    assert.equal((await row('a')).appVersion, 'v3');
    assert.equal((await row('b')).declared, false);
  });
});
