// Acceptance of schedules: real replica processes on one Postgres, three per-second schedules
// (started directly, enqueued, and directly with backfill). While replicas are replaced — stopped
// gracefully, one SIGKILLed, new ones started — every tick between the first and the last observed
// has exactly one workflow (the expected list is computed from the cron) and each ran once (read
// from the lines the workflow's step appends). With every replica down for a few seconds, a
// replica started again backfills exactly the missed ticks of the backfill schedule and skips
// those of the others.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { CronSchedule } from '../../src/schedule/cron.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitForSessionsToEnd } from '../support/sessions.js';
import { waitFor } from '../support/wait.js';
import { APP_NAME, EVERY_SECOND, SCHEDULES, parseRunLines, type RunLine } from './workers/schedule-app.js';

const WORKER = fileURLToPath(new URL('./workers/schedule-worker.ts', import.meta.url));
const TICK_ID = /^sched:([a-z-]+):(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/;

interface TickRow {
  id: string;
  schedule: string;
  tick: number;
  status: string;
}

/** Replica processes on a fresh database, and what the test reads back. */
class ScheduleFleet {
  private readonly children = new Map<string, ChildHandle>();
  private readonly admin: pg.Pool;

  private constructor(
    private readonly url: string,
    private readonly dir: string,
    private readonly closeDatabase: () => Promise<void>,
  ) {
    this.admin = new pg.Pool({ connectionString: url, max: 2, application_name: 'schedule-test-admin' });
    this.admin.on('error', () => undefined);
  }

  static async open(name: string): Promise<ScheduleFleet> {
    const db = await testDatabase(name);
    return new ScheduleFleet(db.url, mkdtempSync(join(tmpdir(), `ballast-${name}-`)), db.close);
  }

  get runsFile(): string {
    return join(this.dir, 'runs.log');
  }

  /** Starts a replica and waits until its launch (backfill included) is done. */
  async spawn(id: string): Promise<void> {
    const child = spawnNode(WORKER, { env: { FLEET_DATABASE_URL: this.url, BALLAST_EXECUTOR_ID: id, RUNS_FILE: this.runsFile } });
    this.children.set(id, child);
    await child.waitForLine((line) => line === `ready ${id}`, 60_000);
  }

  /** SIGTERM: a graceful shutdown that must exit cleanly. */
  async stop(id: string): Promise<void> {
    const child = this.child(id);
    child.kill('SIGTERM');
    const exit = await child.exited;
    if (exit.code !== 0) throw new Error(`replica ${id} did not stop cleanly (${JSON.stringify(exit)})\n${child.stderr()}`);
  }

  /** SIGKILL; resolves with the moment of the kill once the replica's sessions are gone. */
  async kill(id: string): Promise<number> {
    const child = this.child(id);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await child.exited;
    await waitForSessionsToEnd(this.url, `ballast:${APP_NAME}@${id}`.slice(0, 56));
    return killedAt;
  }

  /** Every workflow of the app: all must be tick workflows of the schedules. */
  async tickRows(): Promise<TickRow[]> {
    const { rows } = await this.admin.query<{ id: string; status: string; name: string }>(
      `SELECT id, status, name FROM ballast.workflows WHERE app_name = $1 ORDER BY id`,
      [APP_NAME],
    );
    return rows.map((row) => {
      const match = TICK_ID.exec(row.id);
      assert.ok(match && row.name === 'pulse', `only tick workflows exist: ${row.id} (${row.name})`);
      return { id: row.id, schedule: match[1] as string, tick: Date.parse(match[2] as string), status: row.status };
    });
  }

  runLines(): RunLine[] {
    return existsSync(this.runsFile) ? parseRunLines(readFileSync(this.runsFile, 'utf8')) : [];
  }

  /** Waits until every tick workflow up to `until` has finished. */
  async settle(until: number): Promise<void> {
    await waitFor(
      `every tick workflow up to ${new Date(until).toISOString()} finished`,
      async () => (await this.tickRows()).filter((row) => row.tick <= until).every((row) => row.status === 'SUCCESS'),
      20_000,
      100,
    );
  }

  stderrs(): string {
    return [...this.children].map(([id, child]) => `--- ${id} ---\n${child.stderr()}`).join('\n');
  }

  async close(): Promise<void> {
    for (const child of this.children.values()) child.kill('SIGKILL');
    await Promise.all([...this.children.values()].map((child) => child.exited));
    await this.admin.end();
    await this.closeDatabase();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private child(id: string): ChildHandle {
    const child = this.children.get(id);
    if (!child) throw new Error(`no replica ${id}`);
    return child;
  }
}

/** The ticks of one schedule, ascending. */
function ticksOf(rows: TickRow[], schedule: string): number[] {
  return rows.filter((row) => row.schedule === schedule).map((row) => row.tick).sort((a, b) => a - b);
}

/** What the cron says the ticks from `first` to `last` are. */
function expectedTicks(first: number, last: number): number[] {
  const cron = CronSchedule.parse('expected', EVERY_SECOND, 'UTC');
  return cron.ticksBetween(new Date(first - 1), new Date(last), 100_000).ticks.map((tick) => tick.getTime());
}

const iso = (ticks: number[]) => ticks.map((tick) => new Date(tick).toISOString());

/**
 * Each workflow's step ran once — or twice when its first run was on the SIGKILLed replica, cut
 * short before its checkpoint committed (steps run at least once).
 */
function assertRanOnce(lines: RunLine[], ids: string[], killed?: { id: string; at: number }): void {
  const byId = new Map<string, RunLine[]>();
  for (const line of lines) byId.set(line.workflowId, [...(byId.get(line.workflowId) ?? []), line]);
  for (const id of ids) {
    const runs = byId.get(id) ?? [];
    assert.ok(runs.length >= 1, `${id} ran`);
    if (runs.length === 1) continue;
    assert.equal(runs.length, 2, `${id} ran at most twice: ${JSON.stringify(runs)}`);
    assert.ok(killed && runs[0]?.executor === killed.id && (runs[0]?.at ?? Infinity) <= killed.at, `${id} ran twice only across the kill: ${JSON.stringify(runs)}`);
  }
}

describe('schedules across a fleet of replica processes', () => {
  test('replicas replaced under a per-second schedule: exactly one workflow per tick, none missing, each ran once', async () => {
    const fleet = await ScheduleFleet.open('sched_fleet');
    try {
      await Promise.all(['r1', 'r2', 'r3'].map((id) => fleet.spawn(id)));
      const allUpAt = Date.now();
      await sleep(2_000);
      await Promise.all([fleet.stop('r1'), fleet.spawn('r4')]);
      await sleep(1_500);
      const killedAt = await fleet.kill('r2');
      await fleet.spawn('r5');
      await sleep(1_500);
      await Promise.all([fleet.stop('r3'), fleet.spawn('r6')]);
      await sleep(1_500);
      await Promise.all([fleet.stop('r4'), fleet.spawn('r7')]);
      await sleep(2_000);
      const settledUpTo = Date.now();
      await fleet.settle(settledUpTo);
      await Promise.all(['r5', 'r6', 'r7'].map((id) => fleet.stop(id)));

      const rows = await fleet.tickRows();
      for (const schedule of SCHEDULES) {
        const ticks = ticksOf(rows, schedule);
        const first = ticks[0] as number;
        const last = ticks.at(-1) as number;
        assert.ok(first <= allUpAt + 1_000, `${schedule}: fired from the start (${new Date(first).toISOString()})`);
        assert.ok(last - first >= 9_000, `${schedule}: observed for ${last - first} ms`);
        assert.deepEqual(iso(ticks), iso(expectedTicks(first, last)), `${schedule}: one workflow for every tick, none missing`);
      }
      const settled = rows.filter((row) => row.tick <= settledUpTo);
      assert.ok(settled.every((row) => row.status === 'SUCCESS'));
      assertRanOnce(fleet.runLines(), settled.map((row) => row.id), { id: 'r2', at: killedAt });
    } catch (error) {
      console.error(fleet.stderrs());
      throw error;
    } finally {
      await fleet.close();
    }
  });

  test('all replicas down for a few seconds: the backfill schedule starts exactly the missed ticks, the others skip them', async () => {
    const fleet = await ScheduleFleet.open('sched_backfill');
    try {
      await Promise.all(['b1', 'b2'].map((id) => fleet.spawn(id)));
      await sleep(2_500);
      await Promise.all([fleet.stop('b1'), fleet.stop('b2')]);
      const stoppedAt = Date.now();
      const before = await fleet.tickRows();
      await sleep(3_000);
      const restartedAt = Date.now();
      await fleet.spawn('b3');
      const afterLaunch = await fleet.tickRows();
      await sleep(2_000);
      const settledUpTo = Date.now();
      await fleet.settle(settledUpTo);
      await fleet.stop('b3');
      const rows = await fleet.tickRows();

      // With backfill: the ticks of the downtime were all started, during b3's launch, and the
      // whole history is every tick from the first to the last, each once.
      const catchUp = ticksOf(rows, 'catch-up');
      const lastBefore = ticksOf(before, 'catch-up').at(-1) as number;
      const missed = expectedTicks(lastBefore + 1_000, restartedAt);
      assert.ok(missed.length >= 3, `${missed.length} ticks were missed`);
      const startedByLaunch = ticksOf(afterLaunch, 'catch-up');
      for (const tick of missed) assert.ok(startedByLaunch.includes(tick), `missed tick ${new Date(tick).toISOString()} was started at launch`);
      assert.deepEqual(iso(catchUp), iso(expectedTicks(catchUp[0] as number, catchUp.at(-1) as number)), 'catch-up: every tick, none twice');

      // Without: nothing between the last tick before the stop and the replica's launch.
      for (const schedule of ['direct', 'queued'] as const) {
        const ticks = ticksOf(rows, schedule);
        const skipped = ticks.filter((tick) => tick > stoppedAt && tick <= restartedAt);
        assert.deepEqual(iso(skipped), [], `${schedule}: the downtime was skipped`);
        const beforeStop = ticks.filter((tick) => tick <= stoppedAt);
        const afterStart = ticks.filter((tick) => tick > restartedAt);
        assert.deepEqual(iso(beforeStop), iso(expectedTicks(beforeStop[0] as number, beforeStop.at(-1) as number)), `${schedule}: every tick before the stop`);
        assert.deepEqual(iso(afterStart), iso(expectedTicks(afterStart[0] as number, afterStart.at(-1) as number)), `${schedule}: every tick after the start`);
        assert.ok(afterStart.length >= 2);
      }
      const settled = rows.filter((row) => row.tick <= settledUpTo);
      assert.ok(settled.every((row) => row.status === 'SUCCESS'));
      assertRanOnce(fleet.runLines(), settled.map((row) => row.id));
    } catch (error) {
      console.error(fleet.stderrs());
      throw error;
    } finally {
      await fleet.close();
    }
  });
});
