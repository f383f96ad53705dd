import type { Completion, NewCheckpoint, NewWorkflow } from '../records.js';

interface Item<T> {
  item: T;
  waiter: { resolve(applied: boolean): void; reject(error: unknown): void };
}

export interface FlushBatch {
  starts: Item<NewWorkflow>[];
  checkpoints: Item<NewCheckpoint>[];
  completions: Item<Completion>[];
}

export interface Statement {
  name: string;
  text: string;
  params: unknown[];
}

/**
 * Builds the single statement of one group-commit flush. Each kind of write present in the batch
 * becomes one data-modifying CTE fed by `unnest` arrays, so the whole batch is one round trip and
 * one implicit transaction. The text depends only on which kinds are present, so each of the few
 * shapes is prepared once per connection.
 *
 * Fencing: checkpoints join the workflow row on (id, owner, epoch, PENDING) and lock it FOR SHARE,
 * so a takeover (which bumps the epoch) either waits for this commit or makes the join miss.
 * Messages and events ride on their checkpoint: they are inserted only for checkpoints that were.
 */
export function flushStatement(schema: string, channel: string, batch: FlushBatch, wakePayloads: string[]): Statement {
  const params: unknown[] = [];
  const p = (values: unknown[], type: string): string => {
    params.push(values);
    return `$${params.length}::${type}[]`;
  };
  const ctes: string[] = [];
  const selects: string[] = [];
  let shape = '';

  if (batch.starts.length > 0) {
    shape += 's';
    const rows = batch.starts.map((entry) => entry.item);
    ctes.push(`s AS (
      INSERT INTO ${schema}.workflows (id, name, status, app_name, app_version, queue, partition_key, dedup_id, priority,
        owner, epoch, attempts, input, parent_id, timeout_ms, deadline_at, available_at, created_at, started_at, updated_at)
      SELECT u.id, u.name, u.status, u.app_name, u.app_version, u.queue, u.partition_key, u.dedup_id, u.priority,
        u.owner, u.epoch, CASE WHEN u.status = 'PENDING' THEN 1 ELSE 0 END, u.input, u.parent_id, u.timeout_ms, u.deadline_at, u.available_at, u.created_at, u.started_at, u.created_at
      FROM unnest(${p(rows.map((r) => r.id), 'text')}, ${p(rows.map((r) => r.name), 'text')}, ${p(rows.map((r) => r.status), 'text')},
        ${p(rows.map((r) => r.appName), 'text')}, ${p(rows.map((r) => r.appVersion), 'text')}, ${p(rows.map((r) => r.queue), 'text')},
        ${p(rows.map((r) => r.partitionKey), 'text')}, ${p(rows.map((r) => r.dedupId), 'text')}, ${p(rows.map((r) => r.priority), 'int4')},
        ${p(rows.map((r) => r.owner), 'text')}, ${p(rows.map((r) => r.epoch), 'int4')}, ${p(rows.map((r) => r.input), 'text')},
        ${p(rows.map((r) => r.parentId), 'text')}, ${p(rows.map((r) => r.timeoutMs), 'int8')}, ${p(rows.map((r) => r.deadlineAt), 'int8')},
        ${p(rows.map((r) => r.availableAt), 'int8')}, ${p(rows.map((r) => r.createdAt), 'int8')}, ${p(rows.map((r) => r.startedAt), 'int8')})
        AS u(id, name, status, app_name, app_version, queue, partition_key, dedup_id, priority, owner, epoch, input, parent_id,
             timeout_ms, deadline_at, available_at, created_at, started_at)
      ON CONFLICT DO NOTHING
      RETURNING id)`);
    selects.push(`SELECT 's' AS k, id AS a, NULL::int4 AS b FROM s`);
  }

  if (batch.checkpoints.length > 0) {
    shape += 'c';
    const rows = batch.checkpoints.map((entry) => entry.item);
    ctes.push(`c AS (
      INSERT INTO ${schema}.steps (workflow_id, idx, name, output, error, child_id, started_at, completed_at)
      SELECT u.workflow_id, u.idx, u.name, u.output, u.error, u.child_id, u.started_at, u.completed_at
      FROM unnest(${p(rows.map((r) => r.workflowId), 'text')}, ${p(rows.map((r) => r.idx), 'int4')}, ${p(rows.map((r) => r.name), 'text')},
        ${p(rows.map((r) => r.output), 'text')}, ${p(rows.map((r) => r.error), 'text')}, ${p(rows.map((r) => r.childId), 'text')},
        ${p(rows.map((r) => r.startedAt), 'int8')}, ${p(rows.map((r) => r.completedAt), 'int8')},
        ${p(rows.map((r) => r.owner), 'text')}, ${p(rows.map((r) => r.epoch), 'int4')})
        AS u(workflow_id, idx, name, output, error, child_id, started_at, completed_at, owner, epoch)
      JOIN ${schema}.workflows w ON w.id = u.workflow_id AND w.owner = u.owner AND w.epoch = u.epoch AND w.status = 'PENDING'
      FOR SHARE OF w
      ON CONFLICT DO NOTHING
      RETURNING workflow_id, idx)`);
    selects.push(`SELECT 'c' AS k, workflow_id AS a, idx AS b FROM c`);

    const messages = rows.filter((r) => r.message);
    if (messages.length > 0) {
      shape += 'm';
      ctes.push(`m AS (
        INSERT INTO ${schema}.messages (destination_id, topic, payload, created_at)
        SELECT u.destination_id, u.topic, u.payload, u.created_at
        FROM unnest(${p(messages.map((r) => r.workflowId), 'text')}, ${p(messages.map((r) => r.idx), 'int4')},
          ${p(messages.map((r) => r.message?.destinationId), 'text')}, ${p(messages.map((r) => r.message?.topic), 'text')},
          ${p(messages.map((r) => r.message?.payload), 'text')}, ${p(messages.map((r) => r.completedAt), 'int8')})
          AS u(workflow_id, idx, destination_id, topic, payload, created_at)
        JOIN c ON c.workflow_id = u.workflow_id AND c.idx = u.idx
        RETURNING 1)`);
    }
    const events = rows.filter((r) => r.event);
    if (events.length > 0) {
      shape += 'e';
      ctes.push(`e AS (
        INSERT INTO ${schema}.events (workflow_id, key, value, updated_at)
        SELECT u.workflow_id, u.key, u.value, u.updated_at
        FROM unnest(${p(events.map((r) => r.workflowId), 'text')}, ${p(events.map((r) => r.idx), 'int4')},
          ${p(events.map((r) => r.event?.key), 'text')}, ${p(events.map((r) => r.event?.value), 'text')},
          ${p(events.map((r) => r.completedAt), 'int8')})
          AS u(workflow_id, idx, key, value, updated_at)
        JOIN c ON c.workflow_id = u.workflow_id AND c.idx = u.idx
        ON CONFLICT (workflow_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
        RETURNING 1)`);
    }
  }

  if (batch.completions.length > 0) {
    shape += 'd';
    const rows = batch.completions.map((entry) => entry.item);
    ctes.push(`d AS (
      UPDATE ${schema}.workflows w
      SET status = u.status, output = u.output, error = u.error, completed_at = u.completed_at, updated_at = u.completed_at
      FROM unnest(${p(rows.map((r) => r.workflowId), 'text')}, ${p(rows.map((r) => r.owner), 'text')}, ${p(rows.map((r) => r.epoch), 'int4')},
        ${p(rows.map((r) => r.status), 'text')}, ${p(rows.map((r) => r.output), 'text')}, ${p(rows.map((r) => r.error), 'text')},
        ${p(rows.map((r) => r.completedAt), 'int8')})
        AS u(id, owner, epoch, status, output, error, completed_at)
      WHERE w.id = u.id AND w.owner = u.owner AND w.epoch = u.epoch AND w.status = 'PENDING'
      RETURNING w.id)`);
    selects.push(`SELECT 'd' AS k, id AS a, NULL::int4 AS b FROM d`);
  }

  if (wakePayloads.length > 0) {
    shape += 'n';
    params.push(channel);
    const channelParam = `$${params.length}::text`;
    // NOTIFY is delivered at commit, so waiters never see a wake-up before the rows it announces.
    selects.push(`SELECT 'n' AS k, NULL AS a, NULL::int4 AS b FROM (SELECT pg_notify(${channelParam}, payload) FROM unnest(${p(wakePayloads, 'text')}) AS payload) AS n`);
  }

  return {
    name: `ballast_flush_${shape}`,
    text: `WITH ${ctes.join(',\n')}\n${selects.join('\nUNION ALL\n')}`,
    params,
  };
}
