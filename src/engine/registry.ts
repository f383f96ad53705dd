import { createHash } from 'node:crypto';
import { DuplicateRegistrationError, ValidationError } from '../errors.js';
import { optionalDuration } from '../durations.js';
import type { Duration, WorkflowFunction } from './types.js';
import { optionNames, requireName, requireOptions } from './validation.js';

export interface Registration {
  name: string;
  fn: WorkflowFunction<unknown, unknown>;
  /** This workflow's parkAfter (null: never park); undefined: the instance's. */
  parkAfterMs?: number | null;
}

/** Options of one workflow (ballast.workflow's third argument). */
export interface WorkflowOptions {
  /** Overrides the instance's parkAfter for this workflow (false: never park it). */
  parkAfter?: Duration | false;
}

const WORKFLOW_OPTIONS = optionNames<WorkflowOptions>({ parkAfter: true });

/** The workflows one Ballast instance can run, by name. */
export class WorkflowRegistry {
  private readonly byName = new Map<string, Registration>();

  register<Input, Output>(name: string, fn: WorkflowFunction<Input, Output>, options: WorkflowOptions = {}): Registration {
    requireName(name, 'workflow name');
    if (typeof fn !== 'function') throw new ValidationError(`ballast.workflow("${name}", fn): fn must be an async function (ctx, input) => output.`);
    requireOptions(options, WORKFLOW_OPTIONS, `ballast.workflow("${name}", fn, options)`, "{ parkAfter: '5m' }");
    if (this.byName.has(name)) throw new DuplicateRegistrationError('workflow', name);
    const registration: Registration = { name, fn: fn as WorkflowFunction<unknown, unknown> };
    const parkAfter = parkAfterMs(options.parkAfter, `parkAfter of workflow "${name}"`);
    if (parkAfter !== undefined) registration.parkAfterMs = parkAfter;
    this.byName.set(name, registration);
    return registration;
  }

  get(name: string | undefined): Registration | undefined {
    return name === undefined ? undefined : this.byName.get(name);
  }

  /** The names of the registered workflows. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Default application version: a hash of the registered workflow code, stable across replicas. */
  codeVersion(): string {
    const hash = createHash('sha256');
    for (const name of [...this.byName.keys()].sort()) {
      hash.update(name).update('\u0000').update(String(this.byName.get(name)?.fn)).update('\u0000');
    }
    return hash.digest('hex').slice(0, 16);
  }
}

/** A parkAfter option: a duration in ms, null for false (never), undefined when not given. */
export function parkAfterMs(value: Duration | false | undefined, what: string): number | null | undefined {
  if (value === false) return null;
  return optionalDuration(value, `${what} (a duration such as '60s', or false to never park)`);
}
