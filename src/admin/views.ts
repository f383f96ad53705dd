import { serialize } from '../codec.js';
import type { StepInfo, WorkflowInfo } from '../engine/types.js';

/**
 * Workflow values in the admin API's JSON keep the codec's stored form (see src/codec.ts): plain
 * JSON data as itself, other types (Date, Map, BigInt, Error, …) as `{"$": tag, …}` objects, so a
 * client sees exactly what the workflow recorded, as the CLI's --json does.
 */
function stored(value: unknown): unknown {
  return JSON.parse(serialize(value, 'value')) as unknown;
}

export function workflowJson(info: WorkflowInfo): Record<string, unknown> {
  const { input, output, error, ...rest } = info;
  const view: Record<string, unknown> = { ...rest };
  if (input !== undefined) view.input = stored(input);
  if (output !== undefined) view.output = stored(output);
  if (error !== undefined) view.error = stored(error);
  return view;
}

export function stepJson(step: StepInfo): Record<string, unknown> {
  const { output, error, ...rest } = step;
  const view: Record<string, unknown> = { ...rest };
  if (output !== undefined) view.output = stored(output);
  if (error !== undefined) view.error = stored(error);
  return view;
}
