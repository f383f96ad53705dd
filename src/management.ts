import { newWorkflowId } from './ids.js';
import type { Runtime } from './engine/runtime.js';
import type { StepInfo, WorkflowHandle, WorkflowInfo } from './engine/types.js';
import { toAttributes, type WorkflowAttributes } from './engine/attributes.js';
import { describe, optionNames, requireName, requireOptions } from './engine/validation.js';
import { toStepInfo, toWorkflowInfo } from './engine/views.js';
import {
  BallastError,
  DuplicateWorkflowError,
  SearchTimeoutError,
  UnknownVersionError,
  ValidationError,
  WorkflowNotFoundError,
  WorkflowStateError,
} from './errors.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowRecord, type WorkflowStatus } from './store/records.js';
import type { ListQuery } from './store/sql/list.js';
import { RESUMABLE_STATUSES } from './store/sql/workflows.js';
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
  /** Only workflows that carry all of these attributes (same rules as the attributes of a start). */
  attributes?: WorkflowAttributes;
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
  /** Keyset pagination: only workflows after this one in the list's order (pass the last of a page). */
  after?: { createdAt: Date | number; id: string };
  /**
   * Text to find in input, output or error (case-insensitive, at most 200 characters). Payloads are
   * not indexed, so a search needs createdAfter and gives up after searchTimeoutMs (SearchTimeoutError).
   */
  search?: string;
  /** Default 2,000 ms, at most 30,000. */
  searchTimeoutMs?: number;
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

export interface CancelOptions {
  /** Also cancel its active children, their children, and so on. Default false. */
  children?: boolean;
}

export interface BulkOptions {
  /** Workflows per statement. Default 100, at most 1,000. */
  batchSize?: number;
  /** Told what was done so far after each batch (a progress report). */
  onBatch?: (soFar: BulkResult) => void;
}

const GET_OPTIONS = optionNames<GetOptions>({ withPayloads: true });
const CANCEL_OPTIONS = optionNames<CancelOptions>({ children: true });
const FORK_OPTIONS = optionNames<ForkOptions>({ fromStep: true, id: true, appVersion: true });
const BULK_OPTIONS = optionNames<BulkOptions>({ batchSize: true, onBatch: true });
const FILTER_OPTIONS = optionNames<WorkflowFilter>({
  status: true, name: true, queue: true, queuedOnly: true, executorId: true, appVersion: true, parentId: true, idPrefix: true, attributes: true,
  createdAfter: true, createdBefore: true, completedAfter: true, completedBefore: true, limit: true, offset: true, order: true, withPayloads: true,
  after: true, search: true, searchTimeoutMs: true,
});

/** What an operation on many workflows did. */
export interface BulkResult {
  /** The workflows it applied to, in the order they were found. */
  applied: string[];
  /** The ones it could not apply to, and why (a typed error's code and message). */
  failed: Array<{ id: string; code: string; message: string }>;
}

const ALL_STATUSES: readonly WorkflowStatus[] = [...ACTIVE_STATUSES, ...FINAL_STATUSES];
const MAX_LIST_LIMIT = 10_000;
const MAX_BULK_BATCH = 1_000;

/** How a caller gets a handle to a workflow (a Ballast instance's, a client's). */
export type HandleFactory = <Output>(workflowId: string) => WorkflowHandle<Output>;

/**
 * Inspecting and steering workflows: everything a process needs that runs no workflows itself
 * (BallastClient, the CLI, the admin API). A resumed or forked workflow is left to the executors of
 * its version: back on its queue, or ownerless for them to adopt.
 */
export class WorkflowQueries {
  constructor(
    protected readonly store: SystemStore,
    private readonly handles: HandleFactory,
  ) {}

  async get(workflowId: string, options: GetOptions = {}): Promise<WorkflowInfo | undefined> {
    requireName(workflowId, 'workflow ID');
    requireOptions(options, GET_OPTIONS, 'workflows.get', '{ withPayloads: true }');
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
    try {
      return (await this.store.listWorkflows(query)).map((record) => toWorkflowInfo(record, query.withPayloads));
    } catch (error) {
      if (query.search !== null && (error as { code?: unknown }).code === '57014') throw new SearchTimeoutError(query.searchTimeoutMs);
      throw error;
    }
  }

  /**
   * Cancels an ENQUEUED, DELAYED or PENDING workflow (with `children`, its active descendants too).
   * A running one stops at its next durable operation; callers waiting on its result get
   * WorkflowCancelledError. Returns false if the workflow had already finished.
   */
  async cancel(workflowId: string, options: CancelOptions = {}): Promise<boolean> {
    requireName(workflowId, 'workflow ID');
    requireOptions(options, CANCEL_OPTIONS, 'workflows.cancel', '{ children: true }');
    const children = optionalFlag(options, 'children', 'cancel');
    const cancelled = await this.store.cancelWorkflows(workflowId, children);
    this.stopRuns(cancelled);
    if (cancelled.includes(workflowId)) return true;
    if (!(await this.store.getWorkflow(workflowId))) throw new WorkflowNotFoundError(workflowId);
    return false;
  }

  /**
   * Carries a CANCELLED, ERROR or DEAD_LETTER workflow on from its last checkpoint (completed steps
   * do not run again), with a fresh recovery count: through its queue if it had one, else on an
   * executor of its version. Anything else is refused with WorkflowStateError, changing nothing.
   */
  async resume<Output = unknown>(workflowId: string): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    const existing = await this.store.getWorkflow(workflowId);
    if (!existing) throw new WorkflowNotFoundError(workflowId);
    assertResumable(existing);
    const owner = existing.queue === null ? this.ownerFor(existing.appVersion, existing.name) : null;
    // A run of its previous life still here stops before the new one can start (a claim may take it
    // the moment the update commits): stopping after would stop the new run.
    this.stopRuns([workflowId]);
    let record: WorkflowRecord | undefined;
    try {
      record = await this.store.resumeWorkflow(workflowId, owner);
    } catch (error) {
      throw explainResumeConflict(error, existing);
    }
    if (!record) {
      // Changed between the read and the update (resumed or deleted meanwhile).
      const now = await this.store.getWorkflow(workflowId);
      if (!now) throw new WorkflowNotFoundError(workflowId);
      assertResumable(now);
      throw new WorkflowStateError(workflowId, now.status, 'resume', RESUMABLE_STATUSES, 'It changed while it was being resumed; look again.');
    }
    if (owner !== null) await this.runHere(record);
    return this.handles<Output>(workflowId);
  }

  /**
   * A new workflow with the same input that keeps the original's checkpoints before `fromStep` and
   * runs from there: on this executor if it is of the fork's version, else adopted by an executor of
   * it. The version must be one an executor of the application has run (UnknownVersionError).
   */
  async fork<Output = unknown>(workflowId: string, options: ForkOptions = {}): Promise<WorkflowHandle<Output>> {
    requireName(workflowId, 'workflow ID');
    requireOptions(options ?? null, FORK_OPTIONS, 'workflows.fork(id, options)', '{ fromStep: 2 }');
    const fromStep = options.fromStep ?? 0;
    if (!Number.isInteger(fromStep) || fromStep < 0) {
      throw new ValidationError(`fork: fromStep must be a non-negative integer step index, got ${describe(options.fromStep)}.`);
    }
    const newId = options.id ?? newWorkflowId();
    requireName(newId, 'fork ID');
    if (options.appVersion !== undefined) requireName(options.appVersion, 'fork appVersion');
    const source = await this.store.getWorkflow(workflowId);
    if (!source) throw new WorkflowNotFoundError(workflowId);
    const appVersion = options.appVersion ?? this.defaultForkVersion(source);
    const recorded = (await this.store.loadSteps(workflowId)).length;
    if (fromStep > recorded) {
      throw new ValidationError(
        `fork: fromStep ${fromStep} is past the end of workflow ${workflowId}'s history, which has ${recorded} checkpoint${recorded === 1 ? '' : 's'}: ` +
          `use 0 to ${recorded} (see workflows.steps).`,
      );
    }
    const owner = this.ownerFor(appVersion, source.name);
    // Work moved to a version nobody ever ran would wait forever: most likely a typo.
    if (owner === null && appVersion !== source.appVersion && !(await this.store.versionExists(source.appName, appVersion))) {
      throw new UnknownVersionError(source.appName, appVersion);
    }
    const record = await this.store.forkWorkflow(workflowId, newId, fromStep, { owner, appVersion });
    if (!record) throw new WorkflowNotFoundError(workflowId);
    if (owner !== null) await this.runHere(record);
    return this.handles<Output>(newId);
  }

  /**
   * Deletes a finished workflow with its checkpoints, events and the messages sent to it; its
   * children and everything else stay. An active workflow is refused (cancel it first).
   */
  async delete(workflowId: string): Promise<void> {
    requireName(workflowId, 'workflow ID');
    if ((await this.store.deleteWorkflows([workflowId])).length === 1) return;
    const existing = await this.store.getWorkflow(workflowId);
    if (!existing) throw new WorkflowNotFoundError(workflowId);
    throw new WorkflowStateError(workflowId, existing.status, 'delete', FINAL_STATUSES, 'Cancel it first, or wait for it to finish.');
  }

  /** Cancels every active workflow the filter matches, in batches. */
  async cancelMany(filter: WorkflowFilter, options: BulkOptions & CancelOptions = {}): Promise<BulkResult> {
    requireOptions(options ?? null, [...BULK_OPTIONS, ...CANCEL_OPTIONS], 'workflows.cancelMany(filter, options)', '{ batchSize: 100, children: true }');
    return this.bulk(filter, ACTIVE_STATUSES, options, async (ids) => {
      const cancelled = new Set<string>();
      for (const id of ids) if (await this.cancel(id, { children: options.children === true })) cancelled.add(id);
      return cancelled;
    });
  }

  /** Resumes every CANCELLED, ERROR or DEAD_LETTER workflow the filter matches, in batches. */
  async resumeMany(filter: WorkflowFilter, options: BulkOptions = {}): Promise<BulkResult> {
    requireOptions(options ?? null, BULK_OPTIONS, 'workflows.resumeMany(filter, options)', '{ batchSize: 100 }');
    return this.bulk(filter, RESUMABLE_STATUSES, options, async (ids, failed) => {
      const resumed = new Set<string>();
      for (const id of ids) {
        try {
          await this.resume(id);
          resumed.add(id);
        } catch (error) {
          if (!(error instanceof BallastError)) throw error;
          failed.push({ id, code: error.code, message: error.message });
        }
      }
      return resumed;
    });
  }

  /** Deletes every finished workflow the filter matches, in batches of one statement each. */
  async deleteMany(filter: WorkflowFilter, options: BulkOptions = {}): Promise<BulkResult> {
    requireOptions(options ?? null, BULK_OPTIONS, 'workflows.deleteMany(filter, options)', '{ batchSize: 100 }');
    return this.bulk(filter, FINAL_STATUSES, options, async (ids) => new Set(await this.store.deleteWorkflows(ids)));
  }

  /** Who runs a resumed or forked direct workflow of this version at once; null: its version's executors adopt it. */
  protected ownerFor(_appVersion: string, _workflowName: string): string | null {
    return null;
  }

  protected defaultForkVersion(source: WorkflowRecord): string {
    return source.appVersion;
  }

  /** Runs a workflow this process now owns (see ownerFor). */
  protected async runHere(_record: WorkflowRecord): Promise<void> {}

  /** Stops local runs of workflows that were just cancelled or resumed elsewhere. */
  protected stopRuns(_ids: string[]): void {}

  /**
   * Applies `apply` to the workflows the filter matches among `statuses`, a batch at a time, oldest
   * first. Each look starts after the last workflow of the previous one, so every workflow is
   * visited once: one that comes back to a matching status meanwhile (a resumed workflow failing
   * again) is not applied to twice, and one that could not be applied to is passed over.
   */
  private async bulk(
    filter: WorkflowFilter,
    statuses: readonly WorkflowStatus[],
    options: BulkOptions,
    apply: (ids: string[], failed: BulkResult['failed']) => Promise<Set<string>>,
  ): Promise<BulkResult> {
    if (typeof options !== 'object' || options === null) throw new ValidationError('options must be an object such as { batchSize: 100 }.');
    if (options.onBatch !== undefined && typeof options.onBatch !== 'function') throw new ValidationError('onBatch must be a function.');
    const batchSize = options.batchSize ?? 100;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BULK_BATCH) {
      throw new ValidationError(`batchSize must be an integer from 1 to ${MAX_BULK_BATCH}, got ${describe(options.batchSize)}.`);
    }
    if (typeof filter !== 'object' || filter === null) throw new ValidationError('The filter must be an object such as { status: "DEAD_LETTER", queue: "tasks" }.');
    if (filter.limit !== undefined || filter.offset !== undefined) {
      throw new ValidationError('A filter for many workflows takes no limit or offset: it applies to all that match, batchSize at a time.');
    }
    const query = toListQuery({ ...filter, order: 'asc' });
    const wanted = query.statuses === null ? [...statuses] : query.statuses.filter((status) => statuses.includes(status));
    const result: BulkResult = { applied: [], failed: [] };
    if (wanted.length === 0) return result;
    let after: ListQuery['after'] = null;
    for (;;) {
      const page = await this.store.listWorkflows({ ...query, statuses: wanted, limit: batchSize, offset: 0, withPayloads: false, after });
      if (page.length === 0) return result;
      const ids = page.map((record) => record.id);
      const done = await apply(ids, result.failed);
      for (const id of ids) if (done.has(id)) result.applied.push(id);
      options.onBatch?.(result);
      const last = page[page.length - 1] as WorkflowRecord;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }
}

/** `ballast.workflows`: the same operations, and a workflow of this executor's version runs here. */
export class WorkflowManagement extends WorkflowQueries {
  constructor(private readonly runtime: Runtime) {
    super(runtime.store, (id) => runtime.handle(id));
  }

  protected override ownerFor(appVersion: string, workflowName: string): string | null {
    return appVersion === this.runtime.appVersion && this.runtime.registry.get(workflowName) ? this.runtime.executorId : null;
  }

  protected override defaultForkVersion(): string {
    return this.runtime.appVersion;
  }

  protected override async runHere(record: WorkflowRecord): Promise<void> {
    this.runtime.resume(record, await this.store.loadSteps(record.id));
  }

  protected override stopRuns(ids: string[]): void {
    for (const id of ids) this.runtime.stopCancelled(id);
  }
}

function assertResumable(record: WorkflowRecord): void {
  if ((RESUMABLE_STATUSES as readonly string[]).includes(record.status)) return;
  const hint = record.status === 'SUCCESS'
    ? 'A finished workflow runs again as a fork: workflows.fork(id).'
    : 'It is still active: cancel it first to resume it.';
  throw new WorkflowStateError(record.id, record.status, 'resume', RESUMABLE_STATUSES, hint);
}

/** A queued workflow resumed onto a dedupId that another active workflow of its queue holds. */
function explainResumeConflict(error: unknown, record: WorkflowRecord): unknown {
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  if (code !== '23505' || constraint !== 'workflows_dedup' || record.queue === null || record.dedupId === null) return error;
  return new DuplicateWorkflowError(record.queue, record.dedupId, '(another active workflow)');
}

function optionalFlag(options: object, name: string, operation: string): boolean {
  if (typeof options !== 'object' || options === null) throw new ValidationError(`${operation}(id, options): options must be an object.`);
  const value = (options as Record<string, unknown>)[name];
  if (value !== undefined && typeof value !== 'boolean') throw new ValidationError(`${operation}: ${name} must be true or false, got ${describe(value)}.`);
  return value === true;
}

export function toListQuery(filter: WorkflowFilter): ListQuery {
  requireOptions(filter ?? null, FILTER_OPTIONS, 'workflows.list(filter)', "{ status: 'ERROR', queue: 'emails' }");
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
  const createdAfter = optionalTime(filter.createdAfter, 'createdAfter');
  const search = optionalSearch(filter.search, createdAfter);
  const searchTimeoutMs = filter.searchTimeoutMs ?? DEFAULT_SEARCH_TIMEOUT_MS;
  if (!Number.isInteger(searchTimeoutMs) || searchTimeoutMs < 1 || searchTimeoutMs > MAX_SEARCH_TIMEOUT_MS) {
    throw new ValidationError(`list: searchTimeoutMs must be an integer from 1 to ${MAX_SEARCH_TIMEOUT_MS}, got ${describe(filter.searchTimeoutMs)}.`);
  }
  return {
    statuses,
    name: optionalName(filter.name, 'name'),
    queue: optionalName(filter.queue, 'queue'),
    executorId: optionalName(filter.executorId, 'executorId'),
    appVersion: optionalName(filter.appVersion, 'appVersion'),
    parentId: optionalName(filter.parentId, 'parentId'),
    idPrefix: optionalName(filter.idPrefix, 'idPrefix'),
    attributes: toAttributes(filter.attributes, 'list filter') ?? null,
    createdAfter,
    createdBefore: optionalTime(filter.createdBefore, 'createdBefore'),
    completedAfter: optionalTime(filter.completedAfter, 'completedAfter'),
    completedBefore: optionalTime(filter.completedBefore, 'completedBefore'),
    limit,
    offset,
    order: filter.order ?? 'desc',
    withPayloads: filter.withPayloads === true,
    after: optionalCursor(filter.after),
    search,
    searchTimeoutMs,
  };
}

const DEFAULT_SEARCH_TIMEOUT_MS = 2_000;
const MAX_SEARCH_TIMEOUT_MS = 30_000;
const MAX_SEARCH_LENGTH = 200;

function optionalSearch(value: unknown, createdAfter: number | null): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string' || value.length > MAX_SEARCH_LENGTH) {
    throw new ValidationError(`list: search must be a string of at most ${MAX_SEARCH_LENGTH} characters, got ${describe(value)}.`);
  }
  if (createdAfter === null) {
    throw new ValidationError('list: a search reads the payloads of every workflow in its range, so it needs createdAfter (say, the last 24 hours).');
  }
  return value;
}

function optionalCursor(value: unknown): ListQuery['after'] {
  if (value === undefined) return null;
  const cursor = value as { createdAt?: unknown; id?: unknown };
  if (typeof value !== 'object' || value === null || typeof cursor.id !== 'string' || cursor.createdAt === undefined) {
    throw new ValidationError(`list: after must be { createdAt, id } of the last workflow of the previous page, got ${describe(value)}.`);
  }
  return { createdAt: optionalTime(cursor.createdAt, 'after.createdAt') as number, id: cursor.id };
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
