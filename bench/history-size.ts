// The history-size scale measurement: the `queue` workload (three-step workflows through a queue of
// worker concurrency 64, bench/lib/workloads.ts) on a system database that holds `rows` finished
// workflows (10,000,000 by default) with three steps each, as a system that has run for months
// without retention would, and on an empty one beside it. The rows are generated in Postgres
// (INSERT … SELECT generate_series) after the system migrated its schema; the tables' secondary
// indexes are dropped for the load and built again after it (an index built at once is many times
// faster than one maintained row by row), then the tables are analyzed. The two databases then
// take turns, `rounds` times, and the medians are compared, so that a change in the machine's
// speed meets both alike.

import pg from 'pg';
import { WORKLOAD_ENTRIES, spawnChild } from './lib/child.js';
import { isSkipped, median, round, type ResultLine, type SystemName } from './lib/stats.js';
import { DEFAULT_WORKFLOWS } from './lib/workloads.js';

export interface HistorySizeConfig {
  system: SystemName;
  /** The database that gets the rows. */
  databaseUrl: string;
  /** The empty database it is compared with. */
  emptyDatabaseUrl: string;
  /** Runs on each database, taking turns. */
  rounds?: number;
  /** Finished workflows to generate. */
  rows: number;
  /** Workflows per timed round of the `queue` workload (its default when absent). */
  workflows?: number;
}

export interface HistorySizeLine {
  system: SystemName;
  workload: 'history-size';
  finishedRows: number;
  stepRows: number;
  emptyWorkflowsPerSec: number;
  fullWorkflowsPerSec: number;
  fullOverEmpty: number;
  fillSeconds: number;
  tableMb: number;
  rounds: number;
}

const STEPS_PER_WORKFLOW = 3;
const CHUNK = 1_000_000;

/** Where each system keeps workflows and their steps, and how a finished one of the benchmark's looks. */
interface HistoryTables {
  workflows: string;
  steps: string;
  insertWorkflows: (schema: string) => string;
  insertSteps: (schema: string) => string;
}

// $1, $2: the range of generate_series; $3: the epoch milliseconds the first generated row completed.
const TABLES: Record<SystemName, HistoryTables> = {
  ballast: {
    workflows: 'workflows',
    steps: 'steps',
    insertWorkflows: (s) => `
      INSERT INTO ${s}.workflows (id, name, status, app_name, app_version, queue, owner, epoch, attempts,
                                  input, output, created_at, started_at, completed_at, updated_at)
      SELECT 'history-' || lpad(g::text, 10, '0'), 'three-steps', 'SUCCESS', 'bench', 'history', 'bench', 'history', 1, 1,
             g::text, (g + 3)::text, $3::bigint + g - 2, $3::bigint + g - 1, $3::bigint + g, $3::bigint + g
      FROM generate_series($1::bigint, $2::bigint) AS g`,
    insertSteps: (s) => `
      INSERT INTO ${s}.steps (workflow_id, idx, name, output, started_at, completed_at)
      SELECT 'history-' || lpad(g::text, 10, '0'), k, chr(97 + k), (g + k + 1)::text, $3::bigint + g - 1, $3::bigint + g - 1
      FROM generate_series($1::bigint, $2::bigint) AS g, generate_series(0, ${STEPS_PER_WORKFLOW - 1}) AS k`,
  },
  dbos: {
    workflows: 'workflow_status',
    steps: 'operation_outputs',
    insertWorkflows: (s) => `
      INSERT INTO ${s}.workflow_status (workflow_uuid, status, name, output, executor_id, application_version,
                                        queue_name, inputs, created_at, updated_at, started_at_epoch_ms, recovery_attempts)
      SELECT 'history-' || lpad(g::text, 10, '0'), 'SUCCESS', 'three-steps', (g + 3)::text, 'history', 'history',
             'bench', '[' || g || ']', $3::bigint + g - 2, $3::bigint + g, $3::bigint + g - 1, 1
      FROM generate_series($1::bigint, $2::bigint) AS g`,
    insertSteps: (s) => `
      INSERT INTO ${s}.operation_outputs (workflow_uuid, function_id, function_name, output, started_at_epoch_ms, completed_at_epoch_ms)
      SELECT 'history-' || lpad(g::text, 10, '0'), k, chr(97 + k), (g + k + 1)::text, $3::bigint + g - 1, $3::bigint + g - 1
      FROM generate_series($1::bigint, $2::bigint) AS g, generate_series(0, ${STEPS_PER_WORKFLOW - 1}) AS k`,
  },
};

export async function measureHistorySize(config: HistorySizeConfig): Promise<HistorySizeLine> {
  const throughput = async (databaseUrl: string): Promise<number> => {
    const report = await spawnChild(WORKLOAD_ENTRIES[config.system], config.system, {
      workload: 'queue',
      workflows: config.workflows ?? DEFAULT_WORKFLOWS.queue,
      databaseUrl,
    });
    if (isSkipped(report)) throw new Error(`${config.system} skipped the queue workload: ${report.skipped}`);
    return (report as ResultLine).workflowsPerSec;
  };
  // A first run on each migrates its schema; it is not counted.
  await throughput(config.emptyDatabaseUrl);
  await throughput(config.databaseUrl);
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  let fillSeconds: number;
  let tableMb: number;
  try {
    const tables = TABLES[config.system];
    const schema = await schemaOf(client, tables.workflows);
    const t0 = Date.now();
    await fill(client, schema, tables, config.rows);
    fillSeconds = round((Date.now() - t0) / 1000, 1);
    const { rows } = await client.query<{ mb: string }>(
      `SELECT (pg_total_relation_size($1::regclass) + pg_total_relation_size($2::regclass)) / 1048576 AS mb`,
      [`${schema}.${tables.workflows}`, `${schema}.${tables.steps}`],
    );
    tableMb = Number(rows[0]?.mb);
  } finally {
    await client.end();
  }
  const rounds = config.rounds ?? 3;
  const full: number[] = [];
  const empty: number[] = [];
  for (let turn = 0; turn < rounds; turn++) {
    full.push(await throughput(config.databaseUrl));
    empty.push(await throughput(config.emptyDatabaseUrl));
  }
  const emptyWorkflowsPerSec = median(empty);
  const fullWorkflowsPerSec = median(full);
  return {
    system: config.system,
    workload: 'history-size',
    finishedRows: config.rows,
    stepRows: config.rows * STEPS_PER_WORKFLOW,
    emptyWorkflowsPerSec,
    fullWorkflowsPerSec,
    fullOverEmpty: round(fullWorkflowsPerSec / emptyWorkflowsPerSec, 3),
    fillSeconds,
    tableMb,
    rounds,
  };
}

async function schemaOf(client: pg.Client, table: string): Promise<string> {
  const { rows } = await client.query<{ schema: string }>(
    `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = $1 AND table_schema NOT IN ('public', 'pg_catalog')`,
    [table],
  );
  if (rows.length !== 1) throw new Error(`expected one schema with a table ${table}, found ${rows.length}`);
  return `"${(rows[0] as { schema: string }).schema}"`;
}

/** Generates `count` finished workflows and their steps, in chunks, with the secondary indexes dropped meanwhile. */
async function fill(client: pg.Client, schema: string, tables: HistoryTables, count: number): Promise<void> {
  const indexes = await secondaryIndexes(client, schema, [tables.workflows, tables.steps]);
  for (const index of indexes) await client.query(`DROP INDEX ${schema}."${index.name}"`);
  const firstCompletedAt = Date.now() - count - 86_400_000;
  for (let from = 1; from <= count; from += CHUNK) {
    const range = [from, Math.min(count, from + CHUNK - 1), firstCompletedAt];
    await client.query(tables.insertWorkflows(schema), range);
    await client.query(tables.insertSteps(schema), range);
  }
  await client.query(`SET maintenance_work_mem = '512MB'`);
  for (const index of indexes) await client.query(index.definition);
  await client.query(`VACUUM ANALYZE ${schema}.${tables.workflows}, ${schema}.${tables.steps}`);
}

/** The tables' indexes that no constraint (primary key, unique) owns, with the statements that build them. */
async function secondaryIndexes(client: pg.Client, schema: string, tables: string[]): Promise<Array<{ name: string; definition: string }>> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
      WHERE t.relnamespace = $1::regnamespace AND t.relname = ANY($2)
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)`,
    [schema, tables],
  );
  return rows;
}
