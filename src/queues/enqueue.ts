import { checkPayloadSize, serialize } from '../codec.js';
import { optionalDuration } from '../durations.js';
import type { EnqueueOptions } from '../engine/types.js';
import { toAttributes } from '../engine/attributes.js';
import { describe, requireName } from '../engine/validation.js';
import { DuplicateWorkflowError, OwnershipLostError, ValidationError } from '../errors.js';
import type { WorkflowInserts } from '../store/outbox.js';
import type { Lease, NewWorkflow } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { isPartitioned, toPriority, type QueueLimits } from './options.js';

export interface EnqueueTarget {
  workflowName: string;
  appName: string;
  appVersion: string;
  maxPayloadBytes: number;
  /** The W3C trace context of the code enqueueing, so the run continues its trace. */
  traceContext: string | null;
  /** The enqueue's moment on the instance's clock (epoch ms): a delay counts from it. */
  now: number;
}

export type { EnqueueOptions };

export function queueName(queue: unknown): string {
  const name = typeof queue === 'string' ? queue : (queue as { name?: unknown } | undefined)?.name;
  if (typeof name !== 'string') {
    throw new ValidationError(`enqueue: options.queue must be a queue (from ballast.queue) or a queue name, got ${describe(queue)}.`);
  }
  requireName(name, 'queue name');
  return name;
}

/** Validates enqueue options against the queue's limits and builds the row to insert. */
export function queuedRow(
  target: EnqueueTarget,
  input: unknown,
  options: EnqueueOptions,
  limits: QueueLimits,
  id: string,
  parent: Lease | null,
): NewWorkflow {
  const what = `input of workflow "${target.workflowName}"`;
  requireName(id, 'workflow ID');
  if (options.dedupId !== undefined) requireName(options.dedupId, 'dedupId');
  if (options.onDuplicate !== undefined && options.onDuplicate !== 'reject' && options.onDuplicate !== 'existing') {
    throw new ValidationError(`enqueue: onDuplicate must be "reject" or "existing", got ${describe(options.onDuplicate)}.`);
  }
  let partitionKey: string | null = null;
  if (options.partitionKey !== undefined) {
    if (!isPartitioned(limits)) {
      throw new ValidationError(
        `queue "${limits.name}" is not partitioned, so partitionKey "${String(options.partitionKey)}" cannot apply; ` +
          "declare the queue with { partitionConcurrency: n } or { fairness: 'partition' }, or drop the partitionKey.",
      );
    }
    requireName(options.partitionKey, 'partitionKey');
    partitionKey = options.partitionKey;
  } else if (isPartitioned(limits)) {
    throw new ValidationError(`queue "${limits.name}" is partitioned: enqueue needs a partitionKey (the customer, tenant, … it belongs to).`);
  }
  const priority = toPriority(options.priority);
  const delayMs = optionalDuration(options.delay, 'enqueue delay') ?? 0;
  const timeoutMs = optionalDuration(options.timeout, `timeout of workflow "${target.workflowName}"`);
  if (timeoutMs === 0) throw new ValidationError('enqueue: timeout must be greater than zero.');
  const attributes = toAttributes(options.attributes, `enqueue of workflow "${target.workflowName}"`);
  const encoded = serialize(input, what);
  checkPayloadSize(encoded, target.maxPayloadBytes, what);
  const now = target.now;
  const row: NewWorkflow = {
    id,
    name: target.workflowName,
    status: delayMs > 0 ? 'DELAYED' : 'ENQUEUED',
    appName: target.appName,
    appVersion: target.appVersion,
    queue: limits.name,
    partitionKey,
    dedupId: options.dedupId ?? null,
    priority,
    owner: null,
    epoch: 0,
    input: encoded,
    parentId: parent?.workflowId ?? null,
    timeoutMs: timeoutMs ?? null,
    deadlineAt: null,
    availableAt: delayMs > 0 ? now + delayMs : null,
    createdAt: now,
    startedAt: null,
  };
  // Set only when there is one: the row travels as JSON, and most have none.
  if (target.traceContext !== null) row.traceContext = target.traceContext;
  if (attributes !== undefined) row.attributes = attributes;
  if (parent) {
    // A child's insert is fenced on its parent's lease (see flushStatement).
    row.parentOwner = parent.owner;
    row.parentEpoch = parent.epoch;
  }
  return row;
}

const systemInsertsOf = new WeakMap<SystemStore, WorkflowInserts>();

/** Inserts through the group-commit writer (one object per store: this is on every enqueue's path). */
function systemInserts(store: SystemStore): WorkflowInserts {
  let inserts = systemInsertsOf.get(store);
  if (inserts) return inserts;
  inserts = {
    insert: (row) => store.writer.insertWorkflow(row),
    exists: async (id) => (await store.getWorkflow(id)) !== undefined,
    activeByDedup: (queue, dedupId) => store.findActiveByDedup(queue, dedupId),
  };
  systemInsertsOf.set(store, inserts);
  return inserts;
}

/** The workflow an enqueue hands back, and whether it was known to be unfinished at that moment. */
export interface Enqueued {
  id: string;
  active: boolean;
}

/**
 * Inserts a queued workflow. Returns the ID of the workflow the caller should get a handle to: the
 * new one, the existing one with the same ID (idempotent), or — with onDuplicate "existing" — the
 * active one with the same dedupId.
 */
export async function insertQueued(
  store: SystemStore,
  row: NewWorkflow,
  onDuplicate: 'reject' | 'existing' = 'reject',
  inserts: WorkflowInserts = systemInserts(store),
): Promise<Enqueued> {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await inserts.insert(row)) return { id: row.id, active: true };
    if (await inserts.exists(row.id)) return { id: row.id, active: false };
    if (row.parentId !== null && row.parentOwner !== undefined && row.parentEpoch !== undefined) {
      const parent = { workflowId: row.parentId, owner: row.parentOwner, epoch: row.parentEpoch };
      if ((await store.heldAmong([parent])).length === 0) throw new OwnershipLostError(row.parentId, `the enqueue of its child ${row.id} was refused`);
    }
    if (row.dedupId !== null && row.queue !== null) {
      const existing = await inserts.activeByDedup(row.queue, row.dedupId);
      if (existing !== undefined) {
        if (onDuplicate === 'existing') return { id: existing, active: true };
        throw new DuplicateWorkflowError(row.queue, row.dedupId, existing);
      }
    }
    // The conflicting workflow finished between our insert and our look: try again.
  }
  throw new Error(`could not enqueue workflow ${row.id}: it kept conflicting with a workflow that finished meanwhile`);
}
