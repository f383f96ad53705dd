import type { Queryable } from '../driver.js';

export interface ExecutorRegistration {
  id: string;
  appName: string;
  appVersion: string;
  hostname: string;
  pid: number;
  now: number;
  leaseMs: number;
}

/** Registers (or re-registers) this executor and its application version. */
export async function registerExecutor(db: Queryable, s: string, e: ExecutorRegistration): Promise<void> {
  await db.query(
    `WITH v AS (
       INSERT INTO ${s}.app_versions (app_name, version, first_seen_at, last_seen_at) VALUES ($2, $3, $6, $6)
       ON CONFLICT (app_name, version) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
     )
     INSERT INTO ${s}.executors (id, app_name, app_version, hostname, pid, started_at, heartbeat_at, lease_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $6::bigint + $7::bigint)
     ON CONFLICT (id) DO UPDATE SET app_name = EXCLUDED.app_name, app_version = EXCLUDED.app_version, hostname = EXCLUDED.hostname,
       pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at, lease_expires_at = EXCLUDED.lease_expires_at`,
    [e.id, e.appName, e.appVersion, e.hostname, e.pid, e.now, e.leaseMs],
  );
}

/** Renews the lease; returns false if the row vanished (then the caller re-registers). */
export async function renewLease(db: Queryable, s: string, id: string, now: number, leaseMs: number): Promise<boolean> {
  // Typed parameters: a prepared statement cannot infer the types of `$2 + $3` from the columns.
  const { rowCount } = await db.query(
    `UPDATE ${s}.executors SET heartbeat_at = $2::bigint, lease_expires_at = $2::bigint + $3::bigint WHERE id = $1`,
    [id, now, leaseMs],
    'ballast_renew_lease',
  );
  return rowCount > 0;
}

/** Graceful exit: the lease ends now, so the fleet can take over what is left at once. */
export async function releaseLease(db: Queryable, s: string, id: string, now: number): Promise<void> {
  await db.query(`UPDATE ${s}.executors SET lease_expires_at = $2, heartbeat_at = $2 WHERE id = $1`, [id, now]);
}

/** The version a client should enqueue for: that of the newest live executor, else the newest seen. */
export async function currentAppVersion(db: Queryable, s: string, appName: string, now: number): Promise<string | undefined> {
  const { rows } = await db.query<{ version: string }>(
    `SELECT version FROM (
       (SELECT app_version AS version, 0 AS rank, started_at AS at FROM ${s}.executors
        WHERE app_name = $1 AND lease_expires_at > $2 ORDER BY started_at DESC LIMIT 1)
       UNION ALL
       (SELECT version, 1 AS rank, first_seen_at AS at FROM ${s}.app_versions WHERE app_name = $1 ORDER BY first_seen_at DESC LIMIT 1)
     ) candidates ORDER BY rank, at DESC LIMIT 1`,
    [appName, now],
  );
  return rows[0]?.version;
}
