// The application shared by test/fleet/queues.test.ts and its worker processes: the same workflow
// names and an explicit application version everywhere, so the test process can enqueue what the
// workers run. Workflows record every run of their step in a test-owned table (`fleet_runs`) through
// their own pool, so "ran exactly once" is checked from rows that Ballast does not write.
import type pg from 'pg';
import type { Ballast, QueueOptions } from '../../../src/index.js';

export const APP_NAME = 'fleet-app';
export const APP_VERSION = 'fleet-v1';
/** NOTIFY channel on which the test sends commands (JSON) to every worker at once. */
export const COMMAND_CHANNEL = 'fleet_test_command';

/** Declared by every worker; the test process declares none, so it never dispatches. */
export const QUEUES: Record<string, QueueOptions> = {
  global: { concurrency: 3, workerConcurrency: 2 },
  'per-worker': { workerConcurrency: 2 },
  partitioned: { partitionConcurrency: 1, workerConcurrency: 4 },
  rated: { rateLimit: { limit: 5, period: '1s' } },
  prio: { concurrency: 1 },
  dedup: {},
  delayed: {},
};

export const RUNS_TABLE = `CREATE TABLE IF NOT EXISTS public.fleet_runs (
  seq bigserial PRIMARY KEY,
  workflow_id text NOT NULL,
  label text,
  executor text NOT NULL,
  started_ms bigint NOT NULL,
  finished_ms bigint
)`;

export interface RecordInput {
  sleepMs: number;
  label?: string;
}

export interface GatedInput {
  label: string;
}

export interface DedupCommand {
  cmd: 'dedup';
  round: string;
  /** Epoch ms at which every worker fires its burst. */
  at: number;
  keys: string[];
  /** Attempts per key in each worker, submitted in the same tick (so they share a group-commit flush). */
  copies: number;
  /** Each key's attempts fire at a random moment in [at, at + spreadMs), so the bursts interleave. */
  spreadMs: number;
  onDuplicate: 'reject' | 'existing';
}

export type Command = DedupCommand;

export interface DedupAttempt {
  key: string;
  /** The handle's workflow ID when enqueue resolved. */
  id?: string;
  /** existingWorkflowId of a DuplicateWorkflowError. */
  rejectedFor?: string;
  /** Anything else that went wrong. */
  error?: string;
}

export interface DedupReport {
  round: string;
  executor: string;
  firedLateMs: number;
  attempts: DedupAttempt[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the fleet workflows. `runs` is the pool the step writes through; the test process
 * passes null (it only enqueues, it never runs these).
 */
export function registerWorkflows(ballast: Ballast, runs: pg.Pool | null, executor: string) {
  const recordRun = async (workflowId: string, label: string | null, sleepMs: number): Promise<void> => {
    if (runs === null) throw new Error(`executor ${executor} does not run fleet workflows`);
    const { rows } = await runs.query<{ seq: string }>(
      'INSERT INTO public.fleet_runs (workflow_id, label, executor, started_ms) VALUES ($1, $2, $3, $4) RETURNING seq',
      [workflowId, label, executor, Date.now()],
    );
    if (sleepMs > 0) await sleep(sleepMs);
    await runs.query('UPDATE public.fleet_runs SET finished_ms = $2 WHERE seq = $1', [rows[0]?.seq, Date.now()]);
  };

  const record = ballast.workflow('record', async (ctx, input: RecordInput) => {
    await ctx.step('run', () => recordRun(ctx.workflowId, input.label ?? null, input.sleepMs));
    return input.label ?? null;
  });

  /** Stays PENDING (running, counted against limits) until it receives `go`. */
  const gated = ballast.workflow('gated', async (ctx, input: GatedInput) => {
    const go = await ctx.recv<boolean>('go', { timeout: '60s' });
    if (go !== true) throw new Error(`gated workflow ${input.label} was never released`);
    await ctx.step('run', () => recordRun(ctx.workflowId, input.label, 0));
    return input.label;
  });

  return { record, gated };
}
