import { systemClock, type Clock } from '../clock.js';
import { newWorkflowId } from '../ids.js';
import type { Runtime } from '../engine/runtime.js';
import { ENQUEUE_OPTIONS } from '../engine/option-names.js';
import { optionNames, requireName, requireOptions } from '../engine/validation.js';
import { UnknownQueueError, ValidationError } from '../errors.js';
import type { OutboxInserts } from '../store/outbox.js';
import type { Lease } from '../store/records.js';
import type { QueueDepth, QueueUsage } from '../store/sql/queues.js';
import type { SystemStore } from '../store/system-store.js';
import { Dispatcher } from './dispatcher.js';
import { debounceTiming, type DebounceOptions } from './debounce.js';
import { insertQueued, queueName, queuedRow, type Enqueued, type EnqueueOptions, type EnqueueTarget } from './enqueue.js';
import { QueueLimitsCache } from './limits-cache.js';
import { QueuePoller } from './poller.js';
import { toQueueLimits, type QueueLimits, type QueueOptions } from './options.js';
import type { QueueRegistry } from './registry.js';

export interface QueueMetrics {
  queue: string;
  enqueued: number;
  pending: number;
  delayed: number;
  /** ENQUEUED + PENDING: what KEDA's metrics-api scaler reads as queue_length. */
  queueLength: number;
  /** Age of the oldest workflow still waiting to start, or null when none waits. */
  oldestEnqueuedAgeMs: number | null;
  /** Workflows of this queue running in this executor. */
  runningHere: number;
}

export interface MetricsOptions {
  /** Count only workflows of this application version. */
  version?: string;
}

const METRICS_OPTIONS = optionNames<MetricsOptions>({ version: true });

/** Limits are re-read from Postgres at most this often: runtime changes apply fleet-wide within it. */
const LIMITS_MAX_AGE_MS = 1_000;

export interface QueueServiceOptions {
  appName: string;
  maxPayloadBytes: number;
  pollIntervalMs: number;
  logger: { warn(message: string): void };
  /** Workflows of a queue running in this process (0 in a client that runs none). */
  runningIn(queue: string): number;
  /** The W3C trace context to record with an enqueue made now (null: none). */
  traceContext(): string | null;
  /** Default: the system clock. */
  clock?: Clock;
}

/**
 * Everything queue-shaped: enqueue, metrics and fleet-wide limits for any process (a Ballast
 * instance or a BallastClient), and dispatch for an executor that runs the queues it declares.
 */
export class QueueService {
  readonly limits: QueueLimitsCache;
  private readonly dispatchers = new Map<string, Dispatcher>();
  private poller: QueuePoller | undefined;

  constructor(
    private readonly store: SystemStore,
    private readonly options: QueueServiceOptions,
  ) {
    this.limits = new QueueLimitsCache(store, LIMITS_MAX_AGE_MS);
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock;
  }

  /**
   * Writes the declared limits and starts one dispatcher per declared queue, asleep until there is
   * work, and the one poller that looks at all of them.
   */
  async startDispatching(runtime: Runtime, registry: QueueRegistry): Promise<void> {
    await this.store.upsertQueues(registry.all(), false);
    const { pollIntervalMs, logger } = this.options;
    const clock = this.clock;
    const poller = new QueuePoller(new Set(registry.all().map((limits) => limits.name)), {
      store: this.store,
      appVersion: () => runtime.appVersion,
      pollIntervalMs,
      clock,
      logger,
      wake: (queues) => {
        for (const queue of queues) this.dispatchers.get(queue)?.wake();
      },
    });
    this.poller = poller;
    for (const limits of registry.all()) {
      const dispatcher = new Dispatcher(limits.name, {
        store: this.store,
        runtime,
        waiters: runtime.waiters,
        limits: this.limits,
        pollIntervalMs,
        clock,
        logger,
        claimed: () => poller.claimed(),
      });
      this.dispatchers.set(limits.name, dispatcher);
      dispatcher.start();
    }
    poller.start();
    this.store.writer.setRefiller({
      owner: runtime.executorId,
      appVersion: () => runtime.appVersion,
      virtualNow: () => this.clock.sqlNow(),
      reserve: (queue, completing) => this.dispatchers.get(queue)?.reserve(completing) ?? 0,
      release: (queue, completing, reserved, claimed) => this.dispatchers.get(queue)?.release(completing, reserved, claimed),
      uncertain: (queue) => this.dispatchers.get(queue)?.claimsMayBeLost(),
      completionWakes: (queue) => this.dispatchers.get(queue)?.completionWakes() ?? true,
    });
  }

  async stop(): Promise<void> {
    await Promise.all([this.poller?.stop(), ...[...this.dispatchers.values()].map((dispatcher) => dispatcher.stop())]);
  }

  /** A NOTIFY said a delayed workflow was enqueued on `queue`: the poller learns when it is due. */
  delayedEnqueued(queue: string): void {
    if (this.dispatchers.has(queue)) this.poller?.pollSoon();
  }

  /** The listener reconnected: limits may have changed and work may have arrived unannounced. */
  reconnected(): void {
    this.limits.invalidate();
    this.poller?.pollSoon();
  }

  /** Inserts a queued workflow; returns the ID to hand back (see insertQueued). */
  async enqueue(workflowName: string, input: unknown, options: EnqueueOptions, appVersion: string, parent: Lease | null): Promise<Enqueued> {
    requireOptions(options, ENQUEUE_OPTIONS, `enqueue of workflow "${workflowName}"`, "{ queue: 'emails' }");
    // Outbox: the row goes in with the caller's transaction (validated before anything is written).
    const inserts = options?.transaction === undefined ? undefined : this.outboxInserts(options.transaction, workflowName, parent);
    const limits = await this.limitsOf(options?.queue, inserts);
    const row = queuedRow(this.target(workflowName, appVersion), input, options, limits, options.id ?? newWorkflowId(), parent);
    const enqueued = await insertQueued(this.store, row, options.onDuplicate, inserts);
    if (row.availableAt !== null) this.delayedHere(limits.name, row.availableAt);
    return enqueued;
  }

  /**
   * One debounce call: creates the key's waiting workflow or replaces its input and due time (see
   * debounceWorkflow); returns the ID of the workflow that will run.
   */
  async debounce(workflowName: string, key: string, input: unknown, options: DebounceOptions, appVersion: string): Promise<string> {
    const timing = debounceTiming(workflowName, key, options);
    const limits = await this.limitsOf(options.queue);
    const { delay: _delay, maxWait: _maxWait, ...enqueueOptions } = options;
    const row = queuedRow(this.target(workflowName, appVersion), input, enqueueOptions, limits, newWorkflowId(), null);
    const debounced = await this.store.debounceWorkflow({ row, key, ...timing });
    this.delayedHere(limits.name, debounced.availableAt);
    return debounced.id;
  }

  /** A delayed workflow enqueued by this process, due at `availableAt`, on a queue it may run. */
  private delayedHere(queue: string, availableAt: number): void {
    if (this.dispatchers.has(queue)) this.poller?.delayedEnqueued(availableAt);
  }

  private target(workflowName: string, appVersion: string): EnqueueTarget {
    const { appName, maxPayloadBytes } = this.options;
    return { workflowName, appName, appVersion, maxPayloadBytes, traceContext: this.options.traceContext(), now: this.clock.now() };
  }

  /** The cached limits when fresh: most enqueues need no wait at all. An outbox reads them in the caller's transaction. */
  private async limitsOf(queue: unknown, inserts?: OutboxInserts): Promise<QueueLimits> {
    const name = queueName(queue);
    const limits = this.limits.peek(name) ?? (inserts ? await inserts.queueLimits(name) : await this.requireQueue(name));
    if (!limits) throw new UnknownQueueError(name);
    return limits;
  }

  private outboxInserts(transaction: unknown, workflowName: string, parent: Lease | null): OutboxInserts {
    if (parent !== null) {
      throw new ValidationError(`ctx.enqueue of "${workflowName}": a workflow's enqueues are exactly once already; the transaction option is for code outside workflows.`);
    }
    return this.store.outboxInserts(transaction, `enqueue of "${workflowName}"`);
  }

  async metrics(queue: string, options: MetricsOptions = {}): Promise<QueueMetrics> {
    requireName(queue, 'queue name');
    requireOptions(options, METRICS_OPTIONS, 'queues.metrics(queue, options)', "{ version: '1.4.2' }");
    if (options.version !== undefined) requireName(options.version, 'version');
    await this.requireQueue(queue);
    const [depth] = await this.store.queueDepths(queue, options.version ?? null);
    return toQueueMetrics(queue, depth, this.options.runningIn(queue));
  }

  async allMetrics(options: MetricsOptions = {}): Promise<QueueMetrics[]> {
    requireOptions(options, METRICS_OPTIONS, 'queues.allMetrics(options)', "{ version: '1.4.2' }");
    if (options.version !== undefined) requireName(options.version, 'version');
    const [known, depths] = await Promise.all([this.store.readQueues(null), this.store.queueDepths(null, options.version ?? null)]);
    const byQueue = new Map(depths.map((depth) => [depth.queue, depth]));
    const names = new Set([...known.map((q) => q.name), ...byQueue.keys()]);
    return [...names].sort().map((name) => toQueueMetrics(name, byQueue.get(name), this.options.runningIn(name)));
  }

  /** Changes a queue's limits for the whole fleet (until the next deploy declares them again). */
  async update(queue: string, options: QueueOptions): Promise<QueueLimits> {
    await this.requireQueue(queue);
    const limits = toQueueLimits(queue, options);
    await this.store.upsertQueues([limits], true);
    this.limits.invalidate();
    return limits;
  }

  /**
   * What the queue uses of its limits now, fleet-wide: starts in the rate window, running workflows
   * per executor and per partition, when the next delayed workflow falls due.
   */
  async usage(queue: string): Promise<QueueUsage & { limits: QueueLimits }> {
    requireName(queue, 'queue name');
    const limits = await this.requireQueue(queue);
    return { ...(await this.store.queueUsage(queue, limits.ratePeriodMs ?? 0)), limits };
  }

  async list(): Promise<QueueLimits[]> {
    return this.store.readQueues(null);
  }

  private async requireQueue(name: string): Promise<QueueLimits> {
    let limits = await this.limits.get(name);
    if (!limits) {
      // Declared a moment ago by another process? Look once more before refusing.
      this.limits.invalidate();
      limits = await this.limits.get(name);
    }
    if (!limits) throw new UnknownQueueError(name);
    return limits;
  }

}

export function toQueueMetrics(queue: string, depth: QueueDepth | undefined, runningHere: number): QueueMetrics {
  const enqueued = depth?.enqueued ?? 0;
  const pending = depth?.pending ?? 0;
  return {
    queue,
    enqueued,
    pending,
    delayed: depth?.delayed ?? 0,
    queueLength: enqueued + pending,
    oldestEnqueuedAgeMs: depth?.oldestEnqueuedAt == null ? null : Math.max(0, Date.now() - depth.oldestEnqueuedAt),
    runningHere,
  };
}
