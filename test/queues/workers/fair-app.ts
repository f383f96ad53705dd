// What test/queues/fair-fleet.test.ts and its workers (fair-worker.ts) share: the fair queue's
// options and the table where each job records when and where it ran.
export const FAIR_QUEUE = { concurrency: 4, partitionConcurrency: 3, fairness: 'partition', partitionWeights: { small: 3 } } as const;

/** `n` (a bigserial) is the fleet's start order; times are epoch milliseconds with fractions. */
export const RUNS_TABLE = `CREATE TABLE IF NOT EXISTS fair_runs (
  n bigserial PRIMARY KEY, workflow_id text NOT NULL, tenant text NOT NULL, executor text NOT NULL,
  started_ms float8 NOT NULL, finished_ms float8)`;
