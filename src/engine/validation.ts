import { ValidationError } from '../errors.js';

const MAX_NAME_LENGTH = 1_000;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f]/;

/** Names and IDs travel in NOTIFY payloads and CLI tables: printable text only. */
export function requireName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(`${what} must be a non-empty string, got ${describe(value)}.`);
  }
  if (value.length > MAX_NAME_LENGTH) throw new ValidationError(`${what} is longer than ${MAX_NAME_LENGTH} characters.`);
  if (CONTROL_CHARACTERS.test(value)) throw new ValidationError(`${what} must not contain control characters (newline, tab, …).`);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return `${typeof value} ${String(value)}`;
}
