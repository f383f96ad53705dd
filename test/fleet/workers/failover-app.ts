// The application of the fail-over tests (failover, zombie, rolling, poison, versions): the same
// workflow names everywhere, so the test process can enqueue by name what the workers run. Every
// step run appends `<workflowId> <step> <executor> <epoch ms>` to a file the test reads: "ran once"
// is checked from lines Ballast does not write.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ballast } from '../../../src/index.js';
import { STEP_COUNT, stepName, stepValue } from '../../fault/workers/five-steps.js';

export const APP_NAME = 'failover-app';
export const QUEUE = 'work';

export interface FiveResult {
  n: number;
  values: number[];
}

/** The result an undisturbed run of `five(n)` returns. */
export function expectedFive(n: number): FiveResult {
  const values: number[] = [];
  let previous = n;
  for (let i = 0; i < STEP_COUNT; i++) values.push((previous = stepValue(n, i, previous)));
  return { n, values };
}

export interface StepLine {
  workflowId: string;
  step: string;
  executor: string;
  at: number;
}

export function parseStepLines(text: string): StepLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [workflowId, step, executor, at] = line.split(' ');
      if (workflowId === undefined || step === undefined || executor === undefined || at === undefined) throw new Error(`bad step line ${JSON.stringify(line)}`);
      return { workflowId, step, executor, at: Number(at) };
    });
}

export interface FailoverWorkflowOptions {
  stepsFile: string;
  executor: string;
  /** How long each step of `five` works; it honours its abort signal, as a well-behaved step does. */
  stepMs: number;
  /** What the `versioned` workflow reports as the code that ran it. */
  codeVersion: string;
}

export function registerFailoverWorkflows(ballast: Ballast, options: FailoverWorkflowOptions) {
  const record = (workflowId: string, step: string) => appendFileSync(options.stepsFile, `${workflowId} ${step} ${options.executor} ${Date.now()}\n`);

  const five = ballast.workflow('five', async (ctx, n: number): Promise<FiveResult> => {
    const values: number[] = [];
    let previous = n;
    for (let i = 0; i < STEP_COUNT; i++) {
      const input = previous;
      previous = await ctx.step(stepName(i), async ({ signal }) => {
        await sleep(options.stepMs, undefined, { signal });
        record(ctx.workflowId, String(i));
        return stepValue(n, i, input);
      });
      values.push(previous);
    }
    return { n, values };
  });

  /** Kills whichever process runs it, every time: the poison a fleet must contain. */
  const poison = ballast.workflow('poison', async (ctx) => {
    await ctx.step('crash', () => {
      record(ctx.workflowId, 'crash');
      process.kill(process.pid, 'SIGKILL');
      return new Promise<never>(() => undefined);
    });
  });

  /** Reports which code ran it; waits for `go` first (with a timeout) so a test can hold it running. */
  const versioned = ballast.workflow('versioned', async (ctx, input: { hold: boolean }) => {
    if (input.hold) await ctx.recv<boolean>('go', { timeout: '60s' });
    return ctx.step('run', () => {
      record(ctx.workflowId, 'run');
      return { version: options.codeVersion, executor: options.executor };
    });
  });

  return { five, poison, versioned };
}
