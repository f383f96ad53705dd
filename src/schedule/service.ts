import { systemClock, type Clock } from '../clock.js';
import { serialize } from '../codec.js';
import { requireName } from '../engine/validation.js';
import { UnknownScheduleError } from '../errors.js';
import type { ScheduleRow, SystemStore } from '../store/system-store.js';
import { CronSchedule } from './cron.js';
import {
  manualWorkflowId,
  sameDefinition,
  startRun,
  toDefinition,
  type ScheduledRun,
  type ScheduleDeclaration,
  type WorkflowLauncher,
} from './declaration.js';

/** A schedule as `schedules.list()` shows it. */
export interface ScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  workflowName: string;
  queue: string | null;
  paused: boolean;
  backfill: boolean;
  appName: string;
  /** The version whose executors fire it (see docs/schedules.md). */
  appVersion: string;
  /** False once a newer version launched without declaring it: kept (paused flag, last tick), never fired. */
  declared: boolean;
  /** The next tick, or null while paused or not declared. */
  nextRunAt: Date | null;
  lastTickAt: Date | null;
  /** The workflow of the last tick started (not of trigger()). */
  lastWorkflowId: string | null;
  updatedAt: Date;
}

/** `ballast.schedules` and `client.schedules`: the same operations the CLI and the admin API offer. */
export interface SchedulesApi {
  list(): Promise<ScheduleInfo[]>;
  /** The schedule, or undefined when the application has none of that name. */
  get(name: string): Promise<ScheduleInfo | undefined>;
  /** Stops firing, fleet-wide, until resume(); survives deploys. Ticks of the pause are never started, not even by backfill. */
  pause(name: string): Promise<ScheduleInfo>;
  resume(name: string): Promise<ScheduleInfo>;
  /**
   * Starts one run now, paused or not, with its own ID (`sched:<name>:manual:<uuid>`): enqueued
   * if the schedule has a queue, else started by an executor of the schedule's version (here, if
   * this is one; otherwise adopted by one).
   */
  trigger(name: string): Promise<{ workflowId: string }>;
}

/** How a trigger reaches the executors of the schedule's version. */
export interface TriggerPaths {
  /** Enqueues a workflow by name for a version (the queue layer's enqueue). */
  enqueue(workflowName: string, input: ScheduledRun, options: { queue: string; id: string }, appVersion: string): Promise<unknown>;
  /** In a Ballast instance: its version and its declarations, so that a trigger it can run starts here. */
  local?: { appVersion: string; launcher: WorkflowLauncher; declaration(name: string): ScheduleDeclaration | undefined };
}

/** The schedules of one application, as the `schedules` table holds them. */
export class ScheduleService implements SchedulesApi {
  constructor(
    private readonly store: SystemStore,
    private readonly appName: string,
    private readonly paths: TriggerPaths,
    private readonly clock: Clock = systemClock,
  ) {}

  async list(): Promise<ScheduleInfo[]> {
    return (await this.store.readSchedules(this.appName)).map((row) => toScheduleInfo(row, this.clock.now()));
  }

  async get(name: string): Promise<ScheduleInfo | undefined> {
    requireName(name, 'schedule name');
    const [row] = await this.store.readSchedules(this.appName, name);
    return row === undefined ? undefined : toScheduleInfo(row, this.clock.now());
  }

  pause(name: string): Promise<ScheduleInfo> {
    return this.setPaused(name, true);
  }

  resume(name: string): Promise<ScheduleInfo> {
    return this.setPaused(name, false);
  }

  async trigger(name: string): Promise<{ workflowId: string }> {
    const row = await this.require(name);
    if (!row.declared) {
      throw new UnknownScheduleError(
        this.appName,
        name,
        `Schedule "${name}" of application "${this.appName}" is no longer declared by the deployed version (${row.appVersion}), ` +
          'so nothing would run it. Declare it again with ballast.schedule() to trigger it.',
      );
    }
    const workflowId = manualWorkflowId(name);
    const input: ScheduledRun = { schedule: name, scheduledAt: new Date(this.clock.now()) };
    const local = this.paths.local;
    const declaration = local?.appVersion === row.appVersion ? local.declaration(name) : undefined;
    if (local && declaration && sameDefinition(row, toDefinition(declaration))) {
      await startRun(local.launcher, declaration, input, workflowId);
    } else if (row.queue !== null) {
      await this.paths.enqueue(row.workflowName, input, { queue: row.queue, id: workflowId }, row.appVersion);
    } else {
      await this.store.insertOrphanWorkflow({
        id: workflowId,
        name: row.workflowName,
        appName: this.appName,
        appVersion: row.appVersion,
        input: serialize(input, `input of workflow "${row.workflowName}"`),
        createdAt: this.clock.now(),
      });
    }
    return { workflowId };
  }

  private async setPaused(name: string, paused: boolean): Promise<ScheduleInfo> {
    requireName(name, 'schedule name');
    if (!(await this.store.setSchedulePaused(this.appName, name, paused))) throw new UnknownScheduleError(this.appName, name);
    return toScheduleInfo(await this.require(name), this.clock.now());
  }

  private async require(name: string): Promise<ScheduleRow> {
    requireName(name, 'schedule name');
    const [row] = await this.store.readSchedules(this.appName, name);
    if (row === undefined) throw new UnknownScheduleError(this.appName, name);
    return row;
  }
}

function toScheduleInfo(row: ScheduleRow, now: number): ScheduleInfo {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    workflowName: row.workflowName,
    queue: row.queue,
    paused: row.paused,
    backfill: row.backfill,
    appName: row.appName,
    appVersion: row.appVersion,
    declared: row.declared,
    nextRunAt: row.paused || !row.declared ? null : nextTick(row, now),
    lastTickAt: row.lastTickAt === null ? null : new Date(row.lastTickAt),
    lastWorkflowId: row.lastWorkflowId,
    updatedAt: new Date(row.updatedAt),
  };
}

function nextTick(row: ScheduleRow, now: number): Date | null {
  try {
    return CronSchedule.parse(row.name, row.cron, row.timezone).next(new Date(now));
  } catch {
    return null; // written by a version whose cron syntax this one does not read
  }
}
