// Acceptance of DEAD_LETTER: a workflow whose step kills every process that runs it. Workers that
// die are replaced under new executor IDs, as a Deployment replaces pods. After maxRecoveryAttempts
// takeovers the workflow is moved to DEAD_LETTER with the reason, instead of cycling through the
// fleet for ever, and the other work carries on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DeadLetterError } from '../../src/index.js';
import { expectedFive, QUEUE } from './workers/failover-app.js';
import { TestFleet } from './support/fleet.js';

const MAX_RECOVERY_ATTEMPTS = 2;
const VERSION = 'poison-v1';

let fleet: TestFleet;
let supervising = true;
let replacements = 0;

/**
 * Replaces a worker that dies (the poison kills it) by a new one under a new executor ID. The poison
 * may kill a replacement while it launches, before it says it is ready: a SIGKILL is expected at any
 * point, any other exit while supervising is a failure.
 */
function supervise(id: string): void {
  void fleet.spawn(id).catch(() => undefined);
  const worker = fleet.workers.get(id);
  assert.ok(worker, `${id} spawned`);
  void worker.child.exited.then((exit) => {
    if (!supervising) return;
    assert.equal(exit.signal, 'SIGKILL', `${id} died only by the poison: ${JSON.stringify(exit)}\n${worker.child.stderr()}`);
    supervise(`poison-w${++replacements + 3}`);
  });
}

before(async () => {
  fleet = await TestFleet.open('poison', {
    LEASE_MS: '1500',
    STEP_MS: '30',
    WORKER_CONCURRENCY: '4',
    MAX_RECOVERY_ATTEMPTS: String(MAX_RECOVERY_ATTEMPTS),
    APP_VERSION: VERSION,
  });
  for (const id of ['poison-w1', 'poison-w2', 'poison-w3']) supervise(id);
});

after(async () => {
  supervising = false;
  await fleet.close();
});

test('a workflow that crashes every process it lands on ends DEAD_LETTER after maxRecoveryAttempts, and the fleet keeps working', async (t) => {
  const client = fleet.client(VERSION);
  try {
    // The queue exists once a worker has launched.
    await fleet.workers.get('poison-w1')?.child.waitForLine((line) => line === 'ready poison-w1', 60_000);
    const poison = await client.enqueue('poison', null, { queue: QUEUE, id: 'the-poison' });
    const work = await client.enqueueMany<unknown>('five', Array.from({ length: 30 }, (_, n) => n), { queue: QUEUE });

    await assert.rejects(poison.result({ timeout: '60s' }), (error: unknown) => {
      assert.ok(error instanceof DeadLetterError, `DeadLetterError, got ${String(error)}`);
      assert.match(error.message, new RegExp(`recovered ${MAX_RECOVERY_ATTEMPTS} times`));
      assert.match(error.message, /stopped renewing its lease while running it/);
      return true;
    });
    const row = (await fleet.workflows()).find((r) => r.id === 'the-poison');
    assert.equal(row?.status, 'DEAD_LETTER');
    assert.equal(row?.recoveries, MAX_RECOVERY_ATTEMPTS);
    const crashes = fleet.stepLines().filter((line) => line.workflowId === 'the-poison');
    t.diagnostic(`the poison ran ${crashes.length} times, on ${crashes.map((line) => line.executor).join(', ')}`);
    assert.equal(crashes.length, MAX_RECOVERY_ATTEMPTS + 1, 'run once, then once per recovery');
    assert.equal(new Set(crashes.map((line) => line.executor)).size, crashes.length, 'each run killed a different process');

    // Work that shared a killed process with the poison was recovered too: it finished, unless it
    // happened to be on every process the poison killed (then it was dead-lettered just the same).
    for (const handle of work) await handle.result({ timeout: '60s' }).catch(() => undefined);
    for (const other of (await fleet.workflows()).filter((r) => r.id !== 'the-poison')) {
      if (other.status === 'SUCCESS') continue;
      assert.equal(other.status, 'DEAD_LETTER', `${other.id} finished`);
      assert.equal(other.recoveries, MAX_RECOVERY_ATTEMPTS, `${other.id} was dead-lettered only after its own recoveries ran out`);
    }

    // The fleet keeps working: new work all succeeds.
    const later = await client.enqueueMany<unknown>('five', Array.from({ length: 30 }, (_, n) => n), { queue: QUEUE });
    const results = await Promise.all(later.map((handle) => handle.result({ timeout: '60s' })));
    results.forEach((result, n) => assert.deepEqual(result, expectedFive(n)));
  } finally {
    await client.close();
  }
});
