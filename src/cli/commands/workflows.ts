import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import { toStepInfo, toWorkflowInfo } from '../../engine/views.js';
import { WorkflowNotFoundError } from '../../errors.js';
import { toListQuery, type WorkflowFilter } from '../../management.js';
import type { StepRecord, WorkflowRecord, WorkflowStatus } from '../../store/records.js';
import { getWorkflow, loadSteps } from '../../store/sql/workflows.js';
import { CliError, commandContext, validated, type CliIo, type CommandContext } from '../context.js';
import { systemStore, withConnection, workflowQueries } from '../connect.js';
import { formatDuration, formatTime, formatValue, NONE, Output } from '../output.js';
import { collectList, parseInteger, parseTime } from '../parse.js';

/**
 * `ballast workflows …`: list, inspect and cancel workflows. `get` and `steps` go straight to the SQL
 * modules; `list` and `cancel` reuse the library's WorkflowFilter validation and WorkflowQueries
 * over a SystemStore that does not retry (see systemStore). No executor, no writer.
 *
 * JSON output keeps workflow values (input, output, error, step results) in the codec's stored JSON
 * form (see src/codec.ts): plain JSON data as itself, other types as `{"$": tag, …}` objects. That
 * form is lossless, so scripts see exactly what the workflow recorded.
 */
export function registerWorkflowCommands(program: Command, io: CliIo): void {
  const workflows = program.command('workflows').description('list, inspect and cancel workflows');

  workflows
    .command('list')
    .description('list workflows, newest first, filtered by status, name, queue, executor, version, parent, ID or time')
    .option('--status <status...>', 'only these statuses (repeat or separate with commas): ENQUEUED, DELAYED, PENDING, SUCCESS, ERROR, CANCELLED, DEAD_LETTER', collectList)
    .option('--name <name>', 'only workflows of this name')
    .option('--queue <queue>', 'only workflows of this queue')
    .option('--queued-only', 'only ENQUEUED and PENDING workflows (what a queue length counts)')
    .option('--executor <id>', 'only workflows owned by this executor')
    .option('--app-version <version>', 'only workflows of this application version')
    .option('--parent <id>', 'only children of this workflow')
    .option('--id-prefix <prefix>', 'only IDs that start with this')
    .option('--created-after <time>', 'created at or after this time (ISO 8601 or epoch ms)', parseTime)
    .option('--created-before <time>', 'created before this time', parseTime)
    .option('--completed-after <time>', 'completed at or after this time', parseTime)
    .option('--completed-before <time>', 'completed before this time', parseTime)
    .option('--limit <n>', 'at most this many (1 to 10000)', parseInteger, 50)
    .option('--offset <n>', 'skip this many first', parseInteger)
    .option('--order <order>', 'by creation time: asc or desc (default desc, newest first)')
    .option('--input', 'also show input, output and error')
    .addHelpText(
      'after',
      '\nTimes: 2024-05-01 (midnight UTC), 2024-05-01T12:00:00Z, 2024-05-01T14:00+02:00, or epoch milliseconds;\n' +
        'a date-time without Z or an offset is local time. "after" bounds include the time, "before" bounds exclude it.',
    )
    .action(async (options: ListOptions, command: Command) => {
      const context = commandContext(command, io);
      const filter = toFilter(options);
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

  workflows
    .command('cancel')
    .description('cancel workflows that have not finished (ENQUEUED, DELAYED or PENDING)')
    .argument('<id...>', 'workflow IDs')
    .addHelpText(
      'after',
      '\nA running workflow stops at its next durable operation (its executor is notified at once);\n' +
        'a finished one is left as it is. Exits 1 if an ID is unknown, after handling the others.',
    )
    .action(async (ids: string[], _options: unknown, command: Command) => {
      const context = commandContext(command, io);
      const unique = [...new Set(ids)];
      for (const id of unique) validated(() => requireName(id, 'workflow ID'));
      await cancelWorkflows(context, unique);
    });
}

interface ListOptions {
  status?: string[];
  name?: string;
  queue?: string;
  queuedOnly?: boolean;
  executor?: string;
  appVersion?: string;
  parent?: string;
  idPrefix?: string;
  createdAfter?: number;
  createdBefore?: number;
  completedAfter?: number;
  completedBefore?: number;
  limit: number;
  offset?: number;
  order?: string;
  input?: boolean;
}

/** The command line's options as the library's filter; toListQuery checks it. */
function toFilter(options: ListOptions): WorkflowFilter {
  return {
    // Statuses are upper case in the database; accept `error` for ERROR. Unknown ones are the library's to refuse.
    status: options.status?.map((status) => status.toUpperCase() as WorkflowStatus),
    name: options.name,
    queue: options.queue,
    queuedOnly: options.queuedOnly === true,
    executorId: options.executor,
    appVersion: options.appVersion,
    parentId: options.parent,
    idPrefix: options.idPrefix,
    createdAfter: options.createdAfter,
    createdBefore: options.createdBefore,
    completedAfter: options.completedAfter,
    completedBefore: options.completedBefore,
    limit: options.limit,
    offset: options.offset,
    order: options.order as WorkflowFilter['order'],
    withPayloads: options.input === true,
  };
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

type CancelOutcome = 'cancelled' | 'already_finished' | 'not_found';

/**
 * Cancels each workflow in turn with WorkflowQueries.cancel (which also notifies the executor running
 * it). People see a line per ID as it happens; --json prints every outcome at the end, also when a
 * database error stops the run half-way. Unknown IDs fail the command once the others are done.
 */
async function cancelWorkflows(context: CommandContext, ids: string[]): Promise<void> {
  const out = new Output(context.io);
  const outcomes: { id: string; outcome: CancelOutcome; status: WorkflowStatus | null }[] = [];
  try {
    await withConnection(context, { create: false }, async (connection) => {
      const queries = workflowQueries(connection);
      for (const id of ids) {
        let outcome: CancelOutcome;
        let status: WorkflowStatus | null = null;
        try {
          if (await queries.cancel(id)) {
            outcome = 'cancelled';
            status = 'CANCELLED';
          } else {
            outcome = 'already_finished';
            status = (await queries.get(id))?.status ?? null;
          }
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
          outcome = 'not_found';
        }
        outcomes.push({ id, outcome, status });
        if (context.options.json) continue;
        if (outcome === 'cancelled') out.line(`Cancelled workflow ${id}.`);
        else if (outcome === 'already_finished') out.line(`Workflow ${id} had already finished (${status ?? 'deleted since'}); left as it is.`);
      }
    });
  } finally {
    if (context.options.json && outcomes.length > 0) out.json(outcomes);
  }
  const missing = outcomes.filter((entry) => entry.outcome === 'not_found').map((entry) => entry.id);
  const [first] = missing;
  if (first !== undefined && missing.length === 1) throw new WorkflowNotFoundError(first);
  if (missing.length > 1) throw new CliError(`No workflows with IDs ${missing.map((id) => JSON.stringify(id)).join(', ')} exist.`);
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
