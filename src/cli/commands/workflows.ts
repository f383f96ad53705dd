import type { Command } from 'commander';
import { toStepInfo, toWorkflowInfo } from '../../engine/views.js';
import { WorkflowNotFoundError } from '../../errors.js';
import { toListQuery, type WorkflowFilter } from '../../management.js';
import type { StepRecord, WorkflowRecord } from '../../store/records.js';
import { getWorkflow, loadSteps } from '../../store/sql/workflows.js';
import { commandContext, validated, type CliIo, type CommandContext } from '../context.js';
import { systemStore, withConnection } from '../connect.js';
import { formatDuration, formatTime, formatValue, NONE, Output } from '../output.js';
import { parseInteger } from '../parse.js';
import { registerWorkflowActions } from './workflow-actions.js';
import { addFilterOptions, TIMES_HELP, toFilter, type FilterOptions } from './workflow-filter.js';

/**
 * `ballast workflows …`: list and inspect workflows here; cancel, resume, fork and delete in
 * ./workflow-actions.ts. `get` and `steps` go straight to the SQL modules; `list` reuses the
 * library's WorkflowFilter validation over a SystemStore that does not retry (see systemStore).
 *
 * JSON output keeps workflow values (input, output, error, step results) in the codec's stored JSON
 * form (see src/codec.ts): plain JSON data as itself, other types as `{"$": tag, …}` objects. That
 * form is lossless, so scripts see exactly what the workflow recorded.
 */
export function registerWorkflowCommands(program: Command, io: CliIo): void {
  const workflows = program.command('workflows').description('list and inspect workflows; cancel, resume, fork and delete them');

  addFilterOptions(
    workflows
      .command('list')
      .description('list workflows, newest first, filtered by status, name, queue, executor, version, parent, ID or time'),
  )
    .option('--limit <n>', 'at most this many (1 to 10000)', parseInteger, 50)
    .option('--offset <n>', 'skip this many first', parseInteger)
    .option('--order <order>', 'by creation time: asc or desc (default desc, newest first)')
    .option('--input', 'also show input, output and error')
    .addHelpText('after', TIMES_HELP)
    .action(async (options: ListOptions, command: Command) => {
      const context = commandContext(command, io);
      const filter: WorkflowFilter = {
        ...toFilter(options),
        limit: options.limit,
        offset: options.offset,
        order: options.order as WorkflowFilter['order'],
        withPayloads: options.input === true,
      };
      // Validate before connecting: a bad filter is the command line's fault (exit 2), whatever the database.
      const query = validated(() => toListQuery(filter));
      const records = await withConnection(context, { create: false }, (connection) => systemStore(connection).listWorkflows(query));
      printList(context, records, query.withPayloads, query.limit, query.offset);
    });

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

  registerWorkflowActions(workflows, io);
}

interface ListOptions extends FilterOptions {
  limit: number;
  offset?: number;
  order?: string;
  input?: boolean;
}

function printList(context: CommandContext, records: WorkflowRecord[], withPayloads: boolean, limit: number, offset: number): void {
  const out = new Output(context.io);
  if (context.options.json) {
    out.json(records.map((record) => workflowJson(record, withPayloads)));
    return;
  }
  if (records.length === 0) {
    out.line(offset > 0 ? `No workflows match these filters at offset ${offset}.` : 'No workflows match these filters.');
    return;
  }
  const columns = [
    { header: 'ID', maxWidth: 100 },
    { header: 'NAME', maxWidth: 40 },
    { header: 'STATUS' },
    { header: 'QUEUE', maxWidth: 30 },
    { header: 'EXECUTOR', maxWidth: 40 },
    { header: 'VERSION', maxWidth: 24 },
    { header: 'CREATED' },
    { header: 'DURATION', align: 'right' as const },
  ];
  if (withPayloads) columns.push({ header: 'INPUT', maxWidth: 40 }, { header: 'RESULT', maxWidth: 50 });
  const rows = records.map((record) => {
    const info = toWorkflowInfo(record, withPayloads);
    const row = [
      info.id,
      info.name,
      info.status,
      info.queue ?? NONE,
      info.executorId ?? NONE,
      info.appVersion,
      formatTime(info.createdAt),
      info.startedAt && info.completedAt ? formatDuration(info.completedAt.getTime() - info.startedAt.getTime()) : NONE,
    ];
    if (withPayloads) {
      const result = record.error != null ? `error: ${formatValue(info.error)}` : record.output != null ? formatValue(info.output) : NONE;
      row.push(record.input == null ? NONE : formatValue(info.input), result);
    }
    return row;
  });
  out.table(columns, rows);
  if (records.length === limit) out.line(`(${limit} shown, the --limit; more may match: add --offset ${offset + limit} for the next page)`);
}

/** A workflow for --json: its WorkflowInfo with the payloads it was read with, in stored form. */
function workflowJson(record: WorkflowRecord, withInput: boolean): Record<string, unknown> {
  return {
    ...toWorkflowInfo(record, false),
    ...stored('input', withInput ? record.input : null),
    ...stored('output', record.output),
    ...stored('error', record.error),
  };
}

function printWorkflow(context: CommandContext, record: WorkflowRecord, withInput: boolean): void {
  const out = new Output(context.io);
  if (context.options.json) {
    out.json(workflowJson(record, withInput));
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
    ['Attributes', formatAttributes(info.attributes)],
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
    const value =
      step.error !== null
        ? `error: ${formatValue(info.error)}`
        : step.output !== null
          ? formatValue(info.output)
          : NONE;
    const result = info.attempts > 1 ? `${value} (${info.attempts} attempts)` : value;
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

/** `tenant=acme orderId=42`, as `--attr` takes them. */
function formatAttributes(attributes: Record<string, string>): string {
  const pairs = Object.entries(attributes).map(([key, value]) => `${key}=${value}`);
  return pairs.length === 0 ? NONE : pairs.join(' ');
}
