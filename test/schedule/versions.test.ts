// Schedules seen from a BallastClient (list, pause, resume, trigger with no workflows registered)
// and across application versions: a newer version takes a schedule over at launch (keeping its
// paused flag) and retires the ones it no longer declares; an older version relaunching does not
// take it back; once the owning version has no live executor, one that declares it takes it over.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BallastClient } from '../../src/client/index.js';
import { UnknownScheduleError, type Ballast, type ScheduledRun } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const APP = 'fleet-app';
/** Executors that ran each workflow, in order. */
const runs = new Map<string, string[]>();

function newVersion(db: TestDatabase, version: 'v1' | 'v2', executorId: string): Ballast {
  const ballast = newBallast(db, { name: APP, appVersion: version, executorId, pollIntervalMs: 500, executorLeaseMs: 2_000 });
  ballast.queue('jobs', { workerConcurrency: 4 });
  const tick = ballast.workflow('tick', async (ctx, run: ScheduledRun) => {
    await ctx.step('record', () => runs.set(ctx.workflowId, [...(runs.get(ctx.workflowId) ?? []), executorId]));
    return run.schedule;
  });
  ballast.schedule('pulse', '* * * * * *', tick);
  ballast.schedule('nightly', '0 3 * * *', tick);
  ballast.schedule('jobs-nightly', '0 5 * * *', tick, { queue: 'jobs' });
  if (version === 'v1') ballast.schedule('dropped', '0 4 * * *', tick);
  return ballast;
}

/** Pulse ticks after `since` (epoch ms) with the version and executor of each workflow. */
async function pulsesSince(client: BallastClient, since: number): Promise<Array<{ tick: number; appVersion: string; executorId: string | null }>> {
  const rows = await client.workflows.list({ idPrefix: 'sched:pulse:2', limit: 10_000, order: 'asc' });
  return rows
    .map((row) => ({ tick: Date.parse(row.id.slice('sched:pulse:'.length)), appVersion: row.appVersion, executorId: row.executorId }))
    .filter((pulse) => pulse.tick > since)
    .sort((a, b) => a.tick - b.tick);
}

describe('schedules from a client and across versions', () => {
  let db: TestDatabase;
  let client: BallastClient;
  const running: Ballast[] = [];

  const launch = async (version: 'v1' | 'v2', executorId: string): Promise<Ballast> => {
    const ballast = newVersion(db, version, executorId);
    await ballast.launch();
    running.push(ballast);
    return ballast;
  };
  const stop = async (ballast: Ballast) => {
    await ballast.shutdown({ drainMs: 1_000 });
    running.splice(running.indexOf(ballast), 1);
  };

  before(async () => {
    db = await openTestDatabase('postgres');
    client = new BallastClient({ appName: APP, databaseUrl: db.config.databaseUrl, pollIntervalMs: 500, logger: { info() {}, warn() {}, error() {} } });
  });

  after(async () => {
    await client.close();
    for (const ballast of [...running]) await ballast.shutdown({ drainMs: 0 });
    await db.close();
  });

  test('a client lists, pauses, resumes and triggers; a direct trigger is adopted by an executor of the version', async () => {
    const v1 = await launch('v1', 'v1-a');
    assert.deepEqual((await client.schedules.list()).map((s) => `${s.name}@${s.appVersion}`), ['dropped@v1', 'jobs-nightly@v1', 'nightly@v1', 'pulse@v1']);
    assert.equal((await client.schedules.pause('nightly')).paused, true);
    assert.equal((await v1.schedules.get('nightly'))?.paused, true, 'the executor sees the client pause');
    assert.equal((await client.schedules.resume('nightly')).paused, false);
    await client.schedules.pause('nightly');

    // No workflows registered in the client: the run is an ownerless PENDING row that v1 adopts.
    const direct = await client.schedules.trigger('nightly');
    assert.equal(await client.result(direct.workflowId, { timeout: '10s' }), 'nightly');
    assert.deepEqual(runs.get(direct.workflowId), ['v1-a']);
    const info = await client.workflows.get(direct.workflowId);
    assert.equal(info?.appVersion, 'v1');
    assert.equal(info?.attempts, 1);

    const queued = await client.schedules.trigger('jobs-nightly');
    assert.equal(await client.result(queued.workflowId, { timeout: '10s' }), 'jobs-nightly');
    assert.equal((await client.workflows.get(queued.workflowId))?.queue, 'jobs');
    await assert.rejects(client.schedules.trigger('absent'), UnknownScheduleError);
  });

  test('a newer version takes schedules over at launch, keeps their pause, and retires what it no longer declares', async () => {
    const v2LaunchedAt = Date.now();
    const v2 = await launch('v2', 'v2-a');
    const byName = new Map((await client.schedules.list()).map((s) => [s.name, s]));
    assert.equal(byName.get('pulse')?.appVersion, 'v2');
    assert.equal(byName.get('nightly')?.paused, true, 'declaring again did not resume it');
    assert.equal(byName.get('dropped')?.declared, false);
    assert.equal(byName.get('dropped')?.nextRunAt, null);
    await assert.rejects(client.schedules.trigger('dropped'), /no longer declared by the deployed version \(v2\)/);

    await waitFor('three pulses after v2 launched', async () => (await pulsesSince(client, v2LaunchedAt + 1_000)).length >= 3, 10_000, 100);
    for (const pulse of await pulsesSince(client, v2LaunchedAt + 1_000)) {
      assert.equal(pulse.appVersion, 'v2', `${new Date(pulse.tick).toISOString()} was fired by v2 only`);
    }

    // An old pod restarting during the rollout does not take the schedule back.
    const oldRestartedAt = Date.now();
    await launch('v1', 'v1-b');
    assert.equal((await v2.schedules.get('pulse'))?.appVersion, 'v2');
    await sleep(1_500);
    assert.ok((await pulsesSince(client, oldRestartedAt)).every((pulse) => pulse.appVersion === 'v2'));
  });

  test('once no executor of the owning version is alive, a version that declares the schedule takes it over', async () => {
    const v2 = running.find((ballast) => ballast.executorId === 'v2-a') as Ballast;
    await stop(v2);
    const stoppedAt = Date.now();
    await waitFor('v1 fires pulse again', async () => (await pulsesSince(client, stoppedAt)).some((pulse) => pulse.appVersion === 'v1'), 10_000, 100);
    const pulses = await pulsesSince(client, stoppedAt + 1_000);
    assert.ok(pulses.every((pulse) => pulse.appVersion === 'v1' && pulse.executorId?.startsWith('v1-')));
    const byName = new Map((await client.schedules.list()).map((s) => [s.name, s]));
    assert.equal(byName.get('pulse')?.appVersion, 'v1');
    assert.equal(byName.get('dropped')?.declared, true, 'the retired schedule is declared again by the version that has it');
    assert.equal(byName.get('nightly')?.paused, true);
    for (const [id, executors] of runs) assert.equal(executors.length, 1, `${id} ran once`);
  });
});
