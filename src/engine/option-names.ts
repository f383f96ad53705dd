// The options each public call of the workflow API takes, checked against its TypeScript type (see
// optionNames): an option added to a type must be added here, or the build fails.
import type {
  BackoffOptions,
  DebounceOptions,
  EnqueueOptions,
  ReadStreamOptions,
  ResultOptions,
  SendOptions,
  StartOptions,
  StepOptions,
  TransactionOptions,
  WaitOptions,
} from './types.js';
import { optionNames } from './validation.js';

export const STEP_OPTIONS = optionNames<StepOptions>({ retries: true, backoff: true, timeout: true });
export const BACKOFF_OPTIONS = optionNames<BackoffOptions>({ initial: true, factor: true, max: true });
export const TRANSACTION_OPTIONS = optionNames<TransactionOptions>({ dataSource: true, isolation: true, readOnly: true, retries: true, backoff: true });
export const START_OPTIONS = optionNames<StartOptions>({ id: true, timeout: true, attributes: true, transaction: true });
export const ENQUEUE_OPTIONS = optionNames<EnqueueOptions>({
  queue: true, id: true, priority: true, dedupId: true, onDuplicate: true, partitionKey: true, delay: true, timeout: true, attributes: true, transaction: true,
});
/** enqueueMany generates each workflow's ID, so it takes neither an ID nor a deduplication key. */
export const ENQUEUE_MANY_OPTIONS = ENQUEUE_OPTIONS.filter((name) => name !== 'id' && name !== 'dedupId');
export const DEBOUNCE_OPTIONS = optionNames<DebounceOptions>({
  queue: true, delay: true, maxWait: true, priority: true, partitionKey: true, timeout: true, attributes: true,
});
/** result, recv, getEvent: a timeout alone. */
export const TIMEOUT_OPTIONS = optionNames<ResultOptions>({ timeout: true });
export const WAIT_OPTIONS = optionNames<WaitOptions>({ timeout: true });
export const SEND_OPTIONS = optionNames<SendOptions>({ idempotencyKey: true });
export const READ_STREAM_OPTIONS = optionNames<ReadStreamOptions>({ from: true, signal: true });
