import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import type { QueueLimits } from '../../queues/options.js';
import { toQueueMetrics } from '../../queues/service.js';
import { commandContext, validated, type CliIo } from '../context.js';
import { systemStore, withConnection } from '../connect.js';
import { formatDuration, formatPeriod, NONE, Output } from '../output.js';

/** One row of `ballast queues`. `limits` is null for a queue no application has declared. */
interface QueueRow {
  name: string;
  enqueued: number;
  pending: number;
  delayed: number;
  /** ENQUEUED + PENDING, what KEDA reads as queue_length. */
  queueLength: number;
  oldestEnqueuedAgeMs: number | null;
  /** As stored in the queues table; a null limit is no limit. */
  limits: Omit<QueueLimits, 'name'> | null;
}

/**
 * `ballast queues`: every queue in the `queues` table (declared by some deployment) or holding
 * active workflows, with its depth and fleet-wide limits. Depths come from the same statement and
 * the same QueueMetrics arithmetic as `/metrics/:queue`, so both report the same queue_length.
 */
export function registerQueueCommands(program: Command, io: CliIo): void {
  program
    .command('queues')
    .description('show each queue: waiting, running and delayed workflows, and its limits')
    .option('--app-version <version>', 'count only workflows of this application version')
    .addHelpText(
      'after',
      '\nQUEUE_LENGTH is ENQUEUED + PENDING (what the KEDA scaler reads); OLDEST is the age of the oldest\n' +
        'ENQUEUED workflow. Limits: "-" is no limit. A queue marked * has workflows but no declaration.',
    )
    .action(async (options: { appVersion?: string }, command: Command) => {
      const context = commandContext(command, io);
      const version = options.appVersion;
      if (version !== undefined) validated(() => requireName(version, 'app version'));
      const rows = await withConnection(context, { create: false }, async (connection) => {
        const store = systemStore(connection);
        const [declared, depths] = await Promise.all([store.readQueues(null), store.queueDepths(null, version ?? null)]);
        const limits = new Map(declared.map(({ name, ...rest }) => [name, rest]));
        const byQueue = new Map(depths.map((depth) => [depth.queue, depth]));
        const names = [...new Set([...limits.keys(), ...byQueue.keys()])].sort();
        return names.map((name): QueueRow => {
          const { queue: _queue, runningHere: _runningHere, ...metrics } = toQueueMetrics(name, byQueue.get(name), 0);
          return { name, ...metrics, limits: limits.get(name) ?? null };
        });
      });
      printQueues(new Output(io), rows, context.options.json, version);
    });
}

function printQueues(out: Output, rows: QueueRow[], json: boolean, version: string | undefined): void {
  if (json) {
    out.json(rows);
    return;
  }
  if (rows.length === 0) {
    out.line(`No queues: none declared, and no queued workflows${version === undefined ? '' : ` of version ${version}`}.`);
    return;
  }
  const limit = (value: number | null | undefined) => (value == null ? NONE : String(value));
  out.table(
    [
      { header: 'NAME', maxWidth: 40 },
      { header: 'ENQUEUED', align: 'right' },
      { header: 'PENDING', align: 'right' },
      { header: 'DELAYED', align: 'right' },
      { header: 'QUEUE_LENGTH', align: 'right' },
      { header: 'OLDEST', align: 'right' },
      { header: 'WORKER_CONC', align: 'right' },
      { header: 'CONCURRENCY', align: 'right' },
      { header: 'RATE', align: 'right' },
      { header: 'PARTITION_CONC', align: 'right' },
    ],
    rows.map((row) => [
      row.limits === null ? `${row.name} *` : row.name,
      String(row.enqueued),
      String(row.pending),
      String(row.delayed),
      String(row.queueLength),
      formatDuration(row.oldestEnqueuedAgeMs),
      limit(row.limits?.workerConcurrency),
      limit(row.limits?.concurrency),
      row.limits?.rateLimit != null && row.limits.ratePeriodMs != null ? `${row.limits.rateLimit}/${formatPeriod(row.limits.ratePeriodMs)}` : NONE,
      limit(row.limits?.partitionConcurrency),
    ]),
  );
  if (rows.some((row) => row.limits === null)) {
    out.line('* no deployment has declared this queue (it has no row in the queues table); its workflows wait until one does.');
  }
}
