/**
 * `ballast/testing`: a Ballast instance for tests, on a fresh in-memory embedded database (or a
 * schema of its own on a given Postgres), with virtual time and simulated crashes (docs/testing.md).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Ballast } from '../ballast.js';
import type { BallastConfig, Logger } from '../config.js';
import { parseDuration } from '../durations.js';
import type { Runtime } from '../engine/runtime.js';
import type { Duration, WorkflowDefinition, WorkflowHandle } from '../engine/types.js';
import { optionNames, requireName, requireOptions } from '../engine/validation.js';
import { LifecycleError, UnknownWorkflowError, ValidationError } from '../errors.js';
import { IN_MEMORY } from '../store/pglite-driver.js';
import type { SystemStore } from '../store/system-store.js';
import { Activity } from './activity.js';
import { CrashPoints, type CrashPoint, type CrashTarget } from './crash-points.js';
import { readHistory, type WorkflowHistory } from './history.js';
import { VirtualClock } from './virtual-clock.js';

export type { Crash, CrashPoint } from './crash-points.js';
export type { WorkflowHistory } from './history.js';

/** Longest an advance waits for the instance to go quiet after firing a due time (a step that never ends). */
const SETTLE_PATIENCE_MS = 5_000;

export interface TestBallastOptions {
  /**
   * Run on this Postgres, in a schema of its own that close() drops. Default: a fresh embedded
   * database in memory.
   */
  databaseUrl?: string;
  /** Where virtual time starts. Default: now. */
  startAt?: Date | number;
  /** The rest of the instance's configuration. Default name "test"; logs are dropped unless a logger is given. */
  config?: Omit<Partial<BallastConfig>, 'databaseUrl' | 'dataDir' | 'schema'>;
}

const TEST_BALLAST_OPTIONS = optionNames<TestBallastOptions>({ databaseUrl: true, startAt: true, config: true });

/** A workflow run to crash: a definition (its next run that reaches the step), a handle, or a workflow ID. */
export type CrashTargetInput = WorkflowDefinition<never, unknown> | WorkflowHandle<unknown> | string;

export interface TestBallast {
  /** The instance: register workflows, queues and schedules on it, then launch(). */
  readonly ballast: Ballast;
  /** Launches the instance (migrations, dispatchers, scheduler) once everything is registered. */
  launch(): Promise<void>;
  /** The virtual now. */
  now(): Date;
  /**
   * Moves virtual time forward by `duration`: every sleep, recv/getEvent/result timeout, queue
   * delay, rate window, schedule tick and workflow timeout that falls due in the span fires, in
   * order, and what it woke has reacted before time moves on. Resolves at the end of the span.
   */
  advance(duration: Duration): Promise<void>;
  /**
   * Stops the next run of `target` that records `step` (a name, or a position in its history)
   * right after that checkpoint commits, as a crash would: nothing more of the run is written,
   * and the workflow stays PENDING until recover().
   */
  crashAfterStep(target: CrashTargetInput, step: string | number): CrashPoint;
  /** Resumes the crashed workflows from their checkpoints, as a restart would; returns their IDs. */
  recover(): Promise<string[]>;
  /** What a workflow recorded: status row, checkpoints, events set, messages received. */
  history(workflowId: string): Promise<WorkflowHistory>;
  /** Shuts the instance down and drops its database (or its schema). */
  close(): Promise<void>;
}

const quietLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: (message, error) => console.error(`[ballast test] ${message}`, error ?? ''),
};

export async function createTestBallast(options: TestBallastOptions = {}): Promise<TestBallast> {
  requireOptions(options ?? null, TEST_BALLAST_OPTIONS, 'createTestBallast(options)', '{ databaseUrl } or {}');
  const startAt = options.startAt instanceof Date ? options.startAt.getTime() : options.startAt;
  if (startAt !== undefined && !Number.isFinite(startAt)) {
    throw new ValidationError(`createTestBallast: startAt must be a Date or epoch milliseconds, got ${String(options.startAt)}.`);
  }
  return new TestInstance(options, new VirtualClock(startAt));
}

class TestInstance implements TestBallast {
  readonly ballast: Ballast;
  private readonly activity = new Activity();
  private readonly crashPoints = new CrashPoints();
  private readonly schema: string | undefined;
  private parts: { runtime: Runtime; store: SystemStore } | undefined;
  /** Advances run one after another. */
  private advancing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly options: TestBallastOptions,
    private readonly clock: VirtualClock,
  ) {
    this.schema = options.databaseUrl === undefined ? undefined : `ballast_test_${randomBytes(6).toString('hex')}`;
    this.ballast = new Ballast(
      {
        name: 'test',
        executorId: 'test-executor',
        logger: quietLogger,
        // Waits stay in memory unless a test asks for parking: a parked workflow resumes by replay,
        // which runs its code between steps again, and tests count what that code does.
        parkAfter: false,
        ...options.config,
        admin: options.config?.admin ?? false,
        ...(options.databaseUrl === undefined ? { dataDir: IN_MEMORY } : { databaseUrl: options.databaseUrl, schema: this.schema }),
      },
      {
        clock,
        wrapDriver: (driver) => this.activity.wrapDriver(driver),
        launched: (parts) => {
          parts.runtime.instrumentation = this.activity.wrapInstrumentation(parts.runtime.instrumentation);
          parts.runtime.crashRule = this.crashPoints.rule;
          this.activity.onRunEnded = (run) => this.crashPoints.runEnded(run);
          this.parts = parts;
        },
      },
    );
  }

  async launch(): Promise<void> {
    await this.ballast.launch();
  }

  now(): Date {
    return new Date(this.clock.now());
  }

  async advance(duration: Duration): Promise<void> {
    const ms = parseDuration(duration, 'advance duration');
    this.requireLaunched('advance');
    const run = this.advancing.then(() => this.advanceBy(ms));
    this.advancing = run.catch(() => undefined);
    return run;
  }

  private async advanceBy(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    await this.settle();
    for (let next = this.clock.nextDueAt(); next !== undefined && next <= target; next = this.clock.nextDueAt()) {
      this.clock.jumpTo(next);
      this.clock.fireDue();
      await this.settle();
    }
    this.clock.jumpTo(target);
  }

  private settle(): Promise<void> {
    return this.activity.idle(SETTLE_PATIENCE_MS);
  }

  crashAfterStep(target: CrashTargetInput, step: string | number): CrashPoint {
    const { runtime } = this.requireLaunched('crashAfterStep');
    if (typeof step === 'number') {
      if (!Number.isInteger(step) || step < 0) throw new ValidationError(`crashAfterStep: a step position must be a non-negative integer, got ${step}.`);
    } else {
      requireName(step, 'crashAfterStep step name');
    }
    return this.crashPoints.add(crashTarget(target, runtime), step);
  }

  async recover(): Promise<string[]> {
    const { runtime } = this.requireLaunched('recover');
    const crashed = await this.crashPoints.takeCrashed();
    if (crashed.length > 0) await runtime.recover(crashed);
    return crashed;
  }

  async history(workflowId: string): Promise<WorkflowHistory> {
    requireName(workflowId, 'workflow ID');
    return readHistory(this.ballast, this.requireLaunched('history').store, workflowId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ballast.launched) await this.ballast.shutdown({ drainMs: 0 });
    this.clock.close();
    if (this.schema !== undefined && this.options.databaseUrl !== undefined) await dropSchema(this.options.databaseUrl, this.schema);
  }

  private requireLaunched(what: string): { runtime: Runtime; store: SystemStore } {
    if (this.closed) throw new LifecycleError(`${what}: this test instance was closed.`);
    if (this.parts === undefined || !this.ballast.launched) throw new LifecycleError(`${what}: call await t.launch() first.`);
    return this.parts;
  }
}

function crashTarget(target: CrashTargetInput, runtime: Runtime): CrashTarget {
  if (typeof target === 'string') {
    requireName(target, 'crashAfterStep workflow ID');
    return { workflowId: target };
  }
  if (typeof target === 'object' && target !== null && 'start' in target && typeof target.name === 'string') {
    if (runtime.registry.get(target.name) === undefined) throw new UnknownWorkflowError(target.name, ' on this test instance');
    return { workflowName: target.name };
  }
  if (typeof target === 'object' && target !== null && 'id' in target && typeof target.id === 'string') return { workflowId: target.id };
  throw new ValidationError('crashAfterStep(target, step): target must be a workflow (from ballast.workflow), a handle, or a workflow ID.');
}

async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
