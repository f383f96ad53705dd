import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StopSwitch, Waiters } from '../../src/engine/waiters.js';

test('a stop ends a pending wait at once, and a wait on a stopped interrupt does not start', async () => {
  const waiters = new Waiters();
  const stopping = new StopSwitch();
  const began = Date.now();
  const waiting = waiters.arm('never').wait(60_000, stopping);
  stopping.stop();
  await waiting;
  await waiters.arm('never').wait(60_000, stopping);
  assert.ok(Date.now() - began < 1_000);
  assert.deepEqual(waiters.keys(''), [], 'both waits released their key');
});

test('a hint ends a wait; many waits on one long-lived interrupt leave nothing behind on it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const waiters = new Waiters();
  const stopping = new StopSwitch();
  const hinted = waiters.arm('key').wait(60_000, stopping);
  waiters.wake('key');
  await hinted;

  const heapAfterGc = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heapAfterGc();
  for (let i = 0; i < 100_000; i++) await waiters.arm('key').wait(0, stopping);
  const grown = heapAfterGc() - before;
  assert.equal(stopping.isStopped, false); // still reachable, as a dispatcher's or a run's is
  // Each wait used to leave a reaction (and what it held) on the interrupt: some 20 MB here.
  assert.ok(grown < 4_000_000, `the heap grew by ${grown} bytes over 100,000 waits`);
});
