import { Cron } from 'croner';
import { InvalidScheduleError } from '../errors.js';

const SECOND_MS = 1_000;

const CRON_EXAMPLES =
  'Use 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, ' +
  'for example "0 3 * * *" (03:00 every day), "*/15 * * * *" (every 15 minutes) or "*/10 * * * * *" (every 10 seconds).';

/**
 * A cron expression in a time zone, as croner reads it: 5 fields, or 6 with seconds first
 * (nicknames such as "@daily" too). Croner does the calendar and the DST arithmetic; this wrapper
 * only asks it for the next tick after a given instant, one plain Date at a time (its chained
 * enumeration, nextRuns/previousRuns, can step backwards across a spring-forward gap).
 */
export class CronSchedule {
  private readonly cron: Cron;

  private constructor(
    readonly expression: string,
    readonly timezone: string,
  ) {
    this.cron = new Cron(expression, { timezone, mode: '5-or-6-parts' });
  }

  /**
   * Parses and checks `expression` in `timezone`; throws InvalidScheduleError saying what is wrong.
   * Returns the canonical zone name with it (so "europe/berlin" is stored as "Europe/Berlin").
   */
  static parse(scheduleName: string, expression: unknown, timezone: unknown): CronSchedule {
    if (typeof expression !== 'string' || expression.trim() === '') {
      throw new InvalidScheduleError(scheduleName, `the cron expression must be a non-empty string, got ${typeof expression === 'string' ? '""' : typeof expression}. ${CRON_EXAMPLES}`);
    }
    const zone = canonicalTimezone(scheduleName, timezone);
    let schedule: CronSchedule;
    try {
      schedule = new CronSchedule(expression.trim(), zone);
    } catch (error) {
      throw new InvalidScheduleError(scheduleName, `invalid cron expression "${expression}" (${cronReason(error)}). ${CRON_EXAMPLES}`);
    }
    if (schedule.next(new Date()) === null) {
      throw new InvalidScheduleError(scheduleName, `the cron expression "${expression}" never fires (no such date). ${CRON_EXAMPLES}`);
    }
    return schedule;
  }

  /** The first tick strictly after `after`, or null if there is none. */
  next(after: Date): Date | null {
    return this.cron.nextRun(after);
  }

  /**
   * The ticks in (after, upTo], oldest first; when there are more than `max`, only the last `max`
   * of them, and `skippedSome` says that older ones were left out. Long gaps
   * (a per-second schedule after a week) are not walked tick by tick: the window that is walked
   * ends at `upTo` and grows fourfold until it holds `max` ticks or reaches `after`.
   */
  ticksBetween(after: Date, upTo: Date, max: number): { ticks: Date[]; skippedSome: boolean } {
    if (upTo.getTime() <= after.getTime() || max <= 0) return { ticks: [], skippedSome: false };
    const first = this.next(after);
    if (first === null || first.getTime() > upTo.getTime()) return { ticks: [], skippedSome: false };
    let window = Math.max(SECOND_MS, this.typicalGapMs(first)) * (max + 1);
    for (;;) {
      const from = Math.max(after.getTime(), upTo.getTime() - window);
      const ticks = this.walk(new Date(from), upTo, max);
      if (from === after.getTime()) return { ticks: ticks.last, skippedSome: ticks.dropped };
      if (ticks.last.length >= max) return { ticks: ticks.last, skippedSome: ticks.dropped || first.getTime() <= from };
      window *= 4;
    }
  }

  /** Every tick in (from, upTo], keeping the last `max`. */
  private walk(from: Date, upTo: Date, max: number): { last: Date[]; dropped: boolean } {
    const last: Date[] = [];
    let dropped = false;
    for (let tick = this.next(from); tick !== null && tick.getTime() <= upTo.getTime(); tick = this.next(tick)) {
      last.push(tick);
      if (last.length > max) {
        last.shift();
        dropped = true;
      }
    }
    return { last, dropped };
  }

  private typicalGapMs(tick: Date): number {
    const following = this.next(tick);
    return following === null ? SECOND_MS : following.getTime() - tick.getTime();
  }
}

/** The IANA zone name as the runtime spells it; InvalidScheduleError for a zone it does not know. */
function canonicalTimezone(scheduleName: string, timezone: unknown): string {
  if (typeof timezone !== 'string' || timezone.trim() === '') {
    throw new InvalidScheduleError(scheduleName, `timezone must be an IANA time zone name such as "Europe/Berlin" or "America/New_York" (default "UTC"), got ${JSON.stringify(timezone) ?? typeof timezone}.`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone.trim() }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidScheduleError(scheduleName, `unknown time zone "${timezone}". Use an IANA time zone name such as "Europe/Berlin", "America/New_York" or "UTC" (the default).`);
  }
}

function cronReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^CronPattern:\s*/, '');
}
