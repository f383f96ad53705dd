// Where engine tests run: a fresh database on real Postgres, and an embedded PGlite directory.
// Suites loop over `backends()` so the same assertions hold on both.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ballast, type BallastConfig, type Logger } from '../../src/index.js';
import { testDatabase } from './postgres.js';

export type Backend = 'postgres' | 'pglite';

export function backends(): Backend[] {
  const only = process.env.BALLAST_TEST_BACKEND;
  return only === 'postgres' || only === 'pglite' ? [only] : ['postgres', 'pglite'];
}

export interface TestDatabase {
  backend: Backend;
  /** Connection settings to spread into a BallastConfig. */
  config: Pick<BallastConfig, 'databaseUrl' | 'dataDir'>;
  close(): Promise<void>;
}

export async function openTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'postgres') {
    const db = await testDatabase('engine');
    return { backend, config: { databaseUrl: db.url }, close: db.close };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ballast-pglite-'));
  return { backend, config: { dataDir: dir }, close: async () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CapturingLogger extends Logger {
  errors: unknown[];
  warnings: string[];
}

/** Keeps test output quiet and lets tests assert on what was logged. */
export function capturingLogger(): CapturingLogger {
  const errors: unknown[] = [];
  const warnings: string[] = [];
  return {
    errors,
    warnings,
    info: () => undefined,
    warn: (message) => warnings.push(message),
    error: (message, error) => errors.push(error ?? message),
  };
}

export function newBallast(db: TestDatabase, config: Partial<BallastConfig> = {}): Ballast {
  return new Ballast({ name: 'test-app', executorId: 'executor-1', logger: capturingLogger(), pollIntervalMs: 1_000, ...db.config, ...config });
}
