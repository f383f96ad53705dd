import type { Queryable } from '../driver.js';
import type { NewWorkflow } from '../records.js';
import { nowFor } from './clock.js';

export interface DebounceCall {
  /** The row to insert if no workflow of this key is waiting (a DELAYED row of the queue). */
  row: NewWorkflow;
  key: string;
  delayMs: number;
  maxWaitMs: number | null;
}

export interface Debounced {
  /** The waiting workflow: the one this call created, or the one it joined. */
  id: string;
  /** When it is due now (database clock). */
  availableAt: number;
  /** Whether this call created it (opened the key's window). */
  opened: boolean;
}

/**
 * One call of a debounce, in one statement. A workflow of (application, name, key) waiting as
 * DELAYED is unique (workflows_debounce), so every call from any process either inserts that row
 * or updates it: the row lock orders the updates, and the last to commit leaves its input, options
 * and due time (now + delay, but never past the window's first call + maxWait). Once the row is
 * promoted (ENQUEUED) it leaves the unique index, and the next call opens a new window.
 * Times are the database's, so that debouncing processes with skewed clocks agree (a virtual clock's
 * on a testing-kit instance).
 */
export async function debounceWorkflow(db: Queryable, s: string, call: DebounceCall, virtualNow: number | null): Promise<Debounced> {
  const { row } = call;
  const params: unknown[] = [
    row.id,
    row.name,
    row.appName,
    row.appVersion,
    row.queue,
    row.partitionKey,
    row.priority,
    row.input,
    row.timeoutMs,
    call.delayMs,
    row.traceContext ?? null,
    row.attributes == null ? null : JSON.stringify(row.attributes),
    call.key,
    call.maxWaitMs,
  ];
  const now = nowFor(params, virtualNow);
  const { rows } = await db.query<Debounced>(
    `INSERT INTO ${s}.workflows AS w (id, name, status, app_name, app_version, queue, partition_key, priority, owner, epoch, attempts,
       input, timeout_ms, available_at, created_at, updated_at, trace_context, attributes, debounce_key)
     VALUES ($1, $2, 'DELAYED', $3, $4, $5, $6, $7, NULL, 0, 0, $8, $9, ${now} + $10::int8, ${now}, ${now}, $11, $12::jsonb, $13)
     ON CONFLICT (app_name, name, debounce_key) WHERE status = 'DELAYED' AND debounce_key IS NOT NULL
     DO UPDATE SET input = EXCLUDED.input, app_version = EXCLUDED.app_version, partition_key = EXCLUDED.partition_key,
       priority = EXCLUDED.priority, timeout_ms = EXCLUDED.timeout_ms, trace_context = EXCLUDED.trace_context,
       attributes = EXCLUDED.attributes, updated_at = ${now},
       available_at = CASE WHEN $14::int8 IS NULL THEN ${now} + $10::int8
                           ELSE LEAST(${now} + $10::int8, w.created_at + $14::int8) END
     RETURNING id, available_at AS "availableAt", (xmax = 0) AS opened`,
    params,
    virtualNow === null ? 'ballast_debounce' : 'ballast_debounce_at',
  );
  const result = rows[0] as Debounced;
  return { ...result, availableAt: Number(result.availableAt) };
}
