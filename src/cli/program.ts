import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isValidIdentifier } from '../store/sql/identifiers.js';
import { registerExecutorCommands } from './commands/executors.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerQueueCommands } from './commands/queues.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { registerVersionCommands } from './commands/versions.js';
import { registerWorkflowCommands } from './commands/workflows.js';
import { CliError, EXIT_ERROR, EXIT_OK, EXIT_USAGE, processIo, UsageError, type CliIo } from './context.js';

/**
 * The `ballast` command line. Global options are declared once here and accepted before or after
 * the command (`ballast --json workflows get X` and `ballast workflows get X --json` are the same);
 * each command family lives in its own module under ./commands and registers itself.
 */
export function createProgram(io: CliIo): Command {
  const program = new Command('ballast')
    .description(
      'Operate Ballast durable workflows: migrate the schema; inspect, cancel, resume, fork and delete workflows; ' +
        'watch queues and change their limits; see executors and versions; pause, resume and trigger schedules.',
    )
    .version(packageVersion(), '-V, --version', 'print the ballast version')
    .option(
      '--database-url <url>',
      'Postgres URL of the system database (default: $BALLAST_DATABASE_URL, then $DBOS_SYSTEM_DATABASE_URL; ' +
        'with neither, the embedded database in --data-dir)',
    )
    .option('--data-dir <dir>', 'directory of the embedded (PGlite) database, used when no database URL is set', './.ballast')
    .option('--schema <name>', "schema that holds Ballast's tables", parseSchema, 'ballast')
    .option('--json', 'print machine-readable JSON')
    .option('--verbose', 'print stack traces and database warnings')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride();
  // Subcommands created with .command() inherit the output, help and exit settings above.
  registerMigrateCommand(program, io);
  registerWorkflowCommands(program, io);
  registerQueueCommands(program, io);
  registerExecutorCommands(program, io);
  registerVersionCommands(program, io);
  registerScheduleCommands(program, io);
  return program;
}

const EXIT_CODES_HELP = `
Output: a table or a message for people; --json prints one JSON document on stdout for scripts
(workflow values in the codec's lossless stored form). Errors go to stderr as "ballast: <message>".

Exit codes:
  ${EXIT_OK}  done
  ${EXIT_ERROR}  the operation failed, or something was not found or refused (unknown workflow, queue,
     schedule or version; a workflow in the wrong status; the database unreachable), also when only
     some of the workflows of a command could not be handled: the others were
  ${EXIT_USAGE}  usage error: unknown command or option, a missing or invalid argument; nothing was done`;

/** Runs the CLI on `args` (without the node and script paths) and returns the exit code. */
export async function run(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    // Commander has already printed its message (and help) for its own errors.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
    io.err(`ballast: ${errorMessage(error, verbose)}\n`);
    return error instanceof UsageError ? EXIT_USAGE : EXIT_ERROR;
  }
}

function errorMessage(error: unknown, verbose: boolean): string {
  if (!(error instanceof Error)) return String(error);
  const expected = error instanceof CliError || (error as { code?: unknown }).code !== undefined;
  const message = expected ? error.message : `unexpected error: ${error.message}`;
  if (!verbose) return expected ? message : `${message} (run with --verbose for the stack trace)`;
  const stacks: string[] = [];
  for (let cause: unknown = error; cause instanceof Error && stacks.length < 5; cause = cause.cause) {
    if (cause.stack) stacks.push(cause.stack);
  }
  return `${message}\n\n${stacks.join('\n\ncaused by: ')}`;
}

function parseSchema(value: string): string {
  if (!isValidIdentifier(value)) {
    throw new InvalidArgumentError('use letters, digits and underscores, starting with a letter or underscore (at most 63).');
  }
  return value;
}

/** The package version: package.json sits two levels up from both src/cli and dist/cli. */
function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
