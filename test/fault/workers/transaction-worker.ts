// Child process of test/fault/transactions.test.ts. Runs WORKFLOW_COUNT workflows, each a
// ctx.transaction that inserts one row into an application table, then a step, under a fixed
// executor ID, so that a replacement started after a SIGKILL recovers what the killed one left.
//
//   TX_TARGET  system    the orders table is in the system database (Postgres)
//              app       a data source: the orders table is in TX_APP_DATABASE_URL
//              pglite    the embedded database in TX_DATA_DIR
//
//   start   launch, start TX_WORKFLOWS workflows, print `progress` once TX_KILL_AFTER transactions
//           ran here (the last of them still open), and keep running until killed
//   resume  launch (recovery resumes the PENDING workflows), print `progress` once TX_KILL_AFTER
//           more ran here (or all finished), and keep running until killed
//   finish  launch, wait for every result, print `summary <json>` (rows per workflow, statuses),
//           shut down and exit 0
import { setTimeout as sleep } from 'node:timers/promises';
import { Ballast } from '../../../src/index.js';
import { requiredEnv, runMain } from '../../support/worker-main.js';

const mode = process.argv[2];
const target = process.env.TX_TARGET ?? 'system';
const killAfter = Number(process.env.TX_KILL_AFTER ?? '0');
const workflowCount = Number(requiredEnv('TX_WORKFLOWS'));

const ballast = new Ballast({
  name: 'tx-app',
  ...(target === 'pglite' ? { dataDir: requiredEnv('TX_DATA_DIR') } : { databaseUrl: requiredEnv('TX_DATABASE_URL') }),
  executorId: 'tx-executor',
  appVersion: 'tx-v1',
  pollIntervalMs: 100,
  admin: false,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});
if (target === 'app') ballast.dataSource('app', { databaseUrl: requiredEnv('TX_APP_DATABASE_URL') });
const dataSource = target === 'app' ? { dataSource: 'app' } : {};

let ran = 0;
let started = mode !== 'start';
let announced = false;
function announce(): void {
  if (mode === 'finish' || announced || !started) return;
  announced = true;
  // stdout to a pipe is synchronous on Linux: the line is out before anything else runs here.
  process.stdout.write(`progress ${ran}\n`);
}

const order = ballast.workflow('order', async (ctx) => {
  const rowId = await ctx.transaction('insert-order', async (tx) => {
    const { rows } = await tx.query<{ id: number }>('INSERT INTO orders (workflow_id) VALUES ($1) RETURNING id', [ctx.workflowId]);
    if (++ran >= killAfter) announce();
    // Keep transactions open a moment, so that kills land inside some of them.
    await tx.query('SELECT pg_sleep($1)', [Math.random() * 0.01]);
    return rows[0]?.id;
  }, dataSource);
  return ctx.step('after', async () => {
    await sleep(Math.random() * 5);
    return { rowId };
  });
});

const setup = ballast.workflow('setup', async (ctx) =>
  ctx.transaction('create-orders', async (tx) => {
    await tx.query('CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, workflow_id text NOT NULL)');
  }, dataSource),
);

const summary = ballast.workflow('summary', async (ctx) =>
  ctx.transaction('count-orders', async (tx) => (await tx.query<{ workflow_id: string; rows: number; ids: number[] }>(
    'SELECT workflow_id, count(*)::int AS rows, array_agg(id) AS ids FROM orders GROUP BY workflow_id ORDER BY workflow_id',
  )).rows, { ...dataSource, readOnly: true }),
);

const ids = Array.from({ length: workflowCount }, (_, n) => `tx-${n}`);

async function main(): Promise<void> {
  await ballast.launch();
  switch (mode) {
    case 'start':
      await (await setup.start(undefined, { id: 'setup' })).result();
      await Promise.all(ids.map((id) => order.start(undefined, { id })));
      started = true;
      if (ran >= killAfter) announce();
      setInterval(() => undefined, 60_000);
      break;
    case 'resume':
      void Promise.all(ids.map((id) => ballast.result(id))).then(announce);
      setInterval(() => undefined, 60_000);
      break;
    case 'finish': {
      const results = await Promise.all(ids.map((id) => ballast.result<{ rowId: number }>(id, { timeout: '120s' })));
      const statuses = await Promise.all(ids.map(async (id) => (await ballast.workflows.get(id))?.status));
      const rows = await (await summary.start(undefined)).result();
      process.stdout.write(`summary ${JSON.stringify({ results, statuses, rows })}\n`);
      await ballast.shutdown({ drainMs: 5_000 });
      break;
    }
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

runMain(main);
