// One executor of the parked-workflow tests. Runs `sleeper`: a step, a sleep until the wake time it
// is given, a step; each step appends `<workflowId> <step> <executorId>` to RUNS_FILE whenever it
// runs. With START=<prefix>:<count>:<wakeAt> it starts that many sleepers itself (IDs <prefix>-<n>)
// after launch, then prints `ready`. On SIGTERM it shuts down, prints `stopped` and exits 0.
//
//   env: FLEET_DATABASE_URL, BALLAST_EXECUTOR_ID, RUNS_FILE, PARK_AFTER_MS, START
import { appendFileSync } from 'node:fs';
import { Ballast, type WorkflowContext } from '../../../src/index.js';
import { requiredEnv, runWorker } from '../../support/worker-main.js';

const executorId = requiredEnv('BALLAST_EXECUTOR_ID');
const runsFile = requiredEnv('RUNS_FILE');
const log = (level: string) => (message: string) => process.stderr.write(`[${level}] ${message}\n`);

const ballast = new Ballast({
  name: 'parking-fleet',
  databaseUrl: requiredEnv('FLEET_DATABASE_URL'),
  executorId,
  appVersion: 'parking-v1',
  pollIntervalMs: 1_000,
  parkAfter: Number(requiredEnv('PARK_AFTER_MS')),
  logger: { info: () => undefined, warn: log('warn'), error: log('error') },
});

const ran = (ctx: WorkflowContext, step: string) => appendFileSync(runsFile, `${ctx.workflowId} ${step} ${executorId}\n`);

const sleeper = ballast.workflow('sleeper', async (ctx: WorkflowContext, wakeAt: number) => {
  await ctx.step('before', () => ran(ctx, 'before'));
  await ctx.sleep(Math.max(0, wakeAt - (await ctx.now())));
  return ctx.step('after', () => {
    ran(ctx, 'after');
    return executorId;
  });
});

runWorker(ballast, {
  drainMs: 1_000,
  afterLaunch: async () => {
    const start = process.env.START;
    if (!start) return;
    const [prefix, count, wakeAt] = start.split(':');
    const ids = Array.from({ length: Number(count) }, (_, n) => `${prefix}-${n}`);
    // A few hundred at a time: the starts of one process share its group-commit flushes.
    for (let from = 0; from < ids.length; from += 500) {
      await Promise.all(ids.slice(from, from + 500).map((id) => sleeper.start(Number(wakeAt), { id })));
    }
  },
});
