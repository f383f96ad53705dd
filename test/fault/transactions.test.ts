// Acceptance: exactly once, with real processes. 200 workflows each run a ctx.transaction that
// inserts a row into an application table, then a step. The worker is SIGKILLed several times
// mid-run and a replacement (same executor ID) recovers what it left. Afterwards every workflow is
// SUCCESS and has exactly one row, the one whose ID its transaction returned. Three places for the
// application table: the system database, a data source (another Postgres database), and the
// embedded database (PGlite, in the worker's process).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { testDatabase } from '../support/postgres.js';
import { waitForSessionsToEnd } from '../support/sessions.js';

const WORKER = new URL('./workers/transaction-worker.ts', import.meta.url).pathname;
const WORKFLOWS = 200;
const KILLS = 3;
const KILL_AFTER = 30; // transactions run by each worker before it is killed

interface Summary {
  results: Array<{ rowId: number }>;
  statuses: string[];
  rows: Array<{ workflow_id: string; rows: number; ids: number[] }>;
}

type Target = 'system' | 'app' | 'pglite';

function worker(mode: 'start' | 'resume' | 'finish', target: Target, env: Record<string, string>): ChildHandle {
  return spawnNode(WORKER, { args: [mode], env: { TX_TARGET: target, TX_WORKFLOWS: String(WORKFLOWS), TX_KILL_AFTER: String(KILL_AFTER), ...env } });
}

async function crashAndRecover(target: Target, env: Record<string, string>, systemUrl: string | undefined): Promise<Summary> {
  for (let kill = 0; kill < KILLS; kill++) {
    const child = worker(kill === 0 ? 'start' : 'resume', target, env);
    await child.waitForLine((line) => line.startsWith('progress '), 120_000);
    child.kill('SIGKILL');
    assert.deepEqual(await child.exited, { code: null, signal: 'SIGKILL' });
    assert.doesNotMatch(child.stderr(), /\[(error|fatal)\]/, `worker ${kill} logged no errors\n${child.stderr()}`);
    if (systemUrl) await waitForSessionsToEnd(systemUrl, 'ballast:tx-app');
  }
  const last = worker('finish', target, env);
  const line = await last.waitForLine((l) => l.startsWith('summary '), 180_000);
  assert.deepEqual(await last.exited, { code: 0, signal: null }, `the last worker exits cleanly\n${last.stderr()}`);
  assert.doesNotMatch(last.stderr(), /\[(error|fatal)\]/, last.stderr());
  return JSON.parse(line.slice('summary '.length)) as Summary;
}

function assertExactlyOnce(summary: Summary): void {
  assert.equal(summary.statuses.length, WORKFLOWS);
  assert.deepEqual(new Set(summary.statuses), new Set(['SUCCESS']), 'every workflow SUCCESS');
  assert.equal(summary.rows.length, WORKFLOWS, 'every workflow wrote its row');
  for (const [n, row] of summary.rows.sort((a, b) => Number(a.workflow_id.slice(3)) - Number(b.workflow_id.slice(3))).entries()) {
    assert.equal(row.workflow_id, `tx-${n}`);
    assert.equal(row.rows, 1, `${row.workflow_id} has exactly one row`);
    assert.deepEqual(row.ids, [summary.results[n]?.rowId], `${row.workflow_id}'s transaction returned the ID of its row`);
  }
}

async function recoveries(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ recovered: number }>(`SELECT count(*)::int AS recovered FROM ballast.workflows WHERE name = 'order' AND recoveries > 0`);
    return rows[0]?.recovered ?? 0;
  } finally {
    await client.end();
  }
}

describe('ctx.transaction is exactly once through SIGKILLs', () => {
  const closers: Array<() => Promise<void>> = [];
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-tx-crash-'));
  });

  after(async () => {
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the application table in the system database', async (t) => {
    const system = await testDatabase('tx_crash');
    closers.push(system.close);
    assertExactlyOnce(await crashAndRecover('system', { TX_DATABASE_URL: system.url }, system.url));
    t.diagnostic(`${await recoveries(system.url)} workflows were recovered after a kill`);
  });

  test('the application table in a data source (another database)', async (t) => {
    const [system, app] = await Promise.all([testDatabase('tx_crash_system'), testDatabase('tx_crash_app')]);
    closers.push(system.close, app.close);
    assertExactlyOnce(await crashAndRecover('app', { TX_DATABASE_URL: system.url, TX_APP_DATABASE_URL: app.url }, system.url));
    t.diagnostic(`${await recoveries(system.url)} workflows were recovered after a kill`);
  });

  test('the application table in the embedded database (PGlite)', async () => {
    assertExactlyOnce(await crashAndRecover('pglite', { TX_DATA_DIR: join(dir, 'pglite') }, undefined));
  });
});
