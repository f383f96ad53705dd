import { serialize } from '../codec.js';
import { ValidationError } from '../errors.js';
import type { BeginOptions, Transaction as DriverTransaction } from '../store/driver.js';
import type { NewCheckpoint } from '../store/records.js';
import { isSerializationConflict, isTransientError, retryDelayMs } from '../store/retry.js';
import type { WorkflowExecution } from './execution.js';
import { stepPolicy, type StepPolicy } from './step-policy.js';
import type { IsolationLevel, Transaction, TransactionOptions } from './types.js';
import { TRANSACTION_OPTIONS } from './option-names.js';
import { describe, requireName, requireOptions } from './validation.js';

const ISOLATION_LEVELS: readonly IsolationLevel[] = ['read committed', 'repeatable read', 'serializable'];
/** Runs of one attempt that may end in a serialization failure or a deadlock before the attempt fails. */
export const MAX_CONFLICT_RUNS = 10;

export interface TransactionPlan {
  dataSource: string | undefined;
  begin: BeginOptions;
  policy: StepPolicy;
}

/** Validates `ctx.transaction` options. */
export function transactionPlan(name: string, options: unknown): TransactionPlan {
  const operation = `ctx.transaction("${name}")`;
  requireOptions(options ?? undefined, TRANSACTION_OPTIONS, operation, "{ isolation: 'serializable' }");
  const given = options ?? {};
  const { dataSource, isolation, readOnly } = given as TransactionOptions;
  if (dataSource !== undefined) requireName(dataSource, `${operation}: dataSource`);
  if (isolation !== undefined && !ISOLATION_LEVELS.includes(isolation)) {
    throw new ValidationError(`${operation}: isolation must be one of ${ISOLATION_LEVELS.map((level) => `'${level}'`).join(', ')}, got ${describe(isolation)}.`);
  }
  if (readOnly !== undefined && typeof readOnly !== 'boolean') throw new ValidationError(`${operation}: readOnly must be true or false, got ${describe(readOnly)}.`);
  return { dataSource, begin: { isolation, readOnly }, policy: stepPolicy('ctx.transaction', name, given as TransactionOptions) };
}

/**
 * How one attempt ended. `done`: the transaction committed, now (`ran` holds the function's value)
 * or in an earlier run (only its recorded output is known); `checkpointed` when the checkpoint is
 * already in the system database. `refused`: nothing committed, the workflow's checkpoint fence
 * said no.
 */
export type TransactionOutcome<T> =
  | { kind: 'done'; output: string; ran: { value: T } | undefined; checkpointed: boolean }
  | { kind: 'refused'; output: string };

/**
 * One attempt of a transaction: runs `fn` in a transaction of the system database or of a data
 * source, retrying it after serialization failures and deadlocks (up to MAX_CONFLICT_RUNS runs),
 * and through lost connections, after which it first looks whether the commit happened.
 */
export async function attemptTransaction<T>(
  execution: WorkflowExecution,
  checkpoint: Omit<NewCheckpoint, 'output' | 'completedAt'>,
  plan: TransactionPlan,
  fn: (tx: Transaction) => Promise<T>,
): Promise<TransactionOutcome<T>> {
  const { store } = execution;
  const { dataSources } = execution.runtime;
  const key = { workflowId: checkpoint.workflowId, idx: checkpoint.idx };
  const work = async (tx: DriverTransaction) => {
    const value = await fn({ client: tx.client, query: (text, params) => tx.query(text, params) });
    return { value, output: serialize(value, `output of transaction "${checkpoint.name}"`) };
  };
  for (let run = 1, conflicts = 0; ; run++) {
    execution.assertRunning('ctx.transaction');
    try {
      if (plan.dataSource !== undefined) {
        const outcome = await dataSources.run(plan.dataSource, key, plan.begin, work);
        return { kind: 'done', output: outcome.output, ran: outcome.ran ? { value: outcome.value } : undefined, checkpointed: false };
      }
      if (plan.begin.readOnly) {
        // Nothing to apply twice: the result is checkpointed after the commit, as a step's is.
        const { value, output } = await store.driver.transaction(work, plan.begin);
        return { kind: 'done', output, ran: { value }, checkpointed: false };
      }
      const outcome = await store.checkpointedTransaction(checkpoint, plan.begin, work);
      if (!outcome.applied) return { kind: 'refused', output: outcome.output };
      return { kind: 'done', output: outcome.output, ran: { value: outcome.value }, checkpointed: true };
    } catch (error) {
      if (isSerializationConflict(error)) {
        if (++conflicts >= MAX_CONFLICT_RUNS) throw error;
      } else if (isTransientError(error)) {
        // The connection failed, perhaps after the commit: what the transaction records says.
        const recorded = plan.begin.readOnly ? undefined : await recordedOutput(execution, plan, key);
        if (recorded) return { kind: 'done', output: recorded.output, ran: undefined, checkpointed: recorded.checkpointed };
      } else {
        throw error;
      }
      await execution.delay(retryDelayMs(run));
    }
  }
}

async function recordedOutput(
  execution: WorkflowExecution,
  plan: TransactionPlan,
  key: { workflowId: string; idx: number },
): Promise<{ output: string; checkpointed: boolean } | undefined> {
  if (plan.dataSource !== undefined) {
    const output = await execution.store.retry(() => execution.runtime.dataSources.recorded(plan.dataSource as string, key));
    return output === undefined ? undefined : { output, checkpointed: false };
  }
  const state = await execution.store.leaseState(execution.lease, key.idx);
  const output = state?.step?.output;
  return output === undefined || output === null ? undefined : { output, checkpointed: true };
}
