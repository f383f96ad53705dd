// An executor's lease in the executors table: renewed while it runs, registered again if its row
// disappears, ended at shutdown. The fleet judges an executor dead by this lease alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { testDatabase } from '../support/postgres.js';
import { capturingLogger } from '../support/backends.js';
import { waitFor } from '../support/wait.js';
import { hostname } from 'node:os';
import { Ballast } from '../../src/index.js';

const LEASE_MS = 900; // renewed every 300 ms

let db: { url: string; close(): Promise<void> };
let admin: pg.Client;

before(async () => {
  db = await testDatabase('heartbeat');
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});

after(async () => {
  await admin.end();
  await db.close();
});

interface LeaseRow {
  heartbeat_at: string;
  lease_expires_at: string;
}

async function lease(executorId: string): Promise<{ heartbeatAt: number; expiresAt: number } | undefined> {
  const { rows } = await admin.query<LeaseRow>('SELECT heartbeat_at, lease_expires_at FROM ballast.executors WHERE id = $1', [executorId]);
  const row = rows[0];
  return row && { heartbeatAt: Number(row.heartbeat_at), expiresAt: Number(row.lease_expires_at) };
}

test('a running executor renews its lease, re-registers a deleted row, and ends the lease at shutdown', async () => {
  const logger = capturingLogger();
  const app = new Ballast({ name: 'heartbeat-app', databaseUrl: db.url, executorId: 'beating', executorLeaseMs: LEASE_MS, logger });
  await app.launch();
  try {
    const first = await lease('beating');
    assert.ok(first, 'launch registers the executor');
    assert.equal(first.expiresAt - first.heartbeatAt, LEASE_MS);

    let renewed = first;
    await waitFor('the lease is renewed', async () => {
      renewed = (await lease('beating')) ?? first;
      return renewed.heartbeatAt > first.heartbeatAt;
    });
    assert.ok(renewed.expiresAt > first.expiresAt, 'the lease moves forward');
    assert.equal(renewed.expiresAt - renewed.heartbeatAt, LEASE_MS);

    await admin.query(`DELETE FROM ballast.executors WHERE id = 'beating'`);
    let back: Awaited<ReturnType<typeof lease>>;
    await waitFor('the executor registers again', async () => (back = await lease('beating')) !== undefined);
    assert.ok(back && back.expiresAt > Date.now() - 1_000);
    assert.deepEqual(logger.warnings, [], 'no heartbeat failed');
  } finally {
    await app.shutdown({ drainMs: 0 });
  }
  const ended = await lease('beating');
  assert.ok(ended && ended.expiresAt <= Date.now(), 'shutdown ends the lease at once');
  await new Promise((resolve) => setTimeout(resolve, LEASE_MS / 2));
  assert.deepEqual(await lease('beating'), ended, 'no renewal lands after shutdown');
});

test('shutdown resolves only once every connection of the instance is closed', async () => {
  for (let round = 0; round < 5; round++) {
    const app = new Ballast({ name: 'closing-app', databaseUrl: db.url, executorId: `closing-${round}`, logger: capturingLogger() });
    const work = app.workflow('work', async (ctx, n: number) => ctx.step('double', () => n * 2));
    await app.launch();
    // Use the pool, the writer's connection and the listener, several pool connections at once.
    await Promise.all(Array.from({ length: 20 }, async (_, n) => (await work.start(n)).result()));
    await Promise.all(Array.from({ length: 5 }, () => app.workflows.list({ limit: 1 })));
    await app.shutdown();
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, $1)`,
      [`ballast:closing-app@closing-${round}`],
    );
    assert.equal(rows[0]?.n, 0, `round ${round}: no connection outlives shutdown()`);
  }
});

test('the executor row shows who runs what: host, pid, version, queues, start, heartbeat and running workflows', async () => {
  const app = new Ballast({ name: 'row-app', databaseUrl: db.url, executorId: 'row-executor', appVersion: 'row-v1', executorLeaseMs: LEASE_MS, logger: capturingLogger() });
  app.queue('row-queue', { workerConcurrency: 3 });
  const held = app.workflow('held', async (ctx) => ctx.recv('go', { timeout: '30s' }));
  await app.launch();
  try {
    const handles = await Promise.all([1, 2].map(() => held.start(undefined)));
    await waitFor('the heartbeat reports two running workflows', async () => (await app.executors.list())[0]?.running === 2);
    const [executor] = await app.executors.list();
    assert.ok(executor);
    assert.equal(executor.id, 'row-executor');
    assert.equal(executor.appName, 'row-app');
    assert.equal(executor.appVersion, 'row-v1');
    assert.equal(executor.hostname, hostname());
    assert.equal(executor.pid, process.pid);
    assert.deepEqual(executor.queues, ['row-queue']);
    assert.equal(executor.alive, true);
    assert.equal(executor.recoveredAt, null);
    assert.ok(executor.startedAt.getTime() <= executor.lastHeartbeatAt.getTime());
    assert.ok(executor.leaseExpiresAt.getTime() - executor.lastHeartbeatAt.getTime() === LEASE_MS);
    for (const handle of handles) await app.send(handle.id, 'go', true);
    await Promise.all(handles.map((handle) => handle.result()));
  } finally {
    await app.shutdown({ drainMs: 0 });
  }
});

test('a graceful shutdown hands running workflows back at once: queued ones to their place in the queue, direct ones for adoption', async () => {
  const app = new Ballast({ name: 'handback-app', databaseUrl: db.url, executorId: 'leaving', appVersion: 'hb-v1', executorLeaseMs: LEASE_MS, logger: capturingLogger() });
  const queue = app.queue('handback', { workerConcurrency: 2 });
  const held = app.workflow('held', async (ctx) => {
    await ctx.step('first', () => 1);
    return ctx.recv('go', { timeout: '30s' });
  });
  await app.launch();
  // Priority 1 and 3 take the two slots; priority 5 waits.
  const [first, second, third] = [
    await held.enqueue(undefined, { queue, priority: 1 }),
    await held.enqueue(undefined, { queue, priority: 3 }),
    await held.enqueue(undefined, { queue, priority: 5 }),
  ];
  const direct = await held.start(undefined);
  const all = [first, second, third, direct].map((handle) => handle!.id);
  const read = async () =>
    (await admin.query<{ id: string; status: string; owner: string | null; seq: string; priority: number; epoch: number; recoveries: number }>(
      `SELECT id, status, owner, seq, priority, epoch, recoveries FROM ballast.workflows WHERE app_name = 'handback-app'`,
    )).rows;
  await waitFor('both queue slots and the direct workflow run their first step', async () =>
    (await admin.query(`SELECT DISTINCT workflow_id FROM ballast.steps WHERE workflow_id = ANY($1::text[])`, [all])).rowCount === 3);
  const running = await read();
  await app.shutdown({ drainMs: 0 });

  const after = await read();
  const row = (rows: typeof after, id: string | undefined) => rows.find((r) => r.id === id);
  for (const id of all) {
    const was = row(running, id);
    const now = row(after, id);
    assert.equal(now?.owner, null, `${id} has no owner`);
    assert.equal(now?.recoveries, 0, `${id}: a hand-back is not a recovery`);
    assert.equal(now?.seq, was?.seq, `${id} keeps its place in arrival order`);
    assert.equal(now?.priority, was?.priority, `${id} keeps its priority`);
    if (was?.status === 'PENDING') assert.equal(now?.epoch, (was.epoch) + 1, `${id}: the epoch is bumped, fencing this executor`);
  }
  assert.deepEqual([first, second].map((h) => row(running, h?.id)?.status), ['PENDING', 'PENDING']);
  assert.deepEqual([first, second, third].map((h) => row(after, h?.id)?.status), ['ENQUEUED', 'ENQUEUED', 'ENQUEUED'], 'back in the queue');
  assert.equal(row(after, direct?.id)?.status, 'PENDING', 'the direct workflow waits, PENDING, for an executor of its version to adopt it');
  const [executor] = (await admin.query<{ lease_expires_at: string; recovered_at: string | null }>(
    `SELECT lease_expires_at, recovered_at FROM ballast.executors WHERE id = 'leaving'`,
  )).rows;
  assert.ok(executor && Number(executor.lease_expires_at) <= Date.now() && executor.recovered_at !== null, 'the lease ended and nothing is left to take over');

  // The next executor of the version takes everything up where it stood.
  const next = new Ballast({ name: 'handback-app', databaseUrl: db.url, executorId: 'arriving', appVersion: 'hb-v1', executorLeaseMs: LEASE_MS, logger: capturingLogger() });
  next.queue('handback', { workerConcurrency: 4 });
  next.workflow('held', async (ctx) => {
    await ctx.step('first', () => 2); // replays return the recorded 1
    return ctx.recv('go', { timeout: '30s' });
  });
  await next.launch();
  try {
    await waitFor('the next executor runs all four', async () =>
      (await admin.query(`SELECT 1 FROM ballast.workflows WHERE status = 'PENDING' AND owner = 'arriving'`)).rowCount === 4);
    for (const id of all) await next.send(id, 'go', id);
    for (const id of all) assert.equal(await next.result(id), id);
    const steps = await admin.query<{ workflow_id: string; output: string }>(`SELECT workflow_id, output FROM ballast.steps WHERE name = 'first'`);
    const output = (id: string | undefined) => steps.rows.find((s) => s.workflow_id === id)?.output;
    for (const handle of [first, second, direct]) assert.equal(output(handle?.id), '1', `${handle?.id} replayed its first step`);
    assert.equal(output(third?.id), '2', 'the one that had not started ran it here');
  } finally {
    await next.shutdown({ drainMs: 0 });
  }
});
