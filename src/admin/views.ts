import { serialize } from '../codec.js';
import type { StepInfo, WorkflowInfo } from '../engine/types.js';

/** Where a payload comes from, for a redaction hook. */
export interface PayloadSite {
  workflowId: string;
  field: 'input' | 'output' | 'error' | 'step' | 'stream';
  /** The step's index, for field "step". */
  step?: number;
  /** The stream's key and the value's position, for field "stream". */
  stream?: { key: string; position: number };
}

/** Replaces a workflow value before anyone sees it (through the admin API or the dashboard). */
export type Redact = (value: unknown, site: PayloadSite) => unknown;

/** Whether the caller may see payloads, and how they are redacted. */
export interface PayloadView {
  visible: boolean;
  redact?: Redact;
}

/**
 * Workflow values in the admin API's JSON keep the codec's stored form (see src/codec.ts): plain
 * JSON data as itself, other types (Date, Map, BigInt, Error, …) as `{"$": tag, …}` objects, so a
 * client sees exactly what the workflow recorded, as the CLI's --json does.
 */
export function stored(value: unknown): unknown {
  return JSON.parse(serialize(value, 'value')) as unknown;
}

/** A payload as the caller may see it: redacted, or undefined when hidden. */
export function visiblePayload(value: unknown, site: PayloadSite, view: PayloadView): unknown {
  if (!view.visible || value === undefined) return undefined;
  return view.redact ? view.redact(value, site) : value;
}

export function workflowJson(info: WorkflowInfo, view: PayloadView): Record<string, unknown> {
  const { input, output, error, ...rest } = info;
  const result: Record<string, unknown> = { ...rest };
  for (const [field, value] of [['input', input], ['output', output], ['error', error]] as const) {
    const shown = visiblePayload(value, { workflowId: info.id, field }, view);
    if (shown !== undefined) result[field] = stored(shown);
  }
  if (!view.visible) result.payloadsHidden = true;
  return result;
}

export function stepJson(step: StepInfo, workflowId: string, view: PayloadView): Record<string, unknown> {
  const { output, error, ...rest } = step;
  const result: Record<string, unknown> = { ...rest };
  const site = { workflowId, field: 'step' as const, step: step.index };
  const shownOutput = visiblePayload(output, site, view);
  const shownError = visiblePayload(error, site, view);
  if (shownOutput !== undefined) result.output = stored(shownOutput);
  if (shownError !== undefined) result.error = stored(shownError);
  if (!view.visible) result.payloadsHidden = true;
  return result;
}
