import { ValidationError, WaitTimeoutError, WorkflowNotFoundError } from '../errors.js';
import { isFinal, type WorkflowRecord } from '../store/records.js';
import { wakeKey } from '../store/wakeups.js';
import type { WorkflowExecution } from './execution.js';
import type { FinishedWorkflow, WorkflowHandle, WorkflowOutcome } from './types.js';
import { describe } from './validation.js';
import { decodeResult, workflowOutcome } from './views.js';

/** What ctx.waitFirst and ctx.waitAll record: [index in the list, workflow ID and outcome] of each finished one. */
export type FinishedSet = Array<[number, WorkflowOutcome<unknown> & { id: string }]>;

/** The IDs of `handles`; anything but a non-empty list of workflow handles is a ValidationError. */
export function workflowIdsOf(handles: unknown, operation: string): string[] {
  const usage = `${operation}(handles): handles must be a non-empty array of workflow handles (from ctx.start, ctx.enqueue or ballast.handle(id))`;
  if (!Array.isArray(handles)) throw new ValidationError(`${usage}, got ${describe(handles)}.`);
  if (handles.length === 0) throw new ValidationError(`${usage}, got an empty array.`);
  return handles.map((handle: unknown, index) => {
    const id = (handle as { id?: unknown } | null)?.id;
    if (typeof handle !== 'object' || handle === null || typeof id !== 'string' || id === '') {
      throw new ValidationError(`${usage}; handles[${index}] is ${describe(handle)}.`);
    }
    return id;
  });
}

/** The wait of ctx.waitFirst or ctx.waitAll (see awaitRecords), as the outcomes it records. */
export async function awaitFinished(
  execution: WorkflowExecution,
  ids: string[],
  until: 'first' | 'all',
  deadline: number | undefined,
  parkAt: number | undefined,
): Promise<FinishedSet> {
  const finished = await awaitRecords(execution, ids, until, deadline, parkAt, until === 'first' ? 'ctx.waitFirst' : 'ctx.waitAll');
  return finished.map(({ index, record }) => [index, { ...workflowOutcome(record), id: record.id }]);
}

/**
 * A child's result(), awaited by the workflow while it runs and without a timeout: waits in memory
 * up to parkAfter as result() does, then parks the workflow until the child finishes.
 */
export async function awaitResult<Output>(execution: WorkflowExecution, handle: WorkflowHandle<Output>): Promise<Output> {
  const parkAt = execution.parkAt(undefined);
  if (parkAt === undefined) return handle.result();
  try {
    return await handle.result({ timeout: parkAt - execution.runtime.clock.now() });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
  }
  const [found] = await awaitRecords(execution, [handle.id], 'first', undefined, parkAt, 'handle.result');
  return decodeResult<Output>((found as FoundFinished).record);
}

interface FoundFinished {
  index: number;
  record: WorkflowRecord;
}

/**
 * Waits until the first of the workflows `ids` (`until` 'first') or all of them have finished, or
 * `deadline` passed; returns the ones finished by then. Of several found finished at once, the
 * first is the one that completed earliest (then the earliest in the list). Wakes on their
 * completions' NOTIFY and polls every pollIntervalMs; from `parkAt` on (see execution.parkAt) it
 * parks the workflow on those still running, and the replay their completion wakes waits again.
 */
async function awaitRecords(
  execution: WorkflowExecution,
  ids: string[],
  until: 'first' | 'all',
  deadline: number | undefined,
  parkAt: number | undefined,
  operation: string,
): Promise<FoundFinished[]> {
  const records: Array<WorkflowRecord | undefined> = ids.map(() => undefined);
  const keys = ids.map((id) => wakeKey('done', id));
  const clock = execution.runtime.clock;
  for (;;) {
    execution.assertRunning(operation);
    const armed = execution.waiters.arm(keys);
    // Only what is not known finished is read again: a finished workflow stays finished for this wait.
    const unknown = ids.flatMap((id, index) => (records[index] === undefined ? [index] : []));
    const read = await Promise.all(unknown.map((index) => execution.store.getWorkflow(ids[index] as string)));
    unknown.forEach((index, n) => {
      const record = read[n];
      if (!record) {
        armed.cancel();
        throw new WorkflowNotFoundError(ids[index] as string);
      }
      if (isFinal(record.status)) records[index] = record;
    });
    const finished = records.flatMap((record, index) => (record ? [{ index, record }] : []));
    const remaining = deadline === undefined ? Infinity : deadline - clock.now();
    const done = until === 'first' ? finished.length > 0 : finished.length === ids.length;
    if (done || remaining <= 0) {
      armed.cancel();
      if (until === 'first' && finished.length > 1) {
        finished.sort((a, b) => (a.record.completedAt ?? 0) - (b.record.completedAt ?? 0) || a.index - b.index);
        finished.length = 1;
      }
      return finished;
    }
    if (parkAt !== undefined && clock.now() >= parkAt) {
      if (execution.parksAlone) {
        armed.cancel();
        const running = [...new Set(ids.filter((_, index) => records[index] === undefined))];
        // Returns only if one of them finished meanwhile: read again.
        await execution.parkOnWorkflows(running, until === 'first' ? running.length : 1, deadline);
        continue;
      }
      parkAt = execution.parkAt(deadline); // another operation is in flight: look again later
    }
    await armed.wait(execution.pollIntervalMs, execution, parkAt === undefined ? deadline : Math.min(parkAt, deadline ?? Infinity));
  }
}

/** The recorded outcomes as the answer, aligned with `handles`: undefined where none finished. */
export function answerOf<Output>(
  finished: FinishedSet,
  handles: readonly WorkflowHandle<Output>[],
  handleOf: (id: string) => WorkflowHandle<Output>,
): Array<FinishedWorkflow<Output> | undefined> {
  const answer: Array<FinishedWorkflow<Output> | undefined> = handles.map(() => undefined);
  for (const [index, { id, ...outcome }] of finished) {
    // The list given on replay is the one given the first time, unless the code changed.
    const given = handles[index];
    answer[index] = { ...outcome, index, handle: given?.id === id ? given : handleOf(id) } as FinishedWorkflow<Output>;
  }
  return answer;
}
