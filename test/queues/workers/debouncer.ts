// Child process of test/queues/debounce.test.ts: one replica of an application that debounces the
// same key. Once launched it prints `ready`, waits for the GO_FILE to exist (so that every replica
// calls within one window), makes CALLS debounce calls for key "k" with input { process, call },
// prints `done <workflow id>` and keeps running workflows until SIGTERM.
//
//   env: DEBOUNCE_DATABASE_URL, EXECUTOR_ID, GO_FILE, CALLS
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ballast } from '../../../src/index.js';
import { runWorker } from '../../support/worker-main.js';

const executorId = process.env.EXECUTOR_ID as string;
const calls = Number(process.env.CALLS);
const ballast = new Ballast({
  name: 'debounce-app',
  databaseUrl: process.env.DEBOUNCE_DATABASE_URL,
  executorId,
  appVersion: 'v1',
  pollIntervalMs: 500,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});
const digests = ballast.queue('digests');
const digest = ballast.workflow('digest', async (_ctx, input: { process: string; call: number }) => input);

runWorker(ballast, {
  drainMs: 5_000,
  afterLaunch: async () => {
    void (async () => {
      while (!existsSync(process.env.GO_FILE as string)) await sleep(10);
      let id = '';
      for (let call = 0; call < calls; call++) {
        id = (await digest.debounce('k', { process: executorId, call }, { delay: '3s', queue: digests })).id;
      }
      process.stdout.write(`done ${id}\n`);
    })().catch((error: Error) => {
      process.stderr.write(`[error] debounce: ${error.stack}\n`);
      process.exit(1);
    });
  },
});
