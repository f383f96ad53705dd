import { DuplicateRegistrationError } from '../errors.js';
import { toQueueLimits, type QueueLimits, type QueueOptions } from './options.js';

/** A queue declared by the application; pass it (or its name) to `enqueue`. */
export interface Queue {
  readonly name: string;
}

/** The queues one Ballast instance declares and dispatches. */
export class QueueRegistry {
  private readonly declared = new Map<string, QueueLimits>();

  declare(name: string, options: QueueOptions | undefined): Queue {
    const limits = toQueueLimits(name, options);
    if (this.declared.has(name)) throw new DuplicateRegistrationError('queue', name);
    this.declared.set(name, limits);
    return Object.freeze({ name });
  }

  get(name: string): QueueLimits | undefined {
    return this.declared.get(name);
  }

  all(): QueueLimits[] {
    return [...this.declared.values()];
  }
}
