/**
 * A database outage must pause work, not fail it: operations that hit a connection-level error wait
 * and try again until the database answers or the instance shuts down.
 */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  // A connection the stall watch closed (see stall-watch.ts).
  'BALLAST_CONNECTION_STALLED',
  // The server ended the session: idle_in_transaction_session_timeout, idle_session_timeout.
  '25P03', '57P05',
]);

const MAX_RETRY_DELAY_MS = 2_000;

export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_CODES.has(code)) return true;
    // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now; 53300: too many connections.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  }
  // Safe to retry for our own statements, which are idempotent.
  if (isSerializationConflict(error)) return true;
  const message = error.message;
  return (
    message.includes('Connection terminated') ||
    message.includes('connection terminated') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('the database system is') ||
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Client was closed and is not queryable')
  );
}

/** A serialization failure or a deadlock: the transaction was rolled back and may simply run again. */
export function isSerializationConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

/** How long to wait before retry number `attempt` (from 1): doubling from 100 ms up to 2 s, with jitter. */
export function retryDelayMs(attempt: number): number {
  const delay = Math.min(MAX_RETRY_DELAY_MS, 50 * 2 ** Math.min(attempt, 10));
  return delay * (0.5 + Math.random() / 2);
}

export interface RetryOptions {
  /** Stop retrying (and rethrow the last error) once this returns true. */
  shouldStop?: () => boolean;
  onRetry?: (error: unknown, attempt: number) => void;
}

export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientError(error) || options.shouldStop?.()) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
  }
}
