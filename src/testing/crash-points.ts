import { CrashPointMissedError } from '../errors.js';
import type { RunEnded } from './activity.js';

/** Which runs a crash point watches: those of one workflow ID, or every run of one workflow (by name). */
export type CrashTarget = { workflowId: string } | { workflowName: string };

/** Where the run crashed. */
export interface Crash {
  workflowId: string;
  /** The checkpoint's position in the workflow's history, and its name. */
  idx: number;
  step: string;
}

/** A crash point set by crashAfterStep: once, for the first run of its target that reaches the step. */
export interface CrashPoint {
  /**
   * Resolves once a run stopped there; rejects with CrashPointMissedError when a run of the
   * target ended without recording that step.
   */
  readonly reached: Promise<Crash>;
}

interface Armed {
  target: CrashTarget;
  step: string | number;
  promise: Promise<Crash>;
  resolve(crash: Crash): void;
  reject(error: Error): void;
}

/** The crash points of one test instance, consulted by the runtime at every checkpoint. */
export class CrashPoints {
  private readonly armed = new Set<Armed>();
  /** Points whose run is crashing (its checkpoint is on its way): settled when the run has ended. */
  private readonly crashing = new Map<string, { point: Armed; crash: Crash }>();
  /** Crashes whose run has ended, until recovered. */
  private readonly crashed = new Set<string>();
  private readonly ending = new Set<Promise<Crash>>();

  add(target: CrashTarget, step: string | number): CrashPoint {
    let settle!: Pick<Armed, 'resolve' | 'reject'>;
    const reached = new Promise<Crash>((resolve, reject) => (settle = { resolve, reject }));
    // A test that never looks at `reached` must not fail on an unhandled rejection.
    reached.catch(() => undefined);
    this.armed.add({ target, step, promise: reached, ...settle });
    return { reached };
  }

  /**
   * The workflows crashed and not yet handed to recovery, once every crash under way has ended
   * (a run that is still stopping must not be resumed beside itself).
   */
  async takeCrashed(): Promise<string[]> {
    await Promise.allSettled([...this.ending]);
    const ids = [...this.crashed];
    this.crashed.clear();
    return ids;
  }

  /** The runtime's crash rule: true when a run must stop after this checkpoint. */
  readonly rule = (workflowId: string, workflowName: string, idx: number, stepName: string): boolean => {
    for (const point of this.armed) {
      if (!matches(point.target, workflowId, workflowName)) continue;
      if (point.step !== (typeof point.step === 'number' ? idx : stepName)) continue;
      this.armed.delete(point);
      this.crashing.set(workflowId, { point, crash: { workflowId, idx, step: stepName } });
      const ended = point.promise;
      this.ending.add(ended);
      void ended.finally(() => this.ending.delete(ended)).catch(() => undefined);
      return true;
    }
    return false;
  };

  /** A run ended: the points it should have reached are missed (a crash ends it as DETACHED). */
  runEnded(run: RunEnded): void {
    const crashing = this.crashing.get(run.id);
    if (crashing !== undefined) {
      this.crashing.delete(run.id);
      if (run.end === 'DETACHED') {
        this.crashed.add(run.id);
        crashing.point.resolve(crashing.crash);
      } else {
        // Cancelled or timed out while its last checkpoint was on its way: it ended, it did not crash.
        crashing.point.reject(new CrashPointMissedError(run.id, describeStep(crashing.point.step), run.end));
      }
      return;
    }
    if (run.end === 'DETACHED') return;
    for (const point of this.armed) {
      if (!matches(point.target, run.id, run.name)) continue;
      this.armed.delete(point);
      point.reject(new CrashPointMissedError(run.id, describeStep(point.step), run.end));
    }
  }
}

function matches(target: CrashTarget, workflowId: string, workflowName: string): boolean {
  return 'workflowId' in target ? target.workflowId === workflowId : target.workflowName === workflowName;
}

function describeStep(step: string | number): string {
  return typeof step === 'number' ? `#${step}` : step;
}
