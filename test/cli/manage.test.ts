// `ballast workflows resume|fork|delete` and the operations on every workflow a filter matches, run
// against workflows that an in-process application runs. Steps count their runs, so a test can tell
// a replayed checkpoint from a step that ran again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Ballast, type WorkflowContext } from '../../src/index.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { ballastInProcess, ballastProcess, expectExit, type CliResult } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let scratch: string;
let db: { url: string; close(): Promise<void> };
let sql: pg.Client;
let ballast: Ballast;

/** Runs of each step, by `<key>:<step>`: a fork shares its original's input, so its key too. */
const runs = new Map<string, number>();
/** Workflows of `flaky` that fail (after their step) while their ID is in here. */
const failing = new Set<string>();

function counted(ctx: WorkflowContext, key: string, step: string): Promise<number> {
  return ctx.step(step, () => {
    const n = (runs.get(`${key}:${step}`) ?? 0) + 1;
    runs.set(`${key}:${step}`, n);
    return n;
  });
}

function runsOf(key: string): Record<string, number> {
  return Object.fromEntries([...runs].filter(([name]) => name.startsWith(`${key}:`)).map(([name, n]) => [name.slice(key.length + 1), n]));
}

/** `ballast ...args --database-url <db>` as a real process. */
function cli(...args: string[]): Promise<CliResult> {
  return ballastProcess([...args, '--database-url', db.url], { cwd: scratch });
}

/** The same, in this process. */
function inProcess(...args: string[]): Promise<CliResult> {
  return ballastInProcess([...args, '--database-url', db.url]);
}

async function statusOf(id: string): Promise<string | undefined> {
  return (await ballast.workflows.get(id))?.status;
}

/** The row of a workflow as the database holds it: what "changes nothing" is checked against. */
async function workflowRow(id: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await sql.query('SELECT status, owner, epoch, attempts, recoveries, updated_at FROM ballast.workflows WHERE id = $1', [id]);
  return rows[0] as Record<string, unknown> | undefined;
}

let staged: ReturnType<typeof declareStaged>;
let flaky: ReturnType<typeof declareFlaky>;
let noisy: ReturnType<typeof declareNoisy>;
let parent: ReturnType<typeof declareParent>;

/** a, then (with `gate`) a wait for a message, then b and c. Step indexes 0, 1, 2 (with the gate: b 2, c 3). */
function declareStaged(app: Ballast) {
  return app.workflow('staged', async (ctx, input: { key: string; gate?: boolean }) => {
    const a = await counted(ctx, input.key, 'a');
    if (input.gate) await ctx.recv('go', { timeout: '1h' });
    const b = await counted(ctx, input.key, 'b');
    const c = await counted(ctx, input.key, 'c');
    return [a, b, c];
  });
}

function declareFlaky(app: Ballast) {
  return app.workflow('flaky', async (ctx) => {
    await counted(ctx, ctx.workflowId, 'once');
    if (failing.has(ctx.workflowId)) throw new Error('not yet');
    return 'ok';
  });
}

/** Leaves a checkpoint and an event behind. */
function declareNoisy(app: Ballast) {
  return app.workflow('noisy', async (ctx) => {
    await ctx.step('work', () => 1);
    await ctx.setEvent('stage', 'done');
    return 'done';
  });
}

/** Starts a child that waits for a message, and waits for the child. */
function declareParent(app: Ballast, child: ReturnType<typeof declareStaged>) {
  return app.workflow('parent', async (ctx, key: string) => (await ctx.start(child, { key, gate: true }, { id: `${ctx.workflowId}-child` })).result());
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ballast-cli-manage-'));
  db = await testDatabase('cli_manage');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  ballast = new Ballast({ name: 'cli-manage', databaseUrl: db.url, executorId: 'cli-manage-a', appVersion: 'm1', logger: quiet, pollIntervalMs: 200 });
  ballast.queue('cli-flaky', { workerConcurrency: 4 });
  ballast.queue('cli-parked');
  staged = declareStaged(ballast);
  flaky = declareFlaky(ballast);
  noisy = declareNoisy(ballast);
  parent = declareParent(ballast, staged);
  await ballast.launch();
});

after(async () => {
  await ballast?.shutdown({ drainMs: 1_000 });
  await sql?.end();
  await db?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('ballast workflows resume', () => {
  test('a CANCELLED workflow carries on from its checkpoint: no completed step runs again', async () => {
    const handle = await staged.start({ key: 'resume', gate: true }, { id: 'mg-resume-1' });
    const cancelled = assert.rejects(handle.result(), (error: Error) => error.name === 'WorkflowCancelledError');
    await waitFor('step a is checkpointed', async () => (await ballast.workflows.steps('mg-resume-1')).some((step) => step.name === 'a'));
    assert.equal(await ballast.workflows.cancel('mg-resume-1'), true);
    await cancelled;

    const result = await cli('workflows', 'resume', 'mg-resume-1');
    expectExit(result, 0);
    assert.equal(result.stdout, 'Resumed workflow mg-resume-1.');
    assert.equal(result.stderr, '');
    await ballast.send('mg-resume-1', 'go', true);
    assert.deepEqual(await ballast.handle('mg-resume-1').result(), [1, 1, 1]);
    assert.deepEqual(runsOf('resume'), { a: 1, b: 1, c: 1 });
  });

  test('a running workflow is refused with exit 1 and the WorkflowStateError message, and nothing changes', async () => {
    await staged.start({ key: 'running', gate: true }, { id: 'mg-running-1' });
    await waitFor('step a ran', () => runs.get('running:a') === 1);
    const row = await workflowRow('mg-running-1');
    assert.equal(row?.status, 'PENDING');

    const [one, several] = await Promise.all([
      cli('workflows', 'resume', 'mg-running-1'),
      inProcess('--json', 'workflows', 'resume', 'mg-running-1', 'mg-nope'),
    ]);
    const refusal =
      'Cannot resume workflow mg-running-1: it is PENDING, and only CANCELLED, ERROR, DEAD_LETTER workflows can be. ' +
      'It is still active: cancel it first to resume it.';
    expectExit(one, 1);
    assert.equal(one.stdout, '');
    assert.equal(one.stderr.trim(), `ballast: ${refusal}`);
    expectExit(several, 1);
    assert.deepEqual(JSON.parse(several.stdout), [
      { id: 'mg-running-1', outcome: 'failed', code: 'INVALID_WORKFLOW_STATE', message: refusal },
      { id: 'mg-nope', outcome: 'not_found', code: 'WORKFLOW_NOT_FOUND', message: 'No workflow with ID "mg-nope" exists.' },
    ]);
    assert.equal(several.stderr.trim(), `ballast: 2 of 2 workflows could not be resumed:\n  ${refusal}\n  No workflow with ID "mg-nope" exists.`);
    assert.deepEqual(await workflowRow('mg-running-1'), row);

    await ballast.send('mg-running-1', 'go', true);
    assert.deepEqual(await ballast.handle('mg-running-1').result(), [1, 1, 1]);
  });

  const queued = ['mg-flaky-1', 'mg-flaky-2', 'mg-flaky-3'];

  test('by filter: every ERROR workflow of a queue, in batches; the others stay as they are', async () => {
    for (const id of [...queued, 'mg-flaky-direct']) failing.add(id);
    for (const id of queued) await assert.rejects((await flaky.enqueue(undefined, { queue: 'cli-flaky', id })).result(), /not yet/);
    await assert.rejects((await flaky.start(undefined, { id: 'mg-flaky-direct' })).result(), /not yet/);
    failing.clear();

    const result = await cli('workflows', 'resume', '--status', 'ERROR', '--queue', 'cli-flaky', '--batch-size', '2');
    expectExit(result, 0);
    assert.equal(result.stdout, ['Resumed 3 workflows:', ...queued.map((id) => `  ${id}`)].join('\n'));
    for (const id of queued) assert.equal(await ballast.handle(id).result(), 'ok');
    assert.equal(await statusOf('mg-flaky-direct'), 'ERROR');

    const [again, human] = await Promise.all([
      inProcess('--json', 'workflows', 'resume', '--status', 'ERROR', '--queue', 'cli-flaky'),
      inProcess('workflows', 'resume', '--queue', 'cli-flaky', '--status', 'error'),
    ]);
    expectExit(again, 0);
    assert.deepEqual(JSON.parse(again.stdout), { applied: [], failed: [] });
    expectExit(human, 0);
    assert.equal(human.stdout, 'No CANCELLED, ERROR or DEAD_LETTER workflows match these filters; nothing resumed.');
  });

  test('by filter: the resumed workflows of a queue replayed their checkpoint instead of running the step again', () => {
    for (const id of queued) assert.deepEqual(runsOf(id), { once: 1 }, `${id}: its step ran once`);
  });
});

describe('ballast workflows fork', () => {
  before(async () => {
    assert.deepEqual(await (await staged.start({ key: 'fork' }, { id: 'mg-fork-src' })).result(), [1, 1, 1]);
  });

  test('--from-step N keeps the checkpoints before N and re-runs exactly the steps from N on', async () => {
    const result = await cli('workflows', 'fork', 'mg-fork-src', '--from-step', '1', '--id', 'mg-fork-1');
    expectExit(result, 0);
    assert.equal(result.stdout, 'mg-fork-1');
    // a replayed (its recorded 1), b and c ran a second time.
    assert.deepEqual(await ballast.handle('mg-fork-1').result(), [1, 2, 2]);
    assert.deepEqual(runsOf('fork'), { a: 1, b: 2, c: 2 });

    const steps = await inProcess('--json', 'workflows', 'steps', 'mg-fork-1');
    expectExit(steps, 0);
    assert.deepEqual((JSON.parse(steps.stdout) as Array<{ name: string; output: unknown }>).map((step) => [step.name, step.output]), [['a', 1], ['b', 2], ['c', 2]]);

    const whole = await inProcess('workflows', 'fork', 'mg-fork-src', '--json');
    expectExit(whole, 0);
    const fork = JSON.parse(whole.stdout) as { workflowId: string; forkedFrom: string; fromStep: number };
    assert.match(fork.workflowId, /^[0-9a-f-]{36}$/);
    assert.deepEqual({ ...fork, workflowId: 'ID' }, { workflowId: 'ID', forkedFrom: 'mg-fork-src', fromStep: 0 });
    assert.deepEqual(await ballast.handle(fork.workflowId).result(), [2, 3, 3]);
    assert.equal((await ballast.workflows.get(fork.workflowId))?.appVersion, 'm1');
  });

  test('refuses a step out of range, an unknown workflow or version and a taken ID, creating nothing', async () => {
    const before = await sql.query('SELECT count(*)::int AS n FROM ballast.workflows');
    const [range, unknown, version, taken, notAStep, negative] = await Promise.all([
      cli('workflows', 'fork', 'mg-fork-src', '--from-step', '9'),
      inProcess('workflows', 'fork', 'mg-nope'),
      inProcess('workflows', 'fork', 'mg-fork-src', '--app-version', 'm404', '--json'),
      inProcess('workflows', 'fork', 'mg-fork-src', '--id', 'mg-fork-src'),
      inProcess('workflows', 'fork', 'mg-fork-src', '--from-step', 'two'),
      inProcess('workflows', 'fork', 'mg-fork-src', '--from-step', '-1'),
    ]);
    expectExit(range, 1);
    assert.equal(
      range.stderr.trim(),
      "ballast: fork: fromStep 9 is past the end of workflow mg-fork-src's history, which has 3 checkpoints: use 0 to 3 (see workflows.steps).",
    );
    expectExit(unknown, 1);
    assert.equal(unknown.stderr.trim(), 'ballast: No workflow with ID "mg-nope" exists.');
    expectExit(version, 1);
    assert.equal(version.stdout, '');
    assert.match(version.stderr, /^ballast: No executor of application "cli-manage" has ever run version "m404"/);
    expectExit(taken, 1);
    assert.equal(taken.stderr.trim(), 'ballast: A workflow with ID "mg-fork-src" already exists: give the fork another --id.');
    for (const result of [notAStep, negative]) {
      expectExit(result, 2);
      assert.match(result.stderr, /option '--from-step <n>' argument '.*' is invalid\. expected a step index/);
    }
    assert.deepEqual((await sql.query('SELECT count(*)::int AS n FROM ballast.workflows')).rows, before.rows);
  });
});

describe('ballast workflows delete', () => {
  /** Rows per table that belong to `id`, and all rows. */
  async function rowCounts(id: string): Promise<Record<string, [number, number]>> {
    const { rows } = await sql.query<{ name: string; mine: number; total: number }>(
      `SELECT name, count(*) FILTER (WHERE owner_id = $1)::int AS mine, count(*)::int AS total FROM (
         SELECT 'workflows' AS name, id AS owner_id FROM ballast.workflows
         UNION ALL SELECT 'steps', workflow_id FROM ballast.steps
         UNION ALL SELECT 'events', workflow_id FROM ballast.events
         UNION ALL SELECT 'messages', destination_id FROM ballast.messages) t GROUP BY name ORDER BY name`,
      [id],
    );
    return Object.fromEntries(rows.map((row) => [row.name, [row.mine, row.total]]));
  }

  test('removes the workflow with its steps, events and messages, and nothing else', async () => {
    for (const id of ['mg-del-1', 'mg-keep-1']) {
      assert.equal(await (await noisy.start(undefined, { id })).result(), 'done');
      await ballast.send(id, 'late', 'unread');
    }
    const [doomed, kept] = await Promise.all([rowCounts('mg-del-1'), rowCounts('mg-keep-1')]);
    // Its checkpoints: the step and the setEvent.
    assert.deepEqual(Object.fromEntries(Object.entries(doomed).map(([table, [mine]]) => [table, mine])), { events: 1, messages: 1, steps: 2, workflows: 1 });

    const result = await cli('workflows', 'delete', 'mg-del-1');
    expectExit(result, 0);
    assert.equal(result.stdout, 'Deleted workflow mg-del-1.');
    const [gone, stayed] = await Promise.all([rowCounts('mg-del-1'), rowCounts('mg-keep-1')]);
    for (const [table, [mine, total]] of Object.entries(doomed)) {
      assert.deepEqual(gone[table], [0, total - mine], `${table}: only the deleted workflow's rows are gone`);
    }
    assert.deepEqual(Object.fromEntries(Object.entries(stayed).map(([table, [mine]]) => [table, mine])), Object.fromEntries(Object.entries(kept).map(([table, [mine]]) => [table, mine])));

    const [again, json] = await Promise.all([inProcess('workflows', 'delete', 'mg-del-1'), inProcess('workflows', 'delete', 'mg-keep-1', '--json')]);
    expectExit(again, 1);
    assert.equal(again.stderr.trim(), 'ballast: No workflow with ID "mg-del-1" exists.');
    expectExit(json, 0);
    assert.deepEqual(JSON.parse(json.stdout), [{ id: 'mg-keep-1', outcome: 'deleted' }]);
  });

  test('an active workflow is refused with exit 1; by filter, the filter chooses among finished ones', async () => {
    await staged.enqueue({ key: 'parked' }, { queue: 'cli-parked', id: 'mg-park-1', delay: '1h' });
    const active = await inProcess('workflows', 'delete', 'mg-park-1');
    expectExit(active, 1);
    assert.match(active.stderr, /^ballast: Cannot delete workflow mg-park-1: it is DELAYED, and only SUCCESS, ERROR, CANCELLED, DEAD_LETTER workflows can be\. Cancel it first/);
    const none = await inProcess('workflows', 'delete', '--queue', 'cli-parked');
    expectExit(none, 0);
    assert.equal(none.stdout, 'No SUCCESS, ERROR, CANCELLED or DEAD_LETTER workflows match these filters; nothing deleted.');
    assert.equal(await statusOf('mg-park-1'), 'DELAYED');
  });
});

describe('ballast workflows cancel --children', () => {
  test('cancels the active descendants too; without it they carry on', async () => {
    for (const id of ['mg-parent-1', 'mg-parent-2']) {
      const handle = await parent.start(id, { id });
      void handle.result().catch(() => undefined);
      await waitFor(`${id}-child waits`, async () => (await statusOf(`${id}-child`)) === 'PENDING');
    }
    const [withChildren, without] = await Promise.all([
      cli('workflows', 'cancel', 'mg-parent-1', '--children'),
      inProcess('workflows', 'cancel', 'mg-parent-2'),
    ]);
    expectExit(withChildren, 0);
    assert.equal(withChildren.stdout, 'Cancelled workflow mg-parent-1 and its active children.');
    expectExit(without, 0);
    assert.equal(without.stdout, 'Cancelled workflow mg-parent-2.');
    assert.deepEqual(
      await Promise.all(['mg-parent-1', 'mg-parent-1-child', 'mg-parent-2', 'mg-parent-2-child'].map(statusOf)),
      ['CANCELLED', 'CANCELLED', 'CANCELLED', 'PENDING'],
    );
    await ballast.send('mg-parent-2-child', 'go', true);
    assert.deepEqual(await ballast.handle('mg-parent-2-child').result(), [1, 1, 1]);
  });
});

describe('ballast workflows cancel and resume by filter', () => {
  test('cancel every match in batches, report a resume the library refuses, delete the cancelled ones', async () => {
    // mg-park-1 waits on cli-parked since the test before.
    // mg-dup-1 holds dedupId "d" until it is cancelled; mg-dup-2 takes it, so resuming mg-dup-1 conflicts.
    await staged.enqueue({ key: 'dup' }, { queue: 'cli-parked', id: 'mg-dup-1', dedupId: 'd', delay: '1h' });
    await staged.enqueue({ key: 'parked' }, { queue: 'cli-parked', id: 'mg-park-2', delay: '1h' });
    const cancel = await inProcess('--json', 'workflows', 'cancel', '--queue', 'cli-parked', '--batch-size', '1');
    expectExit(cancel, 0);
    assert.deepEqual(JSON.parse(cancel.stdout), { applied: ['mg-park-1', 'mg-dup-1', 'mg-park-2'], failed: [] });
    await staged.enqueue({ key: 'dup' }, { queue: 'cli-parked', id: 'mg-dup-2', dedupId: 'd', delay: '1h' });

    const resume = await cli('workflows', 'resume', '--queue', 'cli-parked', '--id-prefix', 'mg-dup-');
    const resumeJson = await inProcess('workflows', 'resume', '--queue', 'cli-parked', '--id-prefix', 'mg-dup-', '--json');
    const conflict = /^Queue "cli-parked" already has an active workflow \(.*\) with dedupId "d"\./;
    expectExit(resume, 1);
    const [heading, line] = resume.stdout.split('\n');
    assert.equal(heading, 'Could not resume 1 workflow:');
    assert.match(line ?? '', /^ {2}mg-dup-1 {2}DEDUPLICATED {2}Queue "cli-parked" already has an active workflow/);
    assert.equal(resume.stderr.trim(), 'ballast: 1 of 1 matching workflows could not be resumed (listed above).');
    expectExit(resumeJson, 1);
    const { applied, failed } = JSON.parse(resumeJson.stdout) as { applied: string[]; failed: Array<{ id: string; code: string; message: string }> };
    assert.deepEqual(applied, []);
    assert.deepEqual(failed.map(({ id, code }) => [id, code]), [['mg-dup-1', 'DEDUPLICATED']]);
    assert.match(failed[0]?.message ?? '', conflict);
    assert.equal(await statusOf('mg-dup-1'), 'CANCELLED');

    const deleted = await inProcess('workflows', 'delete', '--queue', 'cli-parked', '--status', 'CANCELLED');
    expectExit(deleted, 0);
    assert.equal(deleted.stdout, 'Deleted 3 workflows:\n  mg-park-1\n  mg-dup-1\n  mg-park-2');
    assert.deepEqual(
      (await ballast.workflows.list({ queue: 'cli-parked', order: 'asc' })).map((workflow) => [workflow.id, workflow.status]),
      [['mg-dup-2', 'DELAYED']],
    );
  });

  test('bad usage exits 2 and changes nothing', async () => {
    const errorsBefore = await ballast.workflows.list({ status: 'ERROR' });
    const cases: Array<[string[], RegExp]> = [
      [['workflows', 'resume'], /^ballast: give IDs, or a filter such as --status DEAD_LETTER/],
      [['workflows', 'delete'], /^ballast: give IDs, or a filter such as --status DEAD_LETTER/],
      [['workflows', 'cancel', '--children'], /^ballast: give IDs, or a filter such as --status DEAD_LETTER/],
      [['workflows', 'resume', 'mg-flaky-direct', '--status', 'ERROR'], /^ballast: give workflow IDs or filter options, not both\./],
      [['workflows', 'resume', 'mg-flaky-direct', '--batch-size', '5'], /^ballast: --batch-size applies to a filter/],
      [['workflows', 'resume', '--status', 'ERROR', '--batch-size', '0'], /^ballast: batchSize must be an integer from 1 to 1000, got number 0\./],
      [['workflows', 'resume', '--status', 'BROKEN'], /^ballast: list: unknown status "BROKEN"/],
      [['workflows', 'delete', '--created-before', 'soon'], /option '--created-before <time>' argument 'soon' is invalid/],
      [['workflows', 'resume', '--limit', '5'], /unknown option '--limit'/],
      [['workflows', 'fork'], /missing required argument 'id'/],
      [['workflows', 'fork', 'mg-fork-src', '--id', ''], /^ballast: fork ID must be a non-empty string/],
    ];
    const results = await Promise.all(cases.map(([args], i) => (i === 0 ? cli(...args) : inProcess(...args))));
    results.forEach((result, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      assert.equal(result.code, 2, `ballast ${args.join(' ')}: expected exit 2, got ${result.code}\n${result.stderr}`);
      assert.match(result.stderr.trim().split('\n')[0] ?? '', message, `ballast ${args.join(' ')}`);
      assert.equal(result.stdout, '');
    });
    assert.deepEqual(await ballast.workflows.list({ status: 'ERROR' }), errorsBefore);
  });
});
