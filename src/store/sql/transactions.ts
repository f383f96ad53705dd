import type { Queryable } from '../driver.js';
import type { NewCheckpoint } from '../records.js';

/**
 * The checkpoint of a `ctx.transaction`, written by the user's own transaction so that the two
 * commit together. Fenced like the writer's checkpoints, on (id, owner, epoch, PENDING), but with
 * a row lock (FOR SHARE) held until the commit: a takeover that bumps the epoch waits for this
 * transaction, and one that committed first makes this insert find nothing, so a fenced-off
 * zombie's transaction inserts no checkpoint and is rolled back with the user's writes. (Under
 * repeatable read or serializable, a takeover committed since the snapshot is a serialization
 * failure instead, and the retry finds the workflow gone.)
 */
export async function insertTransactionCheckpoint(db: Queryable, s: string, checkpoint: NewCheckpoint): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH owned AS (
       SELECT id FROM ${s}.workflows WHERE id = $1 AND owner = $2 AND epoch = $3 AND status = $4::text FOR SHARE)
     INSERT INTO ${s}.steps (workflow_id, idx, name, output, error, child_id, started_at, completed_at, attempts)
     SELECT owned.id, $5, $6, $7, NULL, NULL, $8, $9, $10 FROM owned`,
    [
      checkpoint.workflowId,
      checkpoint.owner,
      checkpoint.epoch,
      'PENDING',
      checkpoint.idx,
      checkpoint.name,
      checkpoint.output,
      checkpoint.startedAt,
      checkpoint.completedAt,
      checkpoint.attempts ?? null,
    ],
    'ballast_transaction_checkpoint',
  );
  return rowCount > 0;
}

/** The table where transactions on a data source (another database) record their completion. */
export const COMPLETIONS_TABLE = 'transaction_completions';

export function createCompletionsTable(s: string): string {
  return `
    CREATE SCHEMA IF NOT EXISTS ${s};
    CREATE TABLE IF NOT EXISTS ${s}.${COMPLETIONS_TABLE} (
      workflow_id text COLLATE "C" NOT NULL,
      step_idx integer NOT NULL,
      output text,
      completed_at bigint NOT NULL,
      PRIMARY KEY (workflow_id, step_idx)
    );`;
}

export async function completionsTableExists(db: Queryable, s: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${s}.${COMPLETIONS_TABLE}`]);
  return rows[0]?.present === true;
}

/**
 * Claims a transaction's position first thing in its transaction. False when its completion is
 * already recorded: an earlier run committed it (the caller rolls back and reads its output). A
 * run of the same position still in progress elsewhere (a zombie) holds the key: this insert
 * waits for it to commit or roll back, so the two never both run the function to a commit.
 */
export async function claimCompletion(db: Queryable, s: string, workflowId: string, idx: number, now: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO ${s}.${COMPLETIONS_TABLE} (workflow_id, step_idx, completed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [workflowId, idx, now],
    'ballast_claim_completion',
  );
  return rowCount > 0;
}

export async function recordCompletion(db: Queryable, s: string, workflowId: string, idx: number, output: string, now: number): Promise<void> {
  await db.query(
    `UPDATE ${s}.${COMPLETIONS_TABLE} SET output = $3, completed_at = $4 WHERE workflow_id = $1 AND step_idx = $2`,
    [workflowId, idx, output, now],
    'ballast_record_completion',
  );
}

/** The output a committed transaction recorded, or undefined when none committed. */
export async function readCompletion(db: Queryable, s: string, workflowId: string, idx: number): Promise<string | undefined> {
  const { rows } = await db.query<{ output: string }>(
    `SELECT output FROM ${s}.${COMPLETIONS_TABLE} WHERE workflow_id = $1 AND step_idx = $2`,
    [workflowId, idx],
  );
  return rows[0]?.output;
}
