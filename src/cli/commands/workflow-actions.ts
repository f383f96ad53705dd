import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import { BallastError, WorkflowNotFoundError } from '../../errors.js';
import { toListQuery, type BulkResult, type WorkflowFilter, type WorkflowQueries } from '../../management.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowStatus } from '../../store/records.js';
import { RESUMABLE_STATUSES } from '../../store/sql/workflows.js';
import { CliError, commandContext, UsageError, validated, validatedAsync, type CliIo, type CommandContext } from '../context.js';
import { withConnection, workflowQueries } from '../connect.js';
import { Output } from '../output.js';
import { parseInteger, parseStepIndex } from '../parse.js';
import { addFilterOptions, hasFilter, TIMES_HELP, toFilter, type FilterOptions } from './workflow-filter.js';

/**
 * `ballast workflows cancel|resume|delete|fork`: the library's WorkflowQueries over the CLI's
 * connection, one workflow at a time by ID, or every workflow a filter matches through
 * cancelMany/resumeMany/deleteMany (in batches). What a workflow may undergo is the library's to
 * decide; its typed errors are what the CLI reports.
 */
export function registerWorkflowActions(workflows: Command, io: CliIo): void {
  bulkCapable(workflows, 'cancel', 'cancel workflows that have not finished (ENQUEUED, DELAYED or PENDING)')
    .option('--children', 'also cancel their active child workflows, and theirs')
    .addHelpText(
      'after',
      '\nA running workflow stops at its next durable operation (its executor is notified at once);\n' +
        'a finished one is left as it is. Exits 1 if an ID is unknown, after handling the others.\n' +
        BULK_HELP,
    )
    .action(async (ids: string[], options: ActionOptions & { children?: boolean }, command: Command) => {
      const context = commandContext(command, io);
      const target = chooseTarget(ids, options);
      const children = options.children === true;
      if ('ids' in target) await cancelEach(context, target.ids, children);
      else await applyToMatches(context, target, CANCEL, (queries, filter, batchSize) => queries.cancelMany(filter, { batchSize, children }));
    });

  bulkCapable(workflows, 'resume', 'carry CANCELLED, ERROR or DEAD_LETTER workflows on from their last checkpoint')
    .addHelpText(
      'after',
      '\nCompleted steps do not run again. A workflow with a queue goes back to it; one without is adopted by\n' +
        'an executor of its application version. Exits 1 for an unknown ID or a workflow in another status\n' +
        '(a running one: cancel it first), after handling the others.\n' +
        BULK_HELP,
    )
    .action(async (ids: string[], options: ActionOptions, command: Command) => {
      const context = commandContext(command, io);
      const target = chooseTarget(ids, options);
      if ('ids' in target) await applyToEach(context, target.ids, RESUME, async (queries, id) => void (await queries.resume(id)));
      else await applyToMatches(context, target, RESUME, (queries, filter, batchSize) => queries.resumeMany(filter, { batchSize }));
    });

  bulkCapable(workflows, 'delete', 'delete finished workflows with their checkpoints, events and messages')
    .addHelpText(
      'after',
      '\nTheir child workflows and everything else stay. An active workflow is refused (cancel it first).\n' +
        'Exits 1 for an unknown ID or an active workflow, after handling the others.\n' +
        BULK_HELP,
    )
    .action(async (ids: string[], options: ActionOptions, command: Command) => {
      const context = commandContext(command, io);
      const target = chooseTarget(ids, options);
      if ('ids' in target) await applyToEach(context, target.ids, DELETE, (queries, id) => queries.delete(id));
      else await applyToMatches(context, target, DELETE, (queries, filter, batchSize) => queries.deleteMany(filter, { batchSize }));
    });

  workflows
    .command('fork')
    .description("start a new workflow that keeps another's checkpoints before a step and runs from there")
    .argument('<id>', 'workflow to fork')
    .option('--from-step <n>', 'step index to run from; the checkpoints before it are kept (default 0: run it all again)', parseStepIndex)
    .option('--app-version <version>', "application version to run it under (default: the original's)")
    .option('--id <id>', 'ID of the new workflow (default: a random UUID)')
    .addHelpText(
      'after',
      '\nPrints the new workflow ID. An executor of its version adopts and runs it; a version no executor\n' +
        'of the application ever ran is refused. `ballast workflows steps <id>` shows the step indexes.',
    )
    .action(async (id: string, options: ForkOptions, command: Command) => {
      await fork(commandContext(command, io), id, options);
    });
}

/** Options of cancel, resume and delete: the filter for "every match", and its batch size. */
interface ActionOptions extends FilterOptions {
  batchSize?: number;
}

interface ForkOptions {
  fromStep?: number;
  appVersion?: string;
  id?: string;
}

/** What one operation is called in messages, and the statuses it can apply to. */
interface Action {
  verb: string;
  past: string;
  statuses: readonly WorkflowStatus[];
}

const CANCEL: Action = { verb: 'cancel', past: 'cancelled', statuses: ACTIVE_STATUSES };
const RESUME: Action = { verb: 'resume', past: 'resumed', statuses: RESUMABLE_STATUSES };
const DELETE: Action = { verb: 'delete', past: 'deleted', statuses: FINAL_STATUSES };

const BULK_HELP =
  '\nWith no IDs, it applies to every workflow the filter options match (the same as `workflows list`),\n' +
  '--batch-size at a time, and reports each it could not apply to; it refuses to run with neither IDs nor a filter.\n' +
  'Example: ballast workflows resume --status DEAD_LETTER --queue tasks\n' +
  TIMES_HELP;

/** Most IDs a human report lists; --json lists them all. */
const MAX_LISTED = 20;

/** A command that takes workflow IDs, or (without them) the filter options of `workflows list`. */
function bulkCapable(workflows: Command, name: string, description: string): Command {
  return addFilterOptions(
    workflows.command(name).description(description).argument('[id...]', 'workflow IDs (none: every workflow the filter matches)'),
  ).option('--batch-size <n>', 'with a filter: workflows per batch (1 to 1000, default 100)', parseInteger);
}

type Target = { ids: string[] } | { filter: WorkflowFilter; batchSize: number | undefined };

/** IDs or a filter, never both and never neither: an operation on "everything" is always asked for by name. */
function chooseTarget(ids: string[], options: ActionOptions): Target {
  const unique = [...new Set(ids)];
  const filtered = hasFilter(options);
  if (unique.length > 0 && filtered) throw new UsageError('give workflow IDs or filter options, not both.');
  if (unique.length > 0) {
    if (options.batchSize !== undefined) throw new UsageError('--batch-size applies to a filter; with IDs, each is handled in turn.');
    for (const id of unique) validated(() => requireName(id, 'workflow ID'));
    return { ids: unique };
  }
  if (!filtered) throw new UsageError('give IDs, or a filter such as --status DEAD_LETTER (see --help for the filter options).');
  const filter = toFilter(options);
  // Validate before connecting: a bad filter is the command line's fault (exit 2), whatever the database.
  validated(() => toListQuery(filter));
  return { filter, batchSize: options.batchSize };
}

type CancelOutcome = 'cancelled' | 'already_finished' | 'not_found';

/**
 * Cancels each workflow in turn with WorkflowQueries.cancel (which also notifies the executor running
 * it). People see a line per ID as it happens; --json prints every outcome at the end, also when a
 * database error stops the run half-way. Unknown IDs fail the command once the others are done.
 */
async function cancelEach(context: CommandContext, ids: string[], children: boolean): Promise<void> {
  const out = new Output(context.io);
  const outcomes: { id: string; outcome: CancelOutcome; status: WorkflowStatus | null }[] = [];
  try {
    await withConnection(context, { create: false }, async (connection) => {
      const queries = workflowQueries(connection);
      for (const id of ids) {
        let outcome: CancelOutcome;
        let status: WorkflowStatus | null = null;
        try {
          if (await queries.cancel(id, { children })) {
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
        if (outcome === 'cancelled') out.line(`Cancelled workflow ${id}${children ? ' and its active children' : ''}.`);
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

/** For --json: what happened to one workflow, with the library's error code and message when it was refused. */
type EachOutcome = { id: string; outcome: string } | { id: string; outcome: 'not_found' | 'failed'; code: string; message: string };

/**
 * Applies `apply` to each workflow in turn. A refusal (a typed library error: unknown ID, wrong
 * status, …) is reported and the others still run; a database error stops the run. People see a
 * line per workflow done; --json prints every outcome at the end. Exits 1 if any was refused, with
 * the library's message.
 */
async function applyToEach(
  context: CommandContext,
  ids: string[],
  action: Action,
  apply: (queries: WorkflowQueries, id: string) => Promise<void>,
): Promise<void> {
  const out = new Output(context.io);
  const outcomes: EachOutcome[] = [];
  const refusals: BallastError[] = [];
  try {
    await withConnection(context, { create: false }, async (connection) => {
      const queries = workflowQueries(connection);
      for (const id of ids) {
        try {
          await apply(queries, id);
        } catch (error) {
          if (!(error instanceof BallastError)) throw error;
          refusals.push(error);
          const outcome = error instanceof WorkflowNotFoundError ? 'not_found' : 'failed';
          outcomes.push({ id, outcome, code: error.code, message: error.message });
          continue;
        }
        outcomes.push({ id, outcome: action.past });
        if (!context.options.json) out.line(`${capitalized(action.past)} workflow ${id}.`);
      }
    });
  } finally {
    if (context.options.json && outcomes.length > 0) out.json(outcomes);
  }
  const [first] = refusals;
  if (first !== undefined && refusals.length === 1) throw first;
  if (refusals.length > 1) {
    throw new CliError(`${refusals.length} of ${ids.length} workflows could not be ${action.past}:\n${refusals.map((error) => `  ${error.message}`).join('\n')}`);
  }
}

/**
 * Applies a bulk operation to every match of the filter and reports what it applied to and what it
 * could not (the library's codes and messages). Exits 1 if any could not be done.
 */
async function applyToMatches(
  context: CommandContext,
  target: { filter: WorkflowFilter; batchSize: number | undefined },
  action: Action,
  many: (queries: WorkflowQueries, filter: WorkflowFilter, batchSize: number | undefined) => Promise<BulkResult>,
): Promise<void> {
  const result = await withConnection(context, { create: false }, (connection) =>
    // The library checks batchSize (and the filter) before its first statement: those errors are usage errors.
    validatedAsync(() => many(workflowQueries(connection), target.filter, target.batchSize)),
  );
  printBulk(context, result, action);
  const { applied, failed } = result;
  if (failed.length > 0) {
    const where = context.options.json ? 'in "failed"' : 'listed above';
    throw new CliError(`${failed.length} of ${applied.length + failed.length} matching workflows could not be ${action.past} (${where}).`);
  }
}

function printBulk(context: CommandContext, { applied, failed }: BulkResult, action: Action): void {
  const out = new Output(context.io);
  if (context.options.json) {
    out.json({ applied, failed });
    return;
  }
  if (applied.length === 0 && failed.length === 0) {
    out.line(`No ${listing(action.statuses)} workflows match these filters; nothing ${action.past}.`);
    return;
  }
  if (applied.length > 0) {
    out.line(`${capitalized(action.past)} ${count(applied.length)}:`);
    for (const id of applied.slice(0, MAX_LISTED)) out.line(`  ${id}`);
    if (applied.length > MAX_LISTED) out.line(`  … and ${applied.length - MAX_LISTED} more (--json lists every ID)`);
  }
  if (failed.length > 0) {
    out.line(`Could not ${action.verb} ${count(failed.length)}:`);
    for (const { id, code, message } of failed) out.line(`  ${id}  ${code}  ${message}`);
  }
}

async function fork(context: CommandContext, id: string, options: ForkOptions): Promise<void> {
  validated(() => requireName(id, 'workflow ID'));
  const { id: newId, appVersion, fromStep } = options;
  if (newId !== undefined) validated(() => requireName(newId, 'fork ID'));
  if (appVersion !== undefined) validated(() => requireName(appVersion, 'fork appVersion'));
  const handle = await withConnection(context, { create: false }, async (connection) => {
    try {
      return await workflowQueries(connection).fork(id, { fromStep, appVersion, id: newId });
    } catch (error) {
      // 23505 unique_violation: the chosen ID is taken. The library passes the driver's error through.
      if (newId !== undefined && (error as { code?: unknown }).code === '23505') {
        throw new CliError(`A workflow with ID "${newId}" already exists: give the fork another --id.`, { cause: error });
      }
      throw error;
    }
  });
  const out = new Output(context.io);
  if (context.options.json) out.json({ workflowId: handle.id, forkedFrom: id, fromStep: fromStep ?? 0 });
  else out.line(handle.id);
}

function count(n: number): string {
  return `${n} workflow${n === 1 ? '' : 's'}`;
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** ENQUEUED, DELAYED or PENDING */
function listing(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}
