// EXPLAIN helpers for tests that check how statements reach the big tables.
import pg from 'pg';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { testDatabase } from './postgres.js';

export interface MigratedDatabase {
  client: pg.Client;
  close(): Promise<void>;
}

/** A throwaway database with Ballast's schema in `schema`, and a client on it to seed and EXPLAIN with. */
export async function migratedDatabase(prefix: string, schema = 'ballast'): Promise<MigratedDatabase> {
  const db = await testDatabase(prefix);
  const driver = new PgDriver({ connectionString: db.url, poolSize: 1, applicationName: prefix, logger: { warn: () => undefined } });
  try {
    await migrate(driver, schema);
  } finally {
    await driver.close();
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  return {
    client,
    async close() {
      await client.end();
      await db.close();
    },
  };
}

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

export function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

/** A parameter as an SQL literal, for EXECUTE (arrays in Postgres' array-literal syntax). */
export function literal(client: pg.Client, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => (item === null || item === undefined ? 'NULL' : `"${String(item).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`));
    return client.escapeLiteral(`{${items.join(',')}}`);
  }
  return client.escapeLiteral(String(value));
}

/**
 * EXPLAIN ANALYZE of the generic plan, what Ballast's connections run (its driver sets
 * plan_cache_mode = force_generic_plan): the statement is PREPAREd and EXECUTEd with its parameters.
 */
export async function explainGeneric(client: pg.Client, sql: string, params: unknown[]): Promise<{ nodes: PlanNode[]; planningMs: number; executionMs: number }> {
  type Row = { 'QUERY PLAN': Array<{ Plan: PlanNode; 'Planning Time': number; 'Execution Time': number }> };
  await client.query('SET plan_cache_mode = force_generic_plan');
  await client.query(`PREPARE explained AS ${sql}`);
  try {
    const args = params.length > 0 ? `(${params.map((param) => literal(client, param)).join(', ')})` : '';
    const { rows } = await client.query<Row>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE explained${args}`);
    const explained = rows[0]?.['QUERY PLAN'][0];
    if (!explained) throw new Error(`no plan for ${sql}`);
    return { nodes: nodesOf(explained.Plan), planningMs: explained['Planning Time'], executionMs: explained['Execution Time'] };
  } finally {
    await client.query('DEALLOCATE explained');
    await client.query('RESET plan_cache_mode');
  }
}

/**
 * ANALYZE reads a random sample of a big table, so the statistics (and with them the plans) would
 * differ from run to run: with the largest statistics target the sample is the whole table.
 */
export async function analyzeWholeTables(client: pg.Client, tables: string): Promise<void> {
  await client.query('SET default_statistics_target = 10000');
  await client.query(`ANALYZE ${tables}`);
  await client.query('RESET default_statistics_target');
}
