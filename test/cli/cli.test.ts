// The `ballast` CLI as a user runs it: a real process against a real database.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ballast } from '../../src/index.js';
import { migrations } from '../../src/store/schema.js';
import { testDatabase } from '../support/postgres.js';
import { ballastInProcess, ballastProcess, expectExit, MAIN, type CliResult } from './helpers.js';

/** Runs `ballast ...args` in a scratch directory with no database URL in its environment. */
function ballastCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return ballastProcess(args, { cwd: scratch, env });
}

let scratch: string;
let db: { url: string; close(): Promise<void> };

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  db = await testDatabase('cli');
});

after(async () => {
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
});

const ALL_VERSIONS = migrations.map((migration) => migration.version);
const LATEST = Math.max(...ALL_VERSIONS);

describe('ballast CLI', () => {
  let ballast: Ballast;
  const ids = { ok: 'cli-order-1', failed: 'cli-order-2' };

  test('migrate applies the schema, then finds nothing to do', async () => {
    const first = await ballastCli(['migrate', '--database-url', db.url]);
    expectExit(first, 0);
    assert.match(first.stdout, new RegExp(`Applied ${ALL_VERSIONS.length} migrations to schema "ballast"`));
    assert.match(first.stdout, /^\s+1\s+workflows, steps/m);
    assert.match(first.stdout, /^\s+2\s+indexes a workflow enters once per state/m);
    assert.doesNotMatch(first.stdout + first.stderr, /postgres@.*:\/\/.*:[^@]*@/, 'no password echoed');

    const second = await ballastCli(['migrate', '--database-url', db.url]);
    expectExit(second, 0);
    assert.match(second.stdout, new RegExp(`is up to date \\(version ${LATEST}\\); nothing to apply`));

    const json = await ballastCli(['--json', 'migrate'], { BALLAST_DATABASE_URL: db.url });
    expectExit(json, 0);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(report.applied, []);
    assert.equal(report.version, LATEST);
    assert.equal(report.schema, 'ballast');
    assert.equal(report.driver, 'postgres');
  });

  test('migrate --json reports what it applied, in another schema', async () => {
    const result = await ballastInProcess(['migrate', '--schema', 'cli_other', '--json', '--database-url', db.url]);
    expectExit(result, 0);
    const report = JSON.parse(result.stdout) as { applied: Array<{ version: number; name: string }>; schema: string };
    assert.equal(report.schema, 'cli_other');
    assert.deepEqual(report.applied.map((migration) => migration.version), ALL_VERSIONS);
    assert.match(report.applied[0]?.name ?? '', /workflows/);
  });

  describe('workflows of an in-process application', () => {
    before(async () => {
      ballast = new Ballast({
        name: 'cli-app',
        databaseUrl: db.url,
        executorId: 'cli-executor',
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      const checkout = ballast.workflow('checkout', async (ctx, order: { id: number; amount: number }) => {
        const charged = await ctx.step('charge', () => ({ amount: order.amount, at: new Date(0), big: 10n ** 20n }));
        const shipped = await ctx.step('ship', () => `parcel-${order.id}`);
        return { charged: charged.amount, shipped };
      });
      const broken = ballast.workflow('broken', async (ctx) => {
        await ctx.step('prepare', () => 1);
        await ctx.step('explode', () => {
          throw new RangeError('out of stock');
        });
      });
      await ballast.launch();
      await (await checkout.start({ id: 7, amount: 42 }, { id: ids.ok })).result();
      await assert.rejects((await broken.start(undefined, { id: ids.failed })).result(), /out of stock/);
    });

    after(async () => {
      await ballast.shutdown({ drainMs: 1_000 });
    });

    test('workflows get shows status, times and output', async () => {
      const [human, json, withInput] = await Promise.all([
        ballastCli(['workflows', 'get', ids.ok, '--database-url', db.url]),
        ballastCli(['workflows', 'get', ids.ok, '--json'], { DBOS_SYSTEM_DATABASE_URL: db.url }),
        // BALLAST_DATABASE_URL wins over DBOS_SYSTEM_DATABASE_URL.
        ballastInProcess(['--json', 'workflows', 'get', '--input', ids.ok], {
          BALLAST_DATABASE_URL: db.url,
          DBOS_SYSTEM_DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
        }),
      ]);
      expectExit(human, 0);
      assert.match(human.stdout, new RegExp(`^Workflow\\s+${ids.ok}$`, 'm'));
      assert.match(human.stdout, /^Name\s+checkout$/m);
      assert.match(human.stdout, /^Status\s+SUCCESS$/m);
      assert.match(human.stdout, /^Executor\s+cli-executor$/m);
      assert.match(human.stdout, /^Output\s+\{ charged: 42, shipped: 'parcel-7' \}$/m);
      assert.match(human.stdout, /^Completed\s+\d{4}-\d\d-\d\dT/m);
      assert.doesNotMatch(human.stdout, /^Input/m);

      expectExit(json, 0);
      const info = JSON.parse(json.stdout) as Record<string, unknown>;
      assert.equal(info.id, ids.ok);
      assert.equal(info.name, 'checkout');
      assert.equal(info.status, 'SUCCESS');
      assert.equal(info.executorId, 'cli-executor');
      assert.equal(info.appName, 'cli-app');
      assert.equal(info.attempts, 1);
      assert.deepEqual(info.output, { charged: 42, shipped: 'parcel-7' });
      assert.equal('input' in info, false);
      assert.ok(!Number.isNaN(Date.parse(info.completedAt as string)));

      expectExit(withInput, 0);
      assert.deepEqual((JSON.parse(withInput.stdout) as Record<string, unknown>).input, { id: 7, amount: 42 });
    });

    test('workflows steps lists checkpoints in order', async () => {
      const [human, json] = await Promise.all([
        ballastCli(['workflows', 'steps', ids.ok, '--database-url', db.url]),
        ballastCli(['workflows', 'steps', ids.ok, '--database-url', db.url, '--json']),
      ]);
      expectExit(human, 0);
      const lines = human.stdout.split('\n');
      assert.match(lines[0] ?? '', /^STEP\s+NAME\s+RESULT\s+CHILD\s+COMPLETED\s+DURATION$/);
      // Long results are cut to fit the table (the full value is in --json and `workflows get`).
      assert.match(lines[1] ?? '', /^\s*0\s+charge\s+\{ amount: 42, at: 1970-01-01T00:00:00\.000Z, big: 10+…\s+-\s+\d{4}-\S+\s+\d+ ms$/);
      assert.match(lines[2] ?? '', /^\s*1\s+ship\s+'parcel-7'\s+-\s+\d{4}-/);
      assert.equal(lines.length, 3);

      expectExit(json, 0);
      const steps = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(steps.map((step) => [step.index, step.name]), [[0, 'charge'], [1, 'ship']]);
      // Values keep the codec's lossless stored form.
      assert.deepEqual(steps[0]?.output, { amount: 42, at: { $: 'date', v: '1970-01-01T00:00:00.000Z' }, big: { $: 'big', v: '100000000000000000000' } });
      assert.equal(steps[1]?.output, 'parcel-7');
      assert.equal(steps[1]?.childWorkflowId, null);
    });

    test('a failed workflow shows its error, and the failed step', async () => {
      const [get, steps, json] = await Promise.all([
        ballastCli(['workflows', 'get', ids.failed, '--database-url', db.url]),
        ballastInProcess(['workflows', 'steps', ids.failed, '--database-url', db.url]),
        ballastInProcess(['workflows', 'steps', ids.failed, '--database-url', db.url, '--json']),
      ]);
      expectExit(get, 0);
      assert.match(get.stdout, /^Status\s+ERROR$/m);
      assert.match(get.stdout, /^Error\s+RangeError: out of stock$/m);
      expectExit(steps, 0);
      assert.match(steps.stdout, /^\s*1\s+explode\s+error: RangeError: out of stock/m);
      expectExit(json, 0);
      const error = (JSON.parse(json.stdout) as Array<Record<string, unknown>>)[1]?.error as Record<string, unknown>;
      assert.equal(error.$, 'err');
      assert.equal(error.n, 'RangeError');
      assert.equal(error.m, 'out of stock');
    });
  });

  test('an unknown workflow ID exits 1 with a clear message', async () => {
    const [get, steps, json] = await Promise.all([
      ballastCli(['workflows', 'get', 'no-such-workflow', '--database-url', db.url]),
      ballastInProcess(['workflows', 'steps', 'no-such-workflow', '--database-url', db.url]),
      ballastInProcess(['workflows', 'get', 'no-such-workflow', '--database-url', db.url, '--json']),
    ]);
    for (const result of [get, steps, json]) {
      expectExit(result, 1);
      assert.equal(result.stderr.trim(), 'ballast: No workflow with ID "no-such-workflow" exists.');
      assert.equal(result.stdout, '');
    }
  });

  test('operational errors exit 1 with a message and no stack unless --verbose', async () => {
    const unreachable = 'postgresql://someone:hunter2@127.0.0.1:1/nowhere';
    const [noSchema, down, verbose, noEmbedded] = await Promise.all([
      ballastInProcess(['workflows', 'get', 'x', '--schema', 'not_migrated', '--database-url', db.url]),
      ballastCli(['workflows', 'get', 'x', '--database-url', unreachable]),
      ballastInProcess(['workflows', 'get', 'x', '--database-url', unreachable, '--verbose']),
      ballastInProcess(['workflows', 'steps', 'x', '--data-dir', join(scratch, 'missing')]),
    ]);
    expectExit(noSchema, 1);
    assert.match(noSchema.stderr, /Schema "not_migrated" has no Ballast tables .* Run `ballast migrate` first/);
    expectExit(down, 1);
    assert.match(down.stderr, /^ballast: Could not connect to postgresql:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
    assert.doesNotMatch(down.stderr, /hunter2|\n\s+at /);
    expectExit(verbose, 1);
    assert.match(verbose.stderr, /\n\s+at /);
    assert.doesNotMatch(verbose.stderr, /hunter2/);
    expectExit(noEmbedded, 1);
    assert.match(noEmbedded.stderr, /No embedded database in .*missing/);
  });

  test('bad usage exits 2', async () => {
    const cases = [
      [],
      ['frobnicate'],
      ['workflows'],
      ['workflows', 'get'],
      ['workflows', 'get', 'a', 'b'],
      ['workflows', 'steps', 'x', '--bogus'],
      ['--schema', 'not-an-identifier', 'migrate'],
      ['migrate', '--database-url'],
    ];
    // Two as real processes (the exit code reaches the shell), the rest in-process.
    const results = await Promise.all(cases.map((args, i) => (i < 2 ? ballastCli(args) : ballastInProcess(args))));
    results.forEach((result, i) => {
      assert.equal(result.code, 2, `ballast ${cases[i]?.join(' ')}: expected exit 2, got ${result.code}\n${result.stderr}`);
      assert.notEqual(result.stderr.trim(), '', `ballast ${cases[i]?.join(' ')}: says what is wrong`);
    });
    const help = await ballastInProcess(['--help']);
    expectExit(help, 0);
    assert.match(help.stdout, /migrate/);
    assert.match(help.stdout, /workflows/);
  });

  test('the entry point is executable as the package bin', () => {
    assert.match(readFileSync(MAIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  test('migrate on the embedded database (PGlite) in --data-dir', async () => {
    const dir = join(scratch, 'embedded');
    const first = await ballastCli(['migrate', '--data-dir', dir, '--json']);
    expectExit(first, 0);
    const report = JSON.parse(first.stdout) as { applied: Array<{ version: number }>; driver: string; database: string };
    assert.equal(report.driver, 'pglite');
    assert.equal(report.database, dir);
    assert.deepEqual(report.applied.map((migration) => migration.version), ALL_VERSIONS);
    const get = await ballastCli(['workflows', 'get', 'nothing-here', '--data-dir', dir]);
    expectExit(get, 1);
    assert.match(get.stderr, /No workflow with ID "nothing-here" exists/);
  });
});
