import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { optionalDuration } from './durations.js';
import type { Duration } from './engine/types.js';
import { ADMIN_HANDLER_OPTIONS, checkAdminOptions, type AdminHandlerOptions } from './admin/options.js';
import { optionNames, requireOptions } from './engine/validation.js';
import { parkAfterMs } from './engine/registry.js';
import { PARKED_OWNER } from './store/sql/parking.js';
import { ValidationError } from './errors.js';
import type { RetentionPolicy } from './fleet/retention.js';
import { isValidIdentifier } from './store/sql/identifiers.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, error?: unknown): void;
}

export interface BallastConfig {
  /** Application name: recorded on every workflow and executor. */
  name: string;
  /** Postgres URL. Default: BALLAST_DATABASE_URL (or DBOS_SYSTEM_DATABASE_URL); absent => embedded PGlite. */
  databaseUrl?: string;
  /** Directory of the embedded database when no URL is set ('memory://': in memory, gone at shutdown). Default: ./.ballast */
  dataDir?: string;
  /** Schema that holds all of Ballast's tables. Default: ballast */
  schema?: string;
  /** Default: BALLAST_EXECUTOR_ID, else unique per process. Keep it stable across restarts to recover at launch. */
  executorId?: string;
  /** Default: BALLAST_APP_VERSION, else a hash of the registered workflow code. */
  appVersion?: string;
  /** Connections in the pool (Postgres only). Default 10. */
  poolSize?: number;
  /** Fallback polling interval when a notification is lost. Default 5000 ms. */
  pollIntervalMs?: number;
  /**
   * A direct workflow that will wait longer than this (ctx.sleep, ctx.recv) is parked: unloaded from
   * memory, and resumed from its checkpoints by any executor of its version when its time comes or
   * its message arrives. A workflow may set its own (ballast.workflow(name, fn, { parkAfter })).
   * false: never park. Default '60s'.
   */
  parkAfter?: Duration | false;
  /**
   * Takeovers after a crash (its executor died while running it) that a workflow may go through;
   * the next one moves it to DEAD_LETTER instead, so a workflow that kills every process it lands
   * on stops cycling through the fleet. Graceful hand-backs at shutdown do not count. Default 50.
   */
  maxRecoveryAttempts?: number;
  /** Largest serialized input, output, message or event. Default 16 MiB. */
  maxPayloadBytes?: number;
  /**
   * How long this executor's lease lasts without a heartbeat: once it has run out, the other
   * executors take over its workflows. Default BALLAST_EXECUTOR_LEASE_MS, else 10 s. At least twice
   * the heartbeat interval.
   */
  executorLeaseMs?: number;
  /** How often the lease is renewed. Default a third of executorLeaseMs. */
  heartbeatIntervalMs?: number;
  /**
   * Longest a statement of this instance may run on the server (its sessions' statement_timeout;
   * migrations are exempt). It also bounds waits on a dead network: a connection that leaves a
   * statement unanswered 2 s beyond it is judged cut off, closed, and its statements are retried
   * on a new one. Default: the lease, at least 5 s.
   */
  statementTimeoutMs?: number;
  /**
   * Upgrade workflows in place with ctx.patched() rather than by version: without appVersion (or
   * BALLAST_APP_VERSION), the version is the fixed "patching" instead of a hash of the workflow
   * code, so a deployment of changed code recovers the workflows of the last one. Default false.
   */
  patching?: boolean;
  /** Deletes finished workflows by age and/or count. Default: keep everything. */
  retention?: RetentionConfig;
  /**
   * The standalone admin HTTP server (probes, metrics, management; docs/operations.md), started by
   * launch(). Default: off, unless BALLAST_ADMIN_PORT is set; `false` keeps it off whatever the
   * environment. An application serving its own port mounts `ballast.adminHandler()` instead.
   */
  admin?: AdminConfig | false;
  logger?: Logger;
}

/**
 * The standalone admin server: its port and interface, and the handler's options (tokens, roles,
 * read-only mode, action switches, redaction, the dashboard; see AdminHandlerOptions).
 */
export interface AdminConfig extends Omit<AdminHandlerOptions, 'readiness' | 'logger'> {
  /** Default BALLAST_ADMIN_PORT, else 3001; 0 picks a free port. */
  port?: number;
  /** Interface to listen on. Default: all (without a token, only loopback clients may act). */
  host?: string;
}

export interface ResolvedAdmin {
  port: number;
  host: string | undefined;
  /** What the server's handler is made with; tokens default to BALLAST_ADMIN_TOKEN and BALLAST_VIEWER_TOKEN. */
  handler: AdminHandlerOptions;
}

export interface RetentionConfig {
  /** Delete finished workflows completed longer ago than this. */
  maxAge?: Duration;
  /** Keep at most this many finished workflows (the newest). */
  maxRows?: number;
  /** How often to look. Default 1 minute. */
  interval?: Duration;
  /** Rows per delete statement, at most. Default 1000. */
  batchSize?: number;
  /**
   * Share of one database connection's time that background retention may take, across the whole
   * fleet (0 < share ≤ 1): after each batch the fleet pauses until the batch's time is this share of
   * the elapsed time. Default 0.025 (see docs/decisions/0014-retention.md). `pruneFinished()` does not pause.
   */
  dutyCycle?: number;
}

export interface ResolvedConfig {
  name: string;
  databaseUrl: string | undefined;
  dataDir: string;
  schema: string;
  executorId: string;
  appVersion: string | undefined;
  poolSize: number;
  pollIntervalMs: number;
  /** Null: never park. */
  parkAfterMs: number | null;
  maxRecoveryAttempts: number;
  maxPayloadBytes: number;
  executorLeaseMs: number;
  heartbeatIntervalMs: number;
  statementTimeoutMs: number;
  patching: boolean;
  retention: RetentionPolicy;
  admin: ResolvedAdmin | null;
  logger: Logger;
}

const consoleLogger: Logger = {
  info: (message) => console.info(`[ballast] ${message}`),
  warn: (message) => console.warn(`[ballast] ${message}`),
  error: (message, error) => console.error(`[ballast] ${message}`, error ?? ''),
};

export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(env.BALLAST_DATABASE_URL) ?? nonEmpty(env.DBOS_SYSTEM_DATABASE_URL);
}

const CONFIG_OPTIONS = optionNames<BallastConfig>({
  name: true, databaseUrl: true, dataDir: true, schema: true, executorId: true, appVersion: true, poolSize: true, pollIntervalMs: true, parkAfter: true,
  maxRecoveryAttempts: true, maxPayloadBytes: true, executorLeaseMs: true, heartbeatIntervalMs: true, statementTimeoutMs: true, patching: true,
  retention: true, admin: true, logger: true,
});
const RETENTION_OPTIONS = optionNames<RetentionConfig>({ maxAge: true, maxRows: true, interval: true, batchSize: true, dutyCycle: true });
/** config.admin: the handler's options that make sense for the standalone server, and its port and interface. */
const ADMIN_OPTIONS = [...ADMIN_HANDLER_OPTIONS.filter((name) => name !== 'readiness' && name !== 'logger'), 'port', 'host'];

export function resolveConfig(config: BallastConfig, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  requireOptions(config ?? null, CONFIG_OPTIONS, 'new Ballast(config)', '{ name: "orders" }');
  if (typeof config.name !== 'string' || config.name.trim() === '') {
    throw new ValidationError('new Ballast(config): config.name (the application name) must be a non-empty string.');
  }
  const schema = config.schema ?? 'ballast';
  if (!isValidIdentifier(schema)) {
    throw new ValidationError(`config.schema "${schema}" is not a valid schema name: use letters, digits and underscores (at most 63).`);
  }
  const executorId = nonEmpty(config.executorId) ?? nonEmpty(env.BALLAST_EXECUTOR_ID) ?? defaultExecutorId();
  if (executorId === PARKED_OWNER) throw new ValidationError(`executorId "${executorId}" is reserved for parked workflows: choose another.`);
  return {
    name: config.name,
    databaseUrl: nonEmpty(config.databaseUrl) ?? databaseUrlFromEnv(env),
    dataDir: config.dataDir ?? './.ballast',
    schema,
    executorId,
    appVersion: nonEmpty(config.appVersion) ?? nonEmpty(env.BALLAST_APP_VERSION),
    poolSize: positiveInteger(config.poolSize ?? 10, 'poolSize'),
    pollIntervalMs: positiveInteger(config.pollIntervalMs ?? 5_000, 'pollIntervalMs'),
    parkAfterMs: config.parkAfter === undefined ? DEFAULT_PARK_AFTER_MS : (parkAfterMs(config.parkAfter, 'config.parkAfter') ?? null),
    maxRecoveryAttempts: positiveInteger(config.maxRecoveryAttempts ?? 50, 'maxRecoveryAttempts'),
    maxPayloadBytes: positiveInteger(config.maxPayloadBytes ?? 16 * 1024 * 1024, 'maxPayloadBytes'),
    ...resolveTimeouts(config, env),
    patching: optionalBoolean(config.patching, 'patching'),
    retention: resolveRetention(config.retention),
    admin: resolveAdmin(config.admin, env),
    logger: config.logger ?? consoleLogger,
  };
}

const DEFAULT_ADMIN_PORT = 3001;
const DEFAULT_PARK_AFTER_MS = 60_000;


function resolveAdmin(admin: AdminConfig | false | undefined, env: NodeJS.ProcessEnv): ResolvedAdmin | null {
  if (admin === false) return null;
  const fromEnv = nonEmpty(env.BALLAST_ADMIN_PORT);
  if (admin === undefined && fromEnv === undefined) return null;
  if (admin !== undefined && (typeof admin !== 'object' || admin === null)) {
    throw new ValidationError('config.admin must be an object such as { port: 3001 }, or false.');
  }
  requireOptions(admin, ADMIN_OPTIONS, 'config.admin', '{ port: 3001 }');
  if (admin?.port === undefined && fromEnv !== undefined && !/^\d+$/.test(fromEnv.trim())) {
    throw new ValidationError(`BALLAST_ADMIN_PORT must be a port number, got ${JSON.stringify(fromEnv)}.`);
  }
  const port = admin?.port ?? (fromEnv === undefined ? DEFAULT_ADMIN_PORT : Number(fromEnv));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ValidationError(`config.admin.port must be a port number from 0 to 65535, got ${String(port)}.`);
  if (admin?.host !== undefined && (typeof admin.host !== 'string' || admin.host === '')) throw new ValidationError('config.admin.host must be a non-empty string.');
  if (admin?.token !== undefined && (typeof admin.token !== 'string' || admin.token.length < 16)) {
    throw new ValidationError('config.admin.token must be a string of at least 16 characters (a random secret, say 32 bytes in hex).');
  }
  const { port: _port, host: _host, ...options } = admin ?? {};
  const handler: AdminHandlerOptions = {
    ...options,
    token: admin?.token ?? nonEmpty(env.BALLAST_ADMIN_TOKEN),
    viewerToken: admin?.viewerToken ?? nonEmpty(env.BALLAST_VIEWER_TOKEN),
  };
  checkAdminOptions(handler);
  return { port, host: admin?.host, handler };
}

const DEFAULT_LEASE_MS = 10_000;
const MIN_LEASE_MS = 100;
const MIN_DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

/**
 * The lease and its heartbeat (a lease must outlast two heartbeats, so one late beat kills no
 * executor), and the statement timeout, which follows the lease: a statement running longer than
 * the lease would outlive the executor's own claim to the work it writes for.
 */
function resolveTimeouts(
  config: BallastConfig,
  env: NodeJS.ProcessEnv,
): { executorLeaseMs: number; heartbeatIntervalMs: number; statementTimeoutMs: number } {
  const fromEnv = nonEmpty(env.BALLAST_EXECUTOR_LEASE_MS);
  if (config.executorLeaseMs === undefined && fromEnv !== undefined && !/^\d+$/.test(fromEnv.trim())) {
    throw new ValidationError(`BALLAST_EXECUTOR_LEASE_MS must be a positive whole number of milliseconds, got ${JSON.stringify(fromEnv)}.`);
  }
  const executorLeaseMs = positiveInteger(config.executorLeaseMs ?? (fromEnv === undefined ? DEFAULT_LEASE_MS : Number(fromEnv)), 'executorLeaseMs');
  if (executorLeaseMs < MIN_LEASE_MS) {
    throw new ValidationError(
      `config.executorLeaseMs must be at least ${MIN_LEASE_MS} ms, got ${executorLeaseMs}: a shorter lease runs out on an ordinary garbage-collection pause.`,
    );
  }
  const heartbeatIntervalMs = positiveInteger(config.heartbeatIntervalMs ?? Math.floor(executorLeaseMs / 3), 'heartbeatIntervalMs');
  if (executorLeaseMs < 2 * heartbeatIntervalMs) {
    throw new ValidationError(
      `config.executorLeaseMs (${executorLeaseMs}) must be at least twice heartbeatIntervalMs (${heartbeatIntervalMs}): ` +
        'otherwise one late heartbeat makes the fleet take over a live executor. Raise the lease or renew more often.',
    );
  }
  const statementTimeoutMs = positiveInteger(config.statementTimeoutMs ?? Math.max(executorLeaseMs, MIN_DEFAULT_STATEMENT_TIMEOUT_MS), 'statementTimeoutMs');
  return { executorLeaseMs, heartbeatIntervalMs, statementTimeoutMs };
}

function resolveRetention(retention: RetentionConfig | undefined): RetentionPolicy {
  if (retention !== undefined && (typeof retention !== 'object' || retention === null)) {
    throw new ValidationError('config.retention must be an object such as { maxAge: "7d", maxRows: 1000000 }.');
  }
  requireOptions(retention, RETENTION_OPTIONS, 'config.retention', '{ maxAge: "7d", maxRows: 1000000 }');
  const maxAgeMs = optionalDuration(retention?.maxAge, 'config.retention.maxAge') ?? null;
  if (maxAgeMs === 0) throw new ValidationError('config.retention.maxAge must be longer than zero.');
  return {
    maxAgeMs,
    maxRows: retention?.maxRows === undefined ? null : nonNegativeInteger(retention.maxRows, 'retention.maxRows'),
    intervalMs: optionalDuration(retention?.interval, 'config.retention.interval') || 60_000,
    batchSize: positiveInteger(retention?.batchSize ?? 1_000, 'retention.batchSize'),
    dutyCycle: share(retention?.dutyCycle ?? 0.025, 'retention.dutyCycle'),
  };
}

function defaultExecutorId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function optionalBoolean(value: unknown, what: string): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new ValidationError(`config.${what} must be true or false, got ${String(value)}.`);
  return value === true;
}

function nonNegativeInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) throw new ValidationError(`config.${what} must be a non-negative integer, got ${String(value)}.`);
  return value;
}

function share(value: number, what: string): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new ValidationError(`config.${what} must be a number greater than 0 and at most 1 (0.05 is 5 %), got ${String(value)}.`);
  }
  return value;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new ValidationError(`config.${what} must be a positive integer, got ${String(value)}.`);
  return value;
}
