import { hostname } from 'node:os';
import { systemClock, type Clock } from './clock.js';
import { checkPayloadSize, deserialize, serialize } from './codec.js';
import { resolveConfig, type BallastConfig, type ResolvedConfig } from './config.js';
import { optionalDuration } from './durations.js';
import { Runtime } from './engine/runtime.js';
import { WorkflowRegistry, type Registration, type WorkflowOptions } from './engine/registry.js';
import type {
  DebounceOptions,
  Duration,
  EnqueueOptions,
  ReadStreamOptions,
  ResultOptions,
  SendOptions,
  StartOptions,
  StreamEntry,
  WorkflowDefinition,
  WorkflowFunction,
  WorkflowHandle,
} from './engine/types.js';
import { readStreamArguments, streamValues } from './engine/stream-reader.js';
import { ENQUEUE_MANY_OPTIONS, SEND_OPTIONS, TIMEOUT_OPTIONS } from './engine/option-names.js';
import { optionNames, requireName, requireOptions } from './engine/validation.js';
import { Observer } from './engine/observer.js';
import { DuplicateRegistrationError, LifecycleError, ValidationError } from './errors.js';
import { OrphanAdoption } from './fleet/adoption.js';
import { ParkedWakeups } from './fleet/parked.js';
import { ExecutorLease } from './fleet/lease.js';
import { FleetRegistry, type ExecutorsApi, type VersionsApi } from './fleet/registry.js';
import { RetentionJanitor } from './fleet/retention.js';
import { FleetTakeover } from './fleet/takeover.js';
import { WorkflowManagement } from './management.js';
import type { QueueOptions } from './queues/options.js';
import { QueueRegistry, type Queue } from './queues/registry.js';
import { QueueService } from './queues/service.js';
import { ScheduleRegistry, type ScheduledRun, type ScheduleOptions, type WorkflowLauncher } from './schedule/declaration.js';
import { Scheduler } from './schedule/scheduler.js';
import { ScheduleService, type SchedulesApi } from './schedule/service.js';
import { DataSources, type DataSourceOptions } from './store/data-sources.js';
import type { Driver } from './store/driver.js';
import { PgDriver } from './store/pg-driver.js';
import { SystemStore } from './store/system-store.js';
import { createAdminHandler, type AdminHandlerOptions, type AdminRequestHandler } from './admin/handler.js';
import type { Readiness } from './admin/routes.js';
import { AdminServer } from './admin/server.js';
import { currentTraceContext } from './telemetry/tracing.js';
import { WorkflowStats, type StatsApi } from './telemetry/history.js';
import { RollupRecorder } from './telemetry/rollups.js';
import { Telemetry } from './telemetry/telemetry.js';
import { wakeKey } from './store/wakeups.js';

type State = 'new' | 'launching' | 'running' | 'stopping' | 'stopped';

/** The default application version of an application upgraded in place with ctx.patched (config.patching). */
export const PATCHING_APP_VERSION = 'patching';

export interface ShutdownOptions {
  /** How long to wait for running workflows before leaving them PENDING for recovery. Default 30 s. */
  drainMs?: number;
}

export type { SendOptions };

const SHUTDOWN_OPTIONS = optionNames<ShutdownOptions>({ drainMs: true });
const DATA_SOURCE_OPTIONS = optionNames<DataSourceOptions>({ databaseUrl: true, poolSize: true });

/**
 * What the testing kit (ballast/testing) gives an instance beyond its config: a virtual clock, and
 * a look at its runtime and store once launched. Not part of the public API.
 * @internal
 */
export interface InstanceInternals {
  clock?: Clock;
  /** Wraps the connection the instance opens (the kit counts the statements in flight). */
  wrapDriver?(driver: Driver): Driver;
  launched?(parts: { runtime: Runtime; store: SystemStore }): void;
}

/**
 * One Ballast application: its workflows, its connection to the system database, and the executor
 * that runs them. Instances are independent; several can live in one process.
 */
export class Ballast {
  readonly config: ResolvedConfig;
  private readonly registry = new WorkflowRegistry();
  private readonly queueRegistry = new QueueRegistry();
  private queueService: QueueService | undefined;
  private state: State = 'new';
  private store: SystemStore | undefined;
  private runtime: Runtime | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  private observer: Observer | undefined;
  private lease: ExecutorLease | undefined;
  private takeover: FleetTakeover | undefined;
  private adoption: OrphanAdoption | undefined;
  private parked: ParkedWakeups | undefined;
  private fleet: FleetRegistry | undefined;
  private managementApi: WorkflowManagement | undefined;
  private retention: RetentionJanitor | undefined;
  private telemetry: Telemetry | undefined;
  private rollups: RollupRecorder | undefined;
  private statsApi: StatsApi | undefined;
  private adminServer: AdminServer | undefined;
  private readonly scheduleRegistry = new ScheduleRegistry();
  private readonly dataSources = new DataSources();
  private scheduler: Scheduler | undefined;
  private scheduleService: ScheduleService | undefined;

  private readonly clock: Clock;

  constructor(
    config: BallastConfig,
    /** @internal */
    private readonly internals: InstanceInternals = {},
  ) {
    this.config = resolveConfig(config);
    this.clock = internals.clock ?? systemClock;
  }

  /** Registers a workflow. Register every workflow before launch(), in every process of the application. */
  workflow<Input, Output>(name: string, fn: WorkflowFunction<Input, Output>, options?: WorkflowOptions): WorkflowDefinition<Input, Output> {
    if (this.state !== 'new') throw new LifecycleError(`Register workflow "${name}" before launch(): the application version is fixed at launch.`);
    const registration = this.registry.register(name, fn, options);
    return {
      name,
      start: (input: Input, options?: StartOptions) => this.startRegistered<Input, Output>(registration, input, options),
      enqueue: (input: Input, options: EnqueueOptions) =>
        this.requireRuntime(`${name}.enqueue`).enqueue<Output>(registration, input, options, null),
      debounce: async (key: string, input: Input, options: DebounceOptions) => {
        const runtime = this.requireRuntime(`${name}.debounce`);
        const id = await (this.queueService as QueueService).debounce(name, key, input, options, runtime.appVersion);
        return runtime.handle<Output>(id);
      },
      enqueueMany: async (inputs: Input[], options: Omit<EnqueueOptions, 'id' | 'dedupId'>) => {
        if (!Array.isArray(inputs)) throw new ValidationError(`${name}.enqueueMany(inputs, options): inputs must be an array.`);
        requireOptions(options, ENQUEUE_MANY_OPTIONS, `${name}.enqueueMany(inputs, options)`, "{ queue: 'emails' }");
        const runtime = this.requireRuntime(`${name}.enqueueMany`);
        // Submitted in one tick, the inserts share one group-commit flush: one statement, one round trip.
        return Promise.all(inputs.map((input) => runtime.enqueue<Output>(registration, input, { ...options }, null)));
      },
    };
  }

  /** Declares a queue and its limits. Declare queues before launch(); every replica should declare the same. */
  queue(name: string, options?: QueueOptions): Queue {
    if (this.state !== 'new') throw new LifecycleError(`Declare queue "${name}" before launch().`);
    return this.queueRegistry.declare(name, options);
  }

  /**
   * Declares a cron schedule that starts `workflow` once per tick across the fleet (see
   * docs/schedules.md). Declare schedules before launch(); every replica should declare the same.
   */
  schedule(name: string, cron: string, workflow: WorkflowDefinition<ScheduledRun, unknown>, options?: ScheduleOptions): void {
    if (this.state !== 'new') throw new LifecycleError(`Declare schedule "${name}" before launch().`);
    this.scheduleRegistry.declare(name, cron, workflow, options, (workflowName) => this.registry.get(workflowName) !== undefined);
  }

  /**
   * Declares an application database (another Postgres) for `ctx.transaction(name, fn, { dataSource })`.
   * At launch Ballast connects to it and creates the table where such transactions record their
   * completion (`<schema>.transaction_completions`, see docs/workflows.md). Declare before launch().
   */
  dataSource(name: string, options: DataSourceOptions): void {
    if (this.state !== 'new') throw new LifecycleError(`Declare data source "${name}" before launch().`);
    requireName(name, 'data source name');
    const what = `ballast.dataSource("${name}", options)`;
    requireOptions(options ?? null, DATA_SOURCE_OPTIONS, what, '{ databaseUrl: process.env.APP_DATABASE_URL }');
    if (typeof options.databaseUrl !== 'string' || options.databaseUrl === '') {
      throw new ValidationError(`${what}: databaseUrl must be the Postgres URL of the application database, got ${String(options.databaseUrl)}.`);
    }
    if (options.poolSize !== undefined && (!Number.isInteger(options.poolSize) || options.poolSize < 1)) {
      throw new ValidationError(`${what}: poolSize must be a positive integer, got ${String(options.poolSize)}.`);
    }
    if (this.dataSources.has(name)) throw new DuplicateRegistrationError('data source', name);
    this.dataSources.declare(name, { ...options });
  }

  get executorId(): string {
    return this.config.executorId;
  }

  /** The application version this executor runs (known after launch). */
  get appVersion(): string {
    return this.requireRuntime('appVersion').appVersion;
  }

  get launched(): boolean {
    return this.state === 'running';
  }

  /**
   * Migrates the schema, registers the executor, recovers its own workflows, starts dispatching,
   * and joins the fleet: takes over the workflows of executors whose lease expires and adopts
   * orphaned ones of its version.
   */
  async launch(): Promise<void> {
    if (this.state !== 'new') throw new LifecycleError(`launch() can be called once; this instance is ${this.state}.`);
    this.state = 'launching';
    const { config } = this;
    try {
      if (config.admin) {
        const { port, host, handler } = config.admin;
        this.adminServer = await AdminServer.listen(this.adminHandler(handler), port, host);
        config.logger.info(`admin API listening on port ${this.adminServer.port}`);
      }
      const opened: Driver = config.databaseUrl
        ? new PgDriver({
            connectionString: config.databaseUrl,
            poolSize: config.poolSize,
            // pg_stat_activity shows which executor (pod) each connection belongs to.
            applicationName: `ballast:${config.name}@${config.executorId}`.slice(0, 56),
            idleInTransactionTimeoutMs: config.executorLeaseMs,
            statementTimeoutMs: config.statementTimeoutMs,
            logger: config.logger,
          })
        : await openEmbedded(config.dataDir);
      const driver = this.internals.wrapDriver?.(opened) ?? opened;
      const clock = this.clock;
      const store = new SystemStore(driver, { schema: config.schema, logger: config.logger, clock });
      this.store = store;
      await store.migrate();
      const observer = new Observer(store, config.pollIntervalMs, config.logger, clock);
      this.observer = observer;
      const runtime = new Runtime(store, observer, this.registry, {
        appName: config.name,
        executorId: config.executorId,
        pollIntervalMs: config.pollIntervalMs,
        parkAfterMs: config.parkAfterMs,
        maxRecoveryAttempts: config.maxRecoveryAttempts,
        maxPayloadBytes: config.maxPayloadBytes,
        clock,
        logger: config.logger,
      });
      this.runtime = runtime;
      // Open before recovery: a recovered workflow may be in a transaction on one.
      await this.dataSources.open({
        schema: config.schema,
        applicationName: `ballast:${config.name}@${config.executorId}`.slice(0, 48),
        statementTimeoutMs: config.statementTimeoutMs,
        logger: config.logger,
        isClosed: () => this.state !== 'launching' && this.state !== 'running',
      });
      runtime.dataSources = this.dataSources;
      const queues = new QueueService(store, {
        appName: config.name,
        maxPayloadBytes: config.maxPayloadBytes,
        pollIntervalMs: config.pollIntervalMs,
        logger: config.logger,
        runningIn: (queue) => runtime.runningIn(queue),
        traceContext: currentTraceContext,
        clock,
      });
      this.queueService = queues;
      runtime.setEnqueuer(async (registration, input, options, parent) => {
        const mark = runtime.markActive();
        const { id, active } = await queues.enqueue(registration.name, input, options, runtime.appVersion, parent);
        return runtime.handle(id, active ? mark : undefined);
      });
      const cancelPrefix = wakeKey('cancel', '');
      const delayedPrefix = wakeKey('delayed', '');
      const limitsKey = wakeKey('limits');
      this.stopListening = await observer.listen(
        (key) => {
          if (key.startsWith(cancelPrefix)) runtime.stopCancelled(key.slice(cancelPrefix.length));
          else if (key.startsWith(delayedPrefix)) queues.delayedEnqueued(key.slice(delayedPrefix.length));
          else if (key === limitsKey) queues.limits.invalidate();
        },
        () => queues.reconnected(),
      );
      const appVersion = config.appVersion ?? (config.patching ? PATCHING_APP_VERSION : this.registry.codeVersion());
      const lease = new ExecutorLease(
        store,
        {
          id: config.executorId,
          appName: config.name,
          appVersion,
          hostname: hostname(),
          pid: process.pid,
          leaseMs: config.executorLeaseMs,
          queues: this.queueRegistry.all().map((queue) => queue.name),
        },
        runtime,
        { heartbeatIntervalMs: config.heartbeatIntervalMs, logger: config.logger },
      );
      this.lease = lease;
      runtime.leaseGate = lease;
      this.rollups = new RollupRecorder(store, { appName: config.name, appVersion: () => runtime.appVersion, logger: config.logger });
      const telemetry = new Telemetry(store, {
        appName: config.name,
        executorId: config.executorId,
        rollups: this.rollups,
        runningHere: () => runtime.runningCount,
        fleetTotals: () => ({
          recovered: this.takeover?.counts.recovered ?? 0,
          deadLettered: this.takeover?.counts.deadLettered ?? 0,
          adopted: this.adoption?.adopted ?? 0,
          lateCheckpointsRefused: runtime.refusedLateCheckpoints,
        }),
      });
      this.telemetry = telemetry;
      runtime.instrumentation = telemetry;
      store.writer.onFlushed = (writes) => telemetry.flushed(writes);
      await lease.register();
      runtime.open(appVersion);
      this.rollups.start();
      await runtime.recover();
      await queues.startDispatching(runtime, this.queueRegistry);
      this.takeover = new FleetTakeover(store, lease, {
        appName: config.name,
        leaseMs: config.executorLeaseMs,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        maxRecoveryAttempts: config.maxRecoveryAttempts,
        logger: config.logger,
      });
      this.takeover.start();
      this.adoption = new OrphanAdoption(store, runtime, { appName: config.name, pollIntervalMs: config.pollIntervalMs, logger: config.logger });
      this.adoption.start();
      this.parked = new ParkedWakeups(store, runtime, { appName: config.name, pollIntervalMs: config.pollIntervalMs, logger: config.logger });
      this.parked.start();
      this.fleet = new FleetRegistry(store, config.name);
      this.retention = new RetentionJanitor(store, config.retention, config.executorId, config.logger, clock);
      this.retention.start();
      // Schedules start workflows this instance registered (checked at declaration), by name.
      const launcher: WorkflowLauncher = {
        start: (name, input, options) => runtime.start(this.registry.get(name) as Registration, input, options),
        enqueue: (name, input, options) => runtime.enqueue(this.registry.get(name) as Registration, input, options, null),
      };
      this.scheduleService = new ScheduleService(store, config.name, {
        enqueue: (workflowName, input, options, version) => queues.enqueue(workflowName, input, options, version, null),
        local: { appVersion, launcher, declaration: (name) => this.scheduleRegistry.get(name) },
      }, clock);
      this.scheduler = new Scheduler(store, this.scheduleRegistry.all(), { appName: config.name, appVersion, launcher, logger: config.logger, clock });
      this.internals.launched?.({ runtime, store });
      await this.scheduler.start();
      this.state = 'running';
    } catch (error) {
      await this.closeResources();
      this.state = 'stopped';
      throw error;
    }
  }

  /**
   * Stops taking work, lets running workflows finish for up to `drainMs`, hands the ones still
   * running back to the fleet (queued ones to their queue, direct ones for adoption by the
   * executors of their version), ends the lease and closes connections.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    if (this.state !== 'running') throw new LifecycleError(`shutdown() during ${this.state}: wait for launch() to settle first.`);
    requireOptions(options, SHUTDOWN_OPTIONS, 'shutdown', '{ drainMs: 10_000 }');
    const drainMs = optionalDuration(options.drainMs, 'shutdown drainMs') ?? 30_000;
    this.state = 'stopping';
    await this.scheduler?.stop();
    await Promise.all([this.queueService?.stop(), this.takeover?.stop(), this.adoption?.stop(), this.parked?.stop()]);
    await this.runtime?.drain(drainMs);
    await this.store?.writer.idle();
    await this.rollups?.stop();
    // No renewal may land after the hand-back: it would revive a lease the fleet saw end.
    await this.lease?.stop();
    await this.takeover?.handBack(this.config.executorId).catch((error: Error) => {
      this.config.logger.warn(`could not hand unfinished workflows back (the fleet takes them over once the lease expires): ${error.message}`);
    });
    await this.closeResources();
    this.state = 'stopped';
  }

  /** The executors of this application: who runs, what, since when, and whose lease ran out. */
  get executors(): ExecutorsApi {
    this.requireRuntime('executors');
    return (this.fleet as FleetRegistry).executors;
  }

  /** The application versions, with their live executors and backlog (see docs/fleet.md). */
  get versions(): VersionsApi {
    this.requireRuntime('versions');
    return (this.fleet as FleetRegistry).versions;
  }

  /** Management of workflows: get, steps, cancel, resume, fork. */
  get workflows(): WorkflowManagement {
    const runtime = this.requireRuntime('workflows');
    this.managementApi ??= new WorkflowManagement(runtime);
    return this.managementApi;
  }

  /** Queue depth metrics and fleet-wide limits. */
  get queues(): QueueService {
    this.requireRuntime('queues');
    return this.queueService as QueueService;
  }

  /** The application's schedules: list, get, pause, resume, trigger (see docs/schedules.md). */
  get schedules(): SchedulesApi {
    this.requireRuntime('schedules');
    return this.scheduleService as ScheduleService;
  }

  /** The per-minute history of runs and queue depth the executors record (the dashboard's charts). */
  get stats(): StatsApi {
    this.requireRuntime('stats');
    this.statsApi ??= new WorkflowStats(this.store as SystemStore, this.config.name);
    return this.statsApi;
  }

  /**
   * Deletes finished workflows beyond the configured retention now (it also runs periodically);
   * returns how many were deleted.
   */
  async pruneFinished(): Promise<number> {
    this.requireRuntime('pruneFinished');
    return (this.retention as RetentionJanitor).runOnce();
  }

  /**
   * Readiness, as /readyz reports it: ready once launch() has finished and while the database
   * answers; not before, and not from the moment shutdown begins.
   */
  async readiness(): Promise<Readiness> {
    if (this.state === 'new' || this.state === 'launching') return { ready: false, reason: 'starting' };
    if (this.state !== 'running') return { ready: false, reason: 'stopping' };
    return (await this.probeDatabase()) ? { ready: true } : { ready: false, reason: 'database unavailable' };
  }

  /** The Prometheus text exposition of this instance's metrics (what GET /metrics serves). */
  async prometheusMetrics(): Promise<{ contentType: string; body: string }> {
    this.requireRuntime('prometheusMetrics');
    return (this.telemetry as Telemetry).exposition();
  }

  /**
   * The admin API and the dashboard (at /dashboard/) as a node:http request handler, to serve on the
   * application's own port beside its routes: `handler(req, res, next)` calls `next()` for paths it
   * does not serve. Operators act with BALLAST_ADMIN_TOKEN, viewers read with BALLAST_VIEWER_TOKEN;
   * with neither configured, only loopback clients may act (see AdminHandlerOptions).
   */
  adminHandler(options: AdminHandlerOptions = {}): AdminRequestHandler {
    // Anything but an object goes to the handler's own checks as it is, to be refused there.
    const withLogger = typeof options === 'object' && options !== null ? { logger: this.config.logger, ...options } : options;
    return createAdminHandler(() => this, withLogger);
  }

  /** True when the database answers a trivial query within `timeoutMs` (for readiness probes). */
  async probeDatabase(timeoutMs = 2_000): Promise<boolean> {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new ValidationError(`probeDatabase(timeoutMs): timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}.`);
    }
    const store = this.store;
    if (!store || this.state !== 'running') return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        store.driver.query('SELECT 1').then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A handle to an existing workflow by ID. */
  handle<Output = unknown>(workflowId: string): WorkflowHandle<Output> {
    requireName(workflowId, 'workflow ID');
    return this.requireRuntime('handle').handle<Output>(workflowId);
  }

  /** Sends a message to a workflow's `recv(topic)`. Delivered once per idempotency key. */
  async send(workflowId: string, topic: string, message: unknown, options: SendOptions = {}): Promise<void> {
    requireName(workflowId, 'destination workflow ID');
    requireName(topic, 'topic');
    requireOptions(options, SEND_OPTIONS, 'send', "{ idempotencyKey: 'payment-42' }");
    if (options.idempotencyKey !== undefined) requireName(options.idempotencyKey, 'idempotencyKey');
    const payload = serialize(message, `message on topic "${topic}"`);
    checkPayloadSize(payload, this.config.maxPayloadBytes, `message on topic "${topic}"`);
    await this.requireStore('send').sendMessage(workflowId, topic, payload, options.idempotencyKey ?? null);
  }

  /** Reads an event a workflow set with ctx.setEvent, waiting up to `timeout` for it to appear. */
  async getEvent<T = unknown>(workflowId: string, key: string, options: { timeout?: Duration } = {}): Promise<T | undefined> {
    requireName(workflowId, 'workflow ID');
    requireName(key, 'event key');
    requireOptions(options, TIMEOUT_OPTIONS, 'getEvent', "{ timeout: '10s' }");
    const timeoutMs = optionalDuration(options.timeout, 'getEvent timeout') ?? 0;
    const value = await this.requireRuntime('getEvent').observer.awaitEvent(workflowId, key, timeoutMs);
    return value === undefined ? undefined : (deserialize(value) as T);
  }

  /**
   * The values a workflow writes to its stream `key` (ctx.writeStream), from position `from`
   * (default 0) on, as they are committed; the iteration ends when the stream is closed or the
   * workflow has finished. Position n is the (n+1)th value written, so a reader that saw k values
   * resumes with `{ from: from + k }`.
   */
  readStream<T = unknown>(workflowId: string, key: string, options?: ReadStreamOptions): AsyncIterable<T> {
    return streamValues<T>(this.readStreamEntries(workflowId, key, options));
  }

  /** readStream with each value's position. */
  readStreamEntries<T = unknown>(workflowId: string, key: string, options?: ReadStreamOptions): AsyncIterable<StreamEntry<T>> {
    const { from, signal } = readStreamArguments(workflowId, key, options);
    return this.requireRuntime('readStream').observer.readStream(workflowId, key, from, signal) as AsyncIterable<StreamEntry<T>>;
  }

  /** Waits for a workflow's result by ID (see WorkflowHandle.result). */
  result<Output = unknown>(workflowId: string, options?: ResultOptions): Promise<Output> {
    return this.handle<Output>(workflowId).result(options);
  }

  private async startRegistered<Input, Output>(
    registration: Registration,
    input: Input,
    options?: StartOptions,
  ): Promise<WorkflowHandle<Output>> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ValidationError(`start options of workflow "${registration.name}" must be an object such as { id: "order-1" }.`);
    }
    return this.requireRuntime(`${registration.name}.start`).start<Input, Output>(registration, input, options);
  }

  private requireRuntime(what: string): Runtime {
    if (!this.runtime || (this.state !== 'running' && this.state !== 'launching' && this.state !== 'stopping')) {
      throw new LifecycleError(`${what}: call await ballast.launch() first${this.state === 'stopped' ? ' (this instance was shut down)' : ''}.`);
    }
    return this.runtime;
  }

  private requireStore(what: string): SystemStore {
    this.requireRuntime(what);
    return this.store as SystemStore;
  }

  private async closeResources(): Promise<void> {
    await this.scheduler?.stop();
    await this.rollups?.stop(false);
    await this.lease?.stop();
    await Promise.all([this.takeover?.stop(), this.adoption?.stop(), this.parked?.stop()]);
    await this.retention?.stop();
    await this.queueService?.stop().catch(() => undefined);
    this.store?.markClosed();
    this.observer?.close();
    await this.stopListening?.().catch(() => undefined);
    await this.store?.close().catch(() => undefined);
    await this.dataSources.close().catch(() => undefined);
    await this.adminServer?.close();
  }
}

/** PGlite is loaded only when used: importing it costs ~40 MB of memory that a Postgres app never needs. */
async function openEmbedded(dataDir: string): Promise<Driver> {
  const { PgliteDriver } = await import('./store/pglite-driver.js');
  return PgliteDriver.open(dataDir);
}
