// An executor's lease in the executors table: renewed while it runs, registered again if its row
// disappears, ended at shutdown. The fleet judges an executor dead by this lease alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { testDatabase } from '../support/postgres.js';
import { capturingLogger } from '../support/backends.js';
import { waitFor } from '../support/wait.js';
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
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ballast:closing-app'`,
    );
    assert.equal(rows[0]?.n, 0, `round ${round}: no connection outlives shutdown()`);
  }
});
