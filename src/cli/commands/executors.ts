import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import type { ExecutorInfo } from '../../fleet/registry.js';
import { commandContext, validated, type CliIo } from '../context.js';
import { applicationsFor, fleetRegistry, withConnection } from '../connect.js';
import { formatDuration, formatTime, NONE, Output, type Column } from '../output.js';

interface ExecutorsOptions {
  app?: string;
  all?: boolean;
}

/**
 * `ballast executors`: the executors of one application (--app) or of every application, from the
 * library's FleetRegistry. --json prints its ExecutorInfo objects as they are.
 */
export function registerExecutorCommands(program: Command, io: CliIo): void {
  program
    .command('executors')
    .description('show the live executors (processes): version, host, queues, running workflows and lease')
    .option('--app <name>', 'only executors of this application')
    .option('--all', 'also executors whose lease ran out (kept for a day after their work was handed over)')
    .addHelpText(
      'after',
      '\nLEASE is the time left on the lease, or "expired": a live executor renews it with every heartbeat,\n' +
        'and the fleet takes over the workflows of one whose lease expired. RECOVERED is when that happened.',
    )
    .action(async (options: ExecutorsOptions, command: Command) => {
      const context = commandContext(command, io);
      const app = options.app;
      if (app !== undefined) validated(() => requireName(app, 'application name'));
      const includeDead = options.all === true;
      const executors = await withConnection(context, { create: false }, async (connection) => {
        const apps = await applicationsFor(connection, app);
        const perApp = await Promise.all(apps.map((name) => fleetRegistry(connection, name).executors.list({ includeDead })));
        return perApp.flat();
      });
      printExecutors(new Output(io), executors, { json: context.options.json, includeDead, app });
    });
}

function printExecutors(out: Output, executors: ExecutorInfo[], view: { json: boolean; includeDead: boolean; app: string | undefined }): void {
  if (view.json) {
    out.json(executors);
    return;
  }
  if (executors.length === 0) {
    out.line(`No ${view.includeDead ? '' : 'live '}executors${view.app === undefined ? '' : ` of application ${view.app}`}.`);
    return;
  }
  const columns: Column[] = [
    { header: 'ID', maxWidth: 60 },
    { header: 'APP', maxWidth: 30 },
    { header: 'VERSION', maxWidth: 24 },
    { header: 'HOST', maxWidth: 40 },
    { header: 'PID', align: 'right' },
    { header: 'QUEUES', maxWidth: 40 },
    { header: 'RUNNING', align: 'right' },
    { header: 'STARTED' },
    { header: 'HEARTBEAT', align: 'right' },
    { header: 'LEASE', align: 'right' },
  ];
  if (view.includeDead) columns.push({ header: 'ALIVE' }, { header: 'RECOVERED' });
  const now = Date.now();
  out.table(
    columns,
    executors.map((executor) => {
      const row = [
        executor.id,
        executor.appName,
        executor.appVersion,
        executor.hostname ?? NONE,
        executor.pid === null ? NONE : String(executor.pid),
        executor.queues.length === 0 ? NONE : executor.queues.join(','),
        String(executor.running),
        formatTime(executor.startedAt),
        `${formatDuration(Math.max(0, now - executor.lastHeartbeatAt.getTime()))} ago`,
        leaseText(executor, now),
      ];
      if (view.includeDead) row.push(executor.alive ? 'yes' : 'no', formatTime(executor.recoveredAt));
      return row;
    }),
  );
}

/**
 * Time left on the lease. Whether it ran out is the database's verdict (its clock leases them);
 * the time left is read on this machine's clock, so it is as exact as the two clocks agree.
 */
function leaseText(executor: ExecutorInfo, now: number): string {
  return executor.alive ? formatDuration(Math.max(0, executor.leaseExpiresAt.getTime() - now)) : 'expired';
}
