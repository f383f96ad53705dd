// The `scale` workloads of `npm run bench` (`--workload scale`, or some of them by name): how Ballast
// behaves at a fleet's sizes rather than at the benchmark's. Not run by default: together they take
// tens of minutes (the history-size fill alone several on 10,000,000 rows, the parked fleet's
// 100,000 sleepers a few more). Issue 17 asks for each of them: idle queues, parked workflows
// (parked, sleepers), fairness (without and with the fairness option), retention, and the queue
// workload beside millions of finished workflows (history-size).
//
// Each measurement is a module exporting one function that takes a JSON-able argument and resolves
// to a JSON-able line. The registry below says, for each, which systems run it and with what
// arguments; every call runs in a process of its own (bench/scale-child.ts), on a fresh database,
// so that its memory, CPU and database sessions are its alone. To add one: write the module, add an
// entry here.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runScript } from './lib/child.js';
import { vacuumingServer, type BenchServer } from './lib/postgres.js';
import type { SystemName } from './lib/stats.js';

export interface ScaleOptions {
  systems: SystemName[];
  /** Smaller sizes where a measurement allows it (1,000,000 history rows instead of 10,000,000). */
  quick: boolean;
  /** Finished workflows for `history-size`; overrides the default and `quick`. */
  rows: number | undefined;
  /**
   * Options for the fairness measurement's Ballast queue, e.g. {"fairness":"partition"}; undefined:
   * Ballast runs twice, without options (FIFO) and with fairness.
   */
  queueOptions: Record<string, unknown> | undefined;
}

interface ScaleContext extends ScaleOptions {
  /**
   * Runs `fn` on a fresh database of the benchmark's server, dropped afterwards; with `autovacuum`,
   * on a throwaway server instead if the benchmark's runs without it (see vacuumingServer).
   */
  withDatabase<T>(prefix: string, fn: (databaseUrl: string) => Promise<T>, options?: { autovacuum?: boolean }): Promise<T>;
  print(line: object): void;
}

interface ScaleMeasurement {
  name: string;
  run(context: ScaleContext): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./scale-child.ts', import.meta.url));
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Calls `exportName` of `module` with `argument` in a process of its own; its line, or a skip when the module is not there. */
async function measureInChild(module: string, exportName: string, argument: object): Promise<object> {
  if (!existsSync(module)) return { skipped: `${module} is not there yet` };
  return (await runScript(CHILD, [module, exportName, JSON.stringify(argument)])) as object;
}

export const SCALE_MEASUREMENTS: readonly ScaleMeasurement[] = [
  {
    // Idle cost: one process declaring N queues with nothing to do (bench/idle-queues.ts).
    name: 'idle-queues',
    async run(context) {
      if (!context.systems.includes('ballast')) return;
      for (const queues of [1, 100, 1_000]) {
        const line = await context.withDatabase('scale_idle', (databaseUrl) =>
          measureInChild(here('./idle-queues.ts'), 'measureIdleQueues', { queues, seconds: context.quick ? 10 : 30, databaseUrl }),
        );
        context.print({ system: 'ballast', workload: 'idle-queues', queues, ...line });
      }
    },
  },
  {
    // A flood from one tenant, then a few from another, on one partitioned queue (bench/lib/fairness.ts).
    name: 'fairness',
    async run(context) {
      const modules: Record<SystemName, string> = { ballast: here('./fairness.ts'), dbos: here('./peers/dbos/fairness.ts') };
      const flood = context.quick ? 2_000 : 20_000;
      const ballastVariants = context.queueOptions
        ? [{ queueOptions: context.queueOptions }]
        : [
            { variant: 'fifo', queueOptions: {} },
            { variant: 'fair', queueOptions: { fairness: 'partition' } },
          ];
      for (const system of context.systems) {
        for (const { queueOptions, ...label } of system === 'ballast' ? ballastVariants : [{ queueOptions: {} }]) {
          const line = await context.withDatabase(`scale_fairness_${system}`, (databaseUrl) =>
            measureInChild(modules[system], 'measureFairness', { databaseUrl, flood, queueOptions }),
          );
          context.print({ system, workload: 'fairness', ...label, ...line });
        }
      }
    },
  },
  {
    // Two processes park 100,000 sleepers and 200 receivers: RSS, send → resume, wake rate and spread (bench/parked.ts).
    name: 'parked',
    async run(context) {
      if (!context.systems.includes('ballast')) return;
      const workflows = context.quick ? 10_000 : 100_000;
      const line = await context.withDatabase('scale_parked', (databaseUrl) =>
        measureInChild(here('./parked.ts'), 'measureParked', { databaseUrl, workflows, wakeAfterSeconds: context.quick ? 60 : 150 }),
      );
      context.print({ system: 'ballast', workload: 'parked', ...line });
    },
  },
  {
    // One process starting hour-long sleepers: the start rate per window as they add up (bench/sleepers.ts). Each
    // parks at its sleep, which is longer than the default parkAfter.
    name: 'sleepers',
    async run(context) {
      if (!context.systems.includes('ballast')) return;
      const workflows = context.quick ? 5_000 : 50_000;
      const line = await context.withDatabase('scale_sleepers', (databaseUrl) =>
        measureInChild(here('./sleepers.ts'), 'measureSleepers', { databaseUrl, workflows, window: workflows / 10 }),
      );
      context.print({ system: 'ballast', workload: 'sleepers', ...line });
    },
  },
  {
    // The queue workload on an empty table and beside millions of finished workflows (bench/history-size.ts).
    name: 'history-size',
    async run(context) {
      const rows = context.rows ?? (context.quick ? 1_000_000 : 10_000_000);
      for (const system of context.systems) {
        const line = await context.withDatabase(`scale_history_${system}`, (databaseUrl) =>
          context.withDatabase(`scale_history_empty_${system}`, (emptyDatabaseUrl) =>
            measureInChild(here('./history-size.ts'), 'measureHistorySize', { system, databaseUrl, emptyDatabaseUrl, rows }),
          ),
        );
        context.print({ system, workload: 'history-size', ...line });
      }
    },
  },
  {
    // The queue workload with retention off and on in turns while it removes a seeded history (bench/retention.ts).
    name: 'retention',
    async run(context) {
      if (!context.systems.includes('ballast')) return;
      const rows = context.quick ? 200_000 : 1_000_000;
      // Deleted rows are reclaimed by autovacuum: its work is part of what retention costs.
      const line = await context.withDatabase(
        'scale_retention',
        (databaseUrl) => measureInChild(here('./retention.ts'), 'measureRetention', { databaseUrl, rows }),
        { autovacuum: true },
      );
      context.print({ system: 'ballast', workload: 'retention', ...line });
    },
  },
  {
    // `npm start` on the embedded database: resident set after 1,000 tasks (test/examples/embedded-footprint.ts).
    name: 'embedded',
    async run(context) {
      if (!context.systems.includes('ballast')) return;
      const line = await measureInChild(here('../test/examples/embedded-footprint.ts'), 'measureEmbeddedFootprint', { tasks: 1_000 });
      context.print({ system: 'ballast', workload: 'embedded', ...line });
    },
  },
];

export const SCALE_NAMES = SCALE_MEASUREMENTS.map((measurement) => measurement.name);

/** Runs the named scale measurements one after another; answers how many failed. */
export async function runScale(names: readonly string[], server: BenchServer, options: ScaleOptions, print: (line: object) => void): Promise<number> {
  let failures = 0;
  const context: ScaleContext = {
    ...options,
    print,
    async withDatabase(prefix, fn, options = {}) {
      const on = options.autovacuum ? await vacuumingServer(server) : { server, own: false };
      const databaseUrl = await on.server.createDatabase(prefix);
      try {
        return await fn(databaseUrl);
      } finally {
        await on.server.dropDatabase(databaseUrl);
        if (on.own) await on.server.stop();
      }
    },
  };
  for (const measurement of SCALE_MEASUREMENTS.filter((candidate) => names.includes(candidate.name))) {
    try {
      await measurement.run(context);
    } catch (err) {
      failures++;
      print({ workload: measurement.name, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return failures;
}
