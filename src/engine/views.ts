import { deserialize } from '../codec.js';
import { DeadLetterError, WorkflowCancelledError } from '../errors.js';
import type { StepRecord, WorkflowRecord } from '../store/records.js';
import type { StepInfo, WorkflowInfo, WorkflowOutcome } from './types.js';

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
const decode = (text: string | null | undefined): unknown => (text == null ? undefined : deserialize(text));

/** The public view of a workflow row. */
export function toWorkflowInfo(record: WorkflowRecord, withPayloads: boolean): WorkflowInfo {
  const info: WorkflowInfo = {
    id: record.id,
    name: record.name,
    status: record.status,
    queue: record.queue,
    executorId: record.owner,
    appName: record.appName,
    appVersion: record.appVersion,
    parentId: record.parentId,
    attempts: record.attempts,
    recoveries: record.recoveries,
    createdAt: new Date(record.createdAt),
    startedAt: date(record.startedAt),
    completedAt: date(record.completedAt),
    attributes: record.attributes ?? {},
  };
  if (withPayloads) {
    info.input = decode(record.input);
    info.output = decode(record.output);
    info.error = decode(record.error);
  }
  return info;
}

export function toStepInfo(step: StepRecord): StepInfo {
  const info: StepInfo = {
    index: step.idx,
    name: step.name,
    childWorkflowId: step.childId,
    startedAt: date(step.startedAt),
    completedAt: new Date(step.completedAt),
    attempts: step.attempts ?? 1,
  };
  if (step.error !== null) info.error = deserialize(step.error);
  else if (step.output !== null) info.output = deserialize(step.output);
  return info;
}

/** How a finished workflow ended: its output, or the error its result() throws. */
export function workflowOutcome<Output>(record: WorkflowRecord): WorkflowOutcome<Output> {
  switch (record.status) {
    case 'SUCCESS':
      return { status: 'SUCCESS', output: decode(record.output) as Output };
    case 'CANCELLED':
      return { status: 'CANCELLED', error: new WorkflowCancelledError(record.id) };
    case 'ERROR':
    case 'DEAD_LETTER':
      return { status: record.status, error: record.error == null ? new DeadLetterError(record.id, record.recoveries) : deserialize(record.error) };
    default:
      throw new Error(`workflow ${record.id} is ${record.status}, not finished`);
  }
}

/** What result() of a finished workflow gives: its output, or it throws the workflow's error. */
export function decodeResult<Output>(record: WorkflowRecord): Output {
  const outcome = workflowOutcome<Output>(record);
  if (outcome.status === 'SUCCESS') return outcome.output;
  throw outcome.error;
}
