import { deserialize } from '../codec.js';
import { ValidationError, WorkflowNotFoundError } from '../errors.js';
import { isFinal } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import type { ReadStreamOptions, StreamEntry } from './types.js';
import { READ_STREAM_OPTIONS } from './option-names.js';
import { describe, requireName, requireOptions } from './validation.js';
import type { Interrupt, Waiters } from './waiters.js';

/** Rows read per query: a reader that is far behind catches up in pages. */
const PAGE_SIZE = 1_000;

export interface StreamSource {
  store: SystemStore;
  waiters: Waiters;
  pollIntervalMs: number;
  /** Throws once the instance has shut down. */
  assertOpen(what: string): void;
}

/** Checks a readStream call's arguments; returns where to start. */
export function readStreamArguments(workflowId: unknown, key: unknown, options: unknown): { from: number; signal: AbortSignal | undefined } {
  requireName(workflowId, 'workflow ID');
  requireName(key, 'stream key');
  if (options === undefined) return { from: 0, signal: undefined };
  requireOptions(options, READ_STREAM_OPTIONS, 'readStream', '{ from: 0 }');
  const { from = 0, signal } = options as ReadStreamOptions;
  if (!Number.isSafeInteger(from) || from < 0) throw new ValidationError(`readStream option "from" must be a non-negative integer (a position), got ${describe(from)}.`);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ValidationError(`readStream option "signal" must be an AbortSignal, got ${describe(signal)}.`);
  return { from, signal };
}

/**
 * The values of a workflow's stream from position `from` on, in order. It ends after the value
 * before the stream's end (ctx.closeStream) or once the workflow has finished and every value is
 * read; it waits for more otherwise, woken by the flush's NOTIFY and by the workflow's completion,
 * and polling every pollIntervalMs.
 */
export async function* readStreamEntries(
  source: StreamSource,
  workflowId: string,
  key: string,
  from: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<StreamEntry, void, undefined> {
  const interrupt = signal === undefined ? undefined : abortInterrupt(signal);
  const keys = [wakeKey('stream', workflowId, key), wakeKey('done', workflowId)];
  let next = from;
  for (;;) {
    source.assertOpen(`stream "${key}" of workflow ${workflowId}`);
    if (signal?.aborted) return;
    // Armed before the read: a value committed in between still wakes us.
    const armed = source.waiters.arm(keys);
    try {
      const page = await source.store.readStreamPage(workflowId, key, next, PAGE_SIZE);
      if (page.status === undefined) throw new WorkflowNotFoundError(workflowId);
      for (const row of page.rows) {
        if (row.value === null) return;
        next = row.position + 1;
        yield { position: row.position, value: deserialize(row.value) };
      }
      if (page.rows.length === PAGE_SIZE) continue;
      // Read in the same snapshot as the rows: a finished workflow has written its last value.
      if (isFinal(page.status)) return;
      await armed.wait(source.pollIntervalMs, interrupt);
    } finally {
      armed.cancel();
    }
  }
}

/** The values of stream entries. */
export async function* streamValues<T>(entries: AsyncIterable<StreamEntry>): AsyncGenerator<T, void, undefined> {
  for await (const entry of entries) yield entry.value as T;
}

function abortInterrupt(signal: AbortSignal): Interrupt {
  return {
    get isStopped() {
      return signal.aborted;
    },
    onStop(listener) {
      signal.addEventListener('abort', listener, { once: true });
      return () => signal.removeEventListener('abort', listener);
    },
  };
}
