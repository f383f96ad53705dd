// Schedules in one process, on Postgres and on PGlite: declaration errors (typed, nothing written),
// one workflow per tick through a direct start and through a queue, list/pause/resume/trigger,
// the paused flag surviving a re-launch, and what a re-launch does with the ticks it missed:
// started with backfill, skipped without.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DuplicateRegistrationError,
  InvalidScheduleError,
  LifecycleError,
  UnknownScheduleError,
  UnknownWorkflowError,
  ValidationError,
  type Ballast,
  type ScheduledRun,
  type WorkflowDefinition,
} from '../../src/index.js';
import { backends, newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

const TICK_ID = /^sched:([^:]+):(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/;

/** Runs of each workflow ID, across every Ballast instance of the file. */
const runs = new Map<string, number>();

interface App {
  ballast: Ballast;
  tick: WorkflowDefinition<ScheduledRun, string>;
}

/** An instance with the file's workflows, queue and schedules; `paused` schedules are declared the same. */
function newApp(db: TestDatabase): App {
  const ballast = newBallast(db, { appVersion: 'v1' });
  ballast.queue('jobs', { workerConcurrency: 4 });
  const tick = ballast.workflow('tick', async (ctx, run: ScheduledRun) => {
    await ctx.step('record', () => runs.set(ctx.workflowId, (runs.get(ctx.workflowId) ?? 0) + 1));
    return `${run.schedule}@${run.scheduledAt.toISOString()}`;
  });
  ballast.schedule('every-second', '* * * * * *', tick, { backfill: true });
  ballast.schedule('skipping', '* * * * * *', tick);
  ballast.schedule('queued', '* * * * * *', tick, { queue: 'jobs' });
  ballast.schedule('nightly', '0 3 * * *', tick, { timezone: 'Europe/Berlin' });
  return { ballast, tick };
}

/** The tick times (epoch ms) of a schedule's workflows, ascending. */
async function ticksOf(ballast: Ballast, schedule: string): Promise<number[]> {
  const rows = await ballast.workflows.list({ idPrefix: `sched:${schedule}:2`, limit: 10_000, order: 'asc' });
  return rows.map((row) => Date.parse(TICK_ID.exec(row.id)?.[2] ?? 'x')).sort((a, b) => a - b);
}

function assertConsecutiveSeconds(ticks: number[], what: string): void {
  for (let i = 1; i < ticks.length; i++) {
    assert.equal((ticks[i] as number) - (ticks[i - 1] as number), 1_000, `${what}: no tick missing or doubled at ${new Date(ticks[i] as number).toISOString()}`);
  }
}

async function waitForTicks(ballast: Ballast, schedule: string, count: number): Promise<number[]> {
  let ticks: number[] = [];
  await waitFor(`${count} ticks of ${schedule}`, async () => (ticks = await ticksOf(ballast, schedule)).length >= count, 15_000, 100);
  return ticks;
}

for (const backend of backends()) {
  describe(`schedules on ${backend}`, () => {
    let db: TestDatabase;
    let app: App;
    let launchedAt: number;
    const pause = { from: 0, to: 0, queuedAt: 0 };

    before(async () => {
      db = await openTestDatabase(backend);
      app = newApp(db);
      launchedAt = Date.now();
      await app.ballast.launch();
    });

    after(async () => {
      await app.ballast.shutdown({ drainMs: 1_000 });
      await db.close();
    });

    test('bad declarations are typed errors at the call, and nothing of them is written', async () => {
      const other = newBallast(db);
      const tick = other.workflow('tick', async () => 'x');
      const invalid = (error: unknown) => error instanceof InvalidScheduleError && error.code === 'INVALID_SCHEDULE';
      assert.throws(() => other.schedule('bad-cron', '0 25 * * *', tick), invalid);
      assert.throws(() => other.schedule('bad-cron', '0 25 * * *', tick), /Schedule "bad-cron": invalid cron expression "0 25 \* \* \*" \(Invalid value for hour: 25\)\. Use 5 fields/);
      assert.throws(() => other.schedule('bad-zone', '0 3 * * *', tick, { timezone: 'Europe/Atlantis' }), invalid);
      assert.throws(() => other.schedule('bad-zone', '0 3 * * *', tick, { timezone: 'Europe/Atlantis' }), /unknown time zone "Europe\/Atlantis"/);
      assert.throws(() => other.schedule('typo', '0 3 * * *', tick, { timeZone: 'UTC' } as never), ValidationError);
      assert.throws(() => other.schedule('flag', '0 3 * * *', tick, { backfill: 'yes' } as never), ValidationError);
      const stray = newBallast(db).workflow('stray', async () => 'x');
      assert.throws(() => other.schedule('no-workflow', '0 3 * * *', stray), UnknownWorkflowError, 'not registered on this instance');
      assert.throws(() => other.schedule('not-a-workflow', '0 3 * * *', (() => 'x') as never), ValidationError);
      assert.throws(() => other.schedule('', '0 3 * * *', tick), ValidationError);
      other.schedule('fine', '0 3 * * *', tick);
      assert.throws(() => other.schedule('fine', '0 4 * * *', tick), DuplicateRegistrationError);
      assert.throws(() => app.ballast.schedule('late', '0 3 * * *', app.tick), LifecycleError);
      const names = (await app.ballast.schedules.list()).map((schedule) => schedule.name);
      assert.deepEqual(names, ['every-second', 'nightly', 'queued', 'skipping'], 'only the launched instance wrote its schedules');
    });

    test('list and get show the stored schedules', async () => {
      const nightly = await app.ballast.schedules.get('nightly');
      assert.ok(nightly);
      assert.deepEqual(
        { ...nightly, nextRunAt: undefined, updatedAt: undefined },
        {
          name: 'nightly',
          cron: '0 3 * * *',
          timezone: 'Europe/Berlin',
          workflowName: 'tick',
          queue: null,
          paused: false,
          backfill: false,
          appName: 'test-app',
          appVersion: 'v1',
          declared: true,
          nextRunAt: undefined,
          lastTickAt: null,
          lastWorkflowId: null,
          updatedAt: undefined,
        },
      );
      const next = nightly.nextRunAt as Date;
      assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + 25 * 3_600_000);
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(next), '03:00');
      const queued = await app.ballast.schedules.get('queued');
      assert.equal(queued?.queue, 'jobs');
      assert.equal(await app.ballast.schedules.get('absent'), undefined);
    });

    test('every tick starts exactly one workflow, directly or through the queue, and each runs once', async () => {
      const direct = await waitForTicks(app.ballast, 'every-second', 3);
      const queued = await waitForTicks(app.ballast, 'queued', 3);
      for (const [name, ticks] of [['every-second', direct], ['queued', queued]] as const) {
        assertConsecutiveSeconds(ticks, name);
        assert.ok((ticks[0] as number) > launchedAt - 1_000, `${name}: no tick from before the first launch (nothing to backfill)`);
        for (const tick of ticks) {
          const id = `sched:${name}:${new Date(tick).toISOString()}`;
          const handle = app.ballast.handle<string>(id);
          assert.equal(await handle.result({ timeout: '10s' }), `${name}@${new Date(tick).toISOString()}`);
          assert.equal(runs.get(id), 1, `${id} ran once`);
          assert.equal((await handle.status()).queue, name === 'queued' ? 'jobs' : null);
        }
      }
      const info = await app.ballast.schedules.get('every-second');
      assert.ok(info?.lastTickAt && info.lastTickAt.getTime() >= (direct.at(-1) as number), 'the last tick is recorded');
      assert.match(info.lastWorkflowId ?? '', TICK_ID);
    });

    test('trigger starts exactly one run now, with its own ID, and leaves the tick record alone', async () => {
      const { workflowId } = await app.ballast.schedules.trigger('nightly');
      assert.match(workflowId, /^sched:nightly:manual:[0-9a-f-]{36}$/);
      assert.match(await app.ballast.result<string>(workflowId, { timeout: '10s' }), /^nightly@/);
      assert.equal(runs.get(workflowId), 1);
      assert.equal((await app.ballast.workflows.list({ idPrefix: 'sched:nightly:' })).length, 1);
      const nightly = await app.ballast.schedules.get('nightly');
      assert.equal(nightly?.lastTickAt, null);
      const queued = await app.ballast.schedules.trigger('queued');
      assert.equal((await app.ballast.workflows.get(queued.workflowId))?.queue, 'jobs');
      await app.ballast.result(queued.workflowId, { timeout: '10s' });
    });

    test('unknown schedules are UnknownScheduleError; bad names are ValidationError', async () => {
      for (const call of [
        () => app.ballast.schedules.pause('absent'),
        () => app.ballast.schedules.resume('absent'),
        () => app.ballast.schedules.trigger('absent'),
      ]) {
        await assert.rejects(call(), (error: unknown) => error instanceof UnknownScheduleError && error.code === 'UNKNOWN_SCHEDULE');
      }
      await assert.rejects(app.ballast.schedules.pause(''), ValidationError);
      await assert.rejects(app.ballast.schedules.get(42 as never), ValidationError);
    });

    test('a paused schedule does not fire; its ticks are never started, not even by backfill; resume fires again', async () => {
      const paused = await app.ballast.schedules.pause('every-second');
      const pausedAt = Date.now();
      pause.from = pausedAt;
      assert.equal(paused.paused, true);
      assert.equal(paused.nextRunAt, null);
      await sleep(2_200);
      const during = await ticksOf(app.ballast, 'every-second');
      // A pass that read the row before the pause may still start its tick: none after the pause.
      assert.ok((during.at(-1) as number) <= pausedAt, 'no tick after the pause');
      const resumedAt = Date.now();
      pause.to = resumedAt;
      assert.equal((await app.ballast.schedules.resume('every-second')).paused, false);
      await waitFor('a tick after the resume', async () => ((await ticksOf(app.ballast, 'every-second')).at(-1) as number) > resumedAt, 5_000, 50);
      const ticks = await ticksOf(app.ballast, 'every-second');
      assert.equal(ticks.filter((tick) => tick > pausedAt && tick <= resumedAt).length, 0, 'the ticks of the pause were skipped');
      assert.equal((await app.ballast.schedules.pause('nightly')).paused, true);
      pause.queuedAt = Date.now();
      assert.equal((await app.ballast.schedules.pause('queued')).paused, true);
    });

    test('re-launch: pauses survive, missed ticks are started with backfill and skipped without', async () => {
      const before = {
        direct: await ticksOf(app.ballast, 'every-second'),
        skipping: await ticksOf(app.ballast, 'skipping'),
      };
      await app.ballast.shutdown({ drainMs: 1_000 });
      const stoppedAt = Date.now();
      await sleep(2_500);
      app = newApp(db);
      const relaunchedAt = Date.now();
      await app.ballast.launch();

      // Backfill happens during launch: every missed tick is there when launch() returns.
      const direct = await ticksOf(app.ballast, 'every-second');
      const missed = direct.filter((tick) => tick > stoppedAt && tick <= relaunchedAt);
      assert.ok(missed.length >= 2, `the ticks of the downtime were backfilled: ${missed.length}`);
      const sinceResume = direct.filter((tick) => tick >= (before.direct.at(-1) as number));
      assertConsecutiveSeconds(sinceResume, 'every-second across the re-launch');
      assert.ok((sinceResume.at(-1) as number) >= relaunchedAt - 1_000, 'up to the launch');
      assert.equal(direct.filter((tick) => tick > pause.from && tick <= pause.to).length, 0, 'the backfill skipped the ticks of the pause');

      await waitForTicks(app.ballast, 'skipping', before.skipping.length + 1);
      const skipping = await ticksOf(app.ballast, 'skipping');
      assert.equal(skipping.filter((tick) => tick > stoppedAt + 1_000 && tick < relaunchedAt).length, 0, 'without backfill the downtime is skipped');

      assert.equal((await app.ballast.schedules.get('nightly'))?.paused, true, 'declaring again at launch did not resume it');
      assert.equal((await app.ballast.schedules.get('queued'))?.paused, true);
      await sleep(1_200);
      // As with every-second above, a pass that read the row just before the pause may start its tick.
      const queuedSincePause = (await ticksOf(app.ballast, 'queued')).filter((tick) => tick > pause.queuedAt);
      assert.deepEqual(queuedSincePause, [], 'a paused schedule did not fire, before or after the re-launch');
      for (const [id, count] of runs) assert.equal(count, 1, `${id} ran once`);
    });
  });
}

