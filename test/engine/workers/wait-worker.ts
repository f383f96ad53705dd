// Child process of test/engine/wait-crash.test.ts. The workflow "parent" starts a slow child (a
// ten-minute sleep) and a fast one, waits for the first to finish, prints `chosen <id> <index>
// <output>`, then waits for a "go" message before its next step. Run with START=1 it starts the
// parent; otherwise launching recovers it (same executor ID). Prints `ready`, then `done <json>`
// with the parent's output.
//
//   env: WAIT_DATABASE_URL, START
import { Ballast } from '../../../src/index.js';
import { runMain } from '../../support/worker-main.js';

export const PARENT_ID = 'parent';

const ballast = new Ballast({
  name: 'wait-app',
  databaseUrl: process.env.WAIT_DATABASE_URL,
  executorId: 'wait-executor',
  appVersion: 'wait-v1',
  pollIntervalMs: 200,
  admin: false,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});

const child = ballast.workflow('child', async (ctx, ms: number) => {
  await ctx.sleep(ms);
  return `slept ${ms}`;
});

const parent = ballast.workflow('parent', async (ctx) => {
  const slow = await ctx.start(child, 600_000);
  const fast = await ctx.start(child, 20);
  const first = await ctx.waitFirst([slow, fast]);
  process.stdout.write(`chosen ${first.handle.id} ${first.index} ${JSON.stringify(first.output)}\n`);
  await ctx.recv('go'); // the test kills the process here: after the choice, before the next step
  return ctx.step('report', () => ({ id: first.handle.id, index: first.index, output: first.output }));
});

async function main(): Promise<void> {
  await ballast.launch();
  if (process.env.START === '1') await parent.start(undefined, { id: PARENT_ID });
  process.stdout.write('ready\n');
  const output = await ballast.result(PARENT_ID);
  process.stdout.write(`done ${JSON.stringify(output)}\n`);
  await ballast.shutdown({ drainMs: 100 });
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  runMain(main);
}
