// Child process of test/engine/patching.test.ts: one deployment of the application, whose workflow
// code is the `CODE` generation (old, patched, deprecated, removed). Every generation shares one
// application version (config.patching), so each recovers what the previous one left PENDING.
// It works through its phase's script, printing `result <id> <json>` lines, then either `hang`
// (the test kills it with SIGKILL) or `done` (it exits). On the embedded database the test cannot
// connect itself, so the process also sends the messages that move workflows on.
//
//   env: CODE, PATCH_DATABASE_URL or PATCH_DATA_DIR
//
// The workflow: step a, wait for "start", [the patch point] step b, wait for "go". The old code's b
// is `old-b`; the patched code takes `new-b` where ctx.patched says so.
import { Ballast, type WorkflowContext } from '../../../src/index.js';
import { runMain } from '../../support/worker-main.js';

type Code = 'old' | 'patched' | 'deprecated' | 'removed';
const code = process.env.CODE as Code;

const ballast = new Ballast({
  name: 'patch-app',
  databaseUrl: process.env.PATCH_DATABASE_URL,
  dataDir: process.env.PATCH_DATA_DIR,
  executorId: 'patch-executor',
  patching: true,
  pollIntervalMs: 200,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});

async function patchPoint(ctx: WorkflowContext): Promise<string> {
  switch (code) {
    case 'old':
      return ctx.step('old-b', () => 'old');
    case 'patched':
      if (ctx.patched('new-b')) return ctx.step('new-b', () => 'new');
      return ctx.step('old-b', () => 'old');
    case 'deprecated':
      ctx.deprecatePatch('new-b');
      return ctx.step('new-b', () => 'new');
    case 'removed':
      return ctx.step('new-b', () => 'new');
  }
}

const flow = ballast.workflow('flow', async (ctx) => {
  await ctx.step('a', () => 'a');
  await ctx.recv('start', { timeout: '60s' });
  const branch = await patchPoint(ctx);
  await ctx.recv('go', { timeout: '60s' });
  return branch;
});

async function hasStep(id: string, name: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await ballast.workflows.steps(id)).some((step) => step.name === name)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`workflow ${id} never recorded step ${name}`);
}

async function report(id: string): Promise<void> {
  const result = await ballast.handle(id).result({ timeout: '30s' });
  const steps = (await ballast.workflows.steps(id)).map((step) => step.name);
  process.stdout.write(`result ${id} ${JSON.stringify({ result, steps })}\n`);
}

async function main(): Promise<void> {
  await ballast.launch();
  switch (code) {
    case 'old':
      // w1 passes the patch point under the old code; w3 is stopped before it.
      await flow.start(undefined, { id: 'w1' });
      await flow.start(undefined, { id: 'w3' });
      await ballast.send('w1', 'start', true);
      await hasStep('w1', 'old-b');
      await hasStep('w3', 'a');
      process.stdout.write('hang\n');
      break;
    case 'patched':
      // Recovered: w1 (past the point: old branch), w3 (before it: new branch). New: w2, w5.
      await flow.start(undefined, { id: 'w2' });
      await flow.start(undefined, { id: 'w5' });
      for (const id of ['w2', 'w3', 'w5']) await ballast.send(id, 'start', true);
      for (const id of ['w1', 'w2', 'w3']) await ballast.send(id, 'go', true);
      for (const id of ['w1', 'w2', 'w3']) await report(id);
      await hasStep('w5', 'new-b'); // w5 passed the point under the patch: its history holds the marker
      process.stdout.write('hang\n');
      break;
    case 'deprecated':
      // Recovered: w5, whose history has the marker. New: w4, which records none.
      await flow.start(undefined, { id: 'w4' });
      await ballast.send('w4', 'start', true);
      await ballast.send('w5', 'go', true);
      await report('w5');
      await hasStep('w4', 'new-b');
      process.stdout.write('hang\n');
      break;
    case 'removed':
      // Recovered: w4, started after the deprecation: it replays cleanly without the call.
      await ballast.send('w4', 'go', true);
      await report('w4');
      await ballast.shutdown({ drainMs: 1_000 });
      process.stdout.write('done\n');
      process.exit(0);
  }
  setInterval(() => undefined, 60_000); // stay alive until killed
}

runMain(main);
