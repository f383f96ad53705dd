import type { Queryable } from '../driver.js';
import { DB_NOW } from './clock.js';

export interface ExecutorRegistration {
  id: string;
  appName: string;
  appVersion: string;
  hostname: string;
  pid: number;
  leaseMs: number;
  /** Queues this executor dispatches. */
  queues: string[];
}

/** An executor as the fleet sees it. Times are the database's epoch milliseconds. */
export interface ExecutorRow {
  id: string;
  appName: string;
  appVersion: string;
  hostname: string | null;
  pid: number | null;
  queues: string[];
  running: number;
  startedAt: number;
  heartbeatAt: number;
  leaseExpiresAt: number;
  /** When the fleet took over (or the executor handed back) its workflows; null while it may own some. */
  recoveredAt: number | null;
  alive: boolean;
}

const EXECUTOR_COLUMNS = `id, app_name AS "appName", app_version AS "appVersion", hostname, pid, queues, running,
  started_at AS "startedAt", heartbeat_at AS "heartbeatAt", lease_expires_at AS "leaseExpiresAt",
  recovered_at AS "recoveredAt", lease_expires_at > ${DB_NOW} AS alive`;

/** Registers (or re-registers) this executor and its application version, leased from the database's clock. */
export async function registerExecutor(db: Queryable, s: string, e: ExecutorRegistration): Promise<void> {
  // Typed parameters: a prepared statement cannot infer the types of `now + $7` from the columns.
  await db.query(
    `WITH now AS (SELECT ${DB_NOW} AS at),
     v AS (
       INSERT INTO ${s}.app_versions (app_name, version, first_seen_at, last_seen_at) SELECT $2, $3, at, at FROM now
       ON CONFLICT (app_name, version) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
     )
     INSERT INTO ${s}.executors (id, app_name, app_version, hostname, pid, queues, running, started_at, heartbeat_at, lease_expires_at,
       lease_started_at, recovered_at)
     SELECT $1, $2, $3, $4, $5, $6::text[], 0, at, at, at + $7::int8, at, NULL FROM now
     ON CONFLICT (id) DO UPDATE SET app_name = EXCLUDED.app_name, app_version = EXCLUDED.app_version, hostname = EXCLUDED.hostname,
       pid = EXCLUDED.pid, queues = EXCLUDED.queues, running = 0, started_at = EXCLUDED.started_at,
       heartbeat_at = EXCLUDED.heartbeat_at, lease_expires_at = EXCLUDED.lease_expires_at, lease_started_at = EXCLUDED.lease_started_at,
       recovered_at = NULL`,
    [e.id, e.appName, e.appVersion, e.hostname, e.pid, e.queues, e.leaseMs],
  );
}

/**
 * Renews the lease from the database's clock and records how many workflows the executor runs.
 * A renewal after the fleet judged the executor dead revives it (`recovered_at` cleared): whatever
 * was taken over stays taken, and the executor owns what it claims from now on. A renewal of a
 * lease that had already expired starts a new unbroken lease (`lease_started_at`). Returns false
 * if the row vanished (then the caller re-registers).
 */
export async function renewLease(db: Queryable, s: string, id: string, leaseMs: number, running: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH now AS (SELECT ${DB_NOW} AS at)
     UPDATE ${s}.executors SET heartbeat_at = now.at, lease_expires_at = now.at + $2::int8, running = $3::int4, recovered_at = NULL,
       lease_started_at = CASE WHEN lease_expires_at < now.at THEN now.at ELSE lease_started_at END
     FROM now WHERE id = $1`,
    [id, leaseMs, running],
    'ballast_renew_lease',
  );
  return rowCount > 0;
}

/** The executors of an application (all of them when null), newest first; `liveOnly` skips expired leases. */
export async function listExecutors(db: Queryable, s: string, appName: string | null, liveOnly: boolean): Promise<ExecutorRow[]> {
  const where = [appName === null ? 'true' : 'app_name = $1'];
  if (liveOnly) where.push(`lease_expires_at > ${DB_NOW}`);
  const { rows } = await db.query<ExecutorRow>(
    `SELECT ${EXECUTOR_COLUMNS} FROM ${s}.executors WHERE ${where.join(' AND ')} ORDER BY started_at DESC, id`,
    appName === null ? [] : [appName],
  );
  return rows;
}

/**
 * The version an enqueue that names none should target, so that new work lands where an executor
 * will run it: that of the newest live executor dispatching `queue`, else of the newest live
 * executor, else the newest version ever registered (the work then waits for it, visibly).
 */
export async function currentAppVersion(db: Queryable, s: string, appName: string, queue: string | null): Promise<string | undefined> {
  const { rows } = await db.query<{ version: string }>(
    `SELECT version FROM (
       (SELECT app_version AS version, 0 AS rank, started_at AS at FROM ${s}.executors
        WHERE app_name = $1 AND lease_expires_at > ${DB_NOW} AND $2::text = ANY(queues) ORDER BY started_at DESC LIMIT 1)
       UNION ALL
       (SELECT app_version AS version, 1 AS rank, started_at AS at FROM ${s}.executors
        WHERE app_name = $1 AND lease_expires_at > ${DB_NOW} ORDER BY started_at DESC LIMIT 1)
       UNION ALL
       (SELECT version, 2 AS rank, first_seen_at AS at FROM ${s}.app_versions WHERE app_name = $1 ORDER BY first_seen_at DESC LIMIT 1)
     ) candidates ORDER BY rank, at DESC LIMIT 1`,
    [appName, queue],
  );
  return rows[0]?.version;
}

/** Whether `version` of `appName` was ever registered by an executor. */
export async function versionExists(db: Queryable, s: string, appName: string, version: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM ${s}.app_versions WHERE app_name = $1 AND version = $2`, [appName, version]);
  return rows.length > 0;
}

/** Forgets executors whose work was handed over longer than `olderThanMs` ago; returns how many. */
export async function forgetRecovered(db: Queryable, s: string, appName: string, olderThanMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM ${s}.executors WHERE app_name = $1 AND recovered_at < ${DB_NOW} - $2::int8 AND lease_expires_at < ${DB_NOW}`,
    [appName, olderThanMs],
  );
  return rowCount;
}
