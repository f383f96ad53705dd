import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { databaseUrlFromEnv } from '../config.js';
import type { WorkflowHandle } from '../engine/types.js';
import { BallastError, LifecycleError } from '../errors.js';
import { FleetRegistry } from '../fleet/registry.js';
import { WorkflowQueries } from '../management.js';
import { QueueService } from '../queues/service.js';
import { ScheduleService } from '../schedule/service.js';
import type { Driver } from '../store/driver.js';
import { PgDriver } from '../store/pg-driver.js';
import { PgliteDriver } from '../store/pglite-driver.js';
import { isTransientError } from '../store/retry.js';
import { quoteIdent } from '../store/sql/identifiers.js';
import { SystemStore } from '../store/system-store.js';
import { CliError, type CommandContext } from './context.js';

/** An open connection to the system database, for the length of one command. */
export interface Connection {
  readonly driver: Driver;
  /** Schema name as configured, e.g. `ballast`. */
  readonly schema: string;
  /** The schema quoted for SQL text, as the SQL modules in src/store/sql expect it. */
  readonly s: string;
  /** Where the data lives, for messages: a URL without its password, or the embedded directory. */
  readonly target: string;
  /** The same for machines: the URL without its password, or the embedded database's directory. */
  readonly location: string;
}

export interface ConnectOptions {
  /**
   * Whether the command may create the database it talks to. Only `migrate` may: a read such as
   * `workflows get` against a directory with no embedded database is a mistake worth reporting.
   */
  create: boolean;
}

/**
 * Opens the system database the global options point at, runs `fn`, and closes it. A Postgres URL
 * (--database-url, else BALLAST_DATABASE_URL, else DBOS_SYSTEM_DATABASE_URL) wins; without one the
 * embedded PGlite database in --data-dir is used. Database failures come back as CliErrors whose
 * messages say what to do.
 *
 * Unlike the library, the CLI does not wait out outages: an operator wants the error now.
 */
export async function withConnection<T>(
  context: CommandContext,
  connect: ConnectOptions,
  fn: (connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await openConnection(context, connect);
  try {
    return await fn(connection);
  } catch (error) {
    throw explainDatabaseError(error, connection);
  } finally {
    await connection.driver.close().catch(() => undefined);
  }
}

async function openConnection(context: CommandContext, connect: ConnectOptions): Promise<Connection> {
  const { options, io } = context;
  const schema = options.schema;
  const s = quoteIdent(schema);
  const url = nonEmpty(options.databaseUrl) ?? databaseUrlFromEnv(io.env);
  if (url !== undefined) {
    const driver = new PgDriver({
      connectionString: url,
      poolSize: 2,
      applicationName: 'ballast-cli',
      logger: { warn: (message) => (options.verbose ? io.err(`ballast: warning: ${message}\n`) : undefined) },
    });
    const location = redactUrl(url);
    return { driver, schema, s, target: location, location };
  }

  const dir = resolve(options.dataDir);
  const target = `the embedded database in ${dir}`;
  // The PGlite driver keeps its cluster in <dataDir>/pgdata (src/store/pglite-driver.ts).
  if (!connect.create && !existsSync(join(dir, 'pgdata'))) {
    throw new CliError(
      `No embedded database in ${dir}. Point --data-dir at the directory your application uses, ` +
        'or give a Postgres URL with --database-url (or BALLAST_DATABASE_URL).',
    );
  }
  try {
    return { driver: await PgliteDriver.open(dir), schema, s, target, location: dir };
  } catch (error) {
    if (error instanceof BallastError) throw error;
    throw new CliError(`Could not open ${target}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * The library's SystemStore over this connection, for commands that reuse library operations
 * (listing, cancelling, queue depths) rather than SQL modules. Its retries through outages are off
 * from the start (markClosed: "in-flight retries give up with their last error"), so a database
 * that is down is reported at once, as everywhere else in the CLI. Closing stays withConnection's job.
 */
export function systemStore(connection: Connection): SystemStore {
  const store = new SystemStore(connection.driver, { schema: connection.schema, logger: { warn: () => undefined } });
  store.markClosed();
  return store;
}

/**
 * The library's workflow operations over the connection. The CLI hands back IDs, never waits for
 * results: its handles only know their ID.
 */
export function workflowQueries(connection: Connection): WorkflowQueries {
  const store = systemStore(connection);
  return new WorkflowQueries(store, <Output>(id: string): WorkflowHandle<Output> => ({
    id,
    status: () => Promise.reject(new LifecycleError('The CLI does not follow workflows: use `ballast workflows get`.')),
    result: () => Promise.reject(new LifecycleError('The CLI does not wait for results: use `ballast workflows get`.')),
  }));
}

/** The library's view of one application's executors and versions over the connection. */
export function fleetRegistry(connection: Connection, appName: string): FleetRegistry {
  return new FleetRegistry(systemStore(connection), appName);
}

/** The CLI records no trace context: it is no traced service, and a trigger is no request. */
const NO_TRACE_CONTEXT = (): null => null;

/**
 * The library's schedules of one application over the connection. A trigger reaches the
 * schedule's version as it does from a BallastClient: through the schedule's queue (the queue
 * layer's enqueue), or as an ownerless workflow its executors adopt.
 */
export function scheduleService(connection: Connection, appName: string): ScheduleService {
  const store = systemStore(connection);
  const queues = new QueueService(store, {
    appName,
    // What the library defaults to; a trigger's input is a schedule name and a time.
    maxPayloadBytes: 16 * 1024 * 1024,
    // Only dispatchers poll, and the CLI runs none.
    pollIntervalMs: 5_000,
    logger: { warn: () => undefined },
    runningIn: () => 0,
    traceContext: NO_TRACE_CONTEXT,
  });
  return new ScheduleService(store, appName, {
    enqueue: (workflowName, input, options, appVersion) => queues.enqueue(workflowName, input, options, appVersion, null),
  });
}

/**
 * The applications that ever registered a version here, by name: the library answers for one
 * application at a time (FleetRegistry, ScheduleService), and the CLI serves every application in
 * the schema. Its one statement of its own; it belongs beside listVersions in src/store/sql/versions.ts.
 */
export async function applicationNames(connection: Connection): Promise<string[]> {
  const { rows } = await connection.driver.query<{ appName: string }>(
    `SELECT DISTINCT app_name AS "appName" FROM ${connection.s}.app_versions ORDER BY app_name`,
  );
  return rows.map((row) => row.appName);
}

/** The application --app names, else every application (see applicationNames). */
export async function applicationsFor(connection: Connection, app: string | undefined): Promise<string[]> {
  return app === undefined ? applicationNames(connection) : [app];
}

/** Turns a driver error into a message an operator can act on. */
export function explainDatabaseError(error: unknown, connection: Connection): unknown {
  if (error instanceof CliError || error instanceof BallastError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  // 42P01 undefined_table, 3F000 invalid_schema_name
  if (code === '42P01' || code === '3F000') {
    return new CliError(
      `Schema "${connection.schema}" has no Ballast tables in ${connection.target}. ` +
        'Run `ballast migrate` first, or pass the --schema your application uses.',
      { cause: error },
    );
  }
  // 42703 undefined_column: tables from another Ballast version
  if (code === '42703') {
    return new CliError(
      `The Ballast tables in schema "${connection.schema}" of ${connection.target} do not match this CLI ` +
        `(${messageOf(error)}); they were created by a different Ballast version. Run \`ballast migrate\`, or use the CLI of that version.`,
      { cause: error },
    );
  }
  // 42501 insufficient_privilege
  if (code === '42501') {
    return new CliError(
      `Permission denied on ${connection.target}: ${messageOf(error)}. ` +
        '`ballast migrate` needs a role that may create the schema and its tables; reading needs SELECT on them.',
      { cause: error },
    );
  }
  if (isTransientError(error) || code === '28P01' || code === '28000' || code === '3D000') {
    return new CliError(`Could not connect to ${connection.target}: ${messageOf(error)}`, { cause: error });
  }
  return new CliError(`Database error on ${connection.target}: ${messageOf(error)}`, { cause: error });
}

/** The URL without its password, for messages and output. Unparseable strings are not echoed at all. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured database';
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}
