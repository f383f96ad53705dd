// `--attr key=value` in the CLI: `workflows list` and the operations by filter choose workflows by
// attribute, `workflows get` shows them, and bad ones exit 2 with the library's message.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ballast } from '../../src/index.js';
import { testDatabase } from '../support/postgres.js';
import { ballastInProcess, expectExit } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let db: { url: string; close(): Promise<void> };
let ballast: Ballast;

function cli(...args: string[]) {
  return ballastInProcess([...args, '--database-url', db.url]);
}

async function listIds(...args: string[]): Promise<string[]> {
  const result = await cli('workflows', 'list', '--json', '--order', 'asc', ...args);
  expectExit(result, 0);
  return (JSON.parse(result.stdout) as Array<{ id: string }>).map((workflow) => workflow.id);
}

before(async () => {
  db = await testDatabase('cli_attributes');
  ballast = new Ballast({ name: 'cli-attrs', databaseUrl: db.url, executorId: 'cli-attrs-a', appVersion: 'v1', logger: quiet });
  const later = ballast.queue('later');
  const echo = ballast.workflow('echo', async (_ctx, n: number) => n);
  await ballast.launch();
  await (await echo.start(1, { id: 'attr-acme-1', attributes: { tenant: 'acme', region: 'eu' } })).result();
  await (await echo.start(2, { id: 'attr-acme-2', attributes: { tenant: 'acme', region: 'us' } })).result();
  await (await echo.start(3, { id: 'attr-globex-1', attributes: { tenant: 'globex' } })).result();
  await (await echo.start(4, { id: 'attr-none' })).result();
  for (const id of ['attr-wait-1', 'attr-wait-2']) await echo.enqueue(5, { queue: later, id, delay: '1h', attributes: { batch: 'b=1' } });
});

after(async () => {
  await ballast?.shutdown({ drainMs: 0 });
  await db?.close();
});

describe('ballast workflows … --attr key=value', () => {
  test('list keeps the workflows that carry every given attribute', async () => {
    assert.deepEqual(await listIds('--attr', 'tenant=acme'), ['attr-acme-1', 'attr-acme-2']);
    assert.deepEqual(await listIds('--attr', 'tenant=acme', '--attr', 'region=us'), ['attr-acme-2']);
    assert.deepEqual(await listIds('--attr', 'batch=b=1', '--status', 'DELAYED'), ['attr-wait-1', 'attr-wait-2']);
    assert.deepEqual(await listIds('--attr', 'tenant=initech'), []);
  });

  test('get shows the attributes, and --json has them', async () => {
    const human = await cli('workflows', 'get', 'attr-acme-1');
    expectExit(human, 0);
    assert.match(human.stdout, /Attributes\s+region=eu tenant=acme/);
    const none = await cli('workflows', 'get', 'attr-none');
    assert.match(none.stdout, /Attributes\s+-/);
    const json = await cli('workflows', 'get', 'attr-globex-1', '--json');
    assert.deepEqual((JSON.parse(json.stdout) as { attributes: unknown }).attributes, { tenant: 'globex' });
  });

  test('cancel and delete by filter take --attr', async () => {
    const cancelled = await cli('workflows', 'cancel', '--attr', 'batch=b=1', '--json');
    expectExit(cancelled, 0);
    assert.deepEqual((JSON.parse(cancelled.stdout) as { applied: string[] }).applied, ['attr-wait-1', 'attr-wait-2']);
    const deleted = await cli('workflows', 'delete', '--attr', 'tenant=acme', '--json');
    expectExit(deleted, 0);
    assert.deepEqual((JSON.parse(deleted.stdout) as { applied: string[] }).applied, ['attr-acme-1', 'attr-acme-2']);
    assert.deepEqual(await listIds('--attr', 'tenant=acme'), []);
    assert.deepEqual(await listIds('--attr', 'tenant=globex'), ['attr-globex-1']);
  });

  test('a bad --attr exits 2 with the reason and changes nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['list', '--attr', 'tenant'], /option '--attr <key=value>' argument 'tenant' is invalid\. expected key=value/],
      [['list', '--attr', '=acme'], /expected key=value/],
      [['list', '--attr', 'bad key=x'], /attribute key "bad key" must be 1 to 64 letters/],
      [['cancel', '--attr', `tenant=${'x'.repeat(300)}`], /attribute "tenant" is longer than 256 characters/],
    ];
    for (const [args, message] of cases) {
      const result = await cli('workflows', ...args);
      assert.equal(result.code, 2, `workflows ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    assert.deepEqual(await listIds('--attr', 'tenant=globex'), ['attr-globex-1']);
  });
});
