// Acceptance: no fault of the database or the network crashes a process that runs Ballast. Three
// worker processes, each behind its own fault proxy, run orders that a producer process keeps
// enqueuing and paying; the test kills their sessions at every point it can reach (idle, waiting
// inside a claim, inside a flush, while LISTENing, idle in a transaction), lets the server's
// idle_in_transaction_session_timeout end a transaction of a frozen worker, restarts Postgres in
// immediate mode, resets one worker's connections, strands them (open, never answering), and
// freezes one worker's network past its lease. After each fault every worker is still alive and
// orders keep finishing; at the end every order finished right (see chaos/support/invariants.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosFleet, sessionName, type ChaosWorker } from '../chaos/support/chaos-fleet.js';
import { checkInvariants, crashOf } from '../chaos/support/invariants.js';
import type { SampleWindow } from '../fleet/support/sampler.js';
import { waitFor } from '../support/wait.js';

const LEASE_MS = 2_000;
/** The workers' statement timeout: the lease, at least 5 s (see config.statementTimeoutMs). */
const STATEMENT_TIMEOUT_MS = 5_000;
const RATE = 15;
/** A step that passed the lease gate just before the lease ran out logs its start a moment later. */
const GATE_MARGIN_MS = 100;
const SESSIONS = `starts_with(application_name, 'ballast:chaos-app@')`;
const QUEUE_LOCK = `hashtext('ballast:queue:ballast:orders')`;

let fleet: ChaosFleet;
let window: SampleWindow;

before(async () => {
  fleet = await ChaosFleet.open({ name: 'connection_faults', leaseMs: LEASE_MS });
  for (let i = 0; i < 3; i++) await fleet.spawn();
  window = fleet.sampler.open();
  fleet.startProducer(RATE);
  await finishing('the fleet runs orders');
});

after(async () => {
  await fleet?.close();
});

/** Every worker is alive, and none wrote signs of a crash. */
function assertAlive(): void {
  for (const worker of fleet.workers.values()) {
    assert.equal(crashOf(worker), undefined);
    assert.equal(worker.exit, undefined, `worker ${worker.id} is still running`);
  }
}

/** Waits until more orders have finished than now: the fleet is making progress. */
async function finishing(what: string, more = 2 * RATE, timeoutMs = 30_000): Promise<void> {
  const done = () => fleet.count(`SELECT 1 FROM ballast.workflows WHERE name = 'order' AND status = 'SUCCESS'`);
  const target = (await done()) + more;
  await waitFor(`${what}: ${more} more orders finish`, async () => (await done()) >= target, timeoutMs);
}

/** Terminates the workers' sessions that match `where` (a condition on pg_stat_activity); returns how many. */
async function terminate(where: string): Promise<number> {
  const { rows } = await fleet.admin.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE ${SESSIONS} AND (${where})`,
  );
  return rows[0]?.n ?? 0;
}

/** Polls until a worker session matches `where`, then terminates the matching ones; returns how many. */
async function terminateOnceSeen(what: string, where: string, timeoutMs = 15_000): Promise<number> {
  await waitFor(`a worker session ${what}`, async () => (await fleet.count(`SELECT 1 FROM pg_stat_activity WHERE ${SESSIONS} AND (${where})`)) > 0, timeoutMs, 2);
  return terminate(where);
}

/** Runs `fn` while a transaction of the test holds `lock` (a statement taking a lock), then ends it. */
async function holding<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const client = await fleet.admin.connect();
  try {
    await client.query('BEGIN');
    await client.query(lock);
    return await fn();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

describe('sessions terminated with pg_terminate_backend', () => {
  test('while idle', async (t) => {
    const killed = await terminateOnceSeen('is idle', `state = 'idle'`);
    t.diagnostic(`${killed} idle sessions terminated`);
    assert.ok(killed > 0);
    await finishing('after idle sessions were terminated');
    assertAlive();
  });

  test('inside a claim, waiting for the queue lock', async (t) => {
    const killed = await holding(`SELECT pg_advisory_xact_lock(${QUEUE_LOCK})`, () =>
      terminateOnceSeen('waits for the queue lock', `wait_event_type = 'Lock' AND wait_event = 'advisory'`),
    );
    t.diagnostic(`${killed} claiming sessions terminated`);
    assert.ok(killed > 0);
    await finishing('after claims were terminated');
    assertAlive();
  });

  test('inside a flush, waiting for a workflow row', async (t) => {
    const killed = await holding(`SELECT id FROM ballast.workflows WHERE name = 'order' AND status = 'PENDING' FOR UPDATE`, () =>
      terminateOnceSeen('waits for a workflow row', `wait_event_type = 'Lock' AND wait_event <> 'advisory'`),
    );
    t.diagnostic(`${killed} flushing sessions terminated`);
    assert.ok(killed > 0);
    await finishing('after flushes were terminated');
    assertAlive();
  });

  test('while LISTENing', async (t) => {
    const killed = await terminate(`application_name LIKE '%:listen'`);
    t.diagnostic(`${killed} LISTEN sessions terminated`);
    assert.equal(killed, 3);
    await finishing('after LISTEN sessions were terminated');
    assertAlive();
  });

  test('idle inside a transaction', async (t) => {
    // Transactions are a few statements long: catch them between two statements.
    let killed = 0;
    const until = Date.now() + 5_000;
    while (Date.now() < until) killed += await terminate(`state = 'idle in transaction'`);
    t.diagnostic(`${killed} sessions terminated while idle in a transaction`);
    await finishing('after sessions idle in a transaction were terminated');
    assertAlive();
  });
});

describe('faults of the server and the network', () => {
  test('idle_in_transaction_session_timeout ends the transaction a frozen worker left open', async (t) => {
    const [worker] = fleet.running() as [ChaosWorker];
    const name = sessionName(worker.id);
    await holding(`SELECT pg_advisory_xact_lock(${QUEUE_LOCK})`, async () => {
      await waitFor(`${worker.id} waits for the queue lock`, async () =>
        (await fleet.count(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'advisory'`, [name])) > 0,
      );
      // The lock is granted as the test lets go, and the grant never reaches the worker: its
      // session sits idle in the transaction until the server ends it.
      worker.proxy.freeze();
    });
    const frozenAt = Date.now();
    await waitFor(`${worker.id}'s transaction is idle`, async () =>
      (await fleet.count(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, [name])) > 0,
    );
    await waitFor(`the server ends ${worker.id}'s idle transaction`, async () =>
      (await fleet.count(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, [name])) === 0,
    LEASE_MS + 5_000);
    t.diagnostic(`the idle transaction was ended ${Date.now() - frozenAt} ms after the freeze`);
    await sleep(500);
    worker.proxy.thaw();
    await finishing('after the thaw');
    assertAlive();
  });

  test('Postgres restarted in immediate mode', async () => {
    await fleet.server.restart('immediate');
    await finishing('after the restart', 2 * RATE, 60_000);
    assertAlive();
  });

  test("one worker's connections reset", async (t) => {
    const [worker] = fleet.running() as [ChaosWorker];
    const reset = worker.proxy.reset();
    t.diagnostic(`${reset} connections of ${worker.id} reset`);
    assert.ok(reset > 0);
    await finishing('after the reset');
    assertAlive();
  });
});

describe('bounded waits on a dead network', () => {
  test('a worker whose open connections stop answering replaces them within the statement timeout, and carries on', async (t) => {
    const worker = fleet.running()[1] as ChaosWorker;
    const strandedAt = Date.now();
    const stranded = worker.proxy.strand();
    t.diagnostic(`${stranded} connections of ${worker.id} stranded`);
    assert.ok(stranded > 0);
    await waitFor(`${worker.id} closes its dead connections`, () => /answered nothing/.test(worker.child.stderr()), STATEMENT_TIMEOUT_MS + 5_000);
    const noticedAt = Date.now();
    t.diagnostic(`${worker.id} closed its dead connections ${noticedAt - strandedAt} ms after they stopped answering`);
    await waitFor(`${worker.id} runs steps again`, async () => fleet.stepsBy(worker.id, noticedAt).length > 0, 15_000);
    await finishing('after the strand');
    assertAlive();
  });

  test('a worker cut off past its lease starts no step until the network heals, then carries on', async (t) => {
    const worker = fleet.running()[2] as ChaosWorker;
    const frozenAt = Date.now();
    worker.proxy.freeze();
    // Longer than the lease, and than the statement timeout: the worker's statements are given up
    // on and its new connections hang until the network heals.
    await sleep(STATEMENT_TIMEOUT_MS + 5_000);
    const thawedAt = Date.now();
    worker.proxy.thaw();
    const late = fleet.stepsBy(worker.id, frozenAt + LEASE_MS + GATE_MARGIN_MS, thawedAt);
    assert.deepEqual(late, [], `${worker.id} began steps more than a lease after it was cut off`);
    const during = fleet.stepsBy(worker.id, frozenAt, thawedAt).length;
    t.diagnostic(`${worker.id} began ${during} steps in the first lease of the partition, none after`);
    await waitFor(`${worker.id} runs steps again`, async () => fleet.stepsBy(worker.id, thawedAt).length > 0, 20_000);
    t.diagnostic(`${worker.id} began a step ${Math.min(...fleet.stepsBy(worker.id, thawedAt).map((line) => line.at)) - thawedAt} ms after the heal`);
    await finishing('after the heal');
    assertAlive();
  });
});

describe('the end', () => {
  test('every order finished right, and no worker crashed', async (t) => {
    const orders = await fleet.stopProducer();
    await fleet.drained(2 * orders, 60_000);
    await fleet.stopAll();
    const summary = checkInvariants(await fleet.report(), orders, fleet.sampler.close(window));
    t.diagnostic(JSON.stringify(summary));
  });
});

