import { parseDuration } from '../durations.js';
import type { DebounceOptions } from '../engine/types.js';
import { describe, requireName } from '../engine/validation.js';
import { ValidationError } from '../errors.js';

export type { DebounceOptions };

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['queue', 'delay', 'maxWait', 'priority', 'partitionKey', 'timeout', 'attributes']);

export interface DebounceTiming {
  delayMs: number;
  maxWaitMs: number | null;
}

/** Checks what only a debounce takes: its key, options object, delay and maxWait (the queue layer checks the rest). */
export function debounceTiming(workflowName: string, key: unknown, options: unknown): DebounceTiming {
  const what = `debounce of workflow "${workflowName}"`;
  requireName(key, `${what}: key`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError(`${what}: options must be an object such as { delay: '5s', queue: 'digests' }, got ${describe(options)}.`);
  }
  const unknown = Object.keys(options).filter((option) => !KNOWN_OPTIONS.has(option));
  if (unknown.length > 0) {
    throw new ValidationError(`${what}: unknown option${unknown.length === 1 ? '' : 's'} ${unknown.map((o) => `"${o}"`).join(', ')}; known: ${[...KNOWN_OPTIONS].join(', ')}.`);
  }
  const { delay, maxWait } = options as DebounceOptions;
  if (delay === undefined) throw new ValidationError(`${what}: delay is required: how long the key must stay quiet before the workflow starts.`);
  const delayMs = parseDuration(delay, `${what} delay`);
  if (delayMs <= 0) throw new ValidationError(`${what}: delay must be longer than zero.`);
  if (maxWait === undefined) return { delayMs, maxWaitMs: null };
  const maxWaitMs = parseDuration(maxWait, `${what} maxWait`);
  if (maxWaitMs < delayMs) {
    throw new ValidationError(`${what}: maxWait (${maxWaitMs} ms) must not be shorter than delay (${delayMs} ms): the first quiet period would already pass it.`);
  }
  return { delayMs, maxWaitMs };
}
