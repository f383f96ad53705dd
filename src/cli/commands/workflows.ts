import type { Command } from 'commander';
import { toStepInfo, toWorkflowInfo } from '../../engine/views.js';
import { WorkflowNotFoundError } from '../../errors.js';
import type { StepRecord, WorkflowRecord } from '../../store/records.js';
import { getWorkflow, loadSteps } from '../../store/sql/workflows.js';
import { commandContext, type CliIo, type CommandContext } from '../context.js';
import { withConnection } from '../connect.js';
import { formatDuration, formatTime, formatValue, NONE, Output } from '../output.js';

/**
 * `ballast workflows …`: inspect workflows by ID. Read-only commands go straight to the SQL modules
 * (no executor, no writer, no retries through outages).
 *
 * JSON output keeps workflow values (input, output, error, step results) in the codec's stored JSON
 * form (see src/codec.ts): plain JSON data as itself, other types as `{"$": tag, …}` objects. That
 * form is lossless, so scripts see exactly what the workflow recorded.
 */
export function registerWorkflowCommands(program: Command, io: CliIo): void {
  const workflows = program.command('workflows').description('inspect workflows');

  workflows
    .command('get')
    .description("show a workflow's status, times, output and error")
    .argument('<id>', 'workflow ID')
    .option('--input', 'also show the workflow input')
    .action(async (id: string, options: { input?: boolean }, command: Command) => {
      const context = commandContext(command, io);
      const record = await withConnection(context, { create: false }, async (connection) => {
        const found = await getWorkflow(connection.driver, connection.s, id, options.input === true);
        if (!found) throw new WorkflowNotFoundError(id);
        return found;
      });
      printWorkflow(context, record, options.input === true);
    });

  workflows
    .command('steps')
    .description("list a workflow's checkpoints in order")
    .argument('<id>', 'workflow ID')
    .action(async (id: string, _options: unknown, command: Command) => {
      const context = commandContext(command, io);
      const steps = await withConnection(context, { create: false }, async (connection) => {
        // An unknown ID and a workflow without checkpoints both have no steps: tell them apart.
        const [workflow, rows] = await Promise.all([
          getWorkflow(connection.driver, connection.s, id, false),
          loadSteps(connection.driver, connection.s, id),
        ]);
        if (!workflow) throw new WorkflowNotFoundError(id);
        return rows;
      });
      printSteps(context, id, steps);
    });
}

function printWorkflow(context: CommandContext, record: WorkflowRecord, withInput: boolean): void {
  const out = new Output(context.io);
  if (context.options.json) {
    const info = toWorkflowInfo(record, false);
    out.json({
      ...info,
      ...stored('input', withInput ? record.input : null),
      ...stored('output', record.output),
      ...stored('error', record.error),
    });
    return;
  }
  const info = toWorkflowInfo(record, true);
  const verbose = context.options.verbose;
  const pairs: [string, string][] = [
    ['Workflow', info.id],
    ['Name', info.name],
    ['Status', info.status],
    ['Queue', info.queue ?? NONE],
    ['Executor', info.executorId ?? NONE],
    ['Application', `${info.appName} (version ${info.appVersion})`],
    ['Parent', info.parentId ?? NONE],
    ['Attempts', String(info.attempts)],
    ['Created', formatTime(info.createdAt)],
    ['Started', formatTime(info.startedAt)],
    ['Completed', formatTime(info.completedAt)],
    ['Duration', info.startedAt && info.completedAt ? formatDuration(info.completedAt.getTime() - info.startedAt.getTime()) : NONE],
  ];
  if (withInput) pairs.push(['Input', record.input == null ? NONE : formatValue(info.input, { verbose })]);
  if (record.output != null) pairs.push(['Output', formatValue(info.output, { verbose })]);
  if (record.error != null) pairs.push(['Error', formatValue(info.error, { verbose })]);
  out.fields(pairs);
}

function printSteps(context: CommandContext, workflowId: string, steps: StepRecord[]): void {
  const out = new Output(context.io);
  if (context.options.json) {
    out.json(
      steps.map((step) => {
        const { output: _output, error: _error, ...info } = toStepInfo(step);
        return { ...info, ...stored('output', step.output), ...stored('error', step.error) };
      }),
    );
    return;
  }
  if (steps.length === 0) {
    out.line(`Workflow ${workflowId} has no checkpoints yet.`);
    return;
  }
  const rows = steps.map((step) => {
    const info = toStepInfo(step);
    const result =
      step.error !== null
        ? `error: ${formatValue(info.error)}`
        : step.output !== null
          ? formatValue(info.output)
          : NONE;
    return [
      String(info.index),
      info.name,
      result,
      info.childWorkflowId ?? NONE,
      formatTime(info.completedAt),
      formatDuration(info.startedAt ? info.completedAt.getTime() - info.startedAt.getTime() : null),
    ];
  });
  out.table(
    [
      { header: 'STEP', align: 'right' },
      { header: 'NAME', maxWidth: 40 },
      { header: 'RESULT', maxWidth: 60 },
      { header: 'CHILD', maxWidth: 40 },
      { header: 'COMPLETED' },
      { header: 'DURATION', align: 'right' },
    ],
    rows,
  );
}

/** `{ [key]: value as stored }`, or nothing when the column is empty. */
function stored(key: string, text: string | null | undefined): Record<string, unknown> {
  return text == null ? {} : { [key]: JSON.parse(text) as unknown };
}
