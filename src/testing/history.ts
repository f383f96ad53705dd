import type { Ballast } from '../ballast.js';
import { deserialize } from '../codec.js';
import type { StepInfo, WorkflowInfo } from '../engine/types.js';
import { WorkflowNotFoundError } from '../errors.js';
import type { SystemStore } from '../store/system-store.js';

/** Everything a workflow recorded, as a test reads it. */
export interface WorkflowHistory {
  /** Its status row, with input, output and error. */
  workflow: WorkflowInfo;
  /** Its checkpoints in order: steps, sleeps, recvs, sends, events, children, patches. */
  steps: StepInfo[];
  /** The events it set (ctx.setEvent), by key, with their latest values. */
  events: Array<{ key: string; value: unknown; setAt: Date }>;
  /** The messages sent to it, in the order sent; `receivedAt` is null for one no recv took yet. */
  messages: Array<{ topic: string; message: unknown; sentAt: Date; receivedAt: Date | null }>;
}

export async function readHistory(ballast: Ballast, store: SystemStore, workflowId: string): Promise<WorkflowHistory> {
  const [workflow, steps, events, messages] = await Promise.all([
    ballast.workflows.get(workflowId, { withPayloads: true }),
    ballast.workflows.steps(workflowId),
    store.listEvents(workflowId),
    store.listMessages(workflowId),
  ]);
  if (workflow === undefined) throw new WorkflowNotFoundError(workflowId);
  return {
    workflow,
    steps,
    events: events.map((event) => ({ key: event.key, value: deserialize(event.value), setAt: new Date(event.updatedAt) })),
    messages: messages.map((message) => ({
      topic: message.topic,
      message: deserialize(message.payload),
      sentAt: new Date(message.createdAt),
      receivedAt: message.consumedAt === null ? null : new Date(message.consumedAt),
    })),
  };
}
