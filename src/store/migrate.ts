import { migrations } from './schema.js';
import type { Driver } from './driver.js';
import { quoteIdent } from './sql/identifiers.js';

/**
 * Applies pending migrations in one transaction under a transaction-scoped advisory lock, so ten
 * replicas starting at once migrate exactly once (the others wait, then find nothing to do).
 * Returns the versions applied by this call. An up-to-date schema is detected with a plain read
 * first, so a role without CREATE rights can launch against a schema migrated by someone else.
 */
export async function migrate(driver: Driver, schema: string): Promise<number[]> {
  const s = quoteIdent(schema);
  if ((await appliedVersion(driver, schema)) >= latestVersion()) return [];
  return driver.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`ballast:migrate:${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${s}.migrations`);
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql(s));
      await tx.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    return applied;
  }, { unbounded: true });
}

export function latestVersion(): number {
  return Math.max(...migrations.map((migration) => migration.version));
}

/** The newest migration recorded in `schema` (0 when the schema has none). */
export async function appliedVersion(driver: Driver, schema: string): Promise<number> {
  const { rows } = await driver.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${quoteIdent(schema)}.migrations`]);
  if (!rows[0]?.present) return 0;
  const { rows: versions } = await driver.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${quoteIdent(schema)}.migrations`);
  return versions[0]?.version ?? 0;
}
