// The fairness scale measurement on DBOS Transact (the driver is bench/lib/fairness.ts): a
// partitioned queue (DBOS's `partitionConcurrency`) polled every 50 ms like the other DBOS queues of
// the benchmark, tenant A's flood and then tenant B's few, each under its partition key.

import { setTimeout as sleep } from 'node:timers/promises';
import { DBOS } from '@dbos-inc/dbos-sdk';
import { DEFAULT_FAIRNESS, fairnessStarted, measureFairnessOn, type FairnessConfig, type FairnessLine, type FairnessSystem } from '../../lib/fairness.js';

const POLLING_INTERVAL_MS = 50;
const QUEUE = 'shared';

const dbosSystem: FairnessSystem = {
  name: 'dbos',
  async launch(databaseUrl, queue, workMs) {
    DBOS.setConfig({ name: 'bench-fairness', systemDatabaseUrl: databaseUrl, logLevel: 'warn' });
    const work = DBOS.registerWorkflow(
      async (input: number) => {
        fairnessStarted(input);
        return DBOS.runStep(async () => {
          await sleep(workMs);
          return input;
        }, { name: 'work' });
      },
      { name: 'work' },
    );
    await DBOS.launch();
    await DBOS.registerQueue(QUEUE, {
      globalConcurrency: queue.concurrency,
      partitionConcurrency: queue.partitionConcurrency,
      minPollingIntervalMs: POLLING_INTERVAL_MS,
      ...queue.extra,
    });
    dbosSystem.enqueue = async (tenant, input) => {
      const handle = await DBOS.startWorkflow(work, { queueName: QUEUE, enqueueOptions: { queuePartitionKey: tenant } })(input);
      return { result: () => handle.getResult({ pollingIntervalMs: POLLING_INTERVAL_MS }) };
    };
  },
  enqueue: () => Promise.reject(new Error('not launched')),
  async shutdown() {
    await DBOS.shutdown();
  },
};

export function measureFairness(config: Partial<FairnessConfig> & { databaseUrl: string }): Promise<FairnessLine> {
  return measureFairnessOn(dbosSystem, { ...DEFAULT_FAIRNESS, ...config });
}
