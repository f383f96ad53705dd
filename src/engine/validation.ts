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

/**
 * The option names of an options type, for requireOptions. Written as an object with every key of
 * the type, so that the compiler refuses a list that misses an option or names one the type lacks.
 */
export function optionNames<T extends object>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/**
 * The options object of a public entry point: absent, or a plain object whose every key is one of
 * `known`. A misspelt or unsupported option is refused rather than ignored, and the message names
 * the options there are.
 */
export function requireOptions(value: unknown, known: readonly string[], what: string, example: string): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(`${what}: options must be an object such as ${example}, got ${describe(value)}.`);
  }
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const names = unknown.map((key) => JSON.stringify(key)).join(', ');
  const valid = known.length === 0 ? 'it takes no options' : `the options are ${known.join(', ')}`;
  throw new ValidationError(`${what}: unknown option${unknown.length === 1 ? '' : 's'} ${names}; ${valid}.`);
}
