// The workflow of the crash test, shared by the worker process that runs it and the test that
// checks its results: five steps that each append `<workflowId> <stepIndex>` to a file.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ballast, WorkflowDefinition } from '../../../src/index.js';

export const WORKFLOW_COUNT = 50;
export const STEP_COUNT = 5;

export interface FiveStepsResult {
  id: string;
  n: number;
  values: number[];
  total: number;
}

export const workflowId = (n: number): string => `wf-${n}`;
export const stepName = (i: number): string => `step-${i}`;

/** What step `i` of workflow `n` returns, given what the step before it returned. */
export function stepValue(n: number, i: number, previous: number): number {
  return (previous * 31 + n * 7 + i * 13 + 1) % 1_000_003;
}

/** The result an uninterrupted run of workflow `n` returns. */
export function expectedResult(n: number): FiveStepsResult {
  const values: number[] = [];
  let previous = n;
  for (let i = 0; i < STEP_COUNT; i++) {
    previous = stepValue(n, i, previous);
    values.push(previous);
  }
  return { id: workflowId(n), n, values, total: values.reduce((a, b) => a + b, 0) };
}

/**
 * Registers the workflow. Step durations vary with `n` (0–72 ms plus jitter) so that at any moment
 * some workflows are finished, some are mid-way and some have barely started.
 */
export function registerFiveSteps(
  ballast: Ballast,
  stepsFile: string,
  onStepLine: () => void = () => undefined,
): WorkflowDefinition<number, FiveStepsResult> {
  return ballast.workflow('five-steps', async (ctx, n: number) => {
    const values: number[] = [];
    let previous = n;
    for (let i = 0; i < STEP_COUNT; i++) {
      const input = previous;
      previous = await ctx.step(stepName(i), async () => {
        await sleep((n % 10) * 8 + Math.random() * 10);
        appendFileSync(stepsFile, `${ctx.workflowId} ${i}\n`);
        onStepLine();
        await sleep(Math.random() * 10);
        return stepValue(n, i, input);
      });
      values.push(previous);
    }
    return { id: ctx.workflowId, n, values, total: values.reduce((a, b) => a + b, 0) };
  });
}
