import type { Queryable } from '../driver.js';
import { DB_NOW } from './clock.js';
import { PARKED_OWNER } from './parking.js';

export interface VersionRow {
  version: string;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  enqueued: number;
  delayed: number;
  pending: number;
  /** PENDING workflows parked until their wait is over: run by no executor, woken by any of the version. */
  parked: number;
  /** PENDING workflows whose owner is gone: orphaned (no owner) or owned by an executor whose lease expired. */
  pendingWithoutLiveOwner: number;
}

/**
 * Each registered version of an application (and any version that only appears on workflows) with
 * its backlog. Each state is counted through its own partial index, so the cost follows the active
 * workflows, never the finished history.
 */
export function versionsStatement(s: string): string {
  const active = (status: string) => `SELECT app_version, owner FROM ${s}.workflows WHERE status = '${status}' AND app_name = $1`;
  return `WITH backlog AS (
       SELECT a.app_version, a.state, count(*)::int4 AS n,
              count(*) FILTER (WHERE a.state = 'PENDING' AND a.owner = '${PARKED_OWNER}')::int4 AS parked,
              count(*) FILTER (WHERE a.state = 'PENDING' AND (a.owner IS NULL OR (e.id IS NULL AND a.owner <> '${PARKED_OWNER}')))::int4 AS unowned
       FROM (SELECT app_version, owner, 'ENQUEUED' AS state FROM (${active('ENQUEUED')}) q
             UNION ALL SELECT app_version, owner, 'DELAYED' FROM (${active('DELAYED')}) d
             UNION ALL SELECT app_version, owner, 'PENDING' FROM (${active('PENDING')}) p) a
       LEFT JOIN ${s}.executors e ON e.id = a.owner AND e.lease_expires_at > ${DB_NOW}
       GROUP BY a.app_version, a.state
     ),
     versions AS (
       SELECT version FROM ${s}.app_versions WHERE app_name = $1 UNION SELECT app_version FROM backlog
     )
     SELECT v.version, av.first_seen_at AS "firstSeenAt", av.last_seen_at AS "lastSeenAt",
       COALESCE(sum(b.n) FILTER (WHERE b.state = 'ENQUEUED'), 0)::int4 AS enqueued,
       COALESCE(sum(b.n) FILTER (WHERE b.state = 'DELAYED'), 0)::int4 AS delayed,
       COALESCE(sum(b.n) FILTER (WHERE b.state = 'PENDING'), 0)::int4 AS pending,
       COALESCE(sum(b.parked), 0)::int4 AS parked,
       COALESCE(sum(b.unowned), 0)::int4 AS "pendingWithoutLiveOwner"
     FROM versions v
       LEFT JOIN ${s}.app_versions av ON av.app_name = $1 AND av.version = v.version
       LEFT JOIN backlog b ON b.app_version = v.version
     GROUP BY v.version, av.first_seen_at, av.last_seen_at
     ORDER BY av.first_seen_at DESC NULLS LAST, v.version`;
}

export async function listVersions(db: Queryable, s: string, appName: string): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(versionsStatement(s), [appName]);
  return rows;
}
