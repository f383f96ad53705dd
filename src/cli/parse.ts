import { InvalidArgumentError } from 'commander';

/**
 * Option-argument parsers for commander. They turn text into the types the library's filters take
 * and reject only what the text itself gets wrong (not a number, not a date); ranges and allowed
 * values are the library's to check, so the CLI and the API refuse the same things in the same words.
 */

/** A repeatable, comma-separated list: `--status A,B`, `--status A --status B` and `--status A B`. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((part) => part.trim())];
}

/** A repeatable `key=value` (the value may contain `=`); the library checks keys and values. */
export function collectAttribute(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected key=value, such as tenant=acme.');
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** A whole number (sign allowed: the library says what range it accepts). */
export function parseInteger(value: string): number {
  if (!/^[-+]?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

// 2024-05-01, 2024-05-01T12:30, 2024-05-01 12:30:15.250+02:00, 2024-05-01T12:30:15Z
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A point in time as epoch milliseconds: an ISO 8601 date or date-time, or a whole number of
 * epoch milliseconds. As in JavaScript, a date alone is midnight UTC and a date-time without `Z`
 * or an offset is local time.
 */
export function parseTime(value: string): number {
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) : ISO_8601.test(text) ? Date.parse(text.replace(' ', 'T')) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidArgumentError('use an ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:00:00Z) or epoch milliseconds.');
  }
  return ms;
}

/** A step index: a whole number from 0 (a negative one is no index at all). */
export function parseStepIndex(value: string): number {
  if (!/^\+?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a step index: a whole number from 0 (see `ballast workflows steps`).');
  return Number(value);
}

/**
 * A rate limit as `LIMIT/PERIOD`: `100/1m`, `5/10s`, `20/1500ms`; a bare unit is one of it (`100/s`)
 * and a bare number is milliseconds. The period string goes to the library as written.
 */
export function parseRateLimit(value: string): { limit: number; period: string | number } {
  const match = /^\s*([-+]?\d+)\s*\/\s*(\S+)\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected LIMIT/PERIOD, such as 100/1m (at most 100 starts per minute) or 5/10s.');
  const [, limit = '', period = ''] = match;
  return { limit: Number(limit), period: /^\d+$/.test(period) ? Number(period) : /^(ms|s|m|h|d)$/.test(period) ? `1${period}` : period };
}
