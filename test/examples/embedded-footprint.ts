// The memory of `npm start` on the embedded database: the example service on a fresh data directory,
// under the Node flags of package.json's `start` script, its resident set read from /proc (Linux)
// once it is ready, after its first task and after N tasks. Used by the budget test in
// service.test.ts and by the `embedded` scale measurement of `npm run bench`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode } from '../support/processes.js';

const ROOT = new URL('../../', import.meta.url);
const MAIN = new URL('examples/service/main.ts', ROOT).pathname;

export interface FootprintOptions {
  /** Tasks run in all, the first one included. */
  tasks: number;
  /** Steps per task (each checkpointed); their work takes no time, so the database does all the work. */
  steps?: number;
}

export interface Footprint {
  tasks: number;
  readyMs: number;
  rssReadyMb: number;
  rssAfterFirstTaskMb: number;
  rssAfterTasksMb: number;
  peakRssMb: number;
  tasksPerSec: number;
}

/** The Node flags `npm start` passes, `--import tsx` aside (spawnNode adds it). */
export function startScriptNodeFlags(): string[] {
  const scripts = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts.start ?? '').split(/\s+/);
  const flags: string[] = [];
  for (let k = 1; k < words.length && words[k]?.startsWith('--'); k++) {
    if (words[k] === '--import') k++;
    else flags.push(words[k] as string);
  }
  return flags;
}

/** Resident set (current, and its high-water mark) of a process, in MB. */
function residentMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

export async function measureEmbeddedFootprint(options: FootprintOptions): Promise<Footprint> {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-footprint-'));
  const child = spawnNode(MAIN, {
    env: {
      PORT: '0',
      BALLAST_DATABASE_URL: '',
      DBOS_SYSTEM_DATABASE_URL: '',
      BALLAST_EXECUTOR_ID: '',
      BALLAST_DATA_DIR: join(dir, 'data'),
      NODE_OPTIONS: startScriptNodeFlags().join(' '),
    },
  });
  try {
    const line = await child.waitForLine((l) => l.includes('listening on http://'), 60_000);
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1] as string;
    const t0 = Date.now();
    // A new data directory takes seconds to create, minutes on a busy machine: a budget, not a timing.
    await until(async () => (await fetch(`${url}/readyz`)).status === 200, 600_000);
    const readyMs = Date.now() - t0;
    const rssReadyMb = residentMb(child.pid).rss;

    const body = JSON.stringify({ steps: options.steps ?? 5, stepMs: 0 });
    const enqueue = async (): Promise<string> => {
      const answer = await fetch(`${url}/tasks`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      if (answer.status !== 202) throw new Error(`POST /tasks answered ${answer.status}: ${await answer.text()}`);
      return ((await answer.json()) as { workflowId: string }).workflowId;
    };
    const succeeded = async (id: string): Promise<void> =>
      until(async () => {
        const { status } = (await (await fetch(`${url}/tasks/${id}`)).json()) as { status: string };
        if (status === 'ERROR' || status === 'CANCELLED') throw new Error(`task ${id} ended ${status}`);
        return status === 'SUCCESS';
      }, 600_000);

    await succeeded(await enqueue());
    const rssAfterFirstTaskMb = residentMb(child.pid).rss;
    const t1 = Date.now();
    const ids: string[] = [];
    for (let n = 1; n < options.tasks; n++) ids.push(await enqueue());
    for (const id of ids) await succeeded(id);
    const seconds = (Date.now() - t1) / 1000;
    const { rss, peak } = residentMb(child.pid);
    return {
      tasks: options.tasks,
      readyMs,
      rssReadyMb,
      rssAfterFirstTaskMb,
      rssAfterTasksMb: rss,
      peakRssMb: peak,
      tasksPerSec: Math.round(ids.length / seconds),
    };
  } catch (error) {
    throw new Error(`${String(error)}\n${child.lines.join('\n')}\n${child.stderr()}`);
  } finally {
    child.kill('SIGKILL');
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      if (Date.now() > deadline || !(error instanceof TypeError)) throw error; // TypeError: fetch failed, not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(20);
  }
}
