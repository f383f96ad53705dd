// Group commit against real Postgres. Flushes are counted at the driver (one statement per flush)
// and transactions in the database itself: statement-level triggers on the tables the writer
// touches record txid_current(), so every distinct xid in the log is one committed transaction.
import assert from 'node:assert/strict';
import { setImmediate as nextMacrotask, setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import type { Driver } from '../../src/store/driver.js';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import type { Completion, NewCheckpoint, NewWorkflow, RunnableWorkflow } from '../../src/store/records.js';
import { quoteIdent } from '../../src/store/sql/identifiers.js';
import { channelFor } from '../../src/store/wakeups.js';
import { GroupCommitWriter, type Refiller } from '../../src/store/writer.js';
import { testDatabase } from '../support/postgres.js';

const SCHEMA = 'ballast';
const s = quoteIdent(SCHEMA);
const OWNER = 'executor-1';

/** Delegates to a driver and counts the statements sent through query() (the writer's flushes). */
function countingDriver(inner: Driver): Driver & { statements: string[] } {
  const statements: string[] = [];
  return {
    kind: inner.kind,
    statements,
    query: <Row>(sql: string, params?: unknown[], prepare?: string) => {
      statements.push(prepare ?? sql);
      return inner.query<Row>(sql, params, prepare);
    },
    pipelined: <Row>(sql: string, params: unknown[], prepare: string) => {
      statements.push(prepare);
      return inner.pipelined<Row>(sql, params, prepare);
    },
    exec: (sql) => inner.exec(sql),
    session: (fn) => inner.session(fn),
    transaction: (fn) => inner.transaction(fn),
    listen: (channel, handlers) => inner.listen(channel, handlers),
    close: () => inner.close(),
  };
}

describe('group-commit writer on Postgres', () => {
  let db: { url: string; close(): Promise<void> };
  let client: pg.Client;
  let pgDriver: PgDriver;
  let driver: ReturnType<typeof countingDriver>;
  let writer: GroupCommitWriter;

  before(async () => {
    db = await testDatabase('writer');
    pgDriver = new PgDriver({ connectionString: db.url, poolSize: 4, applicationName: 'writer-test', logger: { warn: () => undefined } });
    await migrate(pgDriver, SCHEMA);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE TABLE public.xact_log (xid bigint PRIMARY KEY);
      CREATE FUNCTION public.log_xact() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.xact_log VALUES (txid_current()) ON CONFLICT DO NOTHING; RETURN NULL; END $$;
      CREATE TRIGGER log_xact AFTER INSERT ON ${s}.steps FOR EACH STATEMENT EXECUTE FUNCTION public.log_xact();
      CREATE TRIGGER log_xact AFTER INSERT OR UPDATE ON ${s}.workflows FOR EACH STATEMENT EXECUTE FUNCTION public.log_xact();`);
    driver = countingDriver(pgDriver);
    // As SystemStore configures it for Postgres.
    writer = new GroupCommitWriter(driver, {
      schema: s,
      channel: channelFor(SCHEMA),
      maxInFlight: 2,
      isClosed: () => false,
      onRetry: () => undefined,
    });
  });

  after(async () => {
    await client?.end();
    await pgDriver?.close();
    await db.close();
  });

  let seeded = 0;
  /** Inserts `count` PENDING workflows owned by OWNER at epoch 1, directly (not through the writer). */
  async function seedPending(count: number): Promise<string[]> {
    const first = seeded + 1;
    seeded += count;
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, created_at, started_at, updated_at)
       SELECT 'wf-' || i, 'test', 'PENDING', 'app', 'v1', $3, 1, 1, 0, 0, 0 FROM generate_series($1::int, $2::int) AS i
       RETURNING id`,
      [first, seeded, OWNER],
    );
    return rows.map((row) => row.id);
  }

  async function transactionsSince(mark: bigint): Promise<number> {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM public.xact_log WHERE xid > $1', [mark.toString()]);
    return rows[0]?.n ?? 0;
  }

  /** A bound below every xid assigned from now on. */
  async function xidMark(): Promise<bigint> {
    const { rows } = await client.query<{ xid: string }>('SELECT txid_current() AS xid');
    return BigInt(rows[0]?.xid ?? '0');
  }

  const checkpoint = (workflowId: string, idx: number, extra: Partial<NewCheckpoint> = {}): NewCheckpoint => ({
    workflowId,
    owner: OWNER,
    epoch: 1,
    idx,
    name: `step-${idx}`,
    output: JSON.stringify(idx),
    error: null,
    childId: null,
    startedAt: Date.now(),
    completedAt: Date.now(),
    ...extra,
  });

  beforeEach(() => {
    driver.statements.length = 0;
  });

  test('a row that Postgres rejects fails only its own write, not the rest of its batch', async () => {
    const ids = await seedPending(3);
    const now = Date.now();
    const bad: NewWorkflow = {
      id: `bad-${now}`, name: 'wf', status: 'BOGUS' as NewWorkflow['status'], appName: 'app', appVersion: 'v1', queue: null,
      partitionKey: null, dedupId: null, priority: 0, owner: OWNER, epoch: 1, input: 'null', parentId: null, timeoutMs: null,
      deadlineAt: null, availableAt: null, createdAt: now, startedAt: now,
    };
    const writes = [writer.insertWorkflow(bad), ...ids.map((id) => writer.checkpoint(checkpoint(id, 0)))];
    const [badResult, ...good] = await Promise.allSettled(writes);
    assert.equal(badResult?.status, 'rejected');
    assert.match(String((badResult as PromiseRejectedResult).reason), /check constraint/);
    assert.deepEqual(good.map((r) => (r.status === 'fulfilled' ? r.value : r.reason)), [true, true, true]);
  });

  test('a checkpoint whose position is already written is refused, and the rest of its batch is applied', async () => {
    const ids = (await seedPending(3)) as [string, string, string];
    assert.equal(await writer.checkpoint(checkpoint(ids[1], 0)), true);
    driver.statements.length = 0;
    const results = await Promise.all(ids.map((id) => writer.checkpoint(checkpoint(id, 0, { output: '"second"' }))));
    assert.deepEqual(results, [true, false, true]);
    // The batch failed on the taken position, then each write went alone.
    assert.deepEqual(driver.statements, ['ballast_flush_c', 'ballast_flush_c', 'ballast_flush_c', 'ballast_flush_c']);
    const { rows } = await client.query(`SELECT workflow_id, output FROM ${s}.steps WHERE workflow_id = ANY($1) ORDER BY workflow_id`, [ids]);
    assert.deepEqual(rows, [
      { workflow_id: ids[0], output: '"second"' },
      { workflow_id: ids[1], output: '0' },
      { workflow_id: ids[2], output: '"second"' },
    ]);
  });

  test('a lone sequence of writes flushes each one at once, one transaction each', async () => {
    const mark = await xidMark();
    const id = `lone-${Date.now()}`;
    const start: NewWorkflow = {
      id, name: 'lone', status: 'PENDING', appName: 'app', appVersion: 'v1', queue: null, partitionKey: null, dedupId: null,
      priority: 0, owner: OWNER, epoch: 1, input: '{}', parentId: null, timeoutMs: null, deadlineAt: null, availableAt: null,
      createdAt: Date.now(), startedAt: Date.now(),
    };
    const writes: Array<() => Promise<boolean>> = [
      () => writer.insertWorkflow(start),
      ...Array.from({ length: 20 }, (_, idx) => () => writer.checkpoint(checkpoint(id, idx))),
      () => writer.complete({ workflowId: id, owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '"done"', error: null, completedAt: Date.now() }),
    ];
    for (const [n, write] of writes.entries()) {
      const pending = write();
      // An idle writer sends the write before any timer could fire: no waiting to fill a batch.
      await nextMacrotask();
      assert.equal(driver.statements.length, n + 1, `write ${n} was sent immediately`);
      assert.equal(await pending, true);
    }
    assert.equal(await transactionsSince(mark), writes.length, 'one transaction per write');
    const { rows } = await client.query(`SELECT status, output FROM ${s}.workflows WHERE id = $1`, [id]);
    assert.deepEqual(rows, [{ status: 'SUCCESS', output: '"done"' }]);
    const steps = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.steps WHERE workflow_id = $1`, [id]);
    assert.equal(steps.rows[0]?.n, 20);
  });

  test("a completion joins its workflow's checkpoint that still waits for a flush: one statement", async () => {
    const [id] = (await seedPending(1)) as [string];
    const mark = await xidMark();
    const [checkpointed, completed] = await Promise.all([
      writer.checkpoint(checkpoint(id, 0)),
      writer.complete({ workflowId: id, owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '0', error: null, completedAt: Date.now() }),
    ]);
    assert.deepEqual([checkpointed, completed], [true, true]);
    assert.equal(driver.statements.length, 1);
    assert.equal(await transactionsSince(mark), 1);
    assert.equal(writer.hasQueuedCheckpoint(id), false);
    const { rows } = await client.query(
      `SELECT (SELECT status FROM ${s}.workflows WHERE id = $1) AS status, (SELECT count(*)::int FROM ${s}.steps WHERE workflow_id = $1) AS steps`,
      [id],
    );
    assert.deepEqual(rows[0], { status: 'SUCCESS', steps: 1 });
  });

  test("a workflow's first checkpoint joins its row's insert that still waits for a flush; a completion then waits", async () => {
    const id = `joined-${Date.now()}`;
    const start: NewWorkflow = {
      id, name: 'joined', status: 'PENDING', appName: 'app', appVersion: 'v1', queue: null, partitionKey: null, dedupId: null,
      priority: 0, owner: OWNER, epoch: 1, input: '{}', parentId: null, timeoutMs: null, deadlineAt: null, availableAt: null,
      createdAt: Date.now(), startedAt: Date.now(),
    };
    const mark = await xidMark();
    const inserted = writer.insertWorkflow(start);
    assert.equal(writer.hasQueuedStart(id), true);
    const checkpointed = writer.checkpoint(checkpoint(id, 0));
    assert.equal(writer.hasQueuedStart(id), false);
    // The completion must find the row committed: it may not join a checkpoint that carries the insert.
    assert.equal(writer.hasQueuedCheckpoint(id), false);
    assert.deepEqual(await Promise.all([inserted, checkpointed]), [true, true]);
    assert.deepEqual(driver.statements, ['ballast_flush_scj']);
    assert.equal(await transactionsSince(mark), 1);

    // Written again (a retry after a lost reply): both are refused, the rows stay as they were.
    const again = writer.insertWorkflow(start);
    assert.deepEqual(await Promise.all([again, writer.checkpoint(checkpoint(id, 0, { output: '"other"' }))]), [false, false]);
    const { rows } = await client.query(`SELECT output FROM ${s}.steps WHERE workflow_id = $1`, [id]);
    assert.deepEqual(rows, [{ output: '0' }]);
  });

  test('500 concurrent checkpoints of 500 workflows share a handful of transactions', async (t) => {
    const ids = await seedPending(500);
    const mark = await xidMark();
    const results = await Promise.all(ids.map((id) => writer.checkpoint(checkpoint(id, 0))));
    assert.ok(results.every(Boolean), 'every checkpoint applied');
    const transactions = await transactionsSince(mark);
    t.diagnostic(`500 checkpoints in ${transactions} transaction(s)`);
    assert.ok(transactions >= 1 && transactions <= 5, `500 checkpoints in ${transactions} transactions`);
    assert.equal(driver.statements.length, transactions, 'one statement per flush');
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.steps WHERE workflow_id = ANY($1)`, [ids]);
    assert.equal(rows[0]?.n, 500);
  });

  test('500 workflows running 4 steps each, with uneven step times, commit in far fewer transactions than steps', async (t) => {
    const ids = await seedPending(500);
    const mark = await xidMark();
    const STEPS = 4;
    const outcomes = await Promise.all(
      ids.map(async (id) => {
        const applied: boolean[] = [];
        for (let idx = 0; idx < STEPS; idx++) {
          await sleep(Math.floor(Math.random() * 4)); // the step's own work
          applied.push(await writer.checkpoint(checkpoint(id, idx)));
        }
        return writer.complete({ workflowId: id, owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '1', error: null, completedAt: Date.now() })
          .then((done) => [...applied, done]);
      }),
    );
    assert.ok(outcomes.flat().every(Boolean), 'every write applied');
    const writes = ids.length * (STEPS + 1);
    const transactions = await transactionsSince(mark);
    assert.equal(driver.statements.length, transactions, 'one statement per flush');
    t.diagnostic(`${writes} writes in ${transactions} transactions`);
    assert.ok(transactions <= writes / 10, `${writes} writes in ${transactions} transactions`);
    const { rows } = await client.query<{ steps: number; done: number }>(
      `SELECT (SELECT count(*)::int FROM ${s}.steps WHERE workflow_id = ANY($1)) AS steps,
              (SELECT count(*)::int FROM ${s}.workflows WHERE id = ANY($1) AND status = 'SUCCESS') AS done`,
      [ids],
    );
    assert.deepEqual(rows[0], { steps: ids.length * STEPS, done: ids.length });
  });

  describe('fencing', () => {
    test('a stale checkpoint is refused with its message and event, while the rest of its batch is applied', async () => {
      const [stale, current, finished, foreign] = await seedPending(4) as [string, string, string, string];
      // `stale` was taken over (epoch moved on), `finished` completed, `foreign` belongs to another executor.
      await client.query(`UPDATE ${s}.workflows SET epoch = 2 WHERE id = $1`, [stale]);
      await client.query(`UPDATE ${s}.workflows SET status = 'SUCCESS' WHERE id = $1`, [finished]);
      await client.query(`UPDATE ${s}.workflows SET owner = 'executor-2' WHERE id = $1`, [foreign]);
      const mark = await xidMark();

      const sideEffects = (from: string) => ({
        message: { destinationId: current, topic: `from-${from}`, payload: JSON.stringify(from) },
        event: { key: `stage-${from}`, value: JSON.stringify(from) },
      });
      const completion = (workflowId: string, epoch: number): Completion => ({
        workflowId, owner: OWNER, epoch, queue: null, status: 'SUCCESS', output: '"x"', error: null, completedAt: Date.now(),
      });
      // Submitted in one tick: one batch, one statement.
      const results = await Promise.all([
        writer.checkpoint(checkpoint(stale, 0, sideEffects(stale))),
        writer.checkpoint(checkpoint(current, 0, sideEffects(current))),
        writer.checkpoint(checkpoint(finished, 0, sideEffects(finished))),
        writer.checkpoint(checkpoint(foreign, 0, sideEffects(foreign))),
        writer.complete(completion(stale, 1)),
        writer.complete(completion(current, 1)),
      ]);
      assert.equal(driver.statements.length, 1, 'one batch');
      assert.equal(await transactionsSince(mark), 1);
      assert.deepEqual(results, [false, true, false, false, false, true]);

      const ids = [stale, current, finished, foreign];
      const steps = await client.query(`SELECT workflow_id FROM ${s}.steps WHERE workflow_id = ANY($1)`, [ids]);
      assert.deepEqual(steps.rows, [{ workflow_id: current }]);
      const messages = await client.query(`SELECT topic, payload FROM ${s}.messages WHERE destination_id = $1`, [current]);
      assert.deepEqual(messages.rows, [{ topic: `from-${current}`, payload: JSON.stringify(current) }]);
      const events = await client.query(`SELECT workflow_id, key FROM ${s}.events WHERE workflow_id = ANY($1)`, [ids]);
      assert.deepEqual(events.rows, [{ workflow_id: current, key: `stage-${current}` }]);
      const statuses = await client.query(`SELECT id, status, epoch FROM ${s}.workflows WHERE id = ANY($1) ORDER BY id`, [[stale, current]]);
      assert.deepEqual(
        statuses.rows,
        [{ id: stale, status: 'PENDING', epoch: 2 }, { id: current, status: 'SUCCESS', epoch: 1 }].sort((a, b) => a.id.localeCompare(b.id)),
      );
    });

    test('a checkpoint racing a takeover is not held up by it, and its position is written once', async () => {
      const [id] = (await seedPending(1)) as [string];
      const takeover = new pg.Client({ connectionString: db.url });
      await takeover.connect();
      try {
        await takeover.query('BEGIN');
        await takeover.query(`UPDATE ${s}.workflows SET epoch = epoch + 1, owner = 'executor-2' WHERE id = $1`, [id]);
        // The old owner's checkpoint takes no row lock: it does not wait for the takeover.
        assert.equal(await writer.checkpoint(checkpoint(id, 0, { output: '"old"' })), true);
        await takeover.query('COMMIT');
      } finally {
        await takeover.end();
      }
      // The new owner's write of the same position is refused; it will replay what was recorded.
      assert.equal(await writer.checkpoint(checkpoint(id, 0, { owner: 'executor-2', epoch: 2, output: '"new"' })), false);
      // And the old owner's next write is refused by the new epoch.
      assert.equal(await writer.checkpoint(checkpoint(id, 1)), false);
      const { rows } = await client.query(`SELECT idx, output FROM ${s}.steps WHERE workflow_id = $1`, [id]);
      assert.deepEqual(rows, [{ idx: 0, output: '"old"' }]);
    });

    test('a completion that shares its statement with a refused checkpoint is not applied either', async () => {
      const [id] = (await seedPending(1)) as [string];
      // Another run recorded position 0 first.
      await client.query(`INSERT INTO ${s}.steps (workflow_id, idx, name, output, completed_at) VALUES ($1, 0, 'step-0', '"theirs"', 0)`, [id]);
      const results = await Promise.all([
        writer.checkpoint(checkpoint(id, 0, { output: '"mine"' })),
        writer.complete({ workflowId: id, owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '"mine"', error: null, completedAt: Date.now() }),
      ]);
      assert.equal(driver.statements.length, 1, 'one statement');
      assert.deepEqual(results, [false, false]);
      const { rows } = await client.query(`SELECT status FROM ${s}.workflows WHERE id = $1`, [id]);
      assert.deepEqual(rows, [{ status: 'PENDING' }]);
    });

    test('when a bad row splits a batch, a completion is still written with its checkpoint', async () => {
      const [id] = (await seedPending(1)) as [string];
      await client.query(`INSERT INTO ${s}.steps (workflow_id, idx, name, output, completed_at) VALUES ($1, 0, 'step-0', '"theirs"', 0)`, [id]);
      const now = Date.now();
      const bad: NewWorkflow = {
        id: `bad-pair-${now}`, name: 'wf', status: 'BOGUS' as NewWorkflow['status'], appName: 'app', appVersion: 'v1', queue: null,
        partitionKey: null, dedupId: null, priority: 0, owner: OWNER, epoch: 1, input: 'null', parentId: null, timeoutMs: null,
        deadlineAt: null, availableAt: null, createdAt: now, startedAt: now,
      };
      const [badResult, checkpointed, completed] = await Promise.allSettled([
        writer.insertWorkflow(bad),
        writer.checkpoint(checkpoint(id, 0, { output: '"mine"' })),
        writer.complete({ workflowId: id, owner: OWNER, epoch: 1, queue: null, status: 'SUCCESS', output: '"mine"', error: null, completedAt: now }),
      ]);
      assert.equal(badResult?.status, 'rejected');
      assert.deepEqual([checkpointed, completed], [{ status: 'fulfilled', value: false }, { status: 'fulfilled', value: false }]);
      const { rows } = await client.query(`SELECT status FROM ${s}.workflows WHERE id = $1`, [id]);
      assert.deepEqual(rows, [{ status: 'PENDING' }]);
    });
  });

  describe('refilling queue slots', () => {
    const QUEUE = 'refill';
    let seededQueued = 0;

    /** One PENDING workflow of QUEUE (to complete) and ENQUEUED ones as [label, priority, version]. */
    async function seedQueue(waiting: Array<[string, number, string]>): Promise<{ running: string; ids: Map<string, string> }> {
      const tag = `q${++seededQueued}`;
      const running = `${tag}-running`;
      await client.query(
        `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, owner, epoch, attempts, created_at, started_at, updated_at)
         VALUES ($1, 'test', 'PENDING', 'app', 'v1', $2, $3, 1, 1, 0, 0, 0)`,
        [running, QUEUE, OWNER],
      );
      const ids = new Map<string, string>();
      for (const [label, priority, version] of waiting) {
        ids.set(label, `${tag}-${label}`);
        await client.query(
          `INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, priority, created_at, updated_at)
           VALUES ($1, 'test', 'ENQUEUED', 'app', $2, $3, $4, 0, 0)`,
          [`${tag}-${label}`, version, QUEUE, priority],
        );
      }
      return { running, ids };
    }

    const completion = (workflowId: string): Completion => ({
      workflowId, owner: OWNER, epoch: 1, queue: QUEUE, status: 'SUCCESS', output: '1', error: null, completedAt: Date.now(),
    });

    /** A refiller that allows `allow` claims per flush and records what the writer tells it. */
    function recordingRefiller(allow: number, wakes: boolean) {
      const log: string[] = [];
      const released: Array<{ completing: number; reserved: number; claimed: RunnableWorkflow[] }> = [];
      const refiller: Refiller = {
        owner: OWNER,
        appVersion: () => 'v1',
        reserve: (queue, completing) => {
          log.push(`reserve ${queue} ${completing}`);
          return Math.min(allow, completing);
        },
        release: (queue, completing, reserved, claimed) => {
          log.push(`release ${queue}`);
          released.push({ completing, reserved, claimed });
        },
        uncertain: (queue) => log.push(`uncertain ${queue}`),
        completionWakes: () => wakes,
      };
      return { refiller, log, released };
    }

    /** The wake-up keys NOTIFYed while `fn` runs. */
    async function wakeKeysDuring(fn: () => Promise<void>): Promise<string[]> {
      const listener = new pg.Client({ connectionString: db.url });
      await listener.connect();
      const keys: string[] = [];
      listener.on('notification', (message) => keys.push(...(message.payload ?? '').split('\n')));
      try {
        await listener.query(`LISTEN ${channelFor(SCHEMA)}`);
        await fn();
        await sleep(100);
      } finally {
        await listener.end();
      }
      return keys.map((key) => key.split('\u001f')[0] as string);
    }

    after(() => writer.setRefiller(undefined));

    test('a completion claims its successor in the same transaction, and hands it over before resolving', async () => {
      const { running, ids } = await seedQueue([['later', 1, 'v1'], ['other-version', 0, 'v2'], ['first', 0, 'v1'], ['second', 0, 'v1']]);
      const { refiller, log, released } = recordingRefiller(1, false);
      writer.setRefiller(refiller);
      const mark = await xidMark();
      const keys = await wakeKeysDuring(async () => {
        const applied = await writer.complete(completion(running)).finally(() => log.push('resolved'));
        assert.equal(applied, true);
      });
      assert.deepEqual(log, [`reserve ${QUEUE} 1`, `release ${QUEUE}`, 'resolved']);
      assert.equal(await transactionsSince(mark), 1, 'completion and claim commit together');
      assert.deepEqual(released.map((r) => [r.completing, r.reserved, r.claimed.map((w) => w.id)]), [[1, 1, [ids.get('first')]]]);
      const claimed = released[0]?.claimed[0];
      assert.equal(claimed?.epoch, 1);
      assert.equal(claimed?.attempts, 1);
      assert.equal(claimed?.queue, QUEUE);
      const started = await client.query<{ started_at: number | null }>(`SELECT started_at FROM ${s}.workflows WHERE id = $1`, [claimed?.id]);
      assert.notEqual(started.rows[0]?.started_at, null);
      const { rows } = await client.query<{ id: string; status: string; owner: string | null }>(
        `SELECT id, status, owner FROM ${s}.workflows WHERE id = ANY($1) ORDER BY id`,
        [[running, ...ids.values()]],
      );
      assert.deepEqual(
        Object.fromEntries(rows.map((row) => [row.id, `${row.status}/${row.owner}`])),
        {
          [running]: `SUCCESS/${OWNER}`,
          [ids.get('first') as string]: `PENDING/${OWNER}`,
          [ids.get('second') as string]: 'ENQUEUED/null',
          [ids.get('later') as string]: 'ENQUEUED/null',
          [ids.get('other-version') as string]: 'ENQUEUED/null',
        },
      );
      assert.deepEqual(keys, ['done'], 'a queue with only per-executor limits wakes no other executor');
    });

    test('nothing is claimed when the refiller reserves no slot, and fleet-wide queues still wake the fleet', async () => {
      const { running, ids } = await seedQueue([['waiting', 0, 'v1']]);
      const { refiller, released } = recordingRefiller(0, true);
      writer.setRefiller(refiller);
      const keys = await wakeKeysDuring(async () => {
        assert.equal(await writer.complete(completion(running)), true);
      });
      assert.deepEqual(released.map((r) => [r.completing, r.reserved, r.claimed.length]), [[1, 0, 0]]);
      const { rows } = await client.query(`SELECT status FROM ${s}.workflows WHERE id = $1`, [ids.get('waiting')]);
      assert.deepEqual(rows, [{ status: 'ENQUEUED' }]);
      assert.deepEqual(keys.sort(), ['done', 'queue']);
    });
  });
});
