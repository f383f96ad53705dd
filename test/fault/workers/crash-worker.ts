// Child process of test/fault/crash.test.ts. Runs the five-step workflow under a fixed executor ID
// and application version, so a second run of this script recovers what a killed first run left.
//
//   start    launch, start wf-0..wf-49, print `progress <n>` once KILL_AFTER step lines were
//            appended and at least one workflow finished, and keep running until killed
//   recover  launch (recovery resumes the PENDING workflows), wait for all 50 results, print
//            `results <json>`, shut down and exit 0
//   all      an uninterrupted run: start all 50, wait for them, print `results <json>`, exit 0
import { Ballast } from '../../../src/index.js';
import { registerFiveSteps, WORKFLOW_COUNT, workflowId } from './five-steps.js';
import { requiredEnv, runMain } from '../../support/worker-main.js';

const mode = process.argv[2];
const databaseUrl = requiredEnv('CRASH_DATABASE_URL');
const stepsFile = requiredEnv('CRASH_STEPS_FILE');
const killAfter = Number(process.env.CRASH_KILL_AFTER ?? '0');

const ballast = new Ballast({
  name: 'crash-app',
  databaseUrl,
  executorId: 'crash-executor',
  appVersion: 'crash-v1',
  pollIntervalMs: 100,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});

let stepLines = 0;
let finished = 0;
let announced = false;
// The kill must land mid-flight whatever the machine's load: some workflows done, others part-way.
function announceWhenReady(): void {
  if (mode !== 'start' || announced || stepLines < killAfter || finished === 0) return;
  announced = true;
  // stdout to a pipe is synchronous on Linux: the line is out before the next step runs.
  process.stdout.write(`progress ${stepLines}\n`);
}
const fiveSteps = registerFiveSteps(ballast, stepsFile, () => {
  stepLines++;
  announceWhenReady();
});

const ids = Array.from({ length: WORKFLOW_COUNT }, (_, n) => workflowId(n));

async function collectResults(): Promise<void> {
  const results = await Promise.all(ids.map((id) => ballast.handle(id).result({ timeout: '60s' })));
  process.stdout.write(`results ${JSON.stringify(results)}\n`);
  await ballast.shutdown({ drainMs: 5_000 });
}

async function main(): Promise<void> {
  await ballast.launch();
  switch (mode) {
    case 'start':
      for (const handle of await Promise.all(ids.map((id, n) => fiveSteps.start(n, { id })))) {
        void handle.result().then(() => {
          finished++;
          announceWhenReady();
        });
      }
      process.stdout.write('started\n');
      setInterval(() => undefined, 60_000); // stay alive until the test kills us
      break;
    case 'recover':
      await collectResults();
      break;
    case 'all':
      await Promise.all(ids.map((id, n) => fiveSteps.start(n, { id })));
      await collectResults();
      break;
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

runMain(main);
