// Two runs of one workflow can overlap: a takeover (a resume elsewhere, or fail-over) while the old
// owner is still running. Each position of a workflow's history is written once; a run that finds
// its position already recorded with another output replays from what the database holds, so the
// workflow never goes on with a value its history does not have.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { serialize } from '../../src/codec.js';
import { Ballast, type WorkflowDefinition } from '../../src/index.js';
import { capturingLogger, type CapturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';

let db: { url: string; close(): Promise<void> };
let client: pg.Client;
let ballast: Ballast;
let logger: CapturingLogger;
const runs = new Map<string, number>();
let raced: WorkflowDefinition<undefined, string>;

function ran(step: string): void {
  runs.set(step, (runs.get(step) ?? 0) + 1);
}

before(async () => {
  db = await testDatabase('history_conflict');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  logger = capturingLogger();
  ballast = new Ballast({ name: 'history-conflict', databaseUrl: db.url, executorId: 'current-owner', logger });
  raced = ballast.workflow('raced', async (ctx) => {
    const a = await ctx.step('a', () => {
      ran('a');
      return 'a';
    });
    const b = await ctx.step('b', async () => {
      ran('b');
      // An earlier owner's late checkpoint of this very position commits first.
      await client.query(`INSERT INTO ballast.steps (workflow_id, idx, name, output, completed_at) VALUES ($1, 1, 'b', $2, 0)`, [
        ctx.workflowId,
        serialize('theirs', 'test output'),
      ]);
      return 'mine';
    });
    return ctx.step('c', () => {
      ran('c');
      return `${a}-${b}`;
    });
  });
  await ballast.launch();
});

after(async () => {
  await ballast?.shutdown({ drainMs: 1_000 });
  await client?.end();
  await db?.close();
});

test('a run whose step position was recorded by another run first replays from the recorded history', async () => {
  const handle = await raced.start(undefined);
  assert.equal(await handle.result({ timeout: '10s' }), 'a-theirs');
  assert.deepEqual(Object.fromEntries(runs), { a: 1, b: 1, c: 1 }, 'replay ran no recorded step again');
  const steps = await ballast.workflows.steps(handle.id);
  assert.deepEqual(
    steps.map((step) => [step.name, step.output]),
    [
      ['a', 'a'],
      ['b', 'theirs'],
      ['c', 'a-theirs'],
    ],
  );
  assert.deepEqual(logger.errors, []);
});
