// Parked workflows across a fleet of real processes on one Postgres: thousands of sleepers started
// by one process are parked (out of its memory), and when their timers fall due both processes
// resume them, each exactly once (the step after the sleep runs once per workflow, read from the
// lines the steps append), spread over the two. A parked workflow whose process was SIGKILLed is
// resumed by a live one: parked work belongs to no process.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const WORKER = fileURLToPath(new URL('./workers/parking-worker.ts', import.meta.url));
const SLEEPERS = 5_000;
const PARKED_OWNER = 'ballast:parked';

describe('parked workflows in a fleet of two processes', () => {
  let db: { url: string; close(): Promise<void> };
  let admin: pg.Pool;
  let dir: string;
  let runsFile: string;
  const children: ChildHandle[] = [];

  async function spawn(id: string, env: Record<string, string> = {}): Promise<ChildHandle> {
    const child = spawnNode(WORKER, { env: { FLEET_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: id, RUNS_FILE: runsFile, PARK_AFTER_MS: '1000', ...env } });
    children.push(child);
    await child.waitForLine((line) => line === `ready ${id}`, 180_000);
    return child;
  }

  const count = async (where: string, params: unknown[] = []) =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE ${where}`, params)).rows[0]?.n ?? 0;

  /** `<workflowId> <step>` → the executors that ran it, once per run. */
  function runs(): Map<string, string[]> {
    const byStep = new Map<string, string[]>();
    for (const line of readFileSync(runsFile, 'utf8').split('\n')) {
      if (line === '') continue;
      const [id, step, executor] = line.split(' ');
      const key = `${id} ${step}`;
      byStep.set(key, [...(byStep.get(key) ?? []), executor as string]);
    }
    return byStep;
  }

  const rssMB = (child: ChildHandle) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

  before(async () => {
    db = await testDatabase('parking_fleet');
    admin = new pg.Pool({ connectionString: db.url, max: 2 });
    dir = mkdtempSync(join(tmpdir(), 'ballast-parking-'));
    runsFile = join(dir, 'runs.log');
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exited));
    await admin?.end();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${SLEEPERS} sleepers started by one process wake on both, each exactly once`, async () => {
    const wakeAt = Date.now() + 60_000; // far enough for every start to come first, even on a slow machine: they all wake then
    const starter = await spawn('park-a', { START: `s:${SLEEPERS}:${wakeAt}` });
    const other = await spawn('park-b');
    await waitFor('every sleeper is parked', async () => (await count(`owner = $1`, [PARKED_OWNER])) === SLEEPERS, 60_000, 200);
    const parkedRss = { starter: rssMB(starter), other: rssMB(other) };
    await waitFor('every sleeper finished', async () => (await count(`status = 'SUCCESS'`)) === SLEEPERS, 120_000, 200);

    const byStep = runs();
    const resumedBy = new Map<string, number>();
    for (let n = 0; n < SLEEPERS; n++) {
      assert.deepEqual(byStep.get(`s-${n} before`), ['park-a'], `s-${n}: the step before the sleep ran once, before parking`);
      const afterRuns = byStep.get(`s-${n} after`) ?? [];
      assert.equal(afterRuns.length, 1, `s-${n}: the step after the sleep ran exactly once (${afterRuns.join(', ')})`);
      resumedBy.set(afterRuns[0] as string, (resumedBy.get(afterRuns[0] as string) ?? 0) + 1);
    }
    assert.ok((resumedBy.get('park-a') ?? 0) > 0 && (resumedBy.get('park-b') ?? 0) > 0, `both executors resumed sleepers: ${JSON.stringify([...resumedBy])}`);
    const { rows } = await admin.query<{ output: string; n: number }>(`SELECT output, count(*)::int AS n FROM ballast.workflows GROUP BY output`);
    assert.equal(rows.reduce((sum, row) => sum + row.n, 0), SLEEPERS);
    console.log(JSON.stringify({ sleepers: SLEEPERS, parkedRssMB: parkedRss, resumedBy: Object.fromEntries(resumedBy) }));
  });

  test('a parked workflow whose process was SIGKILLed is resumed by another live process', async () => {
    const wakeAt = Date.now() + 10_000;
    const victim = await spawn('park-victim', { START: `k:1:${wakeAt}`, PARK_AFTER_MS: '200' });
    await waitFor('the sleeper is parked', async () => (await count(`id = 'k-0' AND owner = $1`, [PARKED_OWNER])) === 1, 30_000, 50);
    victim.kill('SIGKILL');
    await victim.exited;
    await waitFor('the sleeper finished', async () => (await count(`id = 'k-0' AND status = 'SUCCESS'`)) === 1, 60_000, 100);
    const byStep = runs();
    assert.deepEqual(byStep.get('k-0 before'), ['park-victim']);
    const resumedBy = byStep.get('k-0 after') ?? [];
    assert.equal(resumedBy.length, 1);
    assert.ok(['park-a', 'park-b'].includes(resumedBy[0] as string), `resumed by a live executor, not the dead one: ${resumedBy.join(', ')}`);
  });
});
