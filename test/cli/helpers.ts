// Running the `ballast` CLI from tests: as a real process (what a user runs), or in this process
// through `run()` (all main.ts calls) for the many variations whose process start-up would only
// slow a suite down.
import assert from 'node:assert/strict';
import { run } from '../../src/cli/program.js';
import { spawnNode } from '../support/processes.js';

export const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** No database URL leaks in from the environment the tests run in. */
const NO_DATABASE = { BALLAST_DATABASE_URL: '', DBOS_SYSTEM_DATABASE_URL: '' };

/** Runs `ballast ...args` as a child process in `cwd`; `env` is added to this process's environment. */
export async function ballastProcess(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  const child = spawnNode(MAIN, { args, cwd: options.cwd, env: { ...NO_DATABASE, ...options.env } });
  const { code } = await child.exited;
  return { code, stdout: child.lines.join('\n'), stderr: child.stderr() };
}

/** The same CLI in this process, its output captured. */
export async function ballastInProcess(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    env: { ...NO_DATABASE, ...env },
  });
  return { code, stdout: stdout.replace(/\n$/, ''), stderr };
}

export function expectExit(result: CliResult, code: number): void {
  assert.equal(result.code, code, `expected exit ${code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
}

/** The data rows of a human table, each split into its cells (cells hold no double spaces). */
export function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '' && !line.startsWith('(') && !line.startsWith('*'))
    .map((line) => line.trim().split(/\s{2,}/));
}
