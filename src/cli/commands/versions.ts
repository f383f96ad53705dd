import type { Command } from 'commander';
import { requireName } from '../../engine/validation.js';
import type { VersionInfo } from '../../fleet/registry.js';
import { commandContext, validated, type CliIo } from '../context.js';
import { applicationsFor, fleetRegistry, withConnection } from '../connect.js';
import { formatTime, Output } from '../output.js';

/** A version of one application, as `ballast versions --json` prints it: the library's VersionInfo and whose it is. */
type ApplicationVersion = { appName: string } & VersionInfo;

/**
 * `ballast versions`: the application versions with their live executors and backlog, from the
 * library's FleetRegistry: of one application (--app), or of every application that registered a
 * version, grouped by application.
 */
export function registerVersionCommands(program: Command, io: CliIo): void {
  program
    .command('versions')
    .description('show the application versions: which is latest, their live executors and the work they still hold')
    .option('--app <name>', 'only versions of this application')
    .addHelpText(
      'after',
      '\nLATEST is the version new work goes to when an enqueue names none. A version with no live executors\n' +
        'and nothing ENQUEUED, DELAYED or PENDING is drained: its deployment can go. PENDING_WITHOUT_OWNER counts\n' +
        'PENDING workflows no live executor owns (waiting to be adopted, or for an executor of that version).',
    )
    .action(async (options: { app?: string }, command: Command) => {
      const context = commandContext(command, io);
      const app = options.app;
      if (app !== undefined) validated(() => requireName(app, 'application name'));
      const versions = await withConnection(context, { create: false }, async (connection) => {
        const apps = await applicationsFor(connection, app);
        const perApp = await Promise.all(
          apps.map(async (appName) => (await fleetRegistry(connection, appName).versions.list()).map((info) => ({ appName, ...info }))),
        );
        return perApp.flat();
      });
      printVersions(new Output(io), versions, context.options.json, app);
    });
}

function printVersions(out: Output, versions: ApplicationVersion[], json: boolean, app: string | undefined): void {
  if (json) {
    out.json(versions);
    return;
  }
  if (versions.length === 0) {
    out.line(app === undefined ? 'No application has registered a version yet.' : `Application ${app} has no versions.`);
    return;
  }
  const apps = [...new Set(versions.map((version) => version.appName))];
  apps.forEach((appName, i) => {
    if (i > 0) out.line();
    out.line(`Application ${appName}`);
    out.table(
      [
        { header: 'VERSION', maxWidth: 40 },
        { header: 'LATEST' },
        { header: 'EXECUTORS', align: 'right' },
        { header: 'ENQUEUED', align: 'right' },
        { header: 'DELAYED', align: 'right' },
        { header: 'PENDING', align: 'right' },
        { header: 'PARKED', align: 'right' },
        { header: 'PENDING_WITHOUT_OWNER', align: 'right' },
        { header: 'FIRST_SEEN' },
        { header: 'LAST_SEEN' },
      ],
      versions
        .filter((version) => version.appName === appName)
        .map(({ version, latest, executors, backlog, firstSeenAt, lastSeenAt }) => [
          version,
          latest ? 'yes' : 'no',
          String(executors.length),
          String(backlog.enqueued),
          String(backlog.delayed),
          String(backlog.pending),
          String(backlog.parked),
          String(backlog.pendingWithoutLiveOwner),
          formatTime(firstSeenAt),
          formatTime(lastSeenAt),
        ]),
    );
  });
}
