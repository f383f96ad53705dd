import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packWakeKeys, unpackWakeKeys, wakeKey } from '../../src/store/wakeups.js';

test('wake keys pack into as few NOTIFY payloads as fit under 8000 bytes, and unpack to the same keys', () => {
  const keys = Array.from({ length: 1_000 }, (_, i) => wakeKey('done', `workflow-${i}-ü€`));
  const payloads = packWakeKeys(keys);
  for (const payload of payloads) assert.ok(Buffer.byteLength(payload) <= 7_900, `payload of ${Buffer.byteLength(payload)} bytes`);
  const total = keys.reduce((sum, key) => sum + Buffer.byteLength(key) + 1, 0);
  assert.equal(payloads.length, Math.ceil(total / 7_900), 'each payload is filled before the next starts');
  assert.deepEqual(payloads.flatMap(unpackWakeKeys), keys);
  assert.deepEqual(packWakeKeys([]), []);
});
