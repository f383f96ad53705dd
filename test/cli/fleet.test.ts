// `ballast queues set-limit`, `executors`, `versions` and `schedules` against a fleet in this process:
// application cli-fleet at version f2 (live), its stopped executor of version f1 with work still
// waiting for that version, and a second application, cli-other.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import { Ballast } from '../../src/index.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { ballastInProcess, ballastProcess, expectExit, tableRows, type CliResult } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** Once a year, at midnight on 1 January: never fires during a test. */
const YEARLY = '0 0 1 1 *';

let scratch: string;
let db: { url: string; close(): Promise<void> };
let sql: pg.Client;
let fleet: Ballast;
let other: Ballast;

function cli(...args: string[]): Promise<CliResult> {
  return ballastProcess([...args, '--database-url', db.url], { cwd: scratch });
}

function inProcess(...args: string[]): Promise<CliResult> {
  return ballastInProcess([...args, '--database-url', db.url]);
}

function app(name: string, executorId: string, appVersion: string): Ballast {
  return new Ballast({ name, databaseUrl: db.url, executorId, appVersion, logger: quiet, pollIntervalMs: 200 });
}

async function queueRow(name: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await sql.query(
    'SELECT worker_concurrency, concurrency, rate_limit, rate_period_ms, partition_concurrency, updated_at FROM ballast.queues WHERE name = $1',
    [name],
  );
  return rows[0] as Record<string, unknown> | undefined;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ballast-cli-fleet-'));
  db = await testDatabase('cli_fleet');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();

  const old = app('cli-fleet', 'cli-fleet-old', 'f1');
  old.workflow('tick', async () => 'old');
  old.queue('cli-open');
  await old.launch();
  await old.shutdown({ drainMs: 0 });

  fleet = app('cli-fleet', 'cli-fleet-a', 'f2');
  fleet.queue('cli-limited', { workerConcurrency: 2, concurrency: 4, rateLimit: { limit: 10, period: '1s' } });
  const open = fleet.queue('cli-open');
  const tick = fleet.workflow('tick', async (_ctx, run: { schedule: string }) => `tick ${run.schedule}`);
  fleet.schedule('cli-yearly', YEARLY, tick);
  fleet.schedule('cli-queued', YEARLY, tick, { queue: open, timezone: 'Europe/Paris' });
  await fleet.launch();

  other = app('cli-other', 'cli-other-a', 'o1');
  other.workflow('noop', async () => undefined);
  await other.launch();

  // Work for version f1, which no live executor runs: it waits.
  const client = new BallastClient({ appName: 'cli-fleet', databaseUrl: db.url, appVersion: 'f1', logger: quiet });
  try {
    await client.enqueue('tick', { schedule: 'by hand' }, { queue: 'cli-open', id: 'fl-old-1' });
  } finally {
    await client.close();
  }
});

after(async () => {
  await Promise.all([fleet?.shutdown({ drainMs: 1_000 }), other?.shutdown({ drainMs: 1_000 })]);
  await sql?.end();
  await db?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('ballast queues set-limit', () => {
  test('merges with the stored limits, writes them, and the running executor sees them', async () => {
    const result = await cli('queues', 'set-limit', 'cli-limited', '--concurrency', '6');
    expectExit(result, 0);
    const [message, ...table] = result.stdout.split('\n');
    assert.equal(message, 'Changed the limits of queue cli-limited; its executors apply them within about a second.');
    assert.match(table[0] ?? '', /^LIMIT\s+BEFORE\s+AFTER$/);
    assert.deepEqual(tableRows(table.join('\n')), [
      ['worker-concurrency', '2', '2'],
      ['concurrency', '4', '6'],
      ['rate-limit', '10/1s', '10/1s'],
      ['partition-concurrency', '-', '-'],
    ]);
    assert.deepEqual(
      { ...(await queueRow('cli-limited')), updated_at: undefined },
      { worker_concurrency: 2, concurrency: 6, rate_limit: 10, rate_period_ms: '1000', partition_concurrency: null, updated_at: undefined },
    );
    const limits = { name: 'cli-limited', workerConcurrency: 2, concurrency: 6, rateLimit: 10, ratePeriodMs: 1_000, partitionConcurrency: null, fairness: null, partitionWeights: null };
    assert.deepEqual((await fleet.queues.list()).find((queue) => queue.name === 'cli-limited'), limits);
    await waitFor('the executor uses the new limits', async () => (await fleet.queues.limits.get('cli-limited'))?.concurrency === 6);
  });

  test('--clear removes limits, --json shows before and after, and asking for what is stored writes nothing', async () => {
    const cleared = await inProcess('--json', 'queues', 'set-limit', 'cli-limited', '--clear', 'rate-limit,worker-concurrency', '--partition-concurrency', '3');
    expectExit(cleared, 0);
    assert.deepEqual(JSON.parse(cleared.stdout), {
      queue: 'cli-limited',
      changed: true,
      before: { workerConcurrency: 2, concurrency: 6, rateLimit: 10, ratePeriodMs: 1_000, partitionConcurrency: null, fairness: null, partitionWeights: null },
      after: { workerConcurrency: null, concurrency: 6, rateLimit: null, ratePeriodMs: null, partitionConcurrency: 3, fairness: null, partitionWeights: null },
    });
    const row = await queueRow('cli-limited');
    assert.deepEqual({ ...row, updated_at: undefined }, { worker_concurrency: null, concurrency: 6, rate_limit: null, rate_period_ms: null, partition_concurrency: 3, updated_at: undefined });
    await waitFor('the executor sees the cleared limits', async () => (await fleet.queues.limits.get('cli-limited'))?.rateLimit === null);

    const [same, rate] = await Promise.all([
      inProcess('queues', 'set-limit', 'cli-limited', '--concurrency', '6', '--clear', 'rate-limit'),
      inProcess('queues', 'set-limit', 'cli-open', '--rate-limit', '100/m', '--json'),
    ]);
    expectExit(same, 0);
    assert.equal(same.stdout.split('\n')[0], 'Queue cli-limited already has these limits; nothing changed.');
    assert.deepEqual(await queueRow('cli-limited'), row);
    expectExit(rate, 0);
    assert.deepEqual((JSON.parse(rate.stdout) as { after: unknown }).after, {
      workerConcurrency: null, concurrency: null, rateLimit: 100, ratePeriodMs: 60_000, partitionConcurrency: null, fairness: null, partitionWeights: null,
    });
  });

  test('refuses an unknown queue and limits that contradict the stored ones (exit 1), bad requests (exit 2), changing nothing', async () => {
    const row = await queueRow('cli-limited');
    const refused: Array<[string[], RegExp]> = [
      [['cli-nowhere', '--concurrency', '2'], /^ballast: No queue named "cli-nowhere" exists\./],
      [['cli-limited', '--worker-concurrency', '10'], /^ballast: queue "cli-limited": workerConcurrency \(10\) cannot exceed concurrency \(6\)/],
    ];
    const usage: Array<[string[], RegExp]> = [
      [['cli-limited'], /^ballast: set-limit: nothing to change; give a limit such as --concurrency 10, or --clear rate-limit\.$/],
      [['cli-limited', '--concurrency', '0'], /^ballast: queue "cli-limited": concurrency must be a positive integer, got 0\.$/],
      [['cli-limited', '--worker-concurrency', '9', '--concurrency', '3'], /workerConcurrency \(9\) cannot exceed concurrency \(3\)/],
      [['cli-limited', '--rate-limit', '100'], /argument '100' is invalid\. expected LIMIT\/PERIOD, such as 100\/1m/],
      [['cli-limited', '--rate-limit', '5/fortnight'], /^ballast: Invalid queue "cli-limited" rateLimit\.period: "fortnight"/],
      [['cli-limited', '--clear', 'speed'], /unknown limit "speed"; use worker-concurrency, concurrency, rate-limit, partition-concurrency/],
      [['cli-limited', '--concurrency', '3', '--clear', 'concurrency'], /^ballast: set-limit: --concurrency and --clear concurrency contradict each other\.$/],
      [['--concurrency', '3'], /missing required argument 'name'/],
    ];
    const run = (args: string[], i: number) => (i === 0 ? cli('queues', 'set-limit', ...args) : inProcess('queues', 'set-limit', ...args));
    const [refusals, usages] = await Promise.all([Promise.all(refused.map(([args], i) => run(args, i))), Promise.all(usage.map(([args], i) => run(args, i + 1)))]);
    for (const [results, cases, code] of [[refusals, refused, 1], [usages, usage, 2]] as const) {
      results.forEach((result, i) => {
        const [args, message] = cases[i] ?? [[], /./];
        assert.equal(result.code, code, `set-limit ${args.join(' ')}: expected exit ${code}, got ${result.code}\n${result.stderr}`);
        assert.match(result.stderr.trim().split('\n')[0] ?? '', message, `set-limit ${args.join(' ')}`);
        assert.equal(result.stdout, '');
      });
    }
    assert.deepEqual(await queueRow('cli-limited'), row);
    assert.equal(await queueRow('cli-nowhere'), undefined);
  });
});

describe('ballast executors', () => {
  test('lists the live executors of every application, or of one', async () => {
    const [all, one] = await Promise.all([cli('executors'), inProcess('executors', '--app', 'cli-other')]);
    expectExit(all, 0);
    assert.match(all.stdout.split('\n')[0] ?? '', /^ID\s+APP\s+VERSION\s+HOST\s+PID\s+QUEUES\s+RUNNING\s+STARTED\s+HEARTBEAT\s+LEASE$/);
    const rows = tableRows(all.stdout);
    assert.deepEqual(rows.map((row) => row.slice(0, 3)), [['cli-fleet-a', 'cli-fleet', 'f2'], ['cli-other-a', 'cli-other', 'o1']]);
    const [fleetRow] = rows;
    assert.equal(fleetRow?.[4], String(process.pid));
    assert.equal(fleetRow?.[5], 'cli-limited,cli-open');
    assert.match(fleetRow?.[7] ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.match(fleetRow?.[8] ?? '', / ago$/);
    assert.match(fleetRow?.[9] ?? '', /^\d+ ms$|^\d+\.\d\d s$/);
    expectExit(one, 0);
    assert.deepEqual(tableRows(one.stdout).map((row) => [row[0], row[5]]), [['cli-other-a', '-']]);
  });

  test('--all adds the stopped ones, --json prints the library objects', async () => {
    const [human, json, none] = await Promise.all([
      inProcess('executors', '--all', '--app', 'cli-fleet'),
      inProcess('--json', 'executors', '--all'),
      inProcess('executors', '--app', 'cli-nobody'),
    ]);
    expectExit(human, 0);
    assert.match(human.stdout.split('\n')[0] ?? '', /\s+LEASE\s+ALIVE\s+RECOVERED$/);
    const byId = new Map(tableRows(human.stdout).map((row) => [row[0], row]));
    assert.deepEqual([...byId.keys()].sort(), ['cli-fleet-a', 'cli-fleet-old']);
    assert.deepEqual(byId.get('cli-fleet-old')?.slice(-3, -1), ['expired', 'no']);
    assert.match(byId.get('cli-fleet-old')?.at(-1) ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(byId.get('cli-fleet-a')?.slice(-2), ['yes', '-']);

    expectExit(json, 0);
    const executors = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(executors.map((executor) => [executor.id, executor.alive]).sort(), [['cli-fleet-a', true], ['cli-fleet-old', false], ['cli-other-a', true]]);
    const live = executors.find((executor) => executor.id === 'cli-fleet-a') ?? {};
    assert.deepEqual(Object.keys(live).sort(), [
      'alive', 'appName', 'appVersion', 'hostname', 'id', 'lastHeartbeatAt', 'leaseExpiresAt', 'pid', 'queues', 'recoveredAt', 'running', 'startedAt',
    ]);
    assert.deepEqual(live.queues, ['cli-limited', 'cli-open']);
    assert.ok(Date.parse(live.leaseExpiresAt as string) > Date.parse(live.lastHeartbeatAt as string));

    expectExit(none, 0);
    assert.equal(none.stdout, 'No live executors of application cli-nobody.');
  });
});

describe('ballast versions', () => {
  test('groups the versions by application, with the latest, live executors and backlog', async () => {
    const result = await cli('versions');
    expectExit(result, 0);
    const [fleetPart = '', otherPart = ''] = result.stdout.split('\n\n');
    const header = /^VERSION\s+LATEST\s+EXECUTORS\s+ENQUEUED\s+DELAYED\s+PENDING\s+PARKED\s+PENDING_WITHOUT_OWNER\s+FIRST_SEEN\s+LAST_SEEN$/;
    const [fleetTitle, ...fleetTable] = fleetPart.split('\n');
    assert.equal(fleetTitle, 'Application cli-fleet');
    assert.match(fleetTable[0] ?? '', header);
    const seen = (row: string[]) => [...row.slice(0, 8), ...row.slice(8).map((cell) => (/^\d{4}-\d\d-\d\dT/.test(cell) ? 'TIME' : cell))];
    assert.deepEqual(tableRows(fleetTable.join('\n')).map(seen), [
      ['f2', 'yes', '1', '0', '0', '0', '0', '0', 'TIME', 'TIME'],
      ['f1', 'no', '0', '1', '0', '0', '0', '0', 'TIME', 'TIME'],
    ]);
    const [otherTitle, ...otherTable] = otherPart.split('\n');
    assert.equal(otherTitle, 'Application cli-other');
    assert.deepEqual(tableRows(otherTable.join('\n')).map((row) => row.slice(0, 3)), [['o1', 'yes', '1']]);
  });

  test('--json is the library VersionInfo with its application; --app chooses one', async () => {
    const [json, one, none] = await Promise.all([
      inProcess('versions', '--json'),
      inProcess('--json', 'versions', '--app', 'cli-other'),
      inProcess('versions', '--app', 'cli-nobody'),
    ]);
    expectExit(json, 0);
    const versions = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(versions.map((version) => [version.appName, version.version, version.latest]), [
      ['cli-fleet', 'f2', true], ['cli-fleet', 'f1', false], ['cli-other', 'o1', true],
    ]);
    assert.deepEqual(versions[1]?.backlog, { enqueued: 1, delayed: 0, pending: 0, parked: 0, pendingWithoutLiveOwner: 0 });
    assert.deepEqual((versions[0]?.executors as Array<{ id: string }>).map((executor) => executor.id), ['cli-fleet-a']);
    assert.deepEqual(Object.keys(versions[0] ?? {}), ['appName', 'version', 'latest', 'firstSeenAt', 'lastSeenAt', 'executors', 'backlog']);
    expectExit(one, 0);
    assert.deepEqual((JSON.parse(one.stdout) as Array<{ version: string }>).map((version) => version.version), ['o1']);
    expectExit(none, 0);
    assert.equal(none.stdout, 'Application cli-nobody has no versions.');
  });
});

describe('ballast schedules', () => {
  test('list shows the declared schedules, as a table and as JSON', async () => {
    const [human, json, none] = await Promise.all([cli('schedules', 'list'), inProcess('schedules', 'list', '--app', 'cli-fleet', '--json'), inProcess('schedules', 'list', '--app', 'cli-other')]);
    expectExit(human, 0);
    assert.match(human.stdout.split('\n')[0] ?? '', /^APP\s+NAME\s+CRON\s+TIMEZONE\s+WORKFLOW\s+QUEUE\s+STATE\s+VERSION\s+NEXT_RUN\s+LAST_TICK\s+LAST_WORKFLOW$/);
    assert.deepEqual(tableRows(human.stdout).map((row) => row.slice(0, 8)), [
      ['cli-fleet', 'cli-queued', YEARLY, 'Europe/Paris', 'tick', 'cli-open', 'active', 'f2'],
      ['cli-fleet', 'cli-yearly', YEARLY, 'UTC', 'tick', '-', 'active', 'f2'],
    ]);
    expectExit(json, 0);
    const [queued, yearly] = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      { ...yearly, nextRunAt: undefined, updatedAt: undefined },
      {
        name: 'cli-yearly', cron: YEARLY, timezone: 'UTC', workflowName: 'tick', queue: null, paused: false, backfill: false, appName: 'cli-fleet',
        appVersion: 'f2', declared: true, nextRunAt: undefined, lastTickAt: null, lastWorkflowId: null, updatedAt: undefined,
      },
    );
    assert.match(yearly?.nextRunAt as string, /^\d{4}-01-01T00:00:00\.000Z$/);
    assert.match(queued?.nextRunAt as string, /^\d{4}-12-31T23:00:00\.000Z$/, 'midnight in Paris');
    expectExit(none, 0);
    assert.equal(none.stdout, 'No schedules in application cli-other: a launched executor declares them with ballast.schedule().');
  });

  test('pause and resume change the stored schedule the executors fire from', async () => {
    const paused = await cli('schedules', 'pause', 'cli-yearly', '--app', 'cli-fleet');
    expectExit(paused, 0);
    assert.equal(paused.stdout, 'Paused schedule cli-yearly of application cli-fleet; it starts nothing until resumed.');
    assert.equal((await fleet.schedules.get('cli-yearly'))?.paused, true);
    const listed = await inProcess('schedules', 'list');
    const [, yearlyRow] = tableRows(listed.stdout);
    assert.deepEqual([yearlyRow?.[1], yearlyRow?.[6], yearlyRow?.[8]], ['cli-yearly', 'paused', '-'], 'a paused schedule has no next run');

    const resumed = await inProcess('schedules', 'resume', 'cli-yearly', '--app', 'cli-fleet');
    expectExit(resumed, 0);
    assert.match(resumed.stdout, /^Resumed schedule cli-yearly of application cli-fleet; next run at \d{4}-01-01T00:00:00\.000Z\.$/);
    assert.equal((await fleet.schedules.get('cli-yearly'))?.paused, false);
    const json = await inProcess('--json', 'schedules', 'pause', 'cli-queued', '--app', 'cli-fleet');
    expectExit(json, 0);
    const info = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual([info.name, info.paused, info.nextRunAt], ['cli-queued', true, null]);
    expectExit(await inProcess('schedules', 'resume', 'cli-queued', '--app', 'cli-fleet'), 0);
  });

  test('trigger starts one run now and prints its workflow ID, directly or through the queue', async () => {
    const [direct, queued] = await Promise.all([
      cli('schedules', 'trigger', 'cli-yearly', '--app', 'cli-fleet'),
      inProcess('--json', 'schedules', 'trigger', 'cli-queued', '--app', 'cli-fleet'),
    ]);
    expectExit(direct, 0);
    assert.match(direct.stdout, /^sched:cli-yearly:manual:[0-9a-f-]{36}$/);
    assert.equal(await fleet.handle(direct.stdout).result({ timeout: '10s' }), 'tick cli-yearly');
    expectExit(queued, 0);
    const { workflowId, ...rest } = JSON.parse(queued.stdout) as { workflowId: string };
    assert.deepEqual(rest, { schedule: 'cli-queued', appName: 'cli-fleet' });
    assert.equal(await fleet.handle(workflowId).result({ timeout: '10s' }), 'tick cli-queued');
    assert.equal((await fleet.workflows.get(workflowId))?.queue, 'cli-open');
  });

  test('an unknown schedule or application exits 1; a missing --app or name exits 2', async () => {
    const [unknown, wrongApp, noApp, noName, emptyApp] = await Promise.all([
      inProcess('schedules', 'trigger', 'cli-nightly', '--app', 'cli-fleet'),
      inProcess('schedules', 'pause', 'cli-yearly', '--app', 'cli-other'),
      inProcess('schedules', 'pause', 'cli-yearly'),
      inProcess('schedules', 'resume', '--app', 'cli-fleet'),
      inProcess('schedules', 'list', '--app', ''),
    ]);
    expectExit(unknown, 1);
    assert.match(unknown.stderr, /^ballast: Application "cli-fleet" has no schedule named "cli-nightly"\./);
    expectExit(wrongApp, 1);
    assert.match(wrongApp.stderr, /^ballast: Application "cli-other" has no schedule named "cli-yearly"\./);
    expectExit(noApp, 2);
    assert.match(noApp.stderr, /required option '--app <name>' not specified/);
    expectExit(noName, 2);
    assert.match(noName.stderr, /missing required argument 'name'/);
    expectExit(emptyApp, 2);
    assert.match(emptyApp.stderr, /^ballast: application name must be a non-empty string/);
    assert.equal((await fleet.schedules.get('cli-yearly'))?.paused, false);
  });
});
