import type { Command } from 'commander';
import { ValidationError } from '../errors.js';

/** Exit codes of the `ballast` CLI. */
export const EXIT_OK = 0;
/** The command could not do its job: database unreachable, workflow not found, schema missing, … */
export const EXIT_ERROR = 1;
/** The command line itself is wrong: unknown command or option, missing or invalid argument. */
export const EXIT_USAGE = 2;

/** Where the CLI writes. The process streams in production; buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env: process.env,
  };
}

/** Options every command accepts (declared once, on the program). */
export interface GlobalOptions {
  databaseUrl?: string;
  dataDir: string;
  schema: string;
  json: boolean;
  verbose: boolean;
}

/** An operational failure with a message meant for the user (exit code 1, no stack trace). */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** The command line is wrong in a way only the command itself can tell (exit code 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Runs a library check on what the user typed. Its ValidationError is the command line's fault, so
 * it becomes a UsageError (exit code 2) with the library's own message.
 */
export function validated<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ValidationError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The same for a library call that checks its arguments before it touches the database (the bulk
 * operations check batchSize and the filter first): its ValidationError is the command line's too.
 */
export async function validatedAsync<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof ValidationError) throw new UsageError(error.message);
    throw error;
  }
}

/** What a command's action gets: the global options, where to write, and the environment. */
export interface CommandContext {
  options: GlobalOptions;
  io: CliIo;
}

export function commandContext(command: Command, io: CliIo): CommandContext {
  const options = command.optsWithGlobals<GlobalOptions>();
  return { options: { ...options, json: options.json === true, verbose: options.verbose === true }, io };
}
