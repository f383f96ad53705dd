import type { Queryable } from '../driver.js';
import { DB_NOW } from './clock.js';

/** A schedule as the code declares it (what a launch writes). */
export interface ScheduleDefinition {
  name: string;
  cron: string;
  timezone: string;
  workflowName: string;
  queue: string | null;
  backfill: boolean;
}

/** A row of `schedules`. Times are epoch milliseconds of the clock of the executor that wrote them. */
export interface ScheduleRow extends ScheduleDefinition {
  appName: string;
  paused: boolean;
  /** The version whose executors fire it. */
  appVersion: string;
  /** False once a newer version launched without declaring it: kept, never fired. */
  declared: boolean;
  declaredAt: number;
  resumedAt: number | null;
  lastTickAt: number | null;
  lastWorkflowId: string | null;
  createdAt: number;
  updatedAt: number;
  /** Whether a live executor of `appVersion` exists. */
  ownerAlive: boolean;
}

const SCHEDULE_COLUMNS = `sc.app_name AS "appName", sc.name, sc.cron, sc.timezone, sc.workflow_name AS "workflowName", sc.queue,
  sc.backfill, sc.paused, sc.app_version AS "appVersion", sc.declared, sc.declared_at AS "declaredAt", sc.resumed_at AS "resumedAt",
  sc.last_tick_at AS "lastTickAt", sc.last_workflow_id AS "lastWorkflowId", sc.created_at AS "createdAt", sc.updated_at AS "updatedAt"`;

/** No live executor runs the version that owns the schedule row `sc`. */
function ownerDead(s: string): string {
  return `NOT EXISTS (SELECT 1 FROM ${s}.executors e
    WHERE e.app_name = sc.app_name AND e.app_version = sc.app_version AND e.lease_expires_at > ${DB_NOW})`;
}

/** Version $2 was first registered after the version that owns `sc`: a newer deployment. */
function newerThanOwner(s: string): string {
  return `COALESCE((SELECT v.first_seen_at FROM ${s}.app_versions v WHERE v.app_name = $1 AND v.version = $2), 0)
    > COALESCE((SELECT v.first_seen_at FROM ${s}.app_versions v WHERE v.app_name = $1 AND v.version = sc.app_version), -1)`;
}

/**
 * Writes the schedules an executor of version $2 declares, keeping each row's paused flag and last
 * tick. At `launch` a row is taken (definition and version overwritten) when it is this version's,
 * when this version is newer than the row's, or when no live executor runs the row's version (a
 * rollback, or a fleet coming back). A `claim` — between launches — takes a row whose version has
 * no live executor left, or one of its own version that a process of this version which does not
 * declare it retired; it never overwrites a declared row of its own version, so that two launches
 * of one version with different code cannot take a row back and forth. Returns the names written.
 */
export async function declareSchedules(
  db: Queryable,
  s: string,
  declaration: { appName: string; appVersion: string; now: number; schedules: ScheduleDefinition[]; mode: 'launch' | 'claim' },
): Promise<string[]> {
  const { schedules } = declaration;
  if (schedules.length === 0) return [];
  const guard =
    declaration.mode === 'launch'
      ? `sc.app_version = EXCLUDED.app_version OR ${newerThanOwner(s)} OR ${ownerDead(s)}`
      : `(sc.app_version <> EXCLUDED.app_version AND (${newerThanOwner(s)} OR ${ownerDead(s)}))
         OR (sc.app_version = EXCLUDED.app_version AND NOT sc.declared)`;
  const { rows } = await db.query<{ name: string }>(
    `INSERT INTO ${s}.schedules AS sc (app_name, name, cron, timezone, workflow_name, queue, backfill, paused, app_version, declared,
       declared_at, created_at, updated_at)
     SELECT $1, u.name, u.cron, u.timezone, u.workflow_name, u.queue, u.backfill, false, $2, true, $3, $3, $3
     FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[]) AS u(name, cron, timezone, workflow_name, queue, backfill)
     ON CONFLICT (app_name, name) DO UPDATE SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, workflow_name = EXCLUDED.workflow_name,
       queue = EXCLUDED.queue, backfill = EXCLUDED.backfill, app_version = EXCLUDED.app_version, declared = true,
       declared_at = EXCLUDED.declared_at, updated_at = EXCLUDED.updated_at
     WHERE ${guard}
     RETURNING name`,
    [
      declaration.appName,
      declaration.appVersion,
      declaration.now,
      schedules.map((d) => d.name),
      schedules.map((d) => d.cron),
      schedules.map((d) => d.timezone),
      schedules.map((d) => d.workflowName),
      schedules.map((d) => d.queue),
      schedules.map((d) => d.backfill),
    ],
  );
  return rows.map((row) => row.name);
}

/**
 * A newer version that launches without declaring a schedule (or any version, once the row's own
 * has no live executor) marks it not declared and takes it: the row, its paused flag and its last
 * tick are kept, and nobody fires it until a version that declares it launches. An executor of the
 * row's own version never does this, so a process that declares no schedules (a worker beside a
 * scheduler of the same version) retires nothing. Returns the names retired.
 */
export async function retireUndeclared(
  db: Queryable,
  s: string,
  retirement: { appName: string; appVersion: string; now: number; declared: string[] },
): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `UPDATE ${s}.schedules sc SET declared = false, app_version = $2, updated_at = $3
     WHERE sc.app_name = $1 AND sc.declared AND sc.app_version <> $2 AND NOT (sc.name = ANY($4::text[]))
       AND (${newerThanOwner(s)} OR ${ownerDead(s)})
     RETURNING name`,
    [retirement.appName, retirement.appVersion, retirement.now, retirement.declared],
  );
  return rows.map((row) => row.name);
}

/** The schedules of an application (or the one named), by name, with whether their version runs anywhere. */
export async function readSchedules(db: Queryable, s: string, appName: string, name: string | null): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>(
    `SELECT ${SCHEDULE_COLUMNS}, NOT ${ownerDead(s)} AS "ownerAlive"
     FROM ${s}.schedules sc WHERE sc.app_name = $1 ${name === null ? '' : 'AND sc.name = $2'} ORDER BY sc.name`,
    name === null ? [appName] : [appName, name],
    name === null ? 'ballast_read_schedules' : 'ballast_read_schedule',
  );
  return rows;
}

/** Pauses or resumes; a resume records when, so that ticks of the pause are never backfilled. False if unknown. */
export async function setPaused(db: Queryable, s: string, appName: string, name: string, paused: boolean, now: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${s}.schedules SET paused = $3, resumed_at = CASE WHEN paused AND NOT $3 THEN $4 ELSE resumed_at END, updated_at = $4
     WHERE app_name = $1 AND name = $2`,
    [appName, name, paused, now],
  );
  return rowCount > 0;
}

/**
 * Records that the workflow of a tick was started. Guarded so that it only moves forward: replicas
 * racing for one tick, or a late one recording an older tick, leave the newest in place.
 */
export async function recordTick(
  db: Queryable,
  s: string,
  tick: { appName: string; name: string; tickAt: number; workflowId: string; now: number },
): Promise<void> {
  await db.query(
    `UPDATE ${s}.schedules SET last_tick_at = $3, last_workflow_id = $4, updated_at = $5
     WHERE app_name = $1 AND name = $2 AND (last_tick_at IS NULL OR last_tick_at < $3)`,
    [tick.appName, tick.name, tick.tickAt, tick.workflowId, tick.now],
    'ballast_record_schedule_tick',
  );
}

/** A direct workflow to be run by whichever executor of `appVersion` adopts it. */
export interface OrphanWorkflow {
  id: string;
  name: string;
  appName: string;
  appVersion: string;
  input: string;
  createdAt: number;
  /** A workflow timeout, its deadline counted from the insert. */
  timeoutMs?: number | null;
}

/**
 * Inserts a PENDING workflow without an owner — an orphan, as a hand-over leaves one — and wakes
 * the adopters in the same statement. Nothing ran yet: epoch and attempts start at 0 and adoption
 * makes them 1. False when the ID exists (the insert is idempotent).
 */
export async function insertOrphan(db: Queryable, s: string, channel: string, wakeKey: string, orphan: OrphanWorkflow): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH w AS (
       INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, priority, owner, epoch, attempts, input, created_at, updated_at,
         timeout_ms, deadline_at)
       VALUES ($1, $2, 'PENDING', $3, $4, 0, NULL, 0, 0, $5, $6, $6, $9::int8, $6 + $9::int8)
       ON CONFLICT DO NOTHING
       RETURNING id)
     SELECT id, pg_notify($7, $8) FROM w`,
    [orphan.id, orphan.name, orphan.appName, orphan.appVersion, orphan.input, orphan.createdAt, channel, wakeKey, orphan.timeoutMs ?? null],
  );
  return rowCount > 0;
}
