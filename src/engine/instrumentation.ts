/**
 * What the engine tells the outside about its work: runs and steps (for metrics and tracing), group
 * commits, and fleet events. The engine knows nothing of Prometheus or OpenTelemetry; src/telemetry
 * implements this. Each run and step gets a probe; the no-op one allocates nothing.
 */
export interface RunDescription {
  id: string;
  name: string;
  queue: string | null;
  /** 1 for the first run, more after recoveries, hand-backs and resumes. */
  attempt: number;
  /** The W3C trace context recorded when the workflow was started or enqueued, if any. */
  traceContext: string | null;
}

/** How a run ended, as seen by this process. */
export type RunEnd = 'SUCCESS' | 'ERROR' | 'CANCELLED' | 'DETACHED';

export interface StepProbe {
  /** Runs the step's function inside the step's trace context; absent when the run is not traced. */
  readonly within?: <T>(fn: () => T) => T;
  ended(error: unknown): void;
}

export interface RunProbe {
  /** Runs the workflow's code inside the run's trace context; absent when the run is not traced. */
  readonly within?: <T>(fn: () => T) => T;
  step(name: string, attempt: number): StepProbe;
  ended(end: RunEnd, error: unknown): void;
}

export interface Instrumentation {
  runStarted(run: RunDescription): RunProbe;
  /** The W3C trace context to record with a workflow started or enqueued now (null: none). */
  currentTraceContext(): string | null;
  /** A group-commit flush wrote this many rows (starts, checkpoints, completions). */
  flushed(writes: number): void;
  /** Another executor had taken a workflow over: this process stopped running it. */
  fenced(): void;
}

const NO_STEP: StepProbe = { ended: () => undefined };
const NO_RUN: RunProbe = { step: () => NO_STEP, ended: () => undefined };

export const NO_INSTRUMENTATION: Instrumentation = {
  runStarted: () => NO_RUN,
  currentTraceContext: () => null,
  flushed: () => undefined,
  fenced: () => undefined,
};
