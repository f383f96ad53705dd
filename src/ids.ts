import { randomUUID } from 'node:crypto';

/**
 * A generated workflow ID: a UUIDv7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds and the rest random. Time-ordered IDs keep the rows of recent workflows together in
 * every index keyed by workflow ID (the workflow and step primary keys): inserts land on the few
 * newest leaf pages instead of random ones across the whole index, which stays cheap as the tables
 * grow. The random part comes from a version 4 UUID (its variant bits are v7's too).
 */
export function newWorkflowId(now = Date.now()): string {
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`;
}
