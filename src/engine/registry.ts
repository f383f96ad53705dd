import { createHash } from 'node:crypto';
import { DuplicateRegistrationError, ValidationError } from '../errors.js';
import type { WorkflowFunction } from './types.js';
import { requireName } from './validation.js';

export interface Registration {
  name: string;
  fn: WorkflowFunction<unknown, unknown>;
}

/** The workflows one Ballast instance can run, by name. */
export class WorkflowRegistry {
  private readonly byName = new Map<string, Registration>();

  register<Input, Output>(name: string, fn: WorkflowFunction<Input, Output>): Registration {
    requireName(name, 'workflow name');
    if (typeof fn !== 'function') throw new ValidationError(`ballast.workflow("${name}", fn): fn must be an async function (ctx, input) => output.`);
    if (this.byName.has(name)) throw new DuplicateRegistrationError('workflow', name);
    const registration = { name, fn: fn as WorkflowFunction<unknown, unknown> };
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
