import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import type { ScheduleInfo } from '../../schedule/service.js';
import { commandContext, validated, type CliIo, type CommandContext } from '../context.js';
import { applicationsFor, scheduleService, withConnection } from '../connect.js';
import { formatTime, NONE, Output } from '../output.js';

/**
 * `ballast schedules …`: the schedules launched executors declared, through the library's
 * ScheduleService (the same operations as `ballast.schedules` and the admin API). --json prints its
 * ScheduleInfo objects as they are.
 */
export function registerScheduleCommands(program: Command, io: CliIo): void {
  const schedules = program.command('schedules').description('list, pause, resume and trigger schedules');

  schedules
    .command('list')
    .description('list schedules with their cron, state, next run and last tick')
    .option('--app <name>', 'only schedules of this application')
    .action(async (options: { app?: string }, command: Command) => {
      const context = commandContext(command, io);
      const app = options.app;
      if (app !== undefined) validated(() => requireName(app, 'application name'));
      const rows = await withConnection(context, { create: false }, async (connection) => {
        const apps = await applicationsFor(connection, app);
        return (await Promise.all(apps.map((appName) => scheduleService(connection, appName).list()))).flat();
      });
      printSchedules(new Output(io), rows, context.options.json, app);
    });

  schedules
    .command('pause')
    .description('stop a schedule firing, fleet-wide, until it is resumed (it stays paused across deployments)')
    .argument('<name>', 'schedule name')
    .requiredOption('--app <name>', 'application the schedule belongs to')
    .addHelpText('after', '\nTicks that fall in the pause are never started, not even by backfill.')
    .action(async (name: string, options: { app: string }, command: Command) => {
      const context = commandContext(command, io);
      const info = await onSchedule(context, name, options.app, (service) => service.pause(name));
      printChange(context, info, `Paused schedule ${info.name} of application ${info.appName}; it starts nothing until resumed.`);
    });

  schedules
    .command('resume')
    .description('let a paused schedule fire again from its next tick')
    .argument('<name>', 'schedule name')
    .requiredOption('--app <name>', 'application the schedule belongs to')
    .action(async (name: string, options: { app: string }, command: Command) => {
      const context = commandContext(command, io);
      const info = await onSchedule(context, name, options.app, (service) => service.resume(name));
      const next = info.nextRunAt
        ? `next run at ${formatTime(info.nextRunAt)}`
        : `the deployed version (${info.appVersion}) does not declare it, so it fires once a version that declares it launches`;
      printChange(context, info, `Resumed schedule ${info.name} of application ${info.appName}; ${next}.`);
    });

  schedules
    .command('trigger')
    .description("start one run of a schedule's workflow now, paused or not, and print its workflow ID")
    .argument('<name>', 'schedule name')
    .requiredOption('--app <name>', 'application the schedule belongs to')
    .addHelpText(
      'after',
      "\nThe run has its own ID (sched:<name>:manual:<uuid>) and goes where the schedule's ticks go: onto its\n" +
        'queue, or to an executor of the version that fires the schedule.',
    )
    .action(async (name: string, options: { app: string }, command: Command) => {
      const context = commandContext(command, io);
      const { workflowId } = await onSchedule(context, name, options.app, (service) => service.trigger(name));
      const out = new Output(io);
      if (context.options.json) out.json({ workflowId, schedule: name, appName: options.app });
      else out.line(workflowId);
    });
}

/** Runs one ScheduleService operation on the schedule `name` of `app`, the names checked first. */
async function onSchedule<T>(
  context: CommandContext,
  name: string,
  app: string,
  operation: (service: ReturnType<typeof scheduleService>) => Promise<T>,
): Promise<T> {
  validated(() => requireName(name, 'schedule name'));
  validated(() => requireName(app, 'application name'));
  return withConnection(context, { create: false }, (connection) => operation(scheduleService(connection, app)));
}

function printChange(context: CommandContext, info: ScheduleInfo, message: string): void {
  const out = new Output(context.io);
  if (context.options.json) out.json(info);
  else out.line(message);
}

function printSchedules(out: Output, schedules: ScheduleInfo[], json: boolean, app: string | undefined): void {
  if (json) {
    out.json(schedules);
    return;
  }
  if (schedules.length === 0) {
    out.line(`No schedules${app === undefined ? '' : ` in application ${app}`}: a launched executor declares them with ballast.schedule().`);
    return;
  }
  out.table(
    [
      { header: 'APP', maxWidth: 30 },
      { header: 'NAME', maxWidth: 40 },
      { header: 'CRON', maxWidth: 30 },
      { header: 'TIMEZONE', maxWidth: 30 },
      { header: 'WORKFLOW', maxWidth: 40 },
      { header: 'QUEUE', maxWidth: 30 },
      { header: 'STATE' },
      { header: 'VERSION', maxWidth: 24 },
      { header: 'NEXT_RUN' },
      { header: 'LAST_TICK' },
      { header: 'LAST_WORKFLOW', maxWidth: 60 },
    ],
    schedules.map((schedule) => [
      schedule.appName,
      schedule.name,
      schedule.cron,
      schedule.timezone,
      schedule.workflowName,
      schedule.queue ?? NONE,
      stateOf(schedule),
      schedule.appVersion,
      formatTime(schedule.nextRunAt),
      formatTime(schedule.lastTickAt),
      schedule.lastWorkflowId ?? NONE,
    ]),
  );
  if (schedules.some((schedule) => !schedule.declared)) {
    out.line('undeclared: the deployed version does not declare it; it keeps its state and fires again once a version that does launches.');
  }
}

/** active, paused, undeclared, or paused,undeclared */
function stateOf(schedule: ScheduleInfo): string {
  const states = [schedule.paused ? 'paused' : null, schedule.declared ? null : 'undeclared'].filter((state) => state !== null);
  return states.length === 0 ? 'active' : states.join(',');
}
