import { optionalDuration } from '../durations.js';
import { ValidationError } from '../errors.js';
import { BACKOFF_OPTIONS } from './option-names.js';
import type { StepOptions } from './types.js';
import { requireOptions } from './validation.js';

const DEFAULT_BACKOFF = { initial: 100, factor: 2, max: 30_000 };

/** How a step (or a transaction) retries its function after a failure. */
export interface StepPolicy {
  retries: number;
  timeoutMs: number | undefined;
  initial: number;
  factor: number;
  max: number;
}

/** `kind` names the call in error messages: `ctx.step("charge"): …`. */
export function stepPolicy(kind: 'ctx.step' | 'ctx.transaction', name: string, options: StepOptions): StepPolicy {
  const retries = options.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new ValidationError(`${kind}("${name}"): retries must be a non-negative integer, got ${String(options.retries)}.`);
  }
  requireOptions(options.backoff, BACKOFF_OPTIONS, `${kind}("${name}") backoff`, "{ initial: '1s', factor: 2, max: '1m' }");
  const factor = options.backoff?.factor ?? DEFAULT_BACKOFF.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new ValidationError(`${kind}("${name}"): backoff.factor must be a number >= 1, got ${String(factor)}.`);
  }
  const timeoutMs = optionalDuration(options.timeout, `timeout of step "${name}"`);
  if (timeoutMs === 0) throw new ValidationError(`${kind}("${name}"): timeout must be greater than zero.`);
  return {
    retries,
    timeoutMs,
    factor,
    initial: optionalDuration(options.backoff?.initial, `backoff.initial of step "${name}"`) ?? DEFAULT_BACKOFF.initial,
    max: optionalDuration(options.backoff?.max, `backoff.max of step "${name}"`) ?? DEFAULT_BACKOFF.max,
  };
}

export function backoffDelay(policy: StepPolicy, attempt: number): number {
  const exact = Math.min(policy.max, policy.initial * policy.factor ** (attempt - 1));
  return exact * (0.8 + Math.random() * 0.4);
}
