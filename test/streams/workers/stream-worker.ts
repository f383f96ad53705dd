// Child process of test/streams/crash.test.ts: one workflow ("streamer") writes the values 0..999
// to its stream "numbers", ten per step (each step takes ~20 ms), then closes the stream. Run with
// START=1 it starts the workflow; otherwise launching recovers it (same executor ID). It prints
// `ready` and runs until the workflow is done (`done <output>`) or it is killed.
//
//   env: STREAM_DATABASE_URL, START
import { setTimeout as sleep } from 'node:timers/promises';
import { Ballast } from '../../../src/index.js';
import { runMain } from '../../support/worker-main.js';

export const STREAM_VALUES = 1_000;
export const STREAMER_ID = 'streamer';
const PER_STEP = 10;

const ballast = new Ballast({
  name: 'stream-app',
  databaseUrl: process.env.STREAM_DATABASE_URL,
  executorId: 'stream-executor',
  appVersion: 'stream-v1',
  pollIntervalMs: 200,
  admin: false,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});

const streamer = ballast.workflow('streamer', async (ctx, total: number) => {
  for (let first = 0; first < total; first += PER_STEP) {
    const values = await ctx.step('produce', async () => {
      await sleep(20);
      return Array.from({ length: PER_STEP }, (_, k) => first + k);
    });
    for (const value of values) await ctx.writeStream('numbers', value);
  }
  await ctx.closeStream('numbers');
  return total;
});

async function main(): Promise<void> {
  await ballast.launch();
  if (process.env.START === '1') await streamer.start(STREAM_VALUES, { id: STREAMER_ID });
  process.stdout.write('ready\n');
  const output = await ballast.result(STREAMER_ID);
  process.stdout.write(`done ${JSON.stringify(output)}\n`);
  await ballast.shutdown({ drainMs: 1_000 });
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  runMain(main);
}
