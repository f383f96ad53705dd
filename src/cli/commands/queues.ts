import { InvalidArgumentError, type Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import { UnknownQueueError } from '../../errors.js';
import { toQueueLimits, type QueueLimits, type QueueOptions } from '../../queues/options.js';
import { toQueueMetrics } from '../../queues/service.js';
import { commandContext, UsageError, validated, type CliIo, type CommandContext } from '../context.js';
import { systemStore, withConnection } from '../connect.js';
import { formatDuration, formatPeriod, NONE, Output } from '../output.js';
import { parseInteger, parseRateLimit } from '../parse.js';

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
  limits: StoredLimits | null;
}

/** A queue's limits as the queues table stores them (null: no limit), without its name. */
type StoredLimits = Omit<QueueLimits, 'name'>;

/**
 * `ballast queues`: every queue in the `queues` table (declared by some deployment) or holding
 * active workflows, with its depth and fleet-wide limits. Depths come from the same statement and
 * the same QueueMetrics arithmetic as `/metrics/:queue`, so both report the same queue_length.
 * `ballast queues set-limit` changes a queue's limits (see setLimits).
 */
export function registerQueueCommands(program: Command, io: CliIo): void {
  const queues = program
    .command('queues')
    .description('show each queue: waiting, running and delayed workflows, and its limits (set-limit changes them)')
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

  queues
    .command('set-limit')
    .description("change a queue's fleet-wide limits; the limits not named keep their stored values")
    .argument('<name>', 'queue name')
    .option('--worker-concurrency <n>', 'most running at once in one executor', parseInteger)
    .option('--concurrency <n>', 'most running at once across the fleet', parseInteger)
    .option('--rate-limit <limit/period>', 'most starts per period across the fleet, e.g. 100/1m, 5/10s', parseRateLimit)
    .option('--partition-concurrency <n>', 'most running at once per partition key', parseInteger)
    .option('--clear <limits>', `remove limits (comma-separated): ${LIMITS.map((limit) => limit.flag).join(', ')}`, collectLimits)
    .addHelpText(
      'after',
      '\nExecutors apply the new limits within about a second. They hold until changed again, or until an executor\n' +
        'that declares the queue launches: its declaration is written then (the change is for operating, the code for deploying).\n' +
        'Example: ballast queues set-limit emails --concurrency 20 --clear rate-limit',
    )
    .action(async (name: string, options: SetLimitOptions, command: Command) => {
      await setLimits(commandContext(command, io), name, options);
    });
}

/** The limits `set-limit` names, each with its option and its field in QueueOptions. */
const LIMITS = [
  { flag: 'worker-concurrency', field: 'workerConcurrency' },
  { flag: 'concurrency', field: 'concurrency' },
  { flag: 'rate-limit', field: 'rateLimit' },
  { flag: 'partition-concurrency', field: 'partitionConcurrency' },
] as const;

type LimitField = (typeof LIMITS)[number]['field'];

interface SetLimitOptions {
  workerConcurrency?: number;
  concurrency?: number;
  rateLimit?: { limit: number; period: string | number };
  partitionConcurrency?: number;
  clear?: LimitField[];
}

/** `--clear rate-limit,concurrency`, repeatable. */
function collectLimits(value: string, previous: LimitField[] | undefined): LimitField[] {
  const fields = value.split(',').map((part) => {
    const limit = LIMITS.find((each) => each.flag === part.trim());
    if (!limit) throw new InvalidArgumentError(`unknown limit "${part.trim()}"; use ${LIMITS.map((each) => each.flag).join(', ')}.`);
    return limit.field;
  });
  return [...(previous ?? []), ...fields];
}

interface LimitChange {
  queue: string;
  changed: boolean;
  before: StoredLimits;
  after: StoredLimits;
}

/**
 * Merges the requested limits into the queue's stored ones and writes the result if it differs.
 * The request alone is checked before connecting (exit 2 when it is wrong in itself, such as
 * --concurrency 0); the merged limits are checked by the same toQueueLimits, and refused (exit 1)
 * when they contradict a stored limit.
 */
async function setLimits(context: CommandContext, queue: string, options: SetLimitOptions): Promise<void> {
  const { set, clear } = requestedChange(options);
  validated(() => toQueueLimits(queue, set));
  const change = await withConnection(context, { create: false }, async (connection): Promise<LimitChange> => {
    const store = systemStore(connection);
    const [current] = await store.readQueues([queue]);
    if (!current) throw new UnknownQueueError(queue);
    const merged: QueueOptions = { ...storedOptions(current), ...set };
    for (const field of clear) delete merged[field];
    const next = toQueueLimits(queue, merged);
    const changed = LIMIT_COLUMNS.some((column) => current[column] !== next[column]);
    // upsertQueues(…, true) tells the executors to re-read the limits at once.
    if (changed) await store.upsertQueues([next], true);
    return { queue, changed, before: withoutName(current), after: withoutName(next) };
  });
  printLimitChange(new Output(context.io), change, context.options.json);
}

/** The limits the command line sets and clears, as QueueOptions fields; refuses a call that asks for nothing. */
function requestedChange(options: SetLimitOptions): { set: QueueOptions; clear: LimitField[] } {
  const set: QueueOptions = {};
  if (options.workerConcurrency !== undefined) set.workerConcurrency = options.workerConcurrency;
  if (options.concurrency !== undefined) set.concurrency = options.concurrency;
  if (options.rateLimit !== undefined) set.rateLimit = options.rateLimit;
  if (options.partitionConcurrency !== undefined) set.partitionConcurrency = options.partitionConcurrency;
  const clear = [...new Set(options.clear ?? [])];
  if (Object.keys(set).length === 0 && clear.length === 0) {
    throw new UsageError('set-limit: nothing to change; give a limit such as --concurrency 10, or --clear rate-limit.');
  }
  const both = LIMITS.find((limit) => clear.includes(limit.field) && set[limit.field] !== undefined);
  if (both) throw new UsageError(`set-limit: --${both.flag} and --clear ${both.flag} contradict each other.`);
  return { set, clear };
}

const LIMIT_COLUMNS = ['workerConcurrency', 'concurrency', 'rateLimit', 'ratePeriodMs', 'partitionConcurrency'] as const;

/** Stored limits as the QueueOptions that declare them. */
function storedOptions(limits: QueueLimits): QueueOptions {
  const options: QueueOptions = {};
  if (limits.workerConcurrency !== null) options.workerConcurrency = limits.workerConcurrency;
  if (limits.concurrency !== null) options.concurrency = limits.concurrency;
  if (limits.rateLimit !== null && limits.ratePeriodMs !== null) options.rateLimit = { limit: limits.rateLimit, period: limits.ratePeriodMs };
  if (limits.partitionConcurrency !== null) options.partitionConcurrency = limits.partitionConcurrency;
  if (limits.fairness !== null) options.fairness = limits.fairness;
  if (limits.partitionWeights !== null) options.partitionWeights = limits.partitionWeights;
  return options;
}

function withoutName({ name: _name, ...limits }: QueueLimits): StoredLimits {
  return limits;
}

function printLimitChange(out: Output, change: LimitChange, json: boolean): void {
  if (json) {
    out.json(change);
    return;
  }
  out.line(
    change.changed
      ? `Changed the limits of queue ${change.queue}; its executors apply them within about a second.`
      : `Queue ${change.queue} already has these limits; nothing changed.`,
  );
  const { before, after } = change;
  const rows: [string, string, string][] = [
    ['worker-concurrency', limitText(before.workerConcurrency), limitText(after.workerConcurrency)],
    ['concurrency', limitText(before.concurrency), limitText(after.concurrency)],
    ['rate-limit', rateText(before), rateText(after)],
    ['partition-concurrency', limitText(before.partitionConcurrency), limitText(after.partitionConcurrency)],
  ];
  out.table([{ header: 'LIMIT' }, { header: 'BEFORE', align: 'right' }, { header: 'AFTER', align: 'right' }], rows);
}

function limitText(value: number | null | undefined): string {
  return value == null ? NONE : String(value);
}

/** 100/1m, or "-" for none. */
function rateText(limits: StoredLimits | null): string {
  return limits?.rateLimit != null && limits.ratePeriodMs != null ? `${limits.rateLimit}/${formatPeriod(limits.ratePeriodMs)}` : NONE;
}

/** partition, partition (acme:3 …) with weights, or "-" for a queue that is not fair. */
function fairnessText(limits: StoredLimits | null): string {
  if (limits?.fairness == null) return NONE;
  const weights = Object.entries(limits.partitionWeights ?? {}).map(([key, weight]) => `${key}:${weight}`);
  return weights.length === 0 ? limits.fairness : `${limits.fairness} (${weights.join(' ')})`;
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
      { header: 'FAIRNESS' },
    ],
    rows.map((row) => [
      row.limits === null ? `${row.name} *` : row.name,
      String(row.enqueued),
      String(row.pending),
      String(row.delayed),
      String(row.queueLength),
      formatDuration(row.oldestEnqueuedAgeMs),
      limitText(row.limits?.workerConcurrency),
      limitText(row.limits?.concurrency),
      rateText(row.limits),
      limitText(row.limits?.partitionConcurrency),
      fairnessText(row.limits),
    ]),
  );
  if (rows.some((row) => row.limits === null)) {
    out.line('* no deployment has declared this queue (it has no row in the queues table); its workflows wait until one does.');
  }
}
