import type { Command } from 'commander';
import { appliedVersion, latestVersion, migrate } from '../../store/migrate.js';
import { migrations } from '../../store/schema.js';
import { commandContext, type CliIo } from '../context.js';
import { withConnection } from '../connect.js';
import { Output } from '../output.js';

/** `ballast migrate`: applies the schema migrations without starting an application. */
export function registerMigrateCommand(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('create or upgrade the Ballast schema (safe to run from many replicas at once)')
    .addHelpText(
      'after',
      '\nMigrations run in one transaction under an advisory lock: concurrent runs wait, then find nothing to do.\n' +
        'Indexes on large tables are then built with CREATE INDEX CONCURRENTLY, so a running fleet keeps writing.\n' +
        'Applications also migrate at launch(); run this to migrate ahead of a deployment or with a privileged role.',
    )
    .action(async (_options: unknown, command: Command) => {
      const context = commandContext(command, io);
      const out = new Output(io);
      const report = await withConnection(context, { create: true }, async (connection) => {
        const { applied, indexesBuilt } = await migrate(connection.driver, connection.schema);
        const version = await appliedVersion(connection.driver, connection.schema);
        const { target, location } = connection;
        return { kind: connection.driver.kind, target, location, applied, indexesBuilt, version };
      });
      const latest = latestVersion();
      const names = new Map(migrations.map((migration) => [migration.version, migration.name]));

      if (context.options.json) {
        out.json({
          schema: context.options.schema,
          driver: report.kind,
          database: report.location,
          applied: report.applied.map((version) => ({ version, name: names.get(version) ?? null })),
          indexesBuilt: report.indexesBuilt,
          version: report.version,
          latestKnown: latest,
        });
        return;
      }
      const schema = `"${context.options.schema}"`;
      if (report.applied.length === 0 && report.indexesBuilt.length === 0) {
        out.line(`Schema ${schema} in ${report.target} is up to date (version ${report.version}); nothing to apply.`);
      } else if (report.applied.length > 0) {
        out.line(`Applied ${report.applied.length} migration${report.applied.length === 1 ? '' : 's'} to schema ${schema} in ${report.target}:`);
        for (const version of report.applied) out.line(`  ${version}  ${names.get(version) ?? ''}`.trimEnd());
        out.line(`Schema ${schema} is now at version ${report.version}.`);
      }
      for (const index of report.indexesBuilt) out.line(`Built index ${index} concurrently (writers kept running).`);
      if (report.version > latest) {
        out.line(`Note: the database is at version ${report.version}, newer than this ballast CLI knows (${latest}); upgrade the CLI.`);
      }
    });
}
