import { randomUUID } from 'node:crypto';
import type { Runtime } from './engine/runtime.js';
import type { StepInfo, WorkflowHandle, WorkflowInfo } from './engine/types.js';
import { requireName } from './engine/validation.js';
import { toStepInfo, toWorkflowInfo } from './engine/views.js';
import { UnknownWorkflowError, ValidationError, WorkflowNotFoundError } from './errors.js';

export interface GetOptions {
  /** Also decode input, output and error. */
  withPayloads?: boolean;
}

export interface ForkOptions {
  /** Keep the checkpoints before this step index; re-run from it. Default 0 (run from the start). */
  fromStep?: number;
  /** ID of the new workflow. Default: a random UUID. */
  id?: string;
  /** Application version the fork runs under. Default: this executor's. */
  appVersion?: string;
}

/** `ballast.workflows`: inspect and steer workflows by ID. */
export class WorkflowManagement {
  constructor(private readonly runtime: Runtime) {}

  async get(workflowId: string, options: GetOptions = {}): Promise<WorkflowInfo | undefined> {
    requireName(workflowId, 'workflow ID');
    const record = await this.runtime.store.getWorkflow(workflowId, options.withPayloads === true);
    return record && toWorkflowInfo(record, options.withPayloads === true);
  }

  /** The workflow's checkpoints in order. */
  async steps(workflowId: string): Promise<StepInfo[]> {
    requireName(workflowId, 'workflow ID');
    return (await this.runtime.store.loadSteps(workflowId)).map(toStepInfo);
  }

  /**
   * Cancels an ENQUEUED, DELAYED or PENDING workflow. A running one stops at its next durable
   * operation; callers waiting on its result get WorkflowCancelledError. Returns false if the
   * workflow had already finished.
   */
  async cancel(workflowId: string): Promise<boolean> {
    requireName(workflowId, 'workflow ID');
    const cancelled = await this.runtime.store.cancelWorkflow(workflowId);
    if (!cancelled && !(await this.runtime.store.getWorkflow(workflowId))) throw new WorkflowNotFoundError(workflowId);
    if (cancelled) this.runtime.stopCancelled(workflowId);
    return cancelled;
  }

  /**
   * Runs a workflow again from its last checkpoint on this executor: a cancelled, failed or
   * dead-lettered workflow carries on where it stopped.
   */
  async resume<Output = unknown>(workflowId: string): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    const existing = await this.runtime.store.getWorkflow(workflowId);
    if (!existing) throw new WorkflowNotFoundError(workflowId);
    if (!this.runtime.registry.get(existing.name)) throw new UnknownWorkflowError(existing.name, ' in this process, so it cannot resume it here');
    const record = await this.runtime.store.resumeWorkflow(workflowId, this.runtime.executorId);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    this.runtime.stopCancelled(workflowId);
    this.runtime.resume(record, await this.runtime.store.loadSteps(workflowId));
    return this.runtime.handle<Output>(workflowId);
  }

  /** Starts a new workflow with the same input that reuses the checkpoints before `fromStep`. */
  async fork<Output = unknown>(workflowId: string, options: ForkOptions = {}): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    const fromStep = options.fromStep ?? 0;
    if (!Number.isInteger(fromStep) || fromStep < 0) {
      throw new ValidationError(`fork: fromStep must be a non-negative integer step index, got ${String(options.fromStep)}.`);
    }
    const newId = options.id ?? randomUUID();
    requireName(newId, 'fork ID');
    const source = await this.runtime.store.getWorkflow(workflowId);
    if (!source) throw new WorkflowNotFoundError(workflowId);
    if (!this.runtime.registry.get(source.name)) throw new UnknownWorkflowError(source.name, ' in this process, so it cannot run the fork here');
    const record = await this.runtime.store.forkWorkflow(workflowId, newId, fromStep, {
      owner: this.runtime.executorId,
      appVersion: options.appVersion ?? this.runtime.appVersion,
    });
    if (!record) throw new WorkflowNotFoundError(workflowId);
    this.runtime.resume(record, await this.runtime.store.loadSteps(newId));
    return this.runtime.handle<Output>(newId);
  }
}
