// Acceptance: ctx.waitFirst's choice is durable. A real process is SIGKILLed after the workflow
// chose the first of two children to finish and before its next step; the winner is then deleted,
// so that choosing again could not give the same answer. The restarted process replays the same
// winner, with the output recorded at the choice, and the workflow finishes on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BallastClient } from '../../src/client/index.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { testDatabase } from '../support/postgres.js';
import { waitForSessionsToEnd } from '../support/sessions.js';
import { PARENT_ID } from './workers/wait-worker.js';

const WORKER = new URL('./workers/wait-worker.ts', import.meta.url).pathname;

test('waitFirst replays the same winner after a SIGKILL between the choice and the next step', async (t) => {
  const db = await testDatabase('wait_crash');
  const client = new BallastClient({ appName: 'wait-app', databaseUrl: db.url, pollIntervalMs: 200 });
  let child: ChildHandle | undefined;
  t.after(async () => {
    child?.kill('SIGKILL');
    await client.close();
    await db.close();
  });
  const launch = (start: boolean) => (child = spawnNode(WORKER, { env: { WAIT_DATABASE_URL: db.url, START: start ? '1' : '0' } }));

  const first = launch(true);
  const chosen = await first.waitForLine((line) => line.startsWith('chosen '), 60_000);
  first.kill('SIGKILL');
  assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
  await waitForSessionsToEnd(db.url, 'ballast:wait-app');

  const [, winnerId, index, ...output] = chosen.split(' ');
  assert.equal(index, '1', 'the fast child won');
  assert.equal((await client.workflows.get(PARENT_ID))?.status, 'PENDING');
  await client.workflows.delete(winnerId as string);

  const second = launch(false);
  assert.equal(await second.waitForLine((line) => line.startsWith('chosen '), 60_000), chosen, 'the replay chose the same winner');
  await client.send(PARENT_ID, 'go', true);
  const done = await second.waitForLine((line) => line.startsWith('done '), 60_000);
  assert.deepEqual(JSON.parse(done.slice('done '.length)), { id: winnerId, index: 1, output: JSON.parse(output.join(' ')) });
  assert.deepEqual(await second.exited, { code: 0, signal: null });
  assert.doesNotMatch(second.stderr(), /\[(error|fatal)\]/);
});
