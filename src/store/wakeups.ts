/**
 * Wake-up hints carried by NOTIFY. A hint only says "look again"; the database row is the truth,
 * so a lost or duplicated hint costs latency, never correctness.
 */
export type WakeKind = 'done' | 'message' | 'event' | 'stream' | 'queue' | 'delayed' | 'cancel' | 'limits' | 'orphans' | 'parked';

const SEPARATOR = '\u001f';
const MAX_PAYLOAD_BYTES = 7_900; // Postgres limit is 8000 bytes per notification

export function wakeKey(kind: WakeKind, ...parts: string[]): string {
  // Most keys have one part; concatenation beats building an array to join on this hot path.
  let key: string = kind;
  for (const part of parts) key += SEPARATOR + part;
  return key;
}

export function channelFor(schema: string): string {
  return `${schema}_wake`;
}

/** Packs keys into as few payloads as fit, one key per line. */
export function packWakeKeys(keys: Iterable<string>): string[] {
  const payloads: string[] = [];
  let current = '';
  let currentBytes = 0;
  for (const key of keys) {
    const keyBytes = Buffer.byteLength(key);
    if (current && currentBytes + 1 + keyBytes > MAX_PAYLOAD_BYTES) {
      payloads.push(current);
      current = '';
    }
    currentBytes = current ? currentBytes + 1 + keyBytes : keyBytes;
    current = current ? `${current}\n${key}` : key;
  }
  if (current) payloads.push(current);
  return payloads;
}

export function unpackWakeKeys(payload: string): string[] {
  return payload.split('\n');
}
