// A write that commits on the server while its reply is lost (the connection dies right after the
// commit) is retried by Ballast. The retry must recognise its own earlier success: the workflow
// still runs and finishes, a committed step is not re-run, and a message is delivered once.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Ballast, type WorkflowDefinition } from '../../src/index.js';
import { capturingLogger, type CapturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { startReplyDroppingProxy, type ReplyDroppingProxy } from './support/reply-dropping-proxy.js';

let db: { url: string; close(): Promise<void> };
let proxy: ReplyDroppingProxy;
let ballast: Ballast;
let logger: CapturingLogger;
const stepRuns = new Map<string, number>();

let oneStep: WorkflowDefinition<number, number>;
let twoSteps: WorkflowDefinition<number, number>;
let inbox: WorkflowDefinition<undefined, Array<string | undefined>>;
let relay: WorkflowDefinition<string, string>;
let serialQueue: ReturnType<Ballast['queue']>;
let slow: WorkflowDefinition<number, number>;
const inSlowStep = { now: 0, most: 0 };

before(async () => {
  db = await testDatabase('lost_reply');
  const target = new URL(db.url);
  proxy = await startReplyDroppingProxy({ host: target.hostname, port: Number(target.port) });
  logger = capturingLogger();
  ballast = new Ballast({
    name: 'fault-lost-reply',
    databaseUrl: proxy.urlFor(db.url),
    executorId: 'lost-reply',
    appVersion: 'v1',
    pollIntervalMs: 60_000, // no polling: a consume of a message only follows its NOTIFY
    logger,
  });
  oneStep = ballast.workflow('one-step', async (ctx, n: number) => {
    const value = await ctx.step('double', () => {
      stepRuns.set(ctx.workflowId, (stepRuns.get(ctx.workflowId) ?? 0) + 1);
      return n * 2;
    });
    return value + 1;
  });
  // The first checkpoint is written alone; a workflow's last one commits with its completion.
  twoSteps = ballast.workflow('two-steps', async (ctx, n: number) => {
    const value = await ctx.step('double', () => {
      stepRuns.set(ctx.workflowId, (stepRuns.get(ctx.workflowId) ?? 0) + 1);
      return n * 2;
    });
    return ctx.step('increment', () => value + 1);
  });
  // The first message, then whatever else arrives within a second (nothing, if delivered once).
  inbox = ballast.workflow('inbox', async (ctx) => [await ctx.recv<string>('t'), await ctx.recv<string>('t', { timeout: '1s' })]);
  relay = ballast.workflow('relay', async (ctx, destination: string) => {
    await ctx.send(destination, 't', 'from a workflow');
    return 'sent';
  });
  slow = ballast.workflow('slow', async (ctx, n: number) =>
    ctx.step('hold', async () => {
      inSlowStep.most = Math.max(inSlowStep.most, ++inSlowStep.now);
      await sleep(300);
      inSlowStep.now--;
      return n;
    }),
  );
  serialQueue = ballast.queue('lost-reply-serial', { workerConcurrency: 1 });
  await ballast.launch();
});

after(async () => {
  await ballast?.shutdown({ drainMs: 1_000 });
  await proxy?.close();
  await db?.close();
});

async function expectCompleted<T>(id: string, expected: T): Promise<void> {
  const result = await ballast.handle<T>(id).result({ timeout: '10s' }).catch(async (error: Error) => {
    const info = await ballast.workflows.get(id);
    const steps = await ballast.workflows.steps(id);
    throw new Error(`${id} did not complete (${error.message}): it is ${info?.status} with ${steps.length} checkpoint(s)`);
  });
  assert.deepEqual(result, expected);
  assert.equal((await ballast.workflows.get(id))?.status, 'SUCCESS');
}

test('the reply to a start is lost: the workflow still runs', async () => {
  const dropped = proxy.dropNextReply('ballast_flush_s');
  await oneStep.start(20, { id: 'lost-start' });
  await dropped;
  await expectCompleted('lost-start', 41);
  assert.equal(stepRuns.get('lost-start'), 1);
});

test('the reply to a start that carried its first checkpoint is lost: the step is not run again', async () => {
  // A generated ID: the workflow runs behind its insert, and its first checkpoint joins it.
  const dropped = proxy.dropNextReply('ballast_flush_scj');
  const handle = await twoSteps.start(50);
  await dropped;
  await expectCompleted(handle.id, 101);
  assert.equal(stepRuns.get(handle.id), 1);
  assert.equal(await handle.result(), 101);
});

test('the reply to a checkpoint is lost: the step is not run again', async () => {
  const dropped = proxy.dropNextReply('ballast_flush_c');
  await twoSteps.start(30, { id: 'lost-checkpoint' });
  await dropped;
  await expectCompleted('lost-checkpoint', 61);
  assert.equal(stepRuns.get('lost-checkpoint'), 1);
});

test('the reply to a completion (with the last checkpoint) is lost: the result is still delivered', async () => {
  const dropped = proxy.dropNextReply('ballast_flush_cdn');
  await oneStep.start(40, { id: 'lost-completion' });
  await dropped;
  await expectCompleted('lost-completion', 81);
  assert.equal(stepRuns.get('lost-completion'), 1);
});

test('the reply to a recv that consumed a message is lost: the message is delivered once', async () => {
  await inbox.start(undefined, { id: 'lost-recv' });
  await sleep(300); // the workflow looked for a message, found none, and waits for a wake-up
  const dropped = proxy.dropNextReply('ballast_consume_message');
  await ballast.send('lost-recv', 't', 'once', { idempotencyKey: 'lost-recv-1' });
  await dropped;
  await expectCompleted('lost-recv', ['once', undefined]);
});

test('the reply to a ctx.send is lost: the message is delivered once', async () => {
  await inbox.start(undefined, { id: 'lost-ctx-send' });
  const dropped = proxy.dropNextReply('ballast_flush_cmn');
  await relay.start('lost-ctx-send', { id: 'lost-ctx-send-relay' });
  await dropped;
  await expectCompleted('lost-ctx-send-relay', 'sent');
  await expectCompleted('lost-ctx-send', ['from a workflow', undefined]);
});

test('the reply to ballast.send is lost: the message is delivered once', async () => {
  await inbox.start(undefined, { id: 'lost-send' });
  const dropped = proxy.dropNextReply('ballast_send_message');
  await ballast.send('lost-send', 't', 'hello');
  await dropped;
  await expectCompleted('lost-send', ['hello', undefined]);
});

test('a caller that retries ballast.send with its idempotency key after a lost reply: delivered once', async () => {
  // The caller's retry comes after the workflow consumed the first delivery.
  const handle = await inbox.start(undefined, { id: 'resent' });
  await ballast.send('resent', 't', 'hello', { idempotencyKey: 'resent-1' });
  await sleep(300);
  await ballast.send('resent', 't', 'hello', { idempotencyKey: 'resent-1' });
  assert.deepEqual(await handle.result({ timeout: '10s' }), ['hello', undefined]);
});

test('the reply to a completion that claimed the next queued workflow is lost: both finish, each step ran once', async () => {
  // One slot: the first workflow is claimed on its own, and its completion claims the second.
  const dropped = proxy.dropNextReply('ballast_flush_cdrn');
  const [first, second] = await oneStep.enqueueMany([50, 60], { queue: serialQueue });
  await dropped;
  await expectCompleted(first?.id as string, 101);
  await expectCompleted(second?.id as string, 121);
  assert.equal(stepRuns.get(first?.id as string), 1);
  assert.equal(stepRuns.get(second?.id as string), 1);
});

test('the reply to a claim is lost: the claimed workflow still runs, once', async () => {
  const dropped = proxy.dropNextReply('ballast_claim');
  const handle = await oneStep.enqueue(70, { queue: serialQueue });
  await dropped;
  await expectCompleted(handle.id, 141);
  assert.equal(stepRuns.get(handle.id), 1);
});

test("the reply to a claim is lost while a backlog waits: the queue's workerConcurrency still holds", async () => {
  // A second attempt of the claim would take the next workflow while the first attempt's is ours,
  // and adopting that one would run two at once in a queue of one slot.
  const dropped = proxy.dropNextReply('ballast_claim');
  const handles = await slow.enqueueMany([1, 2, 3], { queue: serialQueue });
  await dropped;
  for (const [n, handle] of handles.entries()) await expectCompleted(handle.id, n + 1);
  assert.equal(inSlowStep.most, 1);
});

test('the reply to an adoption of orphaned workflows is lost: they still run, once', async () => {
  // Another executor of the version hands a waiting workflow back as it shuts down; this one adopts
  // it, and the reply to the adoption is lost.
  const other = new Ballast({
    name: 'fault-lost-reply', databaseUrl: db.url, executorId: 'lost-reply-other', appVersion: 'v1', pollIntervalMs: 60_000, logger: capturingLogger(),
  });
  const otherInbox = other.workflow('inbox', async (ctx) => [await ctx.recv<string>('t'), await ctx.recv<string>('t', { timeout: '1s' })]);
  await other.launch();
  await otherInbox.start(undefined, { id: 'lost-adoption' });
  const dropped = proxy.dropNextReply('ballast_adopt_orphans');
  await other.shutdown({ drainMs: 0 });
  await dropped;
  await ballast.send('lost-adoption', 't', 'to the adopter');
  await expectCompleted('lost-adoption', ['to the adopter', undefined]);
});

test('nothing was logged as an error', () => {
  assert.deepEqual(logger.errors, []);
});
