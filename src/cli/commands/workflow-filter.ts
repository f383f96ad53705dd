import type { Command } from 'commander';
import type { WorkflowFilter } from '../../management.js';
import type { WorkflowStatus } from '../../store/records.js';
import { collectAttribute, collectList, parseTime } from '../parse.js';

/**
 * The options that choose workflows, declared once for `workflows list` and for the operations that
 * apply to every match (`workflows cancel|resume|delete` without IDs). The library checks the values
 * (toListQuery), so the CLI, the API and code refuse the same filters in the same words.
 */
export interface FilterOptions {
  status?: string[];
  name?: string;
  queue?: string;
  queuedOnly?: boolean;
  executor?: string;
  appVersion?: string;
  parent?: string;
  idPrefix?: string;
  attr?: Record<string, string>;
  createdAfter?: number;
  createdBefore?: number;
  completedAfter?: number;
  completedBefore?: number;
}

const FILTER_KEYS: readonly (keyof FilterOptions)[] = [
  'status', 'name', 'queue', 'queuedOnly', 'executor', 'appVersion', 'parent', 'idPrefix', 'attr',
  'createdAfter', 'createdBefore', 'completedAfter', 'completedBefore',
];

export const TIMES_HELP =
  '\nTimes: 2024-05-01 (midnight UTC), 2024-05-01T12:00:00Z, 2024-05-01T14:00+02:00, or epoch milliseconds;\n' +
  'a date-time without Z or an offset is local time. "after" bounds include the time, "before" bounds exclude it.';

export function addFilterOptions(command: Command): Command {
  return command
    .option('--status <status...>', 'only these statuses (repeat or separate with commas): ENQUEUED, DELAYED, PENDING, SUCCESS, ERROR, CANCELLED, DEAD_LETTER', collectList)
    .option('--name <name>', 'only workflows of this name')
    .option('--queue <queue>', 'only workflows of this queue')
    .option('--queued-only', 'only ENQUEUED and PENDING workflows (what a queue length counts)')
    .option('--executor <id>', 'only workflows owned by this executor')
    .option('--app-version <version>', 'only workflows of this application version')
    .option('--parent <id>', 'only children of this workflow')
    .option('--id-prefix <prefix>', 'only IDs that start with this')
    .option('--attr <key=value>', 'only workflows with this attribute (repeat for several: all must match)', collectAttribute)
    .option('--created-after <time>', 'created at or after this time (ISO 8601 or epoch ms)', parseTime)
    .option('--created-before <time>', 'created before this time', parseTime)
    .option('--completed-after <time>', 'completed at or after this time', parseTime)
    .option('--completed-before <time>', 'completed before this time', parseTime);
}

/** Whether the command line chose workflows by any filter at all. */
export function hasFilter(options: FilterOptions): boolean {
  return FILTER_KEYS.some((key) => options[key] !== undefined);
}

/** The command line's filter options as the library's filter (unchecked: toListQuery checks it). */
export function toFilter(options: FilterOptions): WorkflowFilter {
  return {
    // Statuses are upper case in the database; accept `error` for ERROR. Unknown ones are the library's to refuse.
    status: options.status?.map((status) => status.toUpperCase() as WorkflowStatus),
    name: options.name,
    queue: options.queue,
    queuedOnly: options.queuedOnly === true,
    executorId: options.executor,
    appVersion: options.appVersion,
    parentId: options.parent,
    idPrefix: options.idPrefix,
    attributes: options.attr,
    createdAfter: options.createdAfter,
    createdBefore: options.createdBefore,
    completedAfter: options.completedAfter,
    completedBefore: options.completedBefore,
  };
}
