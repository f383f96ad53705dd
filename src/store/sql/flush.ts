import { RUNNABLE_COLUMNS, type Completion, type NewCheckpoint, type NewWorkflow, type StreamAppend } from '../records.js';
import { nowFor } from './clock.js';
import { PARKED_WAKE_KEY, parkCte, wakeOnMessage, type Park } from './parking.js';
import { claimableHead, claimAssignments } from './queues.js';

interface Item<T> {
  item: T;
  waiter: { resolve(applied: boolean): void; reject(error: unknown): void };
}

/** Queued workflows to claim in the flush that frees their slots: up to `max` per queue. */
export interface ClaimPlan {
  owner: string;
  appVersion: string;
  slots: Array<{ queue: string; max: number }>;
  /** A virtual clock's now for the claims' stamps; absent or null: the database's (see nowFor). */
  virtualNow?: number | null;
}

export interface FlushBatch {
  starts: Item<NewWorkflow>[];
  checkpoints: Item<NewCheckpoint>[];
  completions: Item<Completion>[];
  streams: Item<StreamAppend>[];
  /** Absent in most batches: only workflows that wait long park. */
  parks?: Item<Park>[];
  claims?: ClaimPlan;
}

export interface Statement {
  name: string;
  text: string;
  params: unknown[];
}

/**
 * Builds the single statement of one group-commit flush. Each kind of write present in the batch
 * becomes one data-modifying CTE fed by a JSON array of rows, so the whole batch is one round trip and
 * one implicit transaction. The text depends only on which kinds are present, so each of the few
 * shapes is prepared once per connection.
 *
 * Fencing: each checkpoint looks up its workflow row by primary key on (id, owner, epoch, PENDING),
 * a LATERAL subquery (kept from being flattened by its LIMIT) so that it stays one index probe per
 * row whatever the planner guesses about the size of the batch. The status it checks is a
 * parameter (RUNNING below), so no plan can read the partial index of running rows instead: that
 * index is keyed by owner, and a probe through it reads every workflow the executor has running. A first checkpoint sharing the
 * statement with its workflow's insert (a start with a generated ID, which nothing else can own)
 * is not looked up: the insert commits with it or neither does. The lookup takes no lock (a row
 * lock per checkpoint costs a WAL record): a takeover committing while this statement runs can let
 * one last checkpoint of the old owner land.
 * That is safe because a position is written once (the primary key): the new owner's write of the
 * same position is refused, it finds another output there and replays from the recorded history
 * (WorkflowExecution.explainRefusal). Completions are fenced by their UPDATE, which does lock.
 * Checkpoints insert without ON CONFLICT: a speculative insertion costs a second index probe and a
 * WAL record per row, for a conflict that only a retry after a lost reply or a takeover race can
 * cause. Such a statement fails with a unique violation, and the writer writes its rows one by
 * one, answering the refused checkpoint `false` (GroupCommitWriter.write).
 * A completion that shares the batch with its workflow's checkpoint applies only if that
 * checkpoint did, so a workflow never finishes on a step output that was not recorded.
 * Messages and events ride on their checkpoint: they are inserted only for checkpoints that were.
 * Claims taking the slots that the batch's completions free come back as JSON rows (column w).
 * Stream rows are fenced once per workflow's append, by the same lookup as a checkpoint, and
 * inserted ON CONFLICT DO NOTHING: a replay (or a retry after a lost reply) writes positions that
 * exist already, and the first value written at a position stays. An append is answered by whether
 * its workflow was still ours ('t'), whatever its rows found.
 */
/** The status of running workflows, for a park's rows (compared as a column there, see parkCte). */
const RUNNING = 'PENDING';

export function flushStatement(schema: string, channel: string, batch: FlushBatch, wakePayloads: string[]): Statement {
  const params: unknown[] = [];
  // The status of running workflows, as a parameter: the partial index of running rows matches only
  // the literal, so a lookup that must stay a primary-key probe names it this way.
  let runningParam: string | undefined;
  const running = () => (runningParam ??= `$${params.push('PENDING')}::text`);
  // Each kind's rows travel as one JSON array (serialised natively, parsed by json_to_recordset):
  // far cheaper on both sides than one Postgres array literal per column.
  const rowsOf = (rows: object[]): string => `json_to_recordset($${params.push(JSON.stringify(rows))}::text::json)`;
  const ctes: string[] = [];
  const selects: string[] = [];
  let shape = '';

  if (batch.starts.length > 0) {
    shape += 's';
    // Children carry their parent's lease: inserted only while the parent is still PENDING under it.
    // Like a checkpoint's, the lookup takes no lock: a takeover committing meanwhile may let one
    // last child of the former owner in, which is harmless since a child's ID is deterministic (the
    // new owner's start of it finds it). A correlated subquery with a LIMIT, so that it stays one
    // primary-key probe per child rather than a hashed read of every running workflow.
    const fenced = batch.starts.some((entry) => entry.item.parentOwner !== undefined);
    if (fenced) shape += 'f';
    const parentColumns = fenced ? `, "parentOwner" text, "parentEpoch" int4` : '';
    // Only batches that carry attributes name the column: the statement of every other batch stays as it was.
    const attributed = batch.starts.some((entry) => entry.item.attributes != null);
    if (attributed) shape += 'a';
    const parentFence = fenced
      ? `
      WHERE u."parentOwner" IS NULL OR COALESCE((
        SELECT true FROM ${schema}.workflows p
        WHERE p.id = u."parentId" AND p.owner = u."parentOwner" AND p.epoch = u."parentEpoch" AND p.status = ${running()}
        LIMIT 1), false)`
      : '';
    ctes.push(`s AS (
      INSERT INTO ${schema}.workflows (id, name, status, app_name, app_version, queue, partition_key, dedup_id, priority,
        owner, epoch, attempts, input, parent_id, timeout_ms, deadline_at, available_at, created_at, started_at, updated_at, trace_context${attributed ? ', attributes' : ''})
      SELECT u.id, u.name, u.status, u."appName", u."appVersion", u.queue, u."partitionKey", u."dedupId", u.priority,
        u.owner, u.epoch, CASE WHEN u.status = 'PENDING' THEN 1 ELSE 0 END, u.input, u."parentId", u."timeoutMs",
        u."deadlineAt", u."availableAt", u."createdAt", u."startedAt", u."createdAt", u."traceContext"${attributed ? ', u.attributes' : ''}
      FROM ${rowsOf(batch.starts.map((entry) => entry.item))}
        AS u(id text, name text, status text, "appName" text, "appVersion" text, queue text, "partitionKey" text, "dedupId" text,
             priority int4, owner text, epoch int4, input text, "parentId" text, "timeoutMs" int8, "deadlineAt" int8,
             "availableAt" int8, "createdAt" int8, "startedAt" int8, "traceContext" text${parentColumns}${attributed ? ', attributes jsonb' : ''})${parentFence}
      ON CONFLICT DO NOTHING
      RETURNING id)`);
    selects.push(`SELECT 's' AS k, id AS a, NULL::int4 AS b, NULL::text AS w FROM s`);
  }

  if (batch.checkpoints.length > 0) {
    shape += 'c';
    const rows = batch.checkpoints.map((entry) => entry.item);
    // A checkpoint that shares the statement with its workflow's insert needs no lookup (a sibling
    // CTE's insert is not visible to it anyway): the two commit together or not at all.
    const joined = batch.checkpoints.some((entry) => entry.item.withStart);
    if (joined) shape += 'j';
    const startedHere = joined ? `SELECT 1 WHERE u."withStart"\n        UNION ALL\n        ` : '';
    ctes.push(`c AS (
      INSERT INTO ${schema}.steps (workflow_id, idx, name, output, error, child_id, started_at, completed_at, attempts)
      SELECT u."workflowId", u.idx, u.name, u.output, u.error, u."childId", u."startedAt", u."completedAt", u.attempts
      FROM ${rowsOf(rows)}
        AS u("workflowId" text, idx int4, name text, output text, error text, "childId" text, "startedAt" int8, "completedAt" int8,
             attempts int4, owner text, epoch int4${joined ? ', "withStart" bool' : ''})
      CROSS JOIN LATERAL (
        ${startedHere}SELECT 1 FROM ${schema}.workflows w
        WHERE w.id = u."workflowId" AND w.owner = u.owner AND w.epoch = u.epoch AND w.status = ${running()}
        LIMIT 1) AS owned
      RETURNING workflow_id, idx)`);
    selects.push(`SELECT 'c' AS k, workflow_id AS a, idx AS b, NULL::text AS w FROM c`);

    const messages = rows.filter((r) => r.message);
    if (messages.length > 0) {
      shape += 'm';
      const list = messages.map((r) => ({ workflowId: r.workflowId, idx: r.idx, ...r.message, createdAt: r.completedAt }));
      ctes.push(`m AS (
        INSERT INTO ${schema}.messages (destination_id, topic, payload, created_at)
        SELECT u."destinationId", u.topic, u.payload, u."createdAt"
        FROM ${rowsOf(list)} AS u("workflowId" text, idx int4, "destinationId" text, topic text, payload text, "createdAt" int8)
        JOIN c ON c.workflow_id = u."workflowId" AND c.idx = u.idx
        RETURNING destination_id, topic, created_at)`);
      // A parked recipient is due now; every executor hears of it (see sql/parking.ts).
      const siblings = [...batch.completions, ...(batch.parks ?? [])].map(({ item }) => item.workflowId);
      const updatedBySiblings = siblings.length === 0 ? undefined : `$${params.push(siblings)}::text[]`;
      ctes.push(`mw AS (
        ${wakeOnMessage(schema, '(SELECT destination_id, topic, max(created_at) AS sent_at FROM m GROUP BY destination_id, topic)', 'sent.sent_at', updatedBySiblings)})`);
      selects.push(`SELECT 'n' AS k, NULL AS a, NULL::int4 AS b, NULL::text AS w FROM (SELECT pg_notify($${params.push(channel)}::text, '${PARKED_WAKE_KEY}') FROM mw WHERE mw.parked LIMIT 1) AS p`);
    }
    const events = rows.filter((r) => r.event);
    if (events.length > 0) {
      shape += 'e';
      const list = events.map((r) => ({ workflowId: r.workflowId, idx: r.idx, ...r.event, updatedAt: r.completedAt }));
      ctes.push(`e AS (
        INSERT INTO ${schema}.events (workflow_id, key, value, updated_at)
        SELECT u."workflowId", u.key, u.value, u."updatedAt"
        FROM ${rowsOf(list)} AS u("workflowId" text, idx int4, key text, value text, "updatedAt" int8)
        JOIN c ON c.workflow_id = u."workflowId" AND c.idx = u.idx
        ON CONFLICT (workflow_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
        RETURNING 1)`);
    }
  }

  if (batch.completions.length > 0) {
    shape += 'd';
    const rows = batch.completions.map((entry) => entry.item);
    // The ID list lets the planner find the rows through the primary key, whatever it guesses
    // about the JSON's row count. The status is compared as an expression (status || '') so that
    // no plan, custom ones included, can prove the partial index of running rows usable: a custom
    // plan over an empty table's statistics read every running row of the executor through it
    // (test/store/fencing-plans.test.ts). Comparing it to a column of the JSON rows did the same
    // but cost the direct workload a third of its throughput.
    const ids = `$${params.push(rows.map((row) => row.workflowId))}::text[]`;
    let withCheckpoint = '';
    if (batch.checkpoints.length > 0) {
      const checkpointed = `$${params.push(batch.checkpoints.map((entry) => entry.item.workflowId))}::text[]`;
      withCheckpoint = ` AND (NOT w.id = ANY(${checkpointed}) OR EXISTS (SELECT 1 FROM c WHERE c.workflow_id = w.id))`;
    }
    ctes.push(`d AS (
      UPDATE ${schema}.workflows w
      SET status = u.status, output = u.output, error = u.error, completed_at = u."completedAt", updated_at = u."completedAt"
      FROM ${rowsOf(rows)}
        AS u("workflowId" text, owner text, epoch int4, status text, output text, error text, "completedAt" int8)
      WHERE w.id = ANY(${ids}) AND w.id = u."workflowId" AND w.owner = u.owner AND w.epoch = u.epoch AND (w.status || '') = ${running()}${withCheckpoint}
      RETURNING w.id)`);
    selects.push(`SELECT 'd' AS k, id AS a, NULL::int4 AS b, NULL::text AS w FROM d`);
  }

  if (batch.streams.length > 0) {
    shape += 't';
    const appends = batch.streams.map(({ item }) => ({ workflowId: item.workflowId, owner: item.owner, epoch: item.epoch }));
    const rows = batch.streams.flatMap(({ item }) => item.rows.map((row) => ({ workflowId: item.workflowId, ...row })));
    ctes.push(`t AS (
      SELECT a."workflowId" FROM ${rowsOf(appends)} AS a("workflowId" text, owner text, epoch int4)
      CROSS JOIN LATERAL (
        SELECT 1 FROM ${schema}.workflows w
        WHERE w.id = a."workflowId" AND w.owner = a.owner AND w.epoch = a.epoch AND w.status = ${running()}
        LIMIT 1) AS owned)`);
    ctes.push(`tv AS (
      INSERT INTO ${schema}.streams (workflow_id, key, position, value, written_at)
      SELECT u."workflowId", u.key, u.position, u.value, u."writtenAt"
      FROM ${rowsOf(rows)} AS u("workflowId" text, key text, position int4, value text, "writtenAt" int8)
      JOIN t ON t."workflowId" = u."workflowId"
      ON CONFLICT DO NOTHING)`);
    selects.push(`SELECT 't' AS k, "workflowId" AS a, NULL::int4 AS b, NULL::text AS w FROM t`);
  }

  if (batch.parks && batch.parks.length > 0) {
    shape += 'p';
    const rows = batch.parks.map(({ item }) => ({ ...item, from: RUNNING }));
    ctes.push(parkCte(schema, rowsOf(rows), `$${params.push(rows.map((row) => row.workflowId))}::text[]`));
    selects.push(`SELECT 'p' AS k, id AS a, NULL::int4 AS b, NULL::text AS w FROM p`);
  }

  if (batch.claims && batch.claims.slots.length > 0) {
    shape += 'r';
    const owner = `$${params.push(batch.claims.owner)}::text`;
    const version = `$${params.push(batch.claims.appVersion)}::text`;
    const virtualNow = batch.claims.virtualNow ?? null;
    if (virtualNow !== null) shape += 'v';
    ctes.push(`r AS (
      UPDATE ${schema}.workflows SET ${claimAssignments(owner, nowFor(params, virtualNow))}
      FROM (SELECT head.id AS claimed_id FROM ${rowsOf(batch.claims.slots)} AS q(queue text, max int4)
            CROSS JOIN LATERAL (${claimableHead(schema, 'q.queue', version, 'q.max')}) AS head) AS taken
      WHERE id = taken.claimed_id
      RETURNING ${RUNNABLE_COLUMNS})`);
    selects.push(`SELECT 'r' AS k, NULL AS a, NULL::int4 AS b, row_to_json(r)::text AS w FROM r`);
  }

  if (wakePayloads.length > 0) {
    shape += 'n';
    const channelParam = `$${params.push(channel)}::text`;
    const payloadsParam = `$${params.push(wakePayloads)}::text[]`;
    // NOTIFY is delivered at commit, so waiters never see a wake-up before the rows it announces.
    selects.push(
      `SELECT 'n' AS k, NULL AS a, NULL::int4 AS b, NULL::text AS w FROM (SELECT pg_notify(${channelParam}, payload) FROM unnest(${payloadsParam}) AS payload) AS n`,
    );
  }

  return {
    name: `ballast_flush_${shape}`,
    text: `WITH ${ctes.join(',\n')}\n${selects.join('\nUNION ALL\n')}`,
    params,
  };
}
