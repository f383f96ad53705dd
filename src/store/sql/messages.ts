import type { Queryable } from '../driver.js';
import type { Lease } from '../records.js';
import { PARKED_WAKE_KEY, wakeOnMessage } from './parking.js';

export interface RecvOutcome {
  /** False when the workflow is no longer PENDING under this lease: nothing was consumed. */
  owned: boolean;
  /** True when the checkpoint at this index now exists (a message was consumed, now or earlier). */
  recorded: boolean;
  /** The recorded payload (null when an earlier attempt recorded a timeout). */
  payload: string | null;
}

/**
 * Consumes the oldest unconsumed message on a topic and records it as the workflow's checkpoint in
 * one statement: a message is delivered exactly once, even across crashes and takeovers.
 */
export async function consumeMessage(
  db: Queryable,
  s: string,
  lease: Lease,
  step: { idx: number; name: string; topic: string; startedAt: number; now: number },
): Promise<RecvOutcome> {
  const { rows } = await db.query<{ owned: boolean; payload: string | null; recorded: boolean; recordedPayload: string | null }>(
    `WITH w AS (
       SELECT id FROM ${s}.workflows WHERE id = $1 AND owner = $2 AND epoch = $3 AND status = 'PENDING' FOR SHARE
     ), r AS (
       SELECT output FROM ${s}.steps WHERE workflow_id = $1 AND idx = $5
     ), m AS (
       UPDATE ${s}.messages SET consumed_at = $8 WHERE id = (
         SELECT id FROM ${s}.messages
         WHERE destination_id = $1 AND topic = $4 AND consumed_at IS NULL AND EXISTS (SELECT 1 FROM w) AND NOT EXISTS (SELECT 1 FROM r)
         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING payload
     ), c AS (
       INSERT INTO ${s}.steps (workflow_id, idx, name, output, started_at, completed_at)
       SELECT $1, $5, $6, m.payload, $7, $8 FROM m
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM w) AS owned, (SELECT payload FROM m) AS payload,
            EXISTS (SELECT 1 FROM r) AS recorded, (SELECT output FROM r) AS "recordedPayload",
            (SELECT count(*) FROM c) AS written`,
    [lease.workflowId, lease.owner, lease.epoch, step.topic, step.idx, step.name, step.startedAt, step.now],
    'ballast_consume_message',
  );
  const row = rows[0];
  if (!row) return { owned: false, recorded: false, payload: null };
  // An earlier attempt whose reply was lost (connection drop) already recorded this index.
  if (row.recorded) return { owned: row.owned, recorded: true, payload: row.recordedPayload };
  return { owned: row.owned, recorded: row.payload !== null, payload: row.payload };
}

export async function insertMessage(
  db: Queryable,
  s: string,
  channel: string,
  message: { destinationId: string; topic: string; payload: string; idempotencyKey: string; now: number; wakeKey: string },
): Promise<void> {
  await db.query(
    `WITH ins AS (
       INSERT INTO ${s}.messages (destination_id, topic, payload, idempotency_key, created_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (destination_id, idempotency_key) DO NOTHING RETURNING destination_id, topic
     ), woken AS (
       ${wakeOnMessage(s, 'ins', '$5::int8')}
     )
     SELECT pg_notify($6, $7) FROM ins
     UNION ALL SELECT pg_notify($6, $8) FROM woken WHERE woken.parked`,
    [message.destinationId, message.topic, message.payload, message.idempotencyKey, message.now, channel, message.wakeKey, PARKED_WAKE_KEY],
    'ballast_send_message',
  );
}

export interface MessageRow {
  topic: string;
  payload: string;
  createdAt: number;
  /** Null while the message waits for a recv. */
  consumedAt: number | null;
}

/** Every message sent to a workflow, consumed or not, in the order sent. */
export async function listMessages(db: Queryable, s: string, destinationId: string): Promise<MessageRow[]> {
  const { rows } = await db.query<MessageRow>(
    `SELECT topic, payload, created_at AS "createdAt", consumed_at AS "consumedAt" FROM ${s}.messages WHERE destination_id = $1 ORDER BY id`,
    [destinationId],
  );
  return rows;
}
