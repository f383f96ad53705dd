import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newWorkflowId } from '../src/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('generated workflow IDs are UUIDv7: the time in their first 48 bits, then random bits', () => {
  const at = Date.UTC(2026, 10, 28, 12, 0, 0, 123);
  const id = newWorkflowId(at);
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
  assert.notEqual(newWorkflowId(at), id, 'IDs of the same millisecond differ');
});

test('generated workflow IDs sort by creation time and do not repeat', () => {
  const ids = [newWorkflowId(1_000), newWorkflowId(2_000), newWorkflowId(Date.now()), newWorkflowId(2 ** 47)];
  assert.deepEqual([...ids].sort(), ids);
  const many = new Set(Array.from({ length: 100_000 }, () => newWorkflowId()));
  assert.equal(many.size, 100_000);
  for (const id of many) assert.match(id, UUID_V7);
});
