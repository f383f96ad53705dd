// `ballast workflows list|cancel` and `ballast queues` against a real database that an in-process
// application (and a client of another version) filled with workflows in every state.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import { Ballast, type WorkflowHandle } from '../../src/index.js';
import { testDatabase } from '../support/postgres.js';
import { ballastInProcess, ballastProcess, expectExit, tableRows, type CliResult } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let scratch: string;
let db: { url: string; close(): Promise<void> };
let ballast: Ballast;
let holdHandle: WorkflowHandle<string>;
/** Between the workflows created first and those created later (their creation and completion). */
let cut: number;

/** `ballast ...args --database-url <db>` as a real process. */
function cli(...args: string[]): Promise<CliResult> {
  return ballastProcess([...args, '--database-url', db.url], { cwd: scratch });
}

/** The same, in this process. */
function inProcess(...args: string[]): Promise<CliResult> {
  return ballastInProcess([...args, '--database-url', db.url]);
}

/** `workflows list --json ...args`, as the IDs it printed. */
async function listIds(...args: string[]): Promise<string[]> {
  const result = await inProcess('workflows', 'list', '--json', ...args);
  expectExit(result, 0);
  return (JSON.parse(result.stdout) as Array<{ id: string }>).map((workflow) => workflow.id);
}

async function statusOf(id: string): Promise<string | undefined> {
  return (await ballast.workflows.get(id))?.status;
}

async function waitForStatus(id: string, status: string): Promise<void> {
  for (let start = Date.now(); Date.now() - start < 10_000; await sleep(20)) {
    if ((await statusOf(id)) === status) return;
  }
  assert.fail(`${id} did not reach ${status} (it is ${await statusOf(id)})`);
}

const EARLY = ['ins-early-1', 'ins-early-2', 'ins-boom-1', 'ins-parent-1', 'ins-child-1'];
const LATE = ['ins-fast-1', 'ins-fast-2', 'ins-fast-3', 'ins-hold-1', 'ins-wait-1', 'ins-wait-2', 'ins-later-1', 'ins-v2-1', 'ins-v2-2'];
const ALL = [...EARLY, ...LATE];

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ballast-cli-inspect-'));
  db = await testDatabase('cli_inspect');
  ballast = new Ballast({ name: 'cli-inspect', databaseUrl: db.url, executorId: 'cli-exec-a', appVersion: 'v1', logger: quiet });
  const slow = ballast.queue('cli-slow', { workerConcurrency: 1, concurrency: 1 });
  const fast = ballast.queue('cli-fast', { workerConcurrency: 4, concurrency: 8, rateLimit: { limit: 100, period: '1m' } });
  ballast.queue('cli-tenants', { partitionConcurrency: 2, fairness: 'partition', partitionWeights: { acme: 3 } });
  const echo = ballast.workflow('echo', async (ctx, input: { n: number }) => ctx.step('double', () => input.n * 2));
  const hold = ballast.workflow('hold', async (ctx) => {
    await ctx.recv('go', { timeout: '1h' });
    return 'released';
  });
  const boom = ballast.workflow('boom', async (ctx) => {
    await ctx.step('explode', () => {
      throw new TypeError('kaboom');
    });
  });
  const parent = ballast.workflow('parent', async (ctx) => (await ctx.start(echo, { n: 21 }, { id: 'ins-child-1' })).result());
  await ballast.launch();

  // Created one after another (distinct creation times, in this order), all finished before `cut`.
  assert.equal(await (await echo.start({ n: 1 }, { id: 'ins-early-1' })).result(), 2);
  await sleep(3);
  assert.equal(await (await echo.start({ n: 2 }, { id: 'ins-early-2' })).result(), 4);
  await sleep(3);
  await assert.rejects((await boom.start(undefined, { id: 'ins-boom-1' })).result(), /kaboom/);
  await sleep(3);
  assert.equal(await (await parent.start(undefined, { id: 'ins-parent-1' })).result(), 42);
  await sleep(20);
  cut = Date.now();
  await sleep(20);

  for (const [i, id] of ['ins-fast-1', 'ins-fast-2', 'ins-fast-3'].entries()) {
    await (await echo.enqueue({ n: i }, { queue: fast, id })).result();
  }
  // cli-slow runs one at a time: `hold` waits for a message, so what comes after it waits in the queue.
  holdHandle = await hold.enqueue(undefined, { queue: slow, id: 'ins-hold-1' });
  await waitForStatus('ins-hold-1', 'PENDING');
  await echo.enqueue({ n: 10 }, { queue: slow, id: 'ins-wait-1' });
  await sleep(3);
  await echo.enqueue({ n: 11 }, { queue: slow, id: 'ins-wait-2' });
  await sleep(3);
  await echo.enqueue({ n: 12 }, { queue: slow, id: 'ins-later-1', delay: '1h' });
  await sleep(3);

  // Work for an application version no executor runs stays ENQUEUED.
  const client = new BallastClient({ appName: 'cli-inspect', databaseUrl: db.url, appVersion: 'v2', logger: quiet });
  try {
    await client.enqueue('echo', { n: 20 }, { queue: 'cli-fast', id: 'ins-v2-1' });
    await sleep(3);
    await client.enqueue('echo', { n: 21 }, { queue: 'cli-fast', id: 'ins-v2-2' });
  } finally {
    await client.close();
  }
  // A queue with work but no declaration (as after a deploy dropped it): no row in the queues table.
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  try {
    await sql.query(`UPDATE ballast.workflows SET queue = 'cli-orphan' WHERE id = 'ins-v2-2'`);
  } finally {
    await sql.end();
  }
  assert.equal(await statusOf('ins-wait-1'), 'ENQUEUED');
});

after(async () => {
  await ballast?.shutdown({ drainMs: 1_000 });
  await db?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('ballast workflows list', () => {
  test('prints a table, newest first', async () => {
    const result = await cli('workflows', 'list');
    expectExit(result, 0);
    const [header = ''] = result.stdout.split('\n');
    assert.match(header, /^ID\s+NAME\s+STATUS\s+QUEUE\s+EXECUTOR\s+VERSION\s+CREATED\s+DURATION$/);
    const rows = tableRows(result.stdout);
    assert.deepEqual(rows.map((row) => row[0]), [...ALL].reverse());
    const byId = new Map(rows.map((row) => [row[0], row]));
    assert.deepEqual(byId.get('ins-v2-1')?.slice(0, 7).map((cell, i) => (i === 6 ? /^\d{4}-\d\d-\d\dT/.test(cell) : cell)), [
      'ins-v2-1', 'echo', 'ENQUEUED', 'cli-fast', '-', 'v2', true,
    ]);
    assert.equal(byId.get('ins-v2-1')?.[7], '-', 'no duration before it ran');
    assert.deepEqual(byId.get('ins-boom-1')?.slice(1, 6), ['boom', 'ERROR', '-', 'cli-exec-a', 'v1']);
    assert.match(byId.get('ins-fast-1')?.[7] ?? '', /^\d+ ms$|^\d+\.\d\d s$/);
    assert.deepEqual(byId.get('ins-later-1')?.slice(2, 4), ['DELAYED', 'cli-slow']);
    assert.equal(result.stderr, '');
  });

  test('--json prints what `workflows get --json` prints, for each', async () => {
    const [list, get, withInput] = await Promise.all([
      cli('workflows', 'list', '--json', '--id-prefix', 'ins-boom-'),
      inProcess('workflows', 'get', 'ins-boom-1', '--json'),
      inProcess('--json', 'workflows', 'list', '--input', '--name', 'echo', '--queue', 'cli-slow', '--order', 'asc'),
    ]);
    expectExit(list, 0);
    expectExit(get, 0);
    const [listed, ...rest] = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.equal(rest.length, 0);
    const { error: _error, ...got } = JSON.parse(get.stdout) as Record<string, unknown>;
    // Without --input the list leaves payloads out (output and error included): otherwise the same object.
    assert.deepEqual(listed, got);
    assert.equal(listed?.status, 'ERROR');
    assert.equal(listed?.appName, 'cli-inspect');
    assert.equal(listed?.attempts, 1);

    expectExit(withInput, 0);
    const workflows = JSON.parse(withInput.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(workflows.map((workflow) => [workflow.id, workflow.input, workflow.output]), [
      ['ins-wait-1', { n: 10 }, undefined],
      ['ins-wait-2', { n: 11 }, undefined],
      ['ins-later-1', { n: 12 }, undefined],
    ]);
    const early = await inProcess('--json', 'workflows', 'list', '--input', '--id-prefix', 'ins-early-1');
    const [first] = JSON.parse(early.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual([first?.input, first?.output], [{ n: 1 }, 2]);
  });

  test('--input adds INPUT and RESULT columns', async () => {
    const result = await inProcess('workflows', 'list', '--input', '--status', 'SUCCESS,ERROR', '--name', 'boom', '--limit', '5');
    expectExit(result, 0);
    assert.match(result.stdout.split('\n')[0] ?? '', /DURATION\s+INPUT\s+RESULT$/);
    const [row] = tableRows(result.stdout);
    assert.equal(row?.[0], 'ins-boom-1');
    // boom was started with no input: undefined, as `workflows get --input` shows it.
    assert.deepEqual(row?.slice(-2), ['undefined', 'error: TypeError: kaboom']);
  });

  test('filters by status, name, queue, executor, version, parent and ID prefix', async () => {
    const cases: Array<[string[], string[]]> = [
      [['--status', 'error'], ['ins-boom-1']],
      [['--status', 'SUCCESS,ERROR', '--name', 'echo', '--order', 'asc'], ['ins-early-1', 'ins-early-2', 'ins-child-1', 'ins-fast-1', 'ins-fast-2', 'ins-fast-3']],
      [['--status', 'ENQUEUED', '--status', 'DELAYED', '--order', 'asc'], ['ins-wait-1', 'ins-wait-2', 'ins-later-1', 'ins-v2-1', 'ins-v2-2']],
      [['--status', 'ENQUEUED', 'DELAYED', '--order', 'asc'], ['ins-wait-1', 'ins-wait-2', 'ins-later-1', 'ins-v2-1', 'ins-v2-2']],
      [['--queue', 'cli-slow', '--order', 'asc'], ['ins-hold-1', 'ins-wait-1', 'ins-wait-2', 'ins-later-1']],
      [['--queue', 'cli-slow', '--queued-only', '--order', 'asc'], ['ins-hold-1', 'ins-wait-1', 'ins-wait-2']],
      [['--queued-only', '--status', 'PENDING'], ['ins-hold-1']],
      [['--executor', 'cli-exec-a', '--queue', 'cli-fast', '--order', 'asc'], ['ins-fast-1', 'ins-fast-2', 'ins-fast-3']],
      [['--app-version', 'v2', '--order', 'asc'], ['ins-v2-1', 'ins-v2-2']],
      [['--queue', 'cli-orphan'], ['ins-v2-2']],
      [['--parent', 'ins-parent-1'], ['ins-child-1']],
      [['--id-prefix', 'ins-fast-', '--order', 'asc'], ['ins-fast-1', 'ins-fast-2', 'ins-fast-3']],
      [['--name', 'no-such-workflow'], []],
    ];
    const results = await Promise.all(cases.map(([args]) => listIds(...args)));
    results.forEach((ids, i) => assert.deepEqual(ids, cases[i]?.[1], `workflows list ${cases[i]?.[0].join(' ')}`));
  });

  test('pages with --limit, --offset and --order (default 50, newest first)', async () => {
    const [first, second, newest, all, human] = await Promise.all([
      listIds('--order', 'asc', '--limit', '2'),
      listIds('--order', 'asc', '--limit', '2', '--offset', '2'),
      listIds('--limit', '1'),
      listIds(),
      inProcess('workflows', 'list', '--limit', '3', '--offset', '1'),
    ]);
    assert.deepEqual(first, ['ins-early-1', 'ins-early-2']);
    assert.deepEqual(second, ['ins-boom-1', 'ins-parent-1']);
    assert.deepEqual(newest, ['ins-v2-2']);
    assert.equal(all.length, ALL.length);
    expectExit(human, 0);
    assert.deepEqual(tableRows(human.stdout).map((row) => row[0]), ['ins-v2-1', 'ins-later-1', 'ins-wait-2']);
    assert.match(human.stdout, /^\(3 shown, the --limit; more may match: add --offset 4 for the next page\)$/m);
    const beyond = await inProcess('workflows', 'list', '--offset', '100');
    expectExit(beyond, 0);
    assert.equal(beyond.stdout, 'No workflows match these filters at offset 100.');
  });

  test('filters by creation and completion time (ISO 8601 or epoch ms)', async () => {
    const iso = new Date(cut).toISOString();
    const [after, before, beforeIso, completedAfter, completedBefore, window] = await Promise.all([
      listIds('--created-after', String(cut), '--order', 'asc'),
      listIds('--created-before', String(cut), '--order', 'asc'),
      listIds('--created-before', iso, '--order', 'asc'),
      listIds('--completed-after', iso, '--order', 'asc'),
      listIds('--completed-before', iso, '--status', 'SUCCESS', '--order', 'asc'),
      listIds('--created-after', '2000-01-01', '--created-before', String(cut), '--completed-after', '0', '--name', 'boom'),
    ]);
    assert.deepEqual(after, LATE);
    assert.deepEqual(before, EARLY);
    assert.deepEqual(beforeIso, EARLY);
    assert.deepEqual(completedAfter, ['ins-fast-1', 'ins-fast-2', 'ins-fast-3']);
    assert.deepEqual(completedBefore, ['ins-early-1', 'ins-early-2', 'ins-parent-1', 'ins-child-1']);
    assert.deepEqual(window, ['ins-boom-1']);
  });

  test('invalid filters exit 2 with the reason', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--status', 'BOGUS'], /^ballast: list: unknown status "BOGUS"; use one of ENQUEUED, DELAYED, PENDING, SUCCESS, ERROR, CANCELLED, DEAD_LETTER\.$/],
      [['--status', 'ERROR,'], /unknown status ""/],
      [['--limit', '0'], /^ballast: list: limit must be an integer from 1 to 10000, got 0\.$/],
      [['--limit', '10001'], /limit must be an integer from 1 to 10000/],
      [['--offset', '-1'], /^ballast: list: offset must be a non-negative integer, got -1\.$/],
      [['--order', 'up'], /^ballast: list: order must be "asc" or "desc", got "up"\.$/],
      [['--name', ''], /list filter name must be a non-empty string/],
      [['--limit', 'ten'], /option '--limit <n>' argument 'ten' is invalid\. expected a whole number\./],
      [['--created-after', 'yesterday'], /option '--created-after <time>' argument 'yesterday' is invalid\. use an ISO 8601 date/],
      [['--completed-before', '2024-13-01T00:00Z'], /argument '2024-13-01T00:00Z' is invalid/],
      [['--queued'], /unknown option '--queued'/],
    ];
    // One as a real process (the exit code reaches the shell), the rest in-process.
    const results = await Promise.all(
      cases.map(([args], i) => (i === 0 ? cli('workflows', 'list', ...args) : inProcess('workflows', 'list', ...args))),
    );
    results.forEach((result, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      assert.equal(result.code, 2, `workflows list ${args.join(' ')}: expected exit 2, got ${result.code}\n${result.stderr}`);
      assert.match(result.stderr.trim().split('\n')[0] ?? '', message, `workflows list ${args.join(' ')}`);
      assert.equal(result.stdout, '');
    });
  });
});

describe('ballast queues', () => {
  test('prints depths and limits of declared queues and of queues with work', async () => {
    const result = await cli('queues');
    expectExit(result, 0);
    const [header = ''] = result.stdout.split('\n');
    assert.match(header, /^NAME\s+ENQUEUED\s+PENDING\s+DELAYED\s+QUEUE_LENGTH\s+OLDEST\s+WORKER_CONC\s+CONCURRENCY\s+RATE\s+PARTITION_CONC\s+FAIRNESS$/);
    const rows = tableRows(result.stdout);
    const age = /^\d+ ms$|^\d+\.\d\d s$/;
    assert.deepEqual(
      rows.map((row) => row.map((cell, i) => (i === 5 && age.test(cell) ? 'AGE' : cell))),
      [
        ['cli-fast', '1', '0', '0', '1', 'AGE', '4', '8', '100/1m', '-', '-'],
        ['cli-orphan *', '1', '0', '0', '1', 'AGE', '-', '-', '-', '-', '-'],
        ['cli-slow', '2', '1', '1', '3', 'AGE', '1', '1', '-', '-', '-'],
        ['cli-tenants', '0', '0', '0', '0', '-', '-', '-', '-', '2', 'partition (acme:3)'],
      ],
    );
    assert.match(result.stdout, /^\* no deployment has declared this queue/m);
  });

  test('--json and --app-version', async () => {
    const [json, v1, v2, none] = await Promise.all([
      inProcess('queues', '--json'),
      inProcess('--json', 'queues', '--app-version', 'v1'),
      inProcess('queues', '--app-version', 'v2', '--json'),
      inProcess('queues', '--app-version', 'v9'),
    ]);
    for (const result of [json, v1, v2, none]) expectExit(result, 0);
    const queues = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      queues.map(({ oldestEnqueuedAgeMs, ...rest }) => ({ ...rest, waiting: typeof oldestEnqueuedAgeMs === 'number' })),
      [
        {
          name: 'cli-fast', enqueued: 1, pending: 0, delayed: 0, queueLength: 1, waiting: true,
          limits: { workerConcurrency: 4, concurrency: 8, rateLimit: 100, ratePeriodMs: 60_000, partitionConcurrency: null, fairness: null, partitionWeights: null },
        },
        { name: 'cli-orphan', enqueued: 1, pending: 0, delayed: 0, queueLength: 1, waiting: true, limits: null },
        {
          name: 'cli-slow', enqueued: 2, pending: 1, delayed: 1, queueLength: 3, waiting: true,
          limits: { workerConcurrency: 1, concurrency: 1, rateLimit: null, ratePeriodMs: null, partitionConcurrency: null, fairness: null, partitionWeights: null },
        },
        {
          name: 'cli-tenants', enqueued: 0, pending: 0, delayed: 0, queueLength: 0, waiting: false,
          limits: { workerConcurrency: null, concurrency: null, rateLimit: null, ratePeriodMs: null, partitionConcurrency: 2, fairness: 'partition', partitionWeights: { acme: 3 } },
        },
      ],
    );
    const lengths = (result: CliResult) =>
      Object.fromEntries((JSON.parse(result.stdout) as Array<{ name: string; queueLength: number }>).map((q) => [q.name, q.queueLength]));
    // Declared queues are always listed; an undeclared one only while it has work of that version.
    assert.deepEqual(lengths(v1), { 'cli-fast': 0, 'cli-slow': 3, 'cli-tenants': 0 });
    assert.deepEqual(lengths(v2), { 'cli-fast': 1, 'cli-orphan': 1, 'cli-slow': 0, 'cli-tenants': 0 });
    assert.deepEqual(tableRows(none.stdout).map((row) => [row[0], row[4]]), [['cli-fast', '0'], ['cli-slow', '0'], ['cli-tenants', '0']]);

    const bad = await inProcess('queues', '--app-version', '');
    expectExit(bad, 2);
    assert.match(bad.stderr, /^ballast: app version must be a non-empty string/);
  });
});

describe('ballast workflows cancel', () => {
  test('cancels an ENQUEUED workflow and leaves a finished one as it is', async () => {
    const result = await cli('workflows', 'cancel', 'ins-wait-2', 'ins-early-1');
    expectExit(result, 0);
    assert.deepEqual(result.stdout.split('\n'), [
      'Cancelled workflow ins-wait-2.',
      'Workflow ins-early-1 had already finished (SUCCESS); left as it is.',
    ]);
    assert.equal(await statusOf('ins-wait-2'), 'CANCELLED');
    assert.equal(await statusOf('ins-early-1'), 'SUCCESS');
    assert.deepEqual(await listIds('--status', 'CANCELLED'), ['ins-wait-2']);
  });

  test('a running workflow stops: its executor is notified', async () => {
    const stopped = assert.rejects(holdHandle.result(), (error: Error) => error.name === 'WorkflowCancelledError');
    const result = await inProcess('workflows', 'cancel', 'ins-hold-1', '--json');
    expectExit(result, 0);
    assert.deepEqual(JSON.parse(result.stdout), [{ id: 'ins-hold-1', outcome: 'cancelled', status: 'CANCELLED' }]);
    await stopped;
    // The queue's one slot is free again: the next in line runs.
    await waitForStatus('ins-wait-1', 'SUCCESS');
  });

  test('unknown IDs exit 1 once the others are done', async () => {
    const [several, one] = await Promise.all([
      inProcess('--json', 'workflows', 'cancel', 'nope-1', 'ins-v2-1', 'nope-2', 'ins-v2-1'),
      cli('workflows', 'cancel', 'nope-3'),
    ]);
    expectExit(several, 1);
    assert.deepEqual(JSON.parse(several.stdout), [
      { id: 'nope-1', outcome: 'not_found', status: null },
      { id: 'ins-v2-1', outcome: 'cancelled', status: 'CANCELLED' },
      { id: 'nope-2', outcome: 'not_found', status: null },
    ]);
    assert.equal(several.stderr.trim(), 'ballast: No workflows with IDs "nope-1", "nope-2" exist.');
    assert.equal(await statusOf('ins-v2-1'), 'CANCELLED');
    expectExit(one, 1);
    assert.equal(one.stdout, '');
    assert.equal(one.stderr.trim(), 'ballast: No workflow with ID "nope-3" exists.');

    const again = await inProcess('workflows', 'cancel', 'ins-v2-1');
    expectExit(again, 0);
    assert.equal(again.stdout, 'Workflow ins-v2-1 had already finished (CANCELLED); left as it is.');
  });

  test('bad usage exits 2', async () => {
    const [none, empty] = await Promise.all([inProcess('workflows', 'cancel'), inProcess('workflows', 'cancel', 'ins-v2-2', '')]);
    expectExit(none, 2);
    assert.match(none.stderr, /^ballast: give IDs, or a filter such as --status DEAD_LETTER/);
    expectExit(empty, 2);
    assert.match(empty.stderr, /^ballast: workflow ID must be a non-empty string/);
    assert.equal(await statusOf('ins-v2-2'), 'ENQUEUED', 'nothing cancelled when the command line is wrong');
  });

  test('a database that is down is reported at once, not waited for', async () => {
    const down = ['--database-url', 'postgresql://someone:hunter2@127.0.0.1:1/nowhere'];
    const results = await Promise.all([
      ballastInProcess(['workflows', 'list', ...down]),
      ballastInProcess(['workflows', 'cancel', 'ins-v2-2', ...down]),
      ballastInProcess(['queues', '--json', ...down]),
    ]);
    for (const result of results) {
      expectExit(result, 1);
      assert.match(result.stderr, /^ballast: Could not connect to postgresql:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
      assert.equal(result.stdout, '');
    }
  });

  test('help lists the new commands', async () => {
    const [top, workflows] = await Promise.all([inProcess('--help'), inProcess('workflows', '--help')]);
    expectExit(top, 0);
    assert.match(top.stdout, /^\s+queues \[options\]/m);
    expectExit(workflows, 0);
    assert.match(workflows.stdout, /^\s+list \[options\]/m);
    for (const action of ['cancel', 'resume', 'delete']) assert.match(workflows.stdout, new RegExp(`^\\s+${action} \\[options\\] \\[id\\.\\.\\.\\]`, 'm'));
    assert.match(workflows.stdout, /^\s+fork \[options\] <id>/m);
    for (const command of ['executors', 'versions', 'schedules']) assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
    assert.match(top.stdout, /^Exit codes:\n\s+0\s+done\n\s+1\s+the operation failed/m);
    assert.match(top.stdout, /^\s+2\s+usage error/m);
  });
});
