import { newWorkflowId } from './ids.js';
import type { Runtime } from './engine/runtime.js';
import type { StepInfo, WorkflowHandle, WorkflowInfo } from './engine/types.js';
import { describe, requireName } from './engine/validation.js';
import { toStepInfo, toWorkflowInfo } from './engine/views.js';
import { UnknownVersionError, UnknownWorkflowError, ValidationError, WorkflowNotFoundError } from './errors.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowStatus } from './store/records.js';
import type { ListQuery } from './store/sql/list.js';
import type { SystemStore } from './store/system-store.js';

export interface GetOptions {
  /** Also decode input, output and error. */
  withPayloads?: boolean;
}

export interface WorkflowFilter {
  status?: WorkflowStatus | WorkflowStatus[];
  name?: string;
  queue?: string;
  /** Only ENQUEUED and PENDING workflows: what a queue's length counts. */
  queuedOnly?: boolean;
  executorId?: string;
  appVersion?: string;
  parentId?: string;
  idPrefix?: string;
  createdAfter?: Date | number;
  createdBefore?: Date | number;
  completedAfter?: Date | number;
  completedBefore?: Date | number;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
  /** By creation time; default 'desc' (newest first). */
  order?: 'asc' | 'desc';
  /** Also decode input, output and error. */
  withPayloads?: boolean;
}

export interface ForkOptions {
  /** Keep the checkpoints before this step index; re-run from it. Default 0 (run from the start). */
  fromStep?: number;
  /** ID of the new workflow. Default: a random UUID. */
  id?: string;
  /**
   * Application version the fork runs under: it runs here when that is this executor's version,
   * else an executor of that version adopts it. A version no executor ever registered is refused
   * (UnknownVersionError). Default: this executor's.
   */
  appVersion?: string;
}

const ALL_STATUSES: readonly WorkflowStatus[] = [...ACTIVE_STATUSES, ...FINAL_STATUSES];
const MAX_LIST_LIMIT = 10_000;

/** Read-only and cancel operations: all a process needs that runs no workflows (BallastClient). */
export class WorkflowQueries {
  constructor(protected readonly store: SystemStore) {}

  async get(workflowId: string, options: GetOptions = {}): Promise<WorkflowInfo | undefined> {
    requireName(workflowId, 'workflow ID');
    const record = await this.store.getWorkflow(workflowId, options.withPayloads === true);
    return record && toWorkflowInfo(record, options.withPayloads === true);
  }

  /** The workflow's checkpoints in order. */
  async steps(workflowId: string): Promise<StepInfo[]> {
    requireName(workflowId, 'workflow ID');
    return (await this.store.loadSteps(workflowId)).map(toStepInfo);
  }

  async list(filter: WorkflowFilter = {}): Promise<WorkflowInfo[]> {
    const query = toListQuery(filter);
    return (await this.store.listWorkflows(query)).map((record) => toWorkflowInfo(record, query.withPayloads));
  }

  /**
   * Cancels an ENQUEUED, DELAYED or PENDING workflow. A running one stops at its next durable
   * operation; callers waiting on its result get WorkflowCancelledError. Returns false if the
   * workflow had already finished.
   */
  async cancel(workflowId: string): Promise<boolean> {
    requireName(workflowId, 'workflow ID');
    const cancelled = await this.store.cancelWorkflow(workflowId);
    if (!cancelled && !(await this.store.getWorkflow(workflowId))) throw new WorkflowNotFoundError(workflowId);
    return cancelled;
  }
}

/** `ballast.workflows`: inspect and steer workflows, including running them here again. */
export class WorkflowManagement extends WorkflowQueries {
  constructor(private readonly runtime: Runtime) {
    super(runtime.store);
  }

  override async cancel(workflowId: string): Promise<boolean> {
    const cancelled = await super.cancel(workflowId);
    if (cancelled) this.runtime.stopCancelled(workflowId);
    return cancelled;
  }

  /**
   * Runs a workflow again from its last checkpoint: a cancelled, failed or dead-lettered workflow
   * carries on where it stopped. One of this executor's version runs here; one of another version
   * is handed to the executors of its version (its queue, or adoption), since only its own code
   * may replay its history.
   */
  async resume<Output = unknown>(workflowId: string): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    const existing = await this.store.getWorkflow(workflowId);
    if (!existing) throw new WorkflowNotFoundError(workflowId);
    const here = existing.appVersion === this.runtime.appVersion;
    if (here && !this.runtime.registry.get(existing.name)) throw new UnknownWorkflowError(existing.name, ' in this process, so it cannot resume it here');
    const record = await this.store.resumeWorkflow(workflowId, here ? this.runtime.executorId : null);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    this.runtime.stopCancelled(workflowId);
    if (here) this.runtime.resume(record, await this.store.loadSteps(workflowId));
    return this.runtime.handle<Output>(workflowId);
  }

  /** Starts a new workflow with the same input that reuses the checkpoints before `fromStep`. */
  async fork<Output = unknown>(workflowId: string, options: ForkOptions = {}): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    const fromStep = options.fromStep ?? 0;
    if (!Number.isInteger(fromStep) || fromStep < 0) {
      throw new ValidationError(`fork: fromStep must be a non-negative integer step index, got ${String(options.fromStep)}.`);
    }
    const newId = options.id ?? newWorkflowId();
    requireName(newId, 'fork ID');
    const appVersion = options.appVersion ?? this.runtime.appVersion;
    requireName(appVersion, 'fork appVersion');
    const source = await this.store.getWorkflow(workflowId);
    if (!source) throw new WorkflowNotFoundError(workflowId);
    const here = appVersion === this.runtime.appVersion;
    if (here && !this.runtime.registry.get(source.name)) throw new UnknownWorkflowError(source.name, ' in this process, so it cannot run the fork here');
    // Work moved to a version nobody ever ran would wait forever: most likely a typo.
    if (!here && !(await this.store.versionExists(source.appName, appVersion))) throw new UnknownVersionError(source.appName, appVersion);
    const record = await this.store.forkWorkflow(workflowId, newId, fromStep, { owner: here ? this.runtime.executorId : null, appVersion });
    if (!record) throw new WorkflowNotFoundError(workflowId);
    if (here) this.runtime.resume(record, await this.store.loadSteps(newId));
    return this.runtime.handle<Output>(newId);
  }
}

export function toListQuery(filter: WorkflowFilter): ListQuery {
  if (typeof filter !== 'object' || filter === null) throw new ValidationError('list(filter): filter must be an object.');
  let statuses: WorkflowStatus[] | null = null;
  if (filter.status !== undefined) {
    statuses = Array.isArray(filter.status) ? [...filter.status] : [filter.status];
    for (const status of statuses) {
      if (!ALL_STATUSES.includes(status)) {
        throw new ValidationError(`list: unknown status ${describe(status)}; use one of ${ALL_STATUSES.join(', ')}.`);
      }
    }
  }
  if (filter.queuedOnly === true) {
    const queued: WorkflowStatus[] = ['ENQUEUED', 'PENDING'];
    statuses = statuses === null ? queued : statuses.filter((status) => queued.includes(status));
  }
  const limit = filter.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ValidationError(`list: limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(filter.limit)}.`);
  }
  const offset = filter.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw new ValidationError(`list: offset must be a non-negative integer, got ${String(filter.offset)}.`);
  if (filter.order !== undefined && filter.order !== 'asc' && filter.order !== 'desc') {
    throw new ValidationError(`list: order must be "asc" or "desc", got ${describe(filter.order)}.`);
  }
  return {
    statuses,
    name: optionalName(filter.name, 'name'),
    queue: optionalName(filter.queue, 'queue'),
    executorId: optionalName(filter.executorId, 'executorId'),
    appVersion: optionalName(filter.appVersion, 'appVersion'),
    parentId: optionalName(filter.parentId, 'parentId'),
    idPrefix: optionalName(filter.idPrefix, 'idPrefix'),
    createdAfter: optionalTime(filter.createdAfter, 'createdAfter'),
    createdBefore: optionalTime(filter.createdBefore, 'createdBefore'),
    completedAfter: optionalTime(filter.completedAfter, 'completedAfter'),
    completedBefore: optionalTime(filter.completedBefore, 'completedBefore'),
    limit,
    offset,
    order: filter.order ?? 'desc',
    withPayloads: filter.withPayloads === true,
  };
}

function optionalName(value: unknown, what: string): string | null {
  if (value === undefined) return null;
  requireName(value, `list filter ${what}`);
  return value;
}

function optionalTime(value: unknown, what: string): number | null {
  if (value === undefined) return null;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new ValidationError(`list: ${what} must be a Date or epoch milliseconds, got ${describe(value)}.`);
  }
  return ms;
}
