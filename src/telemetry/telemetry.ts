// Prometheus metrics (prom-client, one registry per instance) and tracing (@opentelemetry/api) of
// one Ballast instance or client. Run and step numbers come from the engine's probes; queue depth
// and executors are read from Postgres at scrape time, through partial indexes, and cached briefly
// so that a scrape every few seconds by several Prometheus servers costs the database almost nothing.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Instrumentation, RunDescription, RunEnd, RunProbe, StepProbe } from '../engine/instrumentation.js';
import type { SystemStore } from '../store/system-store.js';
import { LocalCounter, LocalHistogram, type CounterSeries, type HistogramSeries } from './local-metrics.js';
import type { RollupRecorder, RollupSeries } from './rollups.js';
import { currentTraceContext, endSpan, startRunSpan, startStepSpan, within, type Traced } from './tracing.js';

/** Depth gauges and executor gauges are read from Postgres at most this often. */
const SNAPSHOT_MAX_AGE_MS = 2_000;
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];
const FLUSH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Totals that other parts of an executor keep (fail-over, adoption, fencing), read at scrape time. */
export interface FleetTotals {
  recovered: number;
  deadLettered: number;
  adopted: number;
  lateCheckpointsRefused: number;
}

export interface TelemetryOptions {
  appName: string;
  /** This process's executor, if it is one: its local gauges are labelled with it. */
  executorId: string | null;
  runningHere(): number;
  fleetTotals(): FleetTotals;
  /** An executor's per-minute history for the dashboard (absent in a client). */
  rollups?: RollupRecorder;
}

interface Snapshot {
  at: number;
  depths: Awaited<ReturnType<SystemStore['versionDepths']>>;
  oldest: Array<{ queue: string; ageSeconds: number }>;
  executors: Awaited<ReturnType<SystemStore['listExecutors']>>;
}

export class Telemetry implements Instrumentation {
  readonly registry = new Registry();
  private readonly finished: LocalCounter;
  private readonly runDuration: LocalHistogram;
  private readonly stepDuration: LocalHistogram;
  private readonly flushWrites: HistogramSeries;
  private readonly fencedRuns: CounterSeries;
  private snapshot: Snapshot | undefined;
  private readonly byWorkflow = new Map<string, WorkflowMetrics>();
  private reading: Promise<Snapshot> | undefined;

  constructor(
    private readonly store: SystemStore,
    private readonly options: TelemetryOptions,
  ) {
    const registry = this.registry;
    this.finished = new LocalCounter('ballast_workflows_finished_total', 'Workflow runs that finished in this process, by workflow name and final status.', registry);
    this.runDuration = new LocalHistogram(
      'ballast_workflow_run_duration_seconds',
      'Duration of workflow runs in this process, from the run starting (or resuming) here to its outcome.',
      DURATION_BUCKETS,
      registry,
    );
    this.stepDuration = new LocalHistogram(
      'ballast_step_duration_seconds',
      'Duration of step attempts in this process, by workflow name and outcome (ok, error).',
      DURATION_BUCKETS,
      registry,
    );
    this.flushWrites = new LocalHistogram(
      'ballast_group_commit_flush_writes',
      'Rows (starts, checkpoints, completions) written per group-commit flush: one statement and one commit each.',
      FLUSH_BUCKETS,
      registry,
    ).labels();
    this.fencedRuns = new LocalCounter('ballast_fenced_runs_total', 'Runs this process stopped because another executor had taken their workflow over.', registry).labels();
    this.fleetCounter('ballast_recoveries_total', 'Workflows this executor handed over after their executor died.', (t) => t.recovered);
    this.fleetCounter('ballast_dead_lettered_total', 'Workflows this executor moved to DEAD_LETTER after too many recoveries.', (t) => t.deadLettered);
    this.fleetCounter('ballast_adopted_total', 'Orphaned workflows this executor adopted.', (t) => t.adopted);
    this.fleetCounter(
      'ballast_late_checkpoints_refused_total',
      'Checkpoints of stopped runs that the database refused because the workflow was no longer theirs.',
      (t) => t.lateCheckpointsRefused,
    );
    this.snapshotGauges();
  }

  // ---- Instrumentation (engine probes)

  runStarted(run: RunDescription): RunProbe {
    const traced = startRunSpan(run);
    const metrics = this.workflowMetrics(run.name);
    const rollup = this.rollupSeries(metrics, run);
    return traced ? new TracedRun(run, metrics, traced, rollup) : new Run(metrics, rollup);
  }

  /** The run's per-minute accumulator, made once per workflow and queue; counts a first run as started. */
  private rollupSeries(metrics: WorkflowMetrics, run: RunDescription): RollupSeries | undefined {
    const recorder = this.options.rollups;
    if (!recorder) return undefined;
    let series = metrics.rollups.get(run.queue);
    if (!series) {
      series = recorder.seriesFor(run.name, run.queue);
      metrics.rollups.set(run.queue, series);
    }
    if (run.attempt === 1) series.started++;
    return series;
  }

  /** The labelled children of a workflow's metrics, made once: labelling on every step costs a hash of the labels. */
  private workflowMetrics(workflow: string): WorkflowMetrics {
    let metrics = this.byWorkflow.get(workflow);
    if (!metrics) {
      const finished = (status: string) => this.finished.labels({ workflow, status });
      const duration = (status: string) => this.runDuration.labels({ workflow, status });
      metrics = {
        finished: { SUCCESS: finished('SUCCESS'), ERROR: finished('ERROR'), CANCELLED: finished('CANCELLED') },
        runDuration: { SUCCESS: duration('SUCCESS'), ERROR: duration('ERROR'), CANCELLED: duration('CANCELLED') },
        stepOk: this.stepDuration.labels({ workflow, outcome: 'ok' }),
        stepError: this.stepDuration.labels({ workflow, outcome: 'error' }),
        rollups: new Map(),
      };
      this.byWorkflow.set(workflow, metrics);
    }
    return metrics;
  }

  currentTraceContext(): string | null {
    return currentTraceContext();
  }

  flushed(writes: number): void {
    this.flushWrites.observe(writes);
  }

  fenced(): void {
    this.fencedRuns.inc();
  }

  /** The Prometheus text exposition of every metric. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  // ---- gauges read at scrape time

  /** A counter whose value is a running total kept elsewhere: it grows by the difference at each scrape. */
  private fleetCounter(name: string, help: string, read: (totals: FleetTotals) => number): void {
    let counted = 0;
    const options = this.options;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const total = read(options.fleetTotals());
        if (total > counted) this.inc(total - counted);
        counted = Math.max(counted, total);
      },
    });
  }

  private snapshotGauges(): void {
    const registers = [this.registry];
    const snapshot = () => this.readSnapshot();
    const { options } = this;
    new Gauge({
      name: 'ballast_queue_workflows',
      help: 'Workflows of each queue across the fleet, by status (ENQUEUED, PENDING, DELAYED) and application version.',
      labelNames: ['queue', 'status', 'version'],
      registers,
      async collect() {
        const { depths } = await snapshot();
        this.reset();
        for (const depth of depths) this.set({ queue: depth.queue, status: depth.status, version: depth.version }, depth.n);
      },
    });
    new Gauge({
      name: 'ballast_queue_oldest_waiting_seconds',
      help: 'Age of the oldest workflow waiting (ENQUEUED) in each queue.',
      labelNames: ['queue'],
      registers,
      async collect() {
        const { oldest } = await snapshot();
        this.reset();
        for (const entry of oldest) this.set({ queue: entry.queue }, entry.ageSeconds);
      },
    });
    new Gauge({
      name: 'ballast_executor_running_workflows',
      help: 'Workflows each live executor of the application ran at its last heartbeat.',
      labelNames: ['executor', 'version'],
      registers,
      async collect() {
        const { executors } = await snapshot();
        this.reset();
        for (const executor of executors) this.set({ executor: executor.id, version: executor.appVersion }, executor.running);
      },
    });
    new Gauge({
      name: 'ballast_executors_alive',
      help: 'Live executors (lease current) of the application, by version.',
      labelNames: ['version'],
      registers,
      async collect() {
        const { executors } = await snapshot();
        this.reset();
        const byVersion = new Map<string, number>();
        for (const executor of executors) byVersion.set(executor.appVersion, (byVersion.get(executor.appVersion) ?? 0) + 1);
        for (const [version, n] of byVersion) this.set({ version }, n);
      },
    });
    if (options.executorId !== null) {
      const executor = options.executorId;
      new Gauge({
        name: 'ballast_local_running_workflows',
        help: 'Workflows running in this process now.',
        labelNames: ['executor'],
        registers,
        collect() {
          this.set({ executor }, options.runningHere());
        },
      });
    }
  }

  /** One read of the database's view for all gauges of a scrape, reused for SNAPSHOT_MAX_AGE_MS. */
  private readSnapshot(): Promise<Snapshot> {
    const now = Date.now();
    if (this.snapshot && now - this.snapshot.at < SNAPSHOT_MAX_AGE_MS) return Promise.resolve(this.snapshot);
    this.reading ??= (async () => {
      try {
        const [depths, queues, executors] = await Promise.all([
          this.store.versionDepths(),
          this.store.queueDepths(null, null),
          this.store.listExecutors(this.options.appName, true),
        ]);
        const at = Date.now();
        const oldest = queues
          .filter((queue) => queue.oldestEnqueuedAt !== null)
          .map((queue) => ({ queue: queue.queue, ageSeconds: Math.max(0, (at - (queue.oldestEnqueuedAt as number)) / 1000) }));
        this.snapshot = { at, depths, oldest, executors };
        return this.snapshot;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}

interface WorkflowMetrics {
  finished: Record<Exclude<RunEnd, 'DETACHED'>, { inc(): void }>;
  runDuration: Record<Exclude<RunEnd, 'DETACHED'>, { observe(value: number): void }>;
  stepOk: { observe(value: number): void };
  stepError: { observe(value: number): void };
  /** By queue (null: started directly). */
  rollups: Map<string | null, RollupSeries>;
}

/** A run that nothing traces: its outcome and duration only. */
class Run implements RunProbe {
  private readonly startedAt = performance.now();

  constructor(
    protected readonly metrics: WorkflowMetrics,
    private readonly rollup: RollupSeries | undefined,
  ) {}

  step(_name: string, _attempt: number): StepProbe {
    return new Step(this.metrics);
  }

  ended(end: RunEnd, _error: unknown): void {
    if (end === 'DETACHED') return; // another executor or the next launch has its outcome
    const ms = performance.now() - this.startedAt;
    this.metrics.finished[end].inc();
    this.metrics.runDuration[end].observe(ms / 1000);
    this.rollup?.finished[end].add(ms);
  }
}

/** A traced run: a span of its own, the workflow's code and its steps running inside it. */
class TracedRun extends Run {
  readonly within: <T>(fn: () => T) => T;

  constructor(
    private readonly run: RunDescription,
    metrics: WorkflowMetrics,
    private readonly traced: Traced,
    rollup: RollupSeries | undefined,
  ) {
    super(metrics, rollup);
    this.within = (fn) => within(traced, fn);
  }

  override step(name: string, attempt: number): StepProbe {
    return new TracedStep(this.traced, this.run.id, name, attempt, this.metrics);
  }

  override ended(end: RunEnd, error: unknown): void {
    endSpan(this.traced.span, end === 'SUCCESS' || end === 'DETACHED' ? undefined : error, { 'ballast.workflow.status': end });
    super.ended(end, error);
  }
}

/** A step of an untraced run: its duration only. */
class Step implements StepProbe {
  private readonly startedAt = performance.now();

  constructor(private readonly metrics: WorkflowMetrics) {}

  ended(error: unknown): void {
    (error === undefined ? this.metrics.stepOk : this.metrics.stepError).observe((performance.now() - this.startedAt) / 1000);
  }
}

/** A step of a traced run: a span of its own, the step's code running inside it. */
class TracedStep extends Step {
  readonly within: <T>(fn: () => T) => T;
  private readonly traced: Traced;

  constructor(run: Traced, workflowId: string, name: string, attempt: number, metrics: WorkflowMetrics) {
    super(metrics);
    const traced = startStepSpan(run, workflowId, name, attempt);
    this.traced = traced;
    this.within = (fn) => within(traced, fn);
  }

  override ended(error: unknown): void {
    endSpan(this.traced.span, error);
    super.ended(error);
  }
}
