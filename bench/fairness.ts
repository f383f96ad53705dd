// The fairness scale measurement on Ballast (the driver is bench/lib/fairness.ts): tenant A floods a
// partitioned queue, then tenant B enqueues a few. `queueOptions` go to `ballast.queue()` as they
// are, so the same measurement runs with or without an option such as `fairness: 'partition'`.

import { setTimeout as sleep } from 'node:timers/promises';
import { Ballast, type QueueOptions } from '../src/index.js';
import { DEFAULT_FAIRNESS, fairnessStarted, measureFairnessOn, type FairnessConfig, type FairnessLine, type FairnessSystem } from './lib/fairness.js';

const quietLogger = { info: () => undefined, warn: () => undefined, error: (message: string) => process.stderr.write(`[ballast] ${message}\n`) };

function ballastSystem(): FairnessSystem {
  let ballast: Ballast | undefined;
  let enqueue: FairnessSystem['enqueue'] | undefined;
  return {
    name: 'ballast',
    async launch(databaseUrl, queue, workMs) {
      const app = new Ballast({ name: 'bench-fairness', databaseUrl, logger: quietLogger });
      const shared = app.queue('shared', { concurrency: queue.concurrency, partitionConcurrency: queue.partitionConcurrency, ...queue.extra } as QueueOptions);
      const work = app.workflow('work', async (ctx, input: number) => {
        fairnessStarted(input);
        return ctx.step('work', async () => {
          await sleep(workMs);
          return input;
        });
      });
      await app.launch();
      ballast = app;
      enqueue = async (tenant, input) => {
        const handle = await work.enqueue(input, { queue: shared, partitionKey: tenant });
        return { result: () => handle.result() };
      };
    },
    enqueue: (tenant, input) => {
      if (!enqueue) throw new Error('not launched');
      return enqueue(tenant, input);
    },
    async shutdown() {
      await ballast?.shutdown({ drainMs: 0 });
    },
  };
}

export function measureFairness(config: Partial<FairnessConfig> & { databaseUrl: string }): Promise<FairnessLine> {
  return measureFairnessOn(ballastSystem(), { ...DEFAULT_FAIRNESS, ...config });
}
