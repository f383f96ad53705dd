// Starting sleepers: the rate at which one process starts workflows that sleep for an hour, measured
// per window of starts as the number already asleep grows. A start whose cost grows with the number
// of sleepers shows as a falling rate. `measureSleepers` resolves to every window and a summary (the
// first windows' rate against the last ones'); the scale benchmark calls it.
//
//   node --import tsx bench/sleepers.ts [--workflows 50000] [--window 1000] [--concurrency 200] [--park-after 1s|false]
// Uses BALLAST_BENCH_DATABASE_URL, else a local server on 127.0.0.1:5432, else a throwaway one.

import { parseArgs } from 'node:util';
import { Ballast, type Duration } from '../src/index.js';
import { measureStandalone } from './lib/postgres.js';
import { round } from './lib/stats.js';

export interface SleepersOptions {
  /** A fresh database. */
  databaseUrl: string;
  /** Sleepers to start. */
  workflows: number;
  /** Starts per measured window. Default 1,000. */
  window?: number;
  /** Starts on their way at once. Default 200. */
  concurrency?: number;
  /** The instance's parkAfter (false: never park); default the instance's default. */
  parkAfter?: Duration | false;
}

export interface SleepersWindow {
  asleep: number;
  startsPerSecond: number;
  rssMB: number;
}

export interface SleepersResult {
  workflows: number;
  parkAfter: Duration | false | 'default';
  seconds: number;
  /** Mean rate of the first three windows and of the last three. */
  firstWindows: number;
  lastWindows: number;
  rssMB: number;
  windows: SleepersWindow[];
}

const rssMB = () => Math.round(process.memoryUsage().rss / 1e6);
const mean = (list: number[]) => Math.round(list.reduce((a, b) => a + b, 0) / Math.max(1, list.length));

export async function measureSleepers(options: SleepersOptions): Promise<SleepersResult> {
  const { databaseUrl, workflows: total } = options;
  const windowSize = options.window ?? 1_000;
  const ballast = new Ballast({
    name: 'sleepers',
    databaseUrl,
    parkAfter: options.parkAfter,
    logger: { info: () => undefined, warn: (m: string) => process.stderr.write(`${m}\n`), error: (m: string) => process.stderr.write(`${m}\n`) },
  });
  const sleeper = ballast.workflow('sleeper', async (ctx, i: number) => {
    await ctx.sleep('1h');
    return i;
  });
  await ballast.launch();
  try {
    const windows: SleepersWindow[] = [];
    let next = 0;
    let windowStart = performance.now();
    let windowDone = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        await sleeper.start(i);
        if (++windowDone === windowSize) {
          const now = performance.now();
          windows.push({ asleep: i + 1, startsPerSecond: Math.round(windowSize / ((now - windowStart) / 1000)), rssMB: rssMB() });
          windowStart = now;
          windowDone = 0;
        }
      }
    };
    const began = performance.now();
    await Promise.all(Array.from({ length: options.concurrency ?? 200 }, () => worker()));
    const rates = windows.map((window) => window.startsPerSecond);
    return {
      workflows: total,
      parkAfter: options.parkAfter ?? 'default',
      seconds: round((performance.now() - began) / 1000, 1),
      firstWindows: mean(rates.slice(0, 3)),
      lastWindows: mean(rates.slice(-3)),
      rssMB: rssMB(),
      windows,
    };
  } finally {
    await ballast.shutdown({ drainMs: 0 });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      workflows: { type: 'string', default: '50000' },
      window: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '200' },
      'park-after': { type: 'string' },
    },
  });
  const parkAfter = values['park-after'];
  await measureStandalone('sleepers', (databaseUrl) =>
    measureSleepers({
      databaseUrl,
      workflows: Number(values.workflows),
      window: Number(values.window),
      concurrency: Number(values.concurrency),
      parkAfter: parkAfter === 'false' ? false : parkAfter,
    }),
  );
}
