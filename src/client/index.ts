import { checkPayloadSize, deserialize, serialize } from '../codec.js';
import { databaseUrlFromEnv, type Logger } from '../config.js';
import { optionalDuration } from '../durations.js';
import { Observer } from '../engine/observer.js';
import { readStreamArguments, streamValues } from '../engine/stream-reader.js';
import type { DebounceOptions, Duration, ReadStreamOptions, ResultOptions, SendOptions, StreamEntry, WorkflowHandle } from '../engine/types.js';
import { DEBOUNCE_OPTIONS, ENQUEUE_MANY_OPTIONS, ENQUEUE_OPTIONS, SEND_OPTIONS, TIMEOUT_OPTIONS } from '../engine/option-names.js';
import { optionNames, requireName, requireOptions } from '../engine/validation.js';
import { decodeResult, toWorkflowInfo } from '../engine/views.js';
import { LifecycleError, ValidationError, WorkflowNotFoundError } from '../errors.js';
import { WorkflowQueries } from '../management.js';
import { createAdminHandler, type AdminHandlerOptions, type AdminRequestHandler } from '../admin/handler.js';
import type { Readiness } from '../admin/routes.js';
import { FleetRegistry, type ExecutorsApi, type VersionsApi } from '../fleet/registry.js';
import { currentTraceContext } from '../telemetry/tracing.js';
import { WorkflowStats, type StatsApi } from '../telemetry/history.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { queueName, type EnqueueOptions } from '../queues/enqueue.js';
import { QueueService } from '../queues/service.js';
import { ScheduleService, type SchedulesApi } from '../schedule/service.js';
import { PgDriver } from '../store/pg-driver.js';
import { isValidIdentifier } from '../store/sql/identifiers.js';
import { SystemStore } from '../store/system-store.js';

/** How long the version chosen for enqueues that name none is reused before it is looked up again. */
const CURRENT_VERSION_MAX_AGE_MS = 1_000;

export interface BallastClientConfig {
  /** The application whose workflows this client enqueues and inspects. */
  appName: string;
  /** Postgres URL. Default: BALLAST_DATABASE_URL (or DBOS_SYSTEM_DATABASE_URL). */
  databaseUrl?: string;
  /** Default: ballast */
  schema?: string;
  /**
   * Version to enqueue for. Default: BALLAST_APP_VERSION, else the version new work should land
   * on: that of the newest live executor dispatching the queue, else of the newest live executor,
   * else the newest registered (docs/fleet.md, "Enqueues that name no version").
   */
  appVersion?: string;
  poolSize?: number;
  pollIntervalMs?: number;
  maxPayloadBytes?: number;
  logger?: Logger;
}

export interface ClientEnqueueOptions extends EnqueueOptions {
  /** Application version that should run it (default: see BallastClientConfig.appVersion). */
  appVersion?: string;
}

export interface ClientDebounceOptions extends DebounceOptions {
  /** Application version that should run it (default: see BallastClientConfig.appVersion). */
  appVersion?: string;
}

const CONFIG_OPTIONS = optionNames<BallastClientConfig>({
  appName: true, databaseUrl: true, schema: true, appVersion: true, poolSize: true, pollIntervalMs: true, maxPayloadBytes: true, logger: true,
});
const CLIENT_ENQUEUE_OPTIONS = [...ENQUEUE_OPTIONS, 'appVersion'];
const CLIENT_ENQUEUE_MANY_OPTIONS = [...ENQUEUE_MANY_OPTIONS, 'appVersion'];
const CLIENT_DEBOUNCE_OPTIONS = [...DEBOUNCE_OPTIONS, 'appVersion'];

/**
 * Management and enqueue-by-name from a process that registers and runs no workflows (an API
 * server, a cron job, an operator's script). It needs a Postgres server: the embedded database
 * serves one process.
 */
export class BallastClient {
  readonly workflows: WorkflowQueries;
  readonly queues: QueueService;
  /** The application's executors (alive, and on request dead ones). */
  readonly executors: ExecutorsApi;
  /** The application's versions, their live executors and backlog. */
  readonly versions: VersionsApi;
  /** The application's schedules: list, get, pause, resume, trigger (a trigger runs on the schedule's version). */
  readonly schedules: SchedulesApi;
  /** The per-minute history of runs and queue depth the executors record. */
  readonly stats: StatsApi;
  private readonly store: SystemStore;
  private readonly observer: Observer;
  private readonly telemetry: Telemetry;
  private readonly logger: Logger;
  private listening: Promise<() => Promise<void>> | undefined;
  /** The version enqueues to each queue target, briefly remembered: a burst of enqueues asks once. */
  private readonly currentVersions = new Map<string, { version: string; until: number }>();
  private closed = false;

  constructor(private readonly config: BallastClientConfig) {
    requireOptions(config ?? null, CONFIG_OPTIONS, 'new BallastClient(config)', "{ appName: 'orders' }");
    if (typeof config.appName !== 'string' || config.appName === '') {
      throw new ValidationError('new BallastClient(config): config.appName (the application to talk to) must be a non-empty string.');
    }
    const databaseUrl = config.databaseUrl ?? databaseUrlFromEnv();
    if (!databaseUrl) {
      throw new ValidationError(
        'BallastClient needs a Postgres server: set databaseUrl or BALLAST_DATABASE_URL. ' +
          'The embedded database serves only the process that runs the application.',
      );
    }
    const schema = config.schema ?? 'ballast';
    if (!isValidIdentifier(schema)) throw new ValidationError(`schema "${schema}" is not a valid schema name.`);
    const logger: Logger = config.logger ?? { info: () => undefined, warn: (m: string) => console.warn(`[ballast] ${m}`), error: console.error };
    this.logger = logger;
    const pollIntervalMs = config.pollIntervalMs ?? 5_000;
    const driver = new PgDriver({ connectionString: databaseUrl, poolSize: config.poolSize ?? 5, applicationName: `ballast-client:${config.appName}`, logger });
    this.store = new SystemStore(driver, { schema, logger });
    this.observer = new Observer(this.store, pollIntervalMs, logger);
    this.workflows = new WorkflowQueries(this.store, (id) => this.handle(id));
    const fleet = new FleetRegistry(this.store, config.appName);
    this.executors = fleet.executors;
    this.versions = fleet.versions;
    this.queues = new QueueService(this.store, {
      appName: config.appName,
      maxPayloadBytes: config.maxPayloadBytes ?? 16 * 1024 * 1024,
      pollIntervalMs,
      logger,
      runningIn: () => 0,
      traceContext: currentTraceContext,
    });
    this.telemetry = new Telemetry(this.store, {
      appName: config.appName,
      executorId: null,
      runningHere: () => 0,
      fleetTotals: () => ({ recovered: 0, deadLettered: 0, adopted: 0, lateCheckpointsRefused: 0 }),
    });
    this.stats = new WorkflowStats(this.store, config.appName);
    const queues = this.queues;
    this.schedules = new ScheduleService(this.store, config.appName, {
      enqueue: (workflowName, input, options, version) => queues.enqueue(workflowName, input, options, version, null),
    });
  }

  /** Enqueues a workflow by name for the executors of this application to run. */
  async enqueue<Output = unknown>(workflowName: string, input: unknown, options: ClientEnqueueOptions): Promise<WorkflowHandle<Output>> {
    this.assertOpen();
    requireName(workflowName, 'workflow name');
    requireOptions(options, CLIENT_ENQUEUE_OPTIONS, `enqueue of workflow "${workflowName}"`, "{ queue: 'emails' }");
    const { appVersion, ...enqueueOptions } = options ?? ({} as ClientEnqueueOptions);
    const version = await this.versionFor(appVersion, enqueueOptions.queue);
    const { id } = await this.queues.enqueue(workflowName, input, enqueueOptions, version, null);
    return this.handle<Output>(id);
  }

  /**
   * Debounces a workflow by name: calls with the same key collapse into one workflow that starts
   * with the last call's input once the key has been quiet for `delay` (see WorkflowDefinition.debounce).
   */
  async debounce<Output = unknown>(workflowName: string, key: string, input: unknown, options: ClientDebounceOptions): Promise<WorkflowHandle<Output>> {
    this.assertOpen();
    requireName(workflowName, 'workflow name');
    requireOptions(options ?? null, CLIENT_DEBOUNCE_OPTIONS, `debounce of workflow "${workflowName}"`, "{ delay: '5s', queue: 'digests' }");
    const { appVersion, ...debounceOptions } = options;
    const version = await this.versionFor(appVersion, debounceOptions.queue);
    return this.handle<Output>(await this.queues.debounce(workflowName, key, input, debounceOptions, version));
  }

  /** Enqueues many workflows in one round trip (they share one group-commit flush). */
  async enqueueMany<Output = unknown>(
    workflowName: string,
    inputs: unknown[],
    options: Omit<ClientEnqueueOptions, 'id' | 'dedupId'>,
  ): Promise<WorkflowHandle<Output>[]> {
    this.assertOpen();
    requireName(workflowName, 'workflow name');
    if (!Array.isArray(inputs)) throw new ValidationError('enqueueMany(name, inputs, options): inputs must be an array.');
    requireOptions(options, CLIENT_ENQUEUE_MANY_OPTIONS, 'enqueueMany(name, inputs, options)', "{ queue: 'emails' }");
    const { appVersion, ...enqueueOptions } = options ?? ({} as ClientEnqueueOptions);
    const version = await this.versionFor(appVersion, enqueueOptions.queue);
    const enqueued = await Promise.all(inputs.map((input) => this.queues.enqueue(workflowName, input, { ...enqueueOptions }, version, null)));
    return enqueued.map(({ id }) => this.handle<Output>(id));
  }

  handle<Output = unknown>(workflowId: string): WorkflowHandle<Output> {
    requireName(workflowId, 'workflow ID');
    return {
      id: workflowId,
      status: async () => {
        const record = await this.store.getWorkflow(workflowId);
        if (!record) throw new WorkflowNotFoundError(workflowId);
        return toWorkflowInfo(record, false);
      },
      result: (options?: ResultOptions) => this.result<Output>(workflowId, options),
    };
  }

  async result<Output = unknown>(workflowId: string, options: ResultOptions = {}): Promise<Output> {
    this.assertOpen();
    requireName(workflowId, 'workflow ID');
    requireOptions(options, TIMEOUT_OPTIONS, 'result', "{ timeout: '10s' }");
    const timeoutMs = optionalDuration(options.timeout, 'result timeout');
    await this.ensureListening();
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const found = await this.observer.awaitFinal(workflowId, deadline, timeoutMs ?? 0);
    if (!('record' in found)) throw new Error('unreachable: a client runs no workflows');
    return decodeResult<Output>(found.record);
  }

  async send(workflowId: string, topic: string, message: unknown, options: SendOptions = {}): Promise<void> {
    this.assertOpen();
    requireName(workflowId, 'destination workflow ID');
    requireName(topic, 'topic');
    requireOptions(options, SEND_OPTIONS, 'send', "{ idempotencyKey: 'payment-42' }");
    if (options.idempotencyKey !== undefined) requireName(options.idempotencyKey, 'idempotencyKey');
    const payload = serialize(message, `message on topic "${topic}"`);
    checkPayloadSize(payload, this.config.maxPayloadBytes ?? 16 * 1024 * 1024, `message on topic "${topic}"`);
    await this.store.sendMessage(workflowId, topic, payload, options.idempotencyKey ?? null);
  }

  async getEvent<T = unknown>(workflowId: string, key: string, options: { timeout?: Duration } = {}): Promise<T | undefined> {
    this.assertOpen();
    requireName(workflowId, 'workflow ID');
    requireName(key, 'event key');
    requireOptions(options, TIMEOUT_OPTIONS, 'getEvent', "{ timeout: '10s' }");
    const timeoutMs = optionalDuration(options.timeout, 'getEvent timeout') ?? 0;
    await this.ensureListening();
    const value = await this.observer.awaitEvent(workflowId, key, timeoutMs);
    return value === undefined ? undefined : (deserialize(value) as T);
  }

  /** A workflow's stream, as Ballast.readStream reads it. */
  readStream<T = unknown>(workflowId: string, key: string, options?: ReadStreamOptions): AsyncIterable<T> {
    return streamValues<T>(this.readStreamEntries(workflowId, key, options));
  }

  /** readStream with each value's position. */
  readStreamEntries<T = unknown>(workflowId: string, key: string, options?: ReadStreamOptions): AsyncIterable<StreamEntry<T>> {
    this.assertOpen();
    const { from, signal } = readStreamArguments(workflowId, key, options);
    const listening = this.ensureListening();
    const observer = this.observer;
    return (async function* () {
      await listening;
      yield* observer.readStream(workflowId, key, from, signal) as AsyncIterable<StreamEntry<T>>;
    })();
  }

  /** Readiness of this client: the database answers within `timeoutMs`. */
  async readiness(timeoutMs = 2_000): Promise<Readiness> {
    if (this.closed) return { ready: false, reason: 'stopping' };
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      this.store.driver.query('SELECT 1').then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return answered ? { ready: true } : { ready: false, reason: 'database unavailable' };
  }

  /** Prometheus text exposition of the fleet-wide gauges (queue depth, executors) this client sees. */
  prometheusMetrics(): Promise<{ contentType: string; body: string }> {
    this.assertOpen();
    return this.telemetry.exposition();
  }

  /**
   * The admin API over this client, as a node:http request handler: an operations service can
   * serve it without running workflows (see Ballast.adminHandler).
   */
  adminHandler(options: AdminHandlerOptions = {}): AdminRequestHandler {
    return createAdminHandler(() => this, { logger: this.logger, ...options });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listening = this.listening;
    this.observer.close();
    this.store.markClosed();
    if (listening) await (await listening.catch(() => async () => undefined))();
    await this.store.close();
  }

  private async versionFor(requested: string | undefined, queue: EnqueueOptions['queue'] | undefined): Promise<string> {
    const explicit = requested ?? this.config.appVersion ?? process.env.BALLAST_APP_VERSION;
    if (explicit !== undefined && explicit !== '') {
      requireName(explicit, 'appVersion');
      return explicit;
    }
    const name = queueName(queue);
    const cached = this.currentVersions.get(name);
    if (cached && cached.until > Date.now()) return cached.version;
    const current = await this.store.currentAppVersion(this.config.appName, name);
    if (current === undefined) {
      throw new LifecycleError(
        `No executor of application "${this.config.appName}" has registered yet, so the version to enqueue for is unknown. ` +
          'Launch the application first, or pass appVersion.',
      );
    }
    this.currentVersions.set(name, { version: current, until: Date.now() + CURRENT_VERSION_MAX_AGE_MS });
    return current;
  }

  private ensureListening(): Promise<unknown> {
    this.listening ??= this.observer.listen(
      () => undefined,
      () => undefined,
    );
    return this.listening;
  }

  private assertOpen(): void {
    if (this.closed) throw new LifecycleError('This BallastClient was closed.');
  }
}

export type { WorkflowFilter, GetOptions } from '../management.js';
export type { WorkflowHandle, WorkflowInfo, StepInfo, ResultOptions, ReadStreamOptions, StreamEntry, DebounceOptions } from '../engine/types.js';
export type { QueueMetrics, MetricsOptions } from '../queues/service.js';
export type { EnqueueOptions } from '../queues/enqueue.js';
export type { WorkflowAttributes } from '../engine/attributes.js';
export type { ExecutorInfo, ExecutorListOptions, ExecutorsApi, VersionInfo, VersionsApi } from '../fleet/registry.js';
export type { ScheduledRun } from '../schedule/declaration.js';
export type { ScheduleInfo, SchedulesApi } from '../schedule/service.js';
export type { History, HistoryOptions, HistoryPoint, QueueDepthPoint, RunCounts, StatsApi, WorkflowTotals } from '../telemetry/history.js';
export * from '../errors.js';
