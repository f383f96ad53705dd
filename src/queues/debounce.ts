import { parseDuration } from '../durations.js';
import type { DebounceOptions } from '../engine/types.js';
import { DEBOUNCE_OPTIONS } from '../engine/option-names.js';
import { requireName, requireOptions } from '../engine/validation.js';
import { ValidationError } from '../errors.js';

export type { DebounceOptions };

export interface DebounceTiming {
  delayMs: number;
  maxWaitMs: number | null;
}

/** Checks what only a debounce takes: its key, options object, delay and maxWait (the queue layer checks the rest). */
export function debounceTiming(workflowName: string, key: unknown, options: unknown): DebounceTiming {
  const what = `debounce of workflow "${workflowName}"`;
  requireName(key, `${what}: key`);
  requireOptions(options ?? null, DEBOUNCE_OPTIONS, what, "{ delay: '5s', queue: 'digests' }");
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
