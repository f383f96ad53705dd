/**
 * Durations in the public API: a number of milliseconds, or a string with a unit
 * ('500ms', '10s', '5m', '1h', '1d', '1.5s', '2 h').
 */
import { ValidationError } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Amount, optional spaces, unit. The whole string, after trimming, must match. */
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)$/;

const ACCEPTED =
  "Use a non-negative number of milliseconds or a string with a unit: ms, s, m, h or d (for example '500ms', '10s', '1.5s', '5m', '2 h', '1d').";

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  return `a value of type ${typeof value}`;
}

function invalid(value: unknown, what: string): ValidationError {
  return new ValidationError(`Invalid ${what}: ${describe(value)}. ${ACCEPTED}`);
}

/**
 * Milliseconds for `value`. Numbers are milliseconds and are returned as given; strings are rounded
 * to whole milliseconds. `what` names the option in the error message ("timeout", "sleep duration").
 */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value === 0 ? 0 : value;
    throw invalid(value, what);
  }
  if (typeof value !== 'string') throw invalid(value, what);
  const match = DURATION.exec(value.trim());
  if (match === null) throw invalid(value, what);
  const amount = Number(match[1]);
  const ms = Math.round(amount * (UNIT_MS[match[2] as string] as number));
  if (!Number.isFinite(ms)) throw invalid(value, what);
  return ms;
}

/** `parseDuration` for an option that may be left out. */
export function optionalDuration(value: number | string | undefined, what: string): number | undefined {
  return value === undefined ? undefined : parseDuration(value, what);
}
