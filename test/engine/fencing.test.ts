// Fencing, operation by operation: a workflow is taken over (its owner cleared and its epoch
// bumped, exactly as the fleet's hand-over does) while its code waits on an in-memory gate; what it
// then tries is refused in the same statement, and it stops quietly. Checked from the rows: no
// checkpoint, message, event or child appears, a message it would have received stays unconsumed,
// and the completion does not land.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Ballast, WorkflowContext } from '../../src/index.js';
import { capturingLogger, newBallast, openTestDatabase, type CapturingLogger, type TestDatabase } from '../support/backends.js';
import { waitFor } from '../support/wait.js';

type Operation = 'step' | 'send' | 'setEvent' | 'start' | 'enqueue' | 'recv' | 'complete';
const OPERATIONS: Operation[] = ['step', 'send', 'setEvent', 'start', 'enqueue', 'recv', 'complete'];

describe('a taken-over workflow is refused every write, in the same statement', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let app: Ballast;
  let logger: CapturingLogger;
  const gates = new Map<string, () => void>();
  const effects: string[] = [];
  let fenced: ReturnType<typeof app.workflow<Operation, string>>;

  before(async () => {
    db = await openTestDatabase('postgres');
    admin = new pg.Client({ connectionString: db.config.databaseUrl });
    await admin.connect();
    logger = capturingLogger();
    app = newBallast(db, { executorId: 'fenced-executor', logger });
    const queue = app.queue('children');
    const child = app.workflow('child', async () => 'child');
    fenced = app.workflow('fenced', async (ctx: WorkflowContext, operation: Operation) => {
      await ctx.step('before', () => 'before');
      await new Promise<void>((resolve) => gates.set(ctx.workflowId, resolve));
      switch (operation) {
        case 'step':
          await ctx.step('after', () => effects.push(ctx.workflowId));
          break;
        case 'send':
          await ctx.send('nobody', 'topic', 'hello');
          break;
        case 'setEvent':
          await ctx.setEvent('stage', 'late');
          break;
        case 'start':
          await ctx.start(child, undefined);
          break;
        case 'enqueue':
          await ctx.enqueue(child, undefined, { queue });
          break;
        case 'recv':
          await ctx.recv('topic');
          break;
        case 'complete':
          break;
      }
      return 'finished';
    });
    await app.launch();
  });

  after(async () => {
    await app.shutdown({ drainMs: 0 });
    await admin.end();
    await db.close();
  });

  for (const operation of OPERATIONS) {
    test(`${operation}`, async () => {
      const id = `fenced-${operation}`;
      await fenced.start(operation, { id });
      await waitFor('the workflow waits at its gate', () => gates.has(id));
      if (operation === 'recv') await app.send(id, 'topic', 'for the new owner');
      // The hand-over, as the fleet does it.
      await admin.query(`UPDATE ballast.workflows SET owner = NULL, epoch = epoch + 1 WHERE id = $1`, [id]);
      gates.get(id)?.();
      await waitFor('the run noticed and stopped', () => logger.warnings.some((warning) => warning.startsWith(`workflow ${id}: another executor took it over`)));

      const row = (await admin.query(`SELECT status, owner, output FROM ballast.workflows WHERE id = $1`, [id])).rows[0];
      assert.deepEqual(row, { status: 'PENDING', owner: null, output: null }, 'no completion landed');
      const steps = (await admin.query(`SELECT name FROM ballast.steps WHERE workflow_id = $1 ORDER BY idx`, [id])).rows.map((r) => r.name);
      assert.deepEqual(steps, ['before'], 'no checkpoint after the takeover');
      const sent = await admin.query(`SELECT 1 FROM ballast.messages WHERE destination_id = 'nobody'`);
      assert.equal(sent.rowCount, 0, 'no message sent');
      const events = await admin.query(`SELECT 1 FROM ballast.events WHERE workflow_id = $1`, [id]);
      assert.equal(events.rowCount, 0, 'no event set');
      const children = await admin.query(`SELECT id FROM ballast.workflows WHERE parent_id = $1`, [id]);
      assert.equal(children.rowCount, 0, 'no child started');
      const unconsumed = await admin.query(`SELECT 1 FROM ballast.messages WHERE destination_id = $1 AND consumed_at IS NULL`, [id]);
      assert.equal(unconsumed.rowCount, operation === 'recv' ? 1 : 0, 'the message waits for the new owner');
      assert.deepEqual(logger.errors, [], 'nothing was surfaced as an error');
    });
  }

  test('a step refused after the takeover ran at most its own effect, nothing after it', () => {
    assert.deepEqual(effects, ['fenced-step']);
  });
});

describe('a workflow claimed again by the executor whose earlier run of it is still winding down', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let app: Ballast;
  const runsOfFirst: number[] = [];
  let release: (() => void) | undefined;
  let reclaimed: ReturnType<typeof app.workflow<undefined, string>>;

  before(async () => {
    db = await openTestDatabase('postgres');
    admin = new pg.Client({ connectionString: db.config.databaseUrl });
    await admin.connect();
    app = newBallast(db, { executorId: 'reclaiming-executor', pollIntervalMs: 100 });
    app.queue('again', { workerConcurrency: 2 });
    reclaimed = app.workflow('reclaimed', async (ctx: WorkflowContext) => {
      // Ignores its abort signal, as user code may: the earlier run lingers until it is let go.
      await ctx.step('first', async () => {
        runsOfFirst.push(Date.now());
        if (runsOfFirst.length === 1) await new Promise<void>((resolve) => (release = resolve));
        return 'first';
      });
      return ctx.step('second', () => 'second');
    });
    await app.launch();
  });

  after(async () => {
    await app.shutdown({ drainMs: 0 });
    await admin.end();
    await db.close();
  });

  test('the new claim runs once the old run has gone, and finishes the workflow', async () => {
    const handle = await reclaimed.enqueue(undefined, { queue: 'again', id: 'claimed-twice' });
    await waitFor('the first run is inside its step', () => release !== undefined);
    // The fleet takes it over (as after a pause past the lease) and returns it to its queue; this
    // same executor claims it again while its first run is still inside the step.
    await admin.query(`UPDATE ballast.workflows SET status = 'ENQUEUED', owner = NULL, epoch = epoch + 1 WHERE id = $1`, [handle.id]);
    await waitFor('claimed again', async () => (await admin.query(`SELECT epoch FROM ballast.workflows WHERE id = $1`, [handle.id])).rows[0]?.epoch === 3);
    release?.();
    assert.equal(await handle.result({ timeout: '10s' }), 'second');
    assert.equal(runsOfFirst.length, 2, 'the step ran again under the new claim (its first run was never checkpointed)');
    const row = (await admin.query(`SELECT status, owner, epoch FROM ballast.workflows WHERE id = $1`, [handle.id])).rows[0];
    assert.deepEqual(row, { status: 'SUCCESS', owner: 'reclaiming-executor', epoch: 3 });
  });
});
