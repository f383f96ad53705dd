// One executor of the fleet in test/fleet/queues.test.ts. Declares the fleet queues, runs the fleet
// workflows, prints `ready <executorId>` once it dispatches, and obeys commands the test NOTIFYs on
// COMMAND_CHANNEL (printing one `dedup <json>` line per dedup burst). SIGTERM shuts it down cleanly.
//
//   env: FLEET_DATABASE_URL, BALLAST_EXECUTOR_ID
import pg from 'pg';
import { Ballast, DuplicateWorkflowError } from '../../../src/index.js';
import { APP_NAME, APP_VERSION, COMMAND_CHANNEL, QUEUES, registerWorkflows, type Command, type DedupAttempt, type DedupCommand, type DedupReport } from './fleet-app.js';
import { requiredEnv } from '../../support/worker-main.js';

const databaseUrl = requiredEnv('FLEET_DATABASE_URL');
const executorId = requiredEnv('BALLAST_EXECUTOR_ID');

const ballast = new Ballast({
  name: APP_NAME,
  databaseUrl,
  appVersion: APP_VERSION,
  pollIntervalMs: 1_000,
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`[warn] ${message}\n`),
    error: (message, error) => process.stderr.write(`[error] ${message} ${error instanceof Error ? error.stack : String(error ?? '')}\n`),
  },
});

for (const [name, options] of Object.entries(QUEUES)) ballast.queue(name, options);
const runs = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: `fleet-runs:${executorId}` });
runs.on('error', (error) => process.stderr.write(`[error] runs pool: ${error.message}\n`));
const { gated } = registerWorkflows(ballast, runs, executorId);

let commands: pg.Client | undefined;
let stopping = false;

async function attempt(command: DedupCommand, key: string): Promise<DedupAttempt> {
  try {
    const handle = await gated.enqueue({ label: `${command.round}:${key}` }, { queue: 'dedup', dedupId: key, onDuplicate: command.onDuplicate });
    return { key, id: handle.id };
  } catch (error) {
    if (error instanceof DuplicateWorkflowError) return { key, rejectedFor: error.existingWorkflowId };
    return { key, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

async function dedupBurst(command: DedupCommand): Promise<void> {
  const wait = command.at - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const firedLateMs = Date.now() - command.at;
  // The copies of a key go out in the same tick and share a group-commit flush; the keys are spread
  // over a few milliseconds so that this worker's flushes interleave with the other workers'.
  const perKey = await Promise.all(
    command.keys.map(async (key) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * command.spreadMs));
      return Promise.all(Array.from({ length: command.copies }, () => attempt(command, key)));
    }),
  );
  const attempts = perKey.flat();
  const report: DedupReport = { round: command.round, executor: executorId, firedLateMs, attempts };
  process.stdout.write(`dedup ${JSON.stringify(report)}\n`);
}

async function main(): Promise<void> {
  await ballast.launch();
  commands = new pg.Client({ connectionString: databaseUrl, application_name: `fleet-commands:${executorId}` });
  commands.on('error', (error) => process.stderr.write(`[error] command connection: ${error.message}\n`));
  commands.on('notification', (message) => {
    if (message.channel !== COMMAND_CHANNEL || message.payload === undefined) return;
    const command = JSON.parse(message.payload) as Command;
    if (command.cmd === 'dedup') {
      dedupBurst(command).catch((error: Error) => process.stderr.write(`[error] dedup burst: ${error.stack}\n`));
    }
  });
  await commands.connect();
  await commands.query(`LISTEN ${COMMAND_CHANNEL}`);
  process.stdout.write(`ready ${executorId}\n`);
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await ballast.shutdown({ drainMs: 2_000 });
    await commands?.end();
    await runs.end();
    process.exit(0);
  } catch (error) {
    process.stderr.write(`[error] shutdown: ${(error as Error).stack}\n`);
    process.exit(1);
  }
}

process.on('SIGTERM', () => void stop());

main().catch((error: Error) => {
  process.stderr.write(`[error] worker failed: ${error.stack}\n`);
  process.exit(1);
});
