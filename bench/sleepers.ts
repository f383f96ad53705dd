// Starting sleepers: the rate at which one process starts workflows that sleep for an hour, measured
// per window of starts as the number already asleep grows. A start whose cost grows with the number
// of sleepers shows as a falling rate. Prints one JSON line per window, then a summary.
//
//   node --import tsx bench/sleepers.ts [--workflows 50000] [--window 1000] [--concurrency 200]
// Uses BALLAST_BENCH_DATABASE_URL, else a local server on 127.0.0.1:5432, else a throwaway one.

import { parseArgs } from 'node:util';
import { Ballast } from '../src/index.js';
import { openServer } from './lib/postgres.js';

const { values } = parseArgs({
  options: {
    workflows: { type: 'string', default: '50000' },
    window: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '200' },
  },
});
const total = Number(values.workflows);
const windowSize = Number(values.window);
const concurrency = Number(values.concurrency);

const server = await openServer();
const databaseUrl = await server.createDatabase('sleepers');
const ballast = new Ballast({ name: 'sleepers', databaseUrl, logger: { info: () => undefined, warn: (m: string) => process.stderr.write(`${m}\n`), error: (m: string) => process.stderr.write(`${m}\n`) } });
const sleeper = ballast.workflow('sleeper', async (ctx, i: number) => {
  await ctx.sleep('1h');
  return i;
});
await ballast.launch();

const rates: number[] = [];
let next = 0;
let windowStart = performance.now();
let windowDone = 0;
async function worker(): Promise<void> {
  while (next < total) {
    const i = next++;
    await sleeper.start(i);
    if (++windowDone === windowSize) {
      const now = performance.now();
      const rate = Math.round(windowSize / ((now - windowStart) / 1000));
      rates.push(rate);
      console.log(JSON.stringify({ asleep: i + 1, startsPerSecond: rate, rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
      windowStart = now;
      windowDone = 0;
    }
  }
}
const began = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => worker()));
const seconds = (performance.now() - began) / 1000;
const firstRates = rates.slice(0, 3);
const lastRates = rates.slice(-3);
const mean = (list: number[]) => Math.round(list.reduce((a, b) => a + b, 0) / Math.max(1, list.length));
console.log(JSON.stringify({ workflows: total, seconds: Math.round(seconds * 10) / 10, firstWindows: mean(firstRates), lastWindows: mean(lastRates), rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
await ballast.shutdown({ drainMs: 0 });
await server.dropDatabase(databaseUrl).catch(() => undefined);
await server.stop();
