// The hot-path statements use their indexes on a realistically sized table. Each statement is
// captured from the module that runs it (no copies of the SQL here) and EXPLAINed twice:
//  - custom plan: parameters bound, as an unnamed statement (what the first executions get);
//  - generic plan: PREPAREd and EXECUTEd under plan_cache_mode = force_generic_plan (what a named
//    prepared statement may switch to after five executions).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Queryable } from '../../src/store/driver.js';
import type { Completion, NewCheckpoint } from '../../src/store/records.js';
import * as events from '../../src/store/sql/events.js';
import { flushStatement, type FlushBatch } from '../../src/store/sql/flush.js';
import { quoteIdent } from '../../src/store/sql/identifiers.js';
import * as messages from '../../src/store/sql/messages.js';
import * as queues from '../../src/store/sql/queues.js';
import * as streams from '../../src/store/sql/streams.js';
import * as takeover from '../../src/store/sql/takeover.js';
import { versionsStatement } from '../../src/store/sql/versions.js';
import * as workflows from '../../src/store/sql/workflows.js';
import { channelFor } from '../../src/store/wakeups.js';
import { analyzeWholeTables, literal as literalOf, migratedDatabase, type MigratedDatabase } from '../support/plans.js';

const SCHEMA = 'ballast';
const s = quoteIdent(SCHEMA);
const WORKFLOWS = 50_000;
const STEPS_PER_WORKFLOW = 3;
const PENDING_EVERY = 1_000; // 50 PENDING workflows, spread over 10 owners

interface Captured {
  sql: string;
  params: unknown[];
}

/** A Queryable that records the statement instead of running it. */
async function capture(run: (db: Queryable) => Promise<unknown>): Promise<Captured> {
  let captured: Captured | undefined;
  const recorder: Queryable = {
    async query<Row>(sql: string, params: unknown[] = []) {
      captured ??= { sql, params };
      return { rows: [] as Row[], rowCount: 0 };
    },
    async exec() {
      throw new Error('not expected');
    },
  };
  await run(recorder).catch(() => undefined);
  assert.ok(captured, 'the function ran a statement');
  return captured;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);
const BIG_TABLES = new Set(['streams', 'workflows', 'steps', 'messages', 'events']);

describe('hot-path statements use their indexes', () => {
  let db: MigratedDatabase;
  let client: pg.Client;

  type PlanKind = 'custom' | 'generic';

  async function explain(statement: Captured, kind: PlanKind): Promise<PlanNode[]> {
    type ExplainRow = { 'QUERY PLAN': Array<{ Plan: PlanNode }> };
    let rows: ExplainRow[];
    if (kind === 'custom') {
      ({ rows } = await client.query<ExplainRow>(`EXPLAIN (FORMAT JSON) ${statement.sql}`, statement.params));
    } else {
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE explained AS ${statement.sql}`);
      try {
        ({ rows } = await client.query<ExplainRow>(`EXPLAIN (FORMAT JSON) EXECUTE explained(${statement.params.map(literal).join(', ')})`));
      } finally {
        await client.query('DEALLOCATE explained');
        await client.query('RESET plan_cache_mode');
      }
    }
    const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
    assert.ok(plan);
    return nodesOf(plan);
  }

  /**
   * Asserts that, in both the custom and the generic plan, each entry of `indexes` is scanned (an
   * entry may list alternatives, any one of which will do) and no big table is read sequentially.
   */
  async function assertIndexes(statement: Captured, indexes: Array<string | string[]>, kinds: PlanKind[] = ['custom', 'generic']): Promise<void> {
    for (const kind of kinds) {
      const nodes = await explain(statement, kind);
      const summary = `${kind} plan:\n  ${nodes.map(describeNode).join('\n  ')}`;
      if (process.env.BALLAST_EXPLAIN_PRINT === '1') console.log(`${statement.sql.split('\n')[0]?.slice(0, 100)}\n${summary}\n`);
      for (const expected of indexes) {
        const names = Array.isArray(expected) ? expected : [expected];
        assert.ok(
          nodes.some((node) => INDEX_SCANS.has(node['Node Type']) && names.includes(node['Index Name'] ?? '')),
          `expected a scan of ${names.join(' or ')}; ${summary}`,
        );
      }
      const seqScans = nodes.filter((node) => node['Node Type'] === 'Seq Scan' && BIG_TABLES.has(node['Relation Name'] ?? ''));
      assert.deepEqual(seqScans.map((node) => node['Relation Name']), [], `no sequential scans; ${summary}`);
    }
  }

  const literal = (value: unknown) => literalOf(client, value);

  const analyze = (tables: string) => analyzeWholeTables(client, tables);

  before(async () => {
    db = await migratedDatabase('explain', SCHEMA);
    client = db.client;
    await client.query(`
      INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, owner, epoch, attempts, input, output,
                                  created_at, started_at, completed_at, updated_at)
      SELECT 'wf-' || i, 'checkout', CASE WHEN i % ${PENDING_EVERY} = 0 THEN 'PENDING' ELSE 'SUCCESS' END, 'app', 'v1',
             'executor-' || (i % 10), 1, 1, '{"n":1}', CASE WHEN i % ${PENDING_EVERY} = 0 THEN NULL ELSE '"ok"' END,
             i, i, CASE WHEN i % ${PENDING_EVERY} = 0 THEN NULL ELSE i + 5 END, i
      FROM generate_series(1, ${WORKFLOWS}) AS i`);
    await client.query(`
      INSERT INTO ${s}.steps (workflow_id, idx, name, output, started_at, completed_at)
      SELECT 'wf-' || i, j, 'step-' || j, '{"v":' || j || '}', i, i + 1
      FROM generate_series(1, ${WORKFLOWS}) AS i, generate_series(0, ${STEPS_PER_WORKFLOW - 1}) AS j`);
    await client.query(`
      INSERT INTO ${s}.messages (destination_id, topic, payload, created_at, consumed_at)
      SELECT 'wf-' || (i % 5000), 'topic-' || (i % 3), '"m"', i, CASE WHEN i % 4 = 0 THEN NULL ELSE i + 1 END
      FROM generate_series(1, 20000) AS i`);
    await client.query(`
      INSERT INTO ${s}.events (workflow_id, key, value, updated_at)
      SELECT 'wf-' || i, 'stage', '"done"', i FROM generate_series(1, 20000) AS i`);
    // A backlog on one queue: 2,000 waiting, next to the finished history.
    await client.query(`
      INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at)
      SELECT 'queued-' || i, 'checkout', 'ENQUEUED', 'app', 'v1', 'orders', 2147483647, '{"n":1}', i, i
      FROM generate_series(1, 2000) AS i`);
    // A year of rollouts: thousands of executors whose work was handed over, a few alive, two dead.
    await client.query(`
      INSERT INTO ${s}.executors (id, app_name, app_version, started_at, heartbeat_at, lease_expires_at, lease_started_at, recovered_at)
      SELECT 'pod-' || i, 'app', 'v' || (i % 40), i, i, i + 10000, i,
             CASE WHEN i <= 5000 THEN i + 20000 END
      FROM generate_series(1, 5005) AS i`);
    // Streams of every hundredth workflow, 200 values each.
    await client.query(`
      INSERT INTO ${s}.streams (workflow_id, key, position, value, written_at)
      SELECT 'wf-' || (i * 100), 'tokens', j, '"t"', i FROM generate_series(1, 500) AS i, generate_series(0, 199) AS j`);
    await analyze(`${s}.workflows, ${s}.steps, ${s}.messages, ${s}.events, ${s}.executors, ${s}.streams`);
  });

  after(async () => {
    await db?.close();
  });

  const pending = (n: number) => `wf-${n * PENDING_EVERY}`;
  const checkpoint = (i: number, extra: Partial<NewCheckpoint> = {}): NewCheckpoint => ({
    workflowId: pending(i + 1),
    owner: `executor-${((i + 1) * PENDING_EVERY) % 10}`,
    epoch: 1,
    idx: STEPS_PER_WORKFLOW,
    name: 'next',
    output: '1',
    error: null,
    childId: null,
    startedAt: 1,
    completedAt: 2,
    ...extra,
  });
  const completion = (i: number): Completion => ({
    workflowId: pending(i + 1),
    owner: 'executor-0',
    epoch: 1,
    queue: null,
    status: 'SUCCESS',
    output: '"done"',
    error: null,
    completedAt: 3,
  });
  const item = <T>(value: T) => ({ item: value, waiter: { resolve: () => undefined, reject: () => undefined } });
  const flush = (batch: Partial<FlushBatch>): Captured => {
    const statement = flushStatement(s, channelFor(SCHEMA), { starts: [], checkpoints: [], completions: [], streams: [], ...batch }, []);
    return { sql: statement.text, params: statement.params };
  };

  // A batch joins the workflow rows either by primary key (one probe per row: small batches, and
  // every generic plan) or, when the planner expects the batch to cover a good share of all PENDING
  // rows, by reading every PENDING row through a partial or status index and hash-joining.
  const PENDING_ROWS = ['workflows_pkey', 'workflows_pending'];

  test('flush: a lone checkpoint joins its workflow row by primary key', async () => {
    await assertIndexes(flush({ checkpoints: [item(checkpoint(0))] }), ['workflows_pkey']);
  });

  test('flush: a lone completion updates its workflow row by primary key', async () => {
    await assertIndexes(flush({ completions: [item(completion(0))] }), ['workflows_pkey']);
  });

  for (const size of [10, 50]) {
    test(`flush: a batch of ${size} checkpoints and ${size} completions reads workflows through an index`, async () => {
      const checkpoints = Array.from({ length: size }, (_, i) => item(checkpoint(i)));
      const completions = Array.from({ length: size }, (_, i) => item(completion(i)));
      await assertIndexes(flush({ checkpoints }), [PENDING_ROWS], ['custom']);
      await assertIndexes(flush({ completions }), [PENDING_ROWS], ['custom']);
      await assertIndexes(flush({ checkpoints }), ['workflows_pkey'], ['generic']);
      await assertIndexes(flush({ completions }), ['workflows_pkey'], ['generic']);
    });
  }

  test("flush: first checkpoints joined to their workflows' inserts skip the lookup; the others join by primary key", async () => {
    const starts = Array.from({ length: 32 }, (_, i) =>
      item({
        id: `new-${i}`, name: 'wf', status: 'PENDING' as const, appName: 'app', appVersion: 'v1', queue: null, partitionKey: null,
        dedupId: null, priority: 0, owner: 'executor-0', epoch: 1, input: 'null', parentId: null, timeoutMs: null, deadlineAt: null,
        availableAt: null, createdAt: 1, startedAt: 1,
      }),
    );
    const joined = starts.map(({ item: start }) => item({ ...checkpoint(0), workflowId: start.id, idx: 0, withStart: true as const }));
    const others = Array.from({ length: 32 }, (_, i) => item(checkpoint(i)));
    await assertIndexes(flush({ starts, checkpoints: [...joined, ...others] }), ['workflows_pkey'], ['generic']);
  });

  test('flush: checkpoints with messages and events, plus completions, in one statement', async () => {
    const checkpoints = Array.from({ length: 20 }, (_, i) =>
      item(checkpoint(i, { message: { destinationId: 'wf-1', topic: 't', payload: '1' }, event: { key: 'stage', value: '"x"' } })),
    );
    const completions = Array.from({ length: 20 }, (_, i) => item(completion(i + 20)));
    await assertIndexes(flush({ checkpoints, completions }), [PENDING_ROWS]);
  });

  for (const size of [1, 50]) {
    test(`flush: ${size} completion(s) claiming successors take the queue's head through workflows_queue_ready`, async () => {
      const completions = Array.from({ length: size }, (_, i) => item({ ...completion(i), queue: 'orders' }));
      const claims = { owner: 'executor-0', appVersion: 'v1', slots: [{ queue: 'orders', max: size }] };
      await assertIndexes(flush({ completions, claims }), ['workflows_queue_ready', [...PENDING_ROWS]]);
    });
  }

  test("ownPendingIn (an executor's running workflows of a queue) uses an index of running rows", async () => {
    await assertIndexes(await capture((q) => queues.ownPendingIn(q, s, 'orders', 'executor-0')), ['workflows_pending']);
  });

  test('getWorkflow by ID uses workflows_pkey', async () => {
    for (const withPayloads of [false, true]) {
      await assertIndexes(await capture((q) => workflows.getWorkflow(q, s, 'wf-123', withPayloads)), ['workflows_pkey']);
    }
  });

  test('flush: stream appends are fenced on their workflow rows by primary key', async () => {
    const appends = Array.from({ length: 20 }, (_, i) =>
      item({ workflowId: pending(i + 1), owner: 'executor-0', epoch: 1, rows: Array.from({ length: 50 }, (_, n) => ({ key: 'tokens', position: n, value: '1', writtenAt: 1 })) }),
    );
    await assertIndexes(flush({ streams: appends }), ['workflows_pkey'], ['generic']);
    await assertIndexes(flush({ streams: appends.slice(0, 1) }), ['workflows_pkey']);
  });

  test("readStreamPage reads the workflow and the stream's rows from a position by primary key", async () => {
    await assertIndexes(await capture((q) => streams.readStreamPage(q, s, 'wf-200', 'tokens', 150, 1_000)), ['workflows_pkey', 'streams_pkey']);
  });

  test('loadSteps uses steps_pkey', async () => {
    await assertIndexes(await capture((q) => workflows.loadSteps(q, s, 'wf-123')), ['steps_pkey']);
  });

  test("reclaimOwnPending (owner = $1 AND status = 'PENDING') uses workflows_pending", async () => {
    await assertIndexes(await capture((q) => workflows.reclaimOwnPending(q, s, 'executor-0', 'v1', 1)), ['workflows_pending']);
  });

  test('consumeMessage finds the oldest unconsumed message through messages_unconsumed', async () => {
    const statement = await capture((q) =>
      messages.consumeMessage(q, s, { workflowId: 'wf-1000', owner: 'executor-0', epoch: 1 }, { idx: 3, name: 'recv', topic: 'topic-1', startedAt: 1, now: 2 }),
    );
    await assertIndexes(statement, ['messages_unconsumed', 'workflows_pkey', 'steps_pkey']);
  });

  test('readEvent uses events_pkey', async () => {
    await assertIndexes(await capture((q) => events.readEvent(q, s, 'wf-77', 'stage')), ['events_pkey']);
  });

  test('finishedAmong uses workflows_pkey', async () => {
    for (const count of [1, 100]) {
      const ids = Array.from({ length: count }, (_, i) => `wf-${i * 13 + 1}`);
      await assertIndexes(await capture((q) => workflows.finishedAmong(q, s, ids)), ['workflows_pkey']);
    }
  });

  test('fail-over: the check for expired leases reads only the unrecovered executors', async () => {
    const statement = await capture((q) => takeover.expiredExecutors(q, s, 'app', { executorId: 'pod-5005', unbrokenForMs: 10_000 }, 20));
    for (const kind of ['custom', 'generic'] as const) {
      const nodes = await explain(statement, kind);
      assert.ok(nodes.some((node) => node['Index Name'] === 'executors_unrecovered'), nodes.map(describeNode).join('\n'));
      assert.ok(!nodes.some((node) => node['Node Type'] === 'Seq Scan'), nodes.map(describeNode).join('\n'));
    }
  });

  test("fail-over: a dead executor's running workflows, orphans and their adoption are read through workflows_pending", async () => {
    await assertIndexes(await capture((q) => takeover.pendingOwnedBy(q, s, 'executor-3', 500)), ['workflows_pending']);
    await assertIndexes(await capture((q) => takeover.orphanShare(q, s, 'app', 'v1')), ['workflows_pending']);
    const adoption = { owner: 'executor-0', appName: 'app', appVersion: 'v1', names: ['checkout'], limit: 10 };
    await assertIndexes(await capture((q) => takeover.adoptOrphans(q, s, adoption)), ['workflows_pending']);
    const leases = [1, 2, 3].map((n) => ({ workflowId: pending(n), owner: 'executor-0', epoch: 1 }));
    await assertIndexes(await capture((q) => takeover.heldAmong(q, s, leases)), ['workflows_pkey'], ['generic']);
    await assertIndexes(await capture((q) => takeover.heldAmong(q, s, leases)), [PENDING_ROWS], ['custom']);
  });

  test('versions: each backlog state is counted through its own partial index', async () => {
    await assertIndexes({ sql: versionsStatement(s), params: ['app'] }, ['workflows_queue_ready', 'workflows_pending']);
  });

  test("flush: a child's insert looks its parent up by primary key", async () => {
    const starts = Array.from({ length: 8 }, (_, i) =>
      item({
        id: `child-${i}`, name: 'wf', status: 'PENDING' as const, appName: 'app', appVersion: 'v1', queue: null, partitionKey: null,
        dedupId: null, priority: 0, owner: 'executor-0', epoch: 1, input: 'null', parentId: pending(i + 1), timeoutMs: null, deadlineAt: null,
        availableAt: null, createdAt: 1, startedAt: 1, parentOwner: 'executor-0', parentEpoch: 1,
      }),
    );
    await assertIndexes(flush({ starts }), ['workflows_pkey']);
  });

  test('the checker itself catches a sequential scan and a missing index', async () => {
    await assert.rejects(
      assertIndexes({ sql: `SELECT id FROM ${s}.workflows WHERE name = $1`, params: ['checkout'] }, []),
      /no sequential scans/,
    );
    await assert.rejects(assertIndexes(await capture((q) => events.readEvent(q, s, 'wf-77', 'stage')), ['steps_pkey']), /expected a scan of steps_pkey/);
  });

  test('fencing probes can only be primary-key probes: without the primary key, no other index serves them', async () => {
    // What the planner picks depends on statistics; what it may pick does not. With the primary key
    // dropped (in a transaction, rolled back), a probe that could use the owner-keyed index of
    // running rows would; these must fall back to no index at all.
    const leases = [1, 2, 3].map((n) => ({ workflowId: pending(n), owner: 'executor-0', epoch: 1 }));
    const starts = [item({
      id: 'child-0', name: 'wf', status: 'PENDING' as const, appName: 'app', appVersion: 'v1', queue: null, partitionKey: null,
      dedupId: null, priority: 0, owner: 'executor-0', epoch: 1, input: 'null', parentId: pending(1), timeoutMs: null,
      deadlineAt: null, availableAt: null, createdAt: 1, startedAt: 1, parentOwner: 'executor-0', parentEpoch: 1,
    })];
    const statements = [
      flush({ checkpoints: [item(checkpoint(0))] }),
      flush({ completions: [item(completion(0))] }),
      flush({ starts }),
      await capture((q) => takeover.heldAmong(q, s, leases)),
    ];
    await client.query('BEGIN');
    try {
      await client.query(`ALTER TABLE ${s}.workflows DROP CONSTRAINT workflows_pkey`);
      for (const statement of statements) {
        const nodes = await explain(statement, 'generic');
        const onWorkflows = nodes.filter((node) => INDEX_SCANS.has(node['Node Type']) && node['Index Name']?.startsWith('workflows'));
        assert.deepEqual(onWorkflows.map(describeNode), [], `${statement.sql.slice(0, 60)}…\n  ${nodes.map(describeNode).join('\n  ')}`);
      }
    } finally {
      await client.query('ROLLBACK');
    }
  });

  // Last, as it changes the table: a busy fleet with 5,000 running workflows.
  test('under load (10% of workflows PENDING) big batches still read workflows only through indexes', async () => {
    await client.query(`UPDATE ${s}.workflows SET status = 'PENDING', output = NULL, completed_at = NULL WHERE CASE WHEN id LIKE 'wf-%' THEN substr(id, 4)::int % 10 = 0 ELSE false END`);
    await analyze(`${s}.workflows`);
    for (const size of [1, 50, 500]) {
      const checkpoints = Array.from({ length: size }, (_, i) => item(checkpoint(i)));
      const completions = Array.from({ length: size }, (_, i) => item(completion(i)));
      await assertIndexes(flush({ checkpoints, completions }), [PENDING_ROWS]);
    }
    await assertIndexes(await capture((q) => workflows.reclaimOwnPending(q, s, 'executor-0', 'v1', 1)), ['workflows_pending']);
  });

  test('a generic plan for checkpoints, completions and children finds workflows by primary key only, never by reading every running row', async () => {
    // Prepared once per connection, a generic plan outlives the table's shape: one that read the
    // index of running rows while few ran would read all of them once many do.
    for (const size of [1, 50, 500]) {
      const completions = Array.from({ length: size }, (_, i) => item(completion(i)));
      const checkpoints = Array.from({ length: size }, (_, i) => item(checkpoint(i)));
      const starts = Array.from({ length: size }, (_, i) =>
        item({
          id: `child-${i}`, name: 'wf', status: 'PENDING' as const, appName: 'app', appVersion: 'v1', queue: null, partitionKey: null,
          dedupId: null, priority: 0, owner: 'executor-0', epoch: 1, input: 'null', parentId: pending((i % 50) + 1), timeoutMs: null,
          deadlineAt: null, availableAt: null, createdAt: 1, startedAt: 1, parentOwner: 'executor-0', parentEpoch: 1,
        }),
      );
      for (const batch of [{ checkpoints }, { completions }, { checkpoints, completions }, { starts }]) {
        const nodes = await explain(flush(batch), 'generic');
        const pending = nodes.filter((node) => node['Index Name'] === 'workflows_pending');
        assert.deepEqual(pending.map(describeNode), [], nodes.map(describeNode).join('\n'));
      }
    }
  });
});

function describeNode(node: PlanNode): string {
  return `${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`;
}
