// The protocol between bench/run.ts and one benchmark child: one system, one workload, one fresh
// database per child process, so peak RSS and database state belong to that run alone. The parent
// passes a JSON config as the single argument; the child answers with one report over IPC. Whatever
// the child prints (library logs) goes to the parent's stderr, keeping stdout for JSON lines.

import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildReport, SystemName, WorkloadName } from './stats.js';
import { runWorkload, type BenchSystem } from './workloads.js';

export interface ChildConfig {
  workload: WorkloadName;
  workflows: number;
  databaseUrl: string;
}

const CHILD_TIMEOUT_MS = 15 * 60_000;

/** The child entry of each system's workloads. */
export const WORKLOAD_ENTRIES: Record<SystemName, string> = {
  ballast: fileURLToPath(new URL('../ballast.ts', import.meta.url)),
  dbos: fileURLToPath(new URL('../peers/dbos/bench.ts', import.meta.url)),
};

/** Child side: run the configured workload on `sys`, report, exit. */
export async function runChild(sys: BenchSystem): Promise<never> {
  try {
    const config = JSON.parse(process.argv[2] ?? '') as ChildConfig;
    const report = await runWorkload(sys, config.workload, config.workflows, config.databaseUrl);
    await send(report);
    process.exit(0);
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
}

function send(report: ChildReport): Promise<void> {
  if (!process.send) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => process.send?.(report, undefined, undefined, (err: Error | null) => (err ? reject(err) : resolve())));
}

/** Parent side: run `entry` (a .ts or .mjs file) under tsx and return its report. */
export function spawnChild(entry: string, system: SystemName, config: ChildConfig): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = fork(entry, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    child.stdout?.pipe(process.stderr);
    let report: ChildReport | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('message', (message) => {
      report = message as ChildReport;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (report && code === 0) resolve(report);
      else reject(new Error(`${system} ${config.workload} child exited with ${signal ?? `code ${code}`}`));
    });
  });
}

/**
 * Runs `node --import tsx <entry> ...args`, its stderr passed through, and resolves with the JSON of
 * the last line it printed on stdout; rejects if it exits other than 0.
 */
export function runScript(entry: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = stdout.trim().split('\n').pop();
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`${entry} exited with ${signal ?? `code ${code}`}`));
    });
  });
}
