// One executor of bench/parked.ts: runs `sleeper` (sleeps until the time it is given, then one step
// that returns this executor's ID) and `receiver` (waits for a message, then one step that returns
// when it started). With START=<prefix>:<count>:<wakeAt> it starts that many sleepers itself, with
// RECEIVERS=<prefix>:<count> that many receivers; then prints `ready`.
//   env: BENCH_DATABASE_URL, BALLAST_EXECUTOR_ID, PARK_AFTER_MS
import { Ballast, type WorkflowContext } from '../src/index.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const executorId = env('BALLAST_EXECUTOR_ID');
const ballast = new Ballast({
  name: 'parked-bench',
  databaseUrl: env('BENCH_DATABASE_URL'),
  executorId,
  appVersion: 'parked-bench-v1',
  parkAfter: Number(env('PARK_AFTER_MS')),
  logger: { info: () => undefined, warn: (m: string) => process.stderr.write(`[warn] ${m}\n`), error: (m: string, e?: unknown) => process.stderr.write(`[error] ${m} ${String(e ?? '')}\n`) },
});
const sleeper = ballast.workflow('sleeper', async (ctx: WorkflowContext, wakeAt: number) => {
  await ctx.sleep(Math.max(0, wakeAt - Date.now()));
  return ctx.step('after', () => executorId);
});
const receiver = ballast.workflow('receiver', async (ctx: WorkflowContext) => {
  await ctx.recv('go');
  return ctx.step('after', () => Date.now());
});

async function startMany(count: number, start: (n: number) => Promise<unknown>): Promise<void> {
  for (let from = 0; from < count; from += 1_000) {
    await Promise.all(Array.from({ length: Math.min(1_000, count - from) }, (_, i) => start(from + i)));
  }
}

await ballast.launch();
const sleepers = process.env.START?.split(':');
if (sleepers) await startMany(Number(sleepers[1]), (n) => sleeper.start(Number(sleepers[2]), { id: `${sleepers[0]}-${n}` }));
const receivers = process.env.RECEIVERS?.split(':');
if (receivers) await startMany(Number(receivers[1]), (n) => receiver.start(undefined, { id: `${receivers[0]}-${n}` }));
process.stdout.write('ready\n');
process.on('SIGTERM', () => void ballast.shutdown({ drainMs: 0 }).then(() => process.exit(0)));
