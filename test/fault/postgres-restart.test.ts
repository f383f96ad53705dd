// Acceptance: Postgres restarted (fast shutdown and start of a throwaway server) while 200
// workflows are running: none of them fails; they pause and all complete once the database is
// back, and the process needs no restart. A dropped LISTEN connection is re-established and no
// wake-up is lost.
//
// Every instance that waits here has pollIntervalMs = 60 s, so only a NOTIFY (or the wake-all that
// follows a reconnect) can wake it within the bounds asserted below.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { deserialize } from '../../src/codec.js';
import { Ballast, type BallastConfig, type WorkflowContext } from '../../src/index.js';
import { capturingLogger, type CapturingLogger } from '../support/backends.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const NO_POLLING = 60_000;
const WAKE_BOUND_MS = 10_000; // "promptly": far below NO_POLLING, far above a NOTIFY round trip

let server: ThrowawayPostgres;
const instances: Ballast[] = [];

before(async () => {
  server = await startThrowawayPostgres();
});

after(async () => {
  await Promise.all(instances.map((instance) => instance.shutdown({ drainMs: 1_000 }).catch(() => undefined)));
  await server?.stop();
});

function newInstance(config: Omit<BallastConfig, 'logger'> & { logger?: CapturingLogger }): Ballast {
  const instance = new Ballast({ pollIntervalMs: NO_POLLING, logger: capturingLogger(), ...config });
  instances.push(instance);
  return instance;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'fault-test' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function countRows(url: string, sql: string): Promise<number> {
  return withClient(url, async (client) => (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) AS q`)).rows[0]?.n ?? 0);
}

/** The application_name of an instance's LISTEN connection: `ballast:<app>@<executor>:listen`. */
const listenerName = (appName: string, executorId: string) => `ballast:${appName}@${executorId}:listen`;

/** True once the instance's LISTEN connection is up and idle (its LISTEN has run). */
async function listening(url: string, appName: string, executorId: string): Promise<boolean> {
  const n = await countRows(
    url,
    `SELECT 1 FROM pg_stat_activity WHERE application_name = '${listenerName(appName, executorId)}' AND state = 'idle' AND query ILIKE 'LISTEN%'`,
  );
  return n === 1;
}

/** Resolves with how long `promise` took, or rejects if it did not settle within `bound` ms. */
async function timed<T>(what: string, promise: Promise<T>, bound = WAKE_BOUND_MS): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was not woken within ${bound} ms`)), bound);
  });
  try {
    const value = await Promise.race([promise, timeout]);
    return { value, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------

const WORKFLOWS = 200;
const valueOf = (n: number, i: number) => n * 100 + i;
const expectedOf = (n: number) => ({ n, values: [0, 1, 2, 3, 4].map((i) => valueOf(n, i)) });

test('a fast restart of Postgres under 200 running workflows: they pause, then all complete', async (t) => {
  const databaseUrl = await server.createDatabase('restart');
  const logger = capturingLogger();
  const ballast = newInstance({ name: 'fault-restart', databaseUrl, executorId: 'restart-executor', appVersion: 'v1', logger });
  const stepRuns = new Map<string, number>();
  let finished = 0;
  const workflow = ballast.workflow('restartable', async (ctx, n: number) => {
    const values: number[] = [];
    const step = async (i: number) => {
      values.push(
        await ctx.step(`s${i}`, async () => {
          stepRuns.set(`${n}/${i}`, (stepRuns.get(`${n}/${i}`) ?? 0) + 1);
          await sleep(20 + Math.random() * 60);
          return valueOf(n, i);
        }),
      );
    };
    await step(0);
    await step(1);
    await step(2);
    await ctx.sleep(1_000);
    await step(3);
    await step(4);
    finished++;
    return { n, values };
  });
  // A workflow blocked in recv across the restart, woken by a send from another instance.
  const inbox = ballast.workflow('inbox', async (ctx) => ctx.recv<string>('topic'));
  const sender = newInstance({ name: 'fault-restart-sender', databaseUrl, executorId: 'restart-sender', appVersion: 'v1' });
  await ballast.launch();
  await sender.launch();

  const waiting = await inbox.start(undefined, { id: 'inbox-restart' });
  const handles = await Promise.all(Array.from({ length: WORKFLOWS }, (_, n) => workflow.start(n, { id: `restart-${n}` })));
  const results = Promise.allSettled(handles.map((handle) => handle.result({ timeout: '90s' })));

  // Some workflows have checkpointed, none has finished: stop the server under them.
  await waitFor('200 checkpoints exist', async () => (await countRows(databaseUrl, 'SELECT 1 FROM ballast.steps')) >= WORKFLOWS);
  assert.equal(finished, 0, 'the outage starts while every workflow is still running');
  await server.stopServer('fast');
  const finishedWhenStopped = finished;
  await sleep(1_500); // steps and sleeps end during the outage; their checkpoints must wait
  await server.startServer();
  t.diagnostic(`${finishedWhenStopped} of ${WORKFLOWS} had finished when the server stopped`);

  // The process carries on: every workflow completes with its value.
  const settled = await results;
  const failures = settled.flatMap((outcome, n) => (outcome.status === 'rejected' ? [`restart-${n}: ${String(outcome.reason)}`] : []));
  assert.deepEqual(failures, [], 'no workflow failed');
  settled.forEach((outcome, n) => assert.deepEqual(outcome.status === 'fulfilled' && outcome.value, expectedOf(n)));
  assert.ok(finishedWhenStopped < WORKFLOWS, 'the outage hit running workflows');

  const rows = await withClient(databaseUrl, async (client) =>
    (await client.query<{ id: string; status: string; output: string; steps: string[] }>(
      `SELECT w.id, w.status, w.output, array_agg(s.name ORDER BY s.idx) AS steps
         FROM ballast.workflows w JOIN ballast.steps s ON s.workflow_id = w.id
        WHERE w.name = 'restartable' GROUP BY w.id`,
    )).rows,
  );
  assert.equal(rows.length, WORKFLOWS);
  for (const row of rows) {
    const n = Number(row.id.slice('restart-'.length));
    assert.equal(row.status, 'SUCCESS', `${row.id} is SUCCESS`);
    assert.deepEqual(deserialize(row.output), expectedOf(n));
    assert.deepEqual(row.steps, ['s0', 's1', 's2', 'ballast.sleep', 's3', 's4'], `${row.id} has one checkpoint per operation`);
  }
  for (let n = 0; n < WORKFLOWS; n++) {
    for (let i = 0; i < 5; i++) assert.ok((stepRuns.get(`${n}/${i}`) ?? 0) >= 1, `step ${i} of restart-${n} ran`);
  }
  assert.ok(logger.warnings.some((w) => /database unavailable/.test(w)), `the outage was noticed (warnings: ${logger.warnings.join(' | ')})`);
  assert.deepEqual(logger.errors, [], 'nothing was logged as an error');

  // The LISTEN connection came back after the restart: a send from another instance wakes the
  // recv promptly (the instance polls only once a minute).
  await waitFor('the listener is back', () => listening(databaseUrl, 'fault-restart', 'restart-executor'));
  await sender.send('inbox-restart', 'topic', 'after the restart');
  assert.equal((await timed('recv after a server restart', waiting.result())).value, 'after the restart');

  // And the same instance keeps working: new workflows start and finish.
  const fresh = await Promise.all([0, 1, 2].map((n) => workflow.start(n, { id: `after-restart-${n}` })));
  assert.deepEqual(await Promise.all(fresh.map((handle) => handle.result({ timeout: '30s' }))), [0, 1, 2].map(expectedOf));
});

// ---------------------------------------------------------------------------------------------

test('a dropped LISTEN connection is re-established and no wake-up is lost', async (t) => {
  const databaseUrl = await server.createDatabase('listen');
  // `receiver` has its LISTEN connection killed; `runner` runs workflows the receiver waits on.
  const receiverLogger = capturingLogger();
  const receiver = newInstance({ name: 'fault-receiver', databaseUrl, executorId: 'receiver', appVersion: 'v1', logger: receiverLogger });
  const runner = newInstance({ name: 'fault-runner', databaseUrl, executorId: 'runner', appVersion: 'v1' });
  const inbox = receiver.workflow('inbox', async (ctx) => ctx.recv<string>('topic'));
  const gatedBody = async (ctx: WorkflowContext) => {
    const go = await ctx.recv<string>('go');
    await ctx.setEvent('stage', `event:${go}`);
    return `result:${go}`;
  };
  const gated = runner.workflow('gated', gatedBody);
  runner.queue('runner-only', { workerConcurrency: 4 });
  // The receiver enqueues onto a queue only the runner works: its handle waits without reading
  // the row, trusting the listener to hear of the completion.
  const gatedForReceiver = receiver.workflow('gated', gatedBody);
  await receiver.launch();
  await runner.launch();
  await waitFor('the receiver listens', () => listening(databaseUrl, 'fault-receiver', 'receiver'));

  /** Three waiters on the receiver: a local recv, a result() and a getEvent() of the runner's workflow. */
  const arm = async (round: string) => {
    const local = await inbox.start(undefined, { id: `inbox-${round}` });
    const remote = await gated.start(undefined, { id: `gated-${round}` });
    const queued = await gatedForReceiver.enqueue(undefined, { queue: 'runner-only', id: `queued-${round}` });
    const waits = {
      recv: local.result({ timeout: '30s' }),
      result: receiver.result<string>(remote.id, { timeout: '30s' }),
      event: receiver.getEvent<string>(remote.id, 'stage', { timeout: '30s' }),
      queued: queued.result({ timeout: '30s' }),
    };
    // Awaited below; if an earlier assertion fails first, their later rejections are not unhandled.
    for (const wait of Object.values(waits)) wait.catch(() => undefined);
    // Let every waiter reach its wait (each reads the database once, then waits for a wake-up).
    await waitFor(`inbox-${round}, gated-${round} and queued-${round} are waiting`, async () =>
      (await countRows(
        databaseUrl,
        `SELECT 1 FROM ballast.workflows WHERE id IN ('inbox-${round}', 'gated-${round}', 'queued-${round}') AND status = 'PENDING'`,
      )) === 3,
    );
    await sleep(300);
    return waits;
  };
  const send = async (round: string) => {
    await runner.send(`inbox-${round}`, 'topic', `hello-${round}`);
    await runner.send(`gated-${round}`, 'go', round);
    await runner.send(`queued-${round}`, 'go', `queued-${round}`);
  };
  const expectWoken = async (round: string, waits: Awaited<ReturnType<typeof arm>>) => {
    const [recv, result, event, queued] = await Promise.all([
      timed(`recv of inbox-${round}`, waits.recv),
      timed(`result() of gated-${round}`, waits.result),
      timed(`getEvent() of gated-${round}`, waits.event),
      timed(`result() of the handle to queued-${round}`, waits.queued),
    ]);
    t.diagnostic(`${round}: recv ${recv.ms} ms, result ${result.ms} ms, getEvent ${event.ms} ms, queued handle ${queued.ms} ms`);
    assert.equal(recv.value, `hello-${round}`);
    assert.equal(result.value, `result:${round}`);
    assert.equal(event.value, `event:${round}`);
    assert.equal(queued.value, `result:queued-${round}`);
  };

  // Round 1: the connection is killed and comes back; wake-ups sent afterwards arrive on the new one.
  const first = await arm('reconnected');
  assert.equal(await server.terminateBackends({ applicationName: listenerName('fault-receiver', 'receiver') }), 1);
  await waitFor('the receiver listens again', () => listening(databaseUrl, 'fault-receiver', 'receiver'));
  await send('reconnected');
  await expectWoken('reconnected', first);

  // Round 2: the notifications fire while the connection is down (the reconnect waits at least
  // 100 ms); they are lost with it, so the reconnect itself must make the waiters look again.
  const second = await arm('while-down');
  assert.equal(await server.terminateBackends({ applicationName: listenerName('fault-receiver', 'receiver') }), 1);
  await send('while-down');
  await expectWoken('while-down', second);
  await waitFor('the receiver listens again', () => listening(databaseUrl, 'fault-receiver', 'receiver'));

  // Round 3: after two reconnects, a plain wake-up still arrives.
  const third = await arm('steady');
  await send('steady');
  await expectWoken('steady', third);
  assert.deepEqual(receiverLogger.errors, []);
});

// ---------------------------------------------------------------------------------------------

test('launch() during an outage waits for the database, then runs with one LISTEN connection', async () => {
  const databaseUrl = await server.createDatabase('outage_launch');
  const logger = capturingLogger();
  const ballast = newInstance({ name: 'fault-late', databaseUrl, executorId: 'late', appVersion: 'v1', logger });
  const once = ballast.workflow('once', async (ctx, n: number) => ctx.step('inc', () => n + 1));
  await server.stopServer('fast');
  let launched = false;
  const launching = ballast.launch().then(() => (launched = true));
  try {
    await sleep(1_000);
    assert.equal(launched, false, 'launch() waits while the database is down');
  } finally {
    await server.startServer();
  }
  await timed('launch() once the database is back', launching, 15_000);
  assert.ok(logger.warnings.some((w) => /database unavailable/.test(w)));
  const handle = await once.start(41);
  assert.equal(await handle.result({ timeout: '15s' }), 42);
  // The attempts made while the server was down left no second listener behind.
  await waitFor('the listener is up', () => listening(databaseUrl, 'fault-late', 'late'));
  await sleep(1_000);
  assert.equal(
    await countRows(databaseUrl, `SELECT 1 FROM pg_stat_activity WHERE application_name = '${listenerName('fault-late', 'late')}'`),
    1,
    'exactly one LISTEN connection',
  );
  assert.deepEqual(logger.errors, []);
});
