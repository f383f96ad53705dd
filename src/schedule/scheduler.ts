import { systemClock, type Clock } from '../clock.js';
import { StopSwitch } from '../engine/waiters.js';
import { UnknownQueueError } from '../errors.js';
import type { ScheduleDefinition, ScheduleRow, SystemStore } from '../store/system-store.js';
import {
  MAX_CATCH_UP_TICKS,
  sameDefinition,
  startRun,
  tickWorkflowId,
  toDefinition,
  type ScheduleDeclaration,
  type WorkflowLauncher,
} from './declaration.js';

/** Replicas wake up to this long after a tick, at random: the first to wake fires it, the others see it fired. */
const MAX_JITTER_MS = 100;
const MAX_RETRY_DELAY_MS = 5_000;

export interface SchedulerOptions {
  appName: string;
  appVersion: string;
  launcher: WorkflowLauncher;
  logger: { info(message: string): void; warn(message: string): void };
  /** Default: the system clock. */
  clock?: Clock;
}

interface ScheduleState {
  declaration: ScheduleDeclaration;
  definition: ScheduleDefinition;
  /** Ticks up to this instant have been dealt with by this replica (fired, or skipped as not ours). */
  cursor: Date;
  /** Whether this replica fired the schedule at its last pass. */
  firing: boolean;
}

/**
 * The scheduler loop every replica runs. It sleeps until the next tick of any schedule it declares
 * (plus a small jitter), reads the schedule rows, and fires each due tick of the schedules its
 * version owns and nobody paused: it starts the tick's workflow under an ID derived from schedule
 * and tick, through the instance's own start or enqueue. Every replica does this for every tick,
 * so one replica down loses nothing, and the ID makes the racers' starts one start. After a start
 * it records the tick in the row, forward only; a replica that finds the tick recorded skips it.
 *
 * A replica that falls behind (a blocked event loop, a database outage) catches up on the ticks
 * since its last pass, at most the last MAX_CATCH_UP_TICKS. Ticks from before it launched are
 * another matter: they are started only with `backfill`, once, when the replica starts firing the
 * schedule (at launch, on a resume, or when its version takes the schedule over).
 */
export class Scheduler {
  private readonly stopping: StopSwitch;
  private readonly clock: Clock;
  private readonly states: ScheduleState[];
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: SystemStore,
    declarations: ScheduleDeclaration[],
    private readonly options: SchedulerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.stopping = new StopSwitch(this.clock);
    const launchedAt = new Date(this.clock.now());
    this.states = declarations.map((declaration) => ({ declaration, definition: toDefinition(declaration), cursor: launchedAt, firing: false }));
  }

  /**
   * Writes the declared schedules (and retires those a newer version dropped), then runs a first
   * pass — the backfill — before returning, and starts the loop.
   */
  async start(): Promise<void> {
    await this.checkQueues();
    const { appName, appVersion, logger } = this.options;
    const { retired } = await this.store.declareSchedules(appName, appVersion, this.states.map((state) => state.definition));
    if (retired.length > 0) logger.info(`schedules no longer declared by version ${appVersion}, kept but not fired: ${retired.join(', ')}`);
    if (this.states.length === 0) return;
    try {
      await this.pass();
    } catch (error) {
      logger.warn(`schedules: the first pass failed, retrying: ${(error as Error).message}`);
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.stop();
    await this.loop;
  }

  /** A schedule's queue must exist when it is declared, not fail at every tick. */
  private async checkQueues(): Promise<void> {
    const wanted = [...new Set(this.states.flatMap((state) => (state.declaration.queue === null ? [] : [state.declaration.queue])))];
    if (wanted.length === 0) return;
    const known = new Set((await this.store.readQueues(wanted)).map((queue) => queue.name));
    for (const name of wanted) if (!known.has(name)) throw new UnknownQueueError(name);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.isStopped) {
      const due = this.nextDue();
      // The clock's timers re-read the wall clock at least once a minute, so a clock that is set
      // while the scheduler sleeps is noticed.
      await this.stopping.sleepUntil(due + Math.random() * MAX_JITTER_MS);
      if (this.stopping.isStopped) break;
      if (this.clock.now() < due) continue;
      try {
        await this.pass();
        failures = 0;
      } catch (error) {
        if (this.stopping.isStopped) break;
        failures++;
        this.options.logger.warn(`schedules: firing failed, retrying: ${(error as Error).message}`);
        await this.stopping.sleep(Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** When the earliest next tick of any schedule falls (Infinity if none will). */
  private nextDue(): number {
    let due = Infinity;
    for (const state of this.states) {
      const next = state.declaration.cron.next(state.cursor);
      if (next !== null) due = Math.min(due, next.getTime());
    }
    return due;
  }

  /** One look at the rows, and every due tick fired. */
  private async pass(): Promise<void> {
    const now = new Date(this.clock.now());
    const { appName, appVersion, logger } = this.options;
    let rows = await this.readRows();
    // Rows nobody alive fires: their version has no live executor, or a process of our own version
    // that does not declare them retired them.
    const claimable = this.states.filter((state) => {
      const row = rows.get(state.declaration.name);
      if (row === undefined) return true;
      return row.appVersion === appVersion ? !row.declared : !row.ownerAlive;
    });
    if (claimable.length > 0) {
      const taken = await this.store.claimSchedules(appName, appVersion, claimable.map((state) => state.definition));
      if (taken.length > 0) {
        logger.info(`schedules taken over by version ${appVersion}, which declares them: ${taken.join(', ')}`);
        rows = await this.readRows();
      }
    }
    for (const state of this.states) {
      if (this.stopping.isStopped) return;
      await this.fireDue(state, rows.get(state.declaration.name), now);
    }
  }

  private async readRows(): Promise<Map<string, ScheduleRow>> {
    const rows = await this.store.readSchedules(this.options.appName);
    return new Map(rows.map((row) => [row.name, row]));
  }

  private async fireDue(state: ScheduleState, row: ScheduleRow | undefined, now: Date): Promise<void> {
    const { declaration } = state;
    const firing =
      row !== undefined && row.appVersion === this.options.appVersion && row.declared && !row.paused && sameDefinition(row, state.definition);
    if (firing) {
      const from = state.firing ? state.cursor : this.firstTickAfter(state, row);
      const { ticks, skippedSome } = declaration.cron.ticksBetween(from, now, MAX_CATCH_UP_TICKS);
      if (skippedSome) {
        this.options.logger.warn(
          `schedule "${declaration.name}": more than ${MAX_CATCH_UP_TICKS} ticks were due since ${from.toISOString()}; only the last ${MAX_CATCH_UP_TICKS} are started`,
        );
      }
      let last: { tickAt: number; workflowId: string } | undefined;
      for (const tick of ticks) {
        if (this.stopping.isStopped) break;
        if (row.lastTickAt === tick.getTime()) continue; // another replica started it and recorded it
        const workflowId = tickWorkflowId(declaration.name, tick);
        try {
          await startRun(this.options.launcher, declaration, { schedule: declaration.name, scheduledAt: tick }, workflowId);
          last = { tickAt: tick.getTime(), workflowId };
        } catch (error) {
          this.options.logger.warn(`schedule "${declaration.name}": could not start workflow ${workflowId}: ${(error as Error).message}`);
        }
      }
      if (last) await this.store.recordScheduleTick(this.options.appName, declaration.name, last.tickAt, last.workflowId);
    }
    state.cursor = now;
    state.firing = firing;
  }

  /**
   * Where a replica that starts firing a schedule begins: with backfill, after the last tick
   * recorded (else the row's creation); without, after its own cursor. Never at a tick that fell
   * while the schedule was paused.
   */
  private firstTickAfter(state: ScheduleState, row: ScheduleRow): Date {
    const start = state.declaration.backfill ? (row.lastTickAt ?? row.createdAt) : state.cursor.getTime();
    return new Date(Math.max(start, row.resumedAt ?? -Infinity));
  }
}
