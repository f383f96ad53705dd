import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../src/clock.js';
import { VirtualClock } from '../src/testing/virtual-clock.js';

test('a system-clock timer past what setTimeout can hold (24.8 days) does not fire early', async () => {
  let fired = false;
  const timer = systemClock.at(Date.now() + 30 * 86_400_000, () => (fired = true));
  await sleep(50);
  timer.cancel();
  assert.equal(fired, false, 'setTimeout alone fires a 30-day timer after 1 ms');
});

test('a system-clock timer fires once its due time has come', async () => {
  const fired = await new Promise<number>((resolve) => systemClock.at(Date.now() + 20, () => resolve(Date.now())));
  assert.ok(fired > 0);
});

test('a virtual clock jumps forward only, and fires what fell due in due order, then arming order', () => {
  const clock = new VirtualClock(Date.UTC(2030, 0, 1));
  const start = clock.now();
  const fired: string[] = [];
  clock.at(start + 3_000, () => fired.push('c'));
  clock.at(start + 1_000, () => fired.push('a1'));
  clock.at(start + 1_000, () => fired.push('a2'));
  const cancelled = clock.at(start + 2_000, () => fired.push('cancelled'));
  clock.at(start + 86_400_000, () => fired.push('tomorrow'));
  cancelled.cancel();
  assert.equal(clock.nextDueAt(), start + 1_000);
  clock.jumpTo(start + 5_000);
  clock.jumpTo(start); // never back
  assert.equal(clock.fireDue(), 3);
  assert.deepEqual(fired, ['a1', 'a2', 'c']);
  assert.ok(clock.now() >= start + 5_000);
  assert.equal(clock.nextDueAt(), start + 86_400_000);
  clock.close();
});
