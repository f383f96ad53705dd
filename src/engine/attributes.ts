import { ValidationError } from '../errors.js';
import { describe } from './validation.js';

/** Small string key/values stored with a workflow, for finding it again (see docs/workflows.md#attributes). */
export type WorkflowAttributes = Record<string, string>;

export const MAX_ATTRIBUTES = 20;
export const MAX_ATTRIBUTE_KEY_LENGTH = 64;
export const MAX_ATTRIBUTE_VALUE_LENGTH = 256;
/** Keys are plain words, so `--attr key=value` and `?attr.key=value` parse without ambiguity. */
const ATTRIBUTE_KEY = /^[A-Za-z0-9_.-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f]/;

/**
 * The attributes of a start or enqueue, or of a list filter, checked; undefined when there are none
 * (a workflow without attributes stores nothing and enters no index).
 */
export function toAttributes(value: unknown, what: string): WorkflowAttributes | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new ValidationError(`${what}: attributes must be a plain object of strings such as { tenant: 'acme' }, got ${describe(value)}.`);
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ATTRIBUTES) {
    throw new ValidationError(`${what}: at most ${MAX_ATTRIBUTES} attributes, got ${entries.length}.`);
  }
  for (const [key, text] of entries) {
    if (key.length > MAX_ATTRIBUTE_KEY_LENGTH || !ATTRIBUTE_KEY.test(key)) {
      throw new ValidationError(
        `${what}: attribute key ${describe(key)} must be 1 to ${MAX_ATTRIBUTE_KEY_LENGTH} letters, digits, '_', '-' or '.'.`,
      );
    }
    if (typeof text !== 'string') {
      throw new ValidationError(`${what}: attribute "${key}" must be a string, got ${describe(text)}.`);
    }
    if (text.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      throw new ValidationError(`${what}: attribute "${key}" is longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters.`);
    }
    if (CONTROL_CHARACTERS.test(text)) throw new ValidationError(`${what}: attribute "${key}" must not contain control characters.`);
  }
  return entries.length === 0 ? undefined : { ...(value as WorkflowAttributes) };
}
