import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../engine/types.js';
import { describe, optionNames, requireName, requireOptions } from '../engine/validation.js';
import { DuplicateRegistrationError, UnknownWorkflowError, ValidationError } from '../errors.js';
import type { ScheduleDefinition } from '../store/system-store.js';
import { CronSchedule } from './cron.js';

/** The input of a workflow started by a schedule. */
export interface ScheduledRun {
  schedule: string;
  /** The tick this run is for (for trigger(), the moment it was triggered). */
  scheduledAt: Date;
}

export interface ScheduleOptions {
  /** IANA time zone the cron expression is read in. Default 'UTC'. */
  timezone?: string;
  /** Enqueue each tick on this queue (handle or name). Default: start it directly on the replica that fires it. */
  queue?: { readonly name: string } | string;
  /**
   * At launch, start the ticks missed while no replica fired the schedule (at most the last
   * MAX_CATCH_UP_TICKS). Default false: missed ticks are skipped.
   */
  backfill?: boolean;
}

/** A schedule as one Ballast instance declares it. */
export interface ScheduleDeclaration {
  name: string;
  cron: CronSchedule;
  /** A workflow registered on the declaring instance: its runs start there, by name. */
  workflowName: string;
  queue: string | null;
  backfill: boolean;
}

/** What firing needs of a Ballast instance: its own start and enqueue of a workflow it registered. */
export interface WorkflowLauncher {
  start(workflowName: string, input: ScheduledRun, options: { id: string }): Promise<unknown>;
  enqueue(workflowName: string, input: ScheduledRun, options: { queue: string; id: string }): Promise<unknown>;
}

/** Most ticks started at once when catching up (a backfill, or a replica that fell behind): the most recent ones. */
export const MAX_CATCH_UP_TICKS = 100;

const OPTION_NAMES = optionNames<ScheduleOptions>({ timezone: true, queue: true, backfill: true });

/** The workflow ID of a tick: the same on every replica, so that racing for it starts it once. */
export function tickWorkflowId(schedule: string, tick: Date): string {
  return `sched:${schedule}:${tick.toISOString()}`;
}

/** The workflow ID of a run started by hand (trigger): new each time. */
export function manualWorkflowId(schedule: string): string {
  return `sched:${schedule}:manual:${randomUUID()}`;
}

export function toDefinition(declaration: ScheduleDeclaration): ScheduleDefinition {
  return {
    name: declaration.name,
    cron: declaration.cron.expression,
    timezone: declaration.cron.timezone,
    workflowName: declaration.workflowName,
    queue: declaration.queue,
    backfill: declaration.backfill,
  };
}

/** Whether a stored definition is the one declared here (the same cron, zone, workflow and queue). */
export function sameDefinition(stored: ScheduleDefinition, declared: ScheduleDefinition): boolean {
  return (
    stored.cron === declared.cron &&
    stored.timezone === declared.timezone &&
    stored.workflowName === declared.workflowName &&
    stored.queue === declared.queue
  );
}

/** The schedules one Ballast instance declares. */
export class ScheduleRegistry {
  private readonly declared = new Map<string, ScheduleDeclaration>();

  /**
   * Validates and records a declaration. `isRegistered` tells whether this instance registered a
   * workflow of that name: a schedule starts the instance's own workflow of that name.
   */
  declare(
    name: string,
    cron: string,
    workflow: WorkflowDefinition<ScheduledRun, unknown>,
    options: ScheduleOptions | undefined,
    isRegistered: (workflowName: string) => boolean,
  ): ScheduleDeclaration {
    requireName(name, 'schedule name');
    requireOptions(options, OPTION_NAMES, `schedule "${name}"`, '{ timezone: "Europe/Berlin" }');
    const parsed = CronSchedule.parse(name, cron, options?.timezone ?? 'UTC');
    const workflowName = (workflow as { name?: unknown } | undefined)?.name;
    if (typeof workflowName !== 'string' || typeof workflow?.start !== 'function') {
      throw new ValidationError(`schedule "${name}": workflow must be a workflow registered with ballast.workflow(name, fn), got ${describe(workflow)}.`);
    }
    if (!isRegistered(workflowName)) throw new UnknownWorkflowError(workflowName, ` on this Ballast instance (schedule "${name}" starts it here)`);
    const backfill = options?.backfill ?? false;
    if (typeof backfill !== 'boolean') throw new ValidationError(`schedule "${name}": backfill must be true or false, got ${describe(backfill)}.`);
    const declaration: ScheduleDeclaration = { name, cron: parsed, workflowName, queue: queueOption(name, options?.queue), backfill };
    if (this.declared.has(name)) throw new DuplicateRegistrationError('schedule', name);
    this.declared.set(name, declaration);
    return declaration;
  }

  get(name: string): ScheduleDeclaration | undefined {
    return this.declared.get(name);
  }

  all(): ScheduleDeclaration[] {
    return [...this.declared.values()];
  }
}

function queueOption(schedule: string, queue: unknown): string | null {
  if (queue === undefined || queue === null) return null;
  const name = typeof queue === 'string' ? queue : (queue as { name?: unknown }).name;
  if (typeof name !== 'string') {
    throw new ValidationError(`schedule "${schedule}": queue must be a queue (from ballast.queue) or a queue name, got ${describe(queue)}.`);
  }
  requireName(name, `schedule "${schedule}" queue name`);
  return name;
}

/** Starts one run of a declared schedule through the instance's own workflow: enqueued on its queue, or started here. */
export async function startRun(launcher: WorkflowLauncher, declaration: ScheduleDeclaration, input: ScheduledRun, id: string): Promise<void> {
  if (declaration.queue !== null) await launcher.enqueue(declaration.workflowName, input, { queue: declaration.queue, id });
  else await launcher.start(declaration.workflowName, input, { id });
}
