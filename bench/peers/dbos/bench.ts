// The benchmark workloads on DBOS Transact (@dbos-inc/dbos-sdk 5.3.0), run by bench/run.ts as a
// child process under the root's tsx. The driver is the same one Ballast runs (bench/lib/workloads.ts);
// this file only maps it onto DBOS: a workflow of three checkpointed steps, DBOS.startWorkflow, and a
// queue registered after launch with its polling interval set to 50 ms.

import { DBOS } from '@dbos-inc/dbos-sdk';
import { runChild } from '../../lib/child.js';
import { workflowStarted, type BenchSystem, type QueueSpec, type WorkflowRun } from '../../lib/workloads.js';

/** How often DBOS polls a queue, and a queued workflow's status when its result is awaited. */
const POLLING_INTERVAL_MS = 50;

async function threeStepsBody(i: number): Promise<number> {
  workflowStarted(i);
  const a = await DBOS.runStep(async () => i + 1, { name: 'a' });
  const b = await DBOS.runStep(async () => a + 1, { name: 'b' });
  return DBOS.runStep(async () => b + 1, { name: 'c' });
}

let threeSteps: (i: number) => Promise<number>;
let queueName: string | undefined;

const dbos: BenchSystem = {
  name: 'dbos',

  async launch(databaseUrl: string, queue: QueueSpec | undefined) {
    DBOS.setConfig({ name: 'bench', systemDatabaseUrl: databaseUrl, logLevel: 'warn' });
    threeSteps = DBOS.registerWorkflow(threeStepsBody, { name: 'three-steps' });
    await DBOS.launch();
    if (queue) {
      await DBOS.registerQueue(queue.name, {
        workerConcurrency: queue.workerConcurrency,
        minPollingIntervalMs: POLLING_INTERVAL_MS,
        ...(queue.held ? { rateLimit: { limitPerPeriod: 1, periodSec: 3600 } } : {}),
      });
      queueName = queue.name;
    }
    return undefined;
  },

  async start(i: number): Promise<WorkflowRun> {
    const handle = await DBOS.startWorkflow(threeSteps)(i);
    return { result: () => handle.getResult() };
  },

  async enqueue(i: number): Promise<WorkflowRun> {
    const handle = await DBOS.startWorkflow(threeSteps, { queueName })(i);
    // A queued workflow's handle polls its status row (default every 1 s); poll as often as the queue.
    return { result: () => handle.getResult({ pollingIntervalMs: POLLING_INTERVAL_MS }) };
  },

  async shutdown() {
    await DBOS.shutdown();
  },
};

await runChild(dbos);
