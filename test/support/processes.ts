// Real child processes for crash and multi-process tests: run a TypeScript script under tsx, watch
// its stdout line by line, and kill it when the test says so.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface SpawnNodeOptions {
  env?: Record<string, string>;
  args?: string[];
  cwd?: string;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
}

export interface ChildHandle {
  readonly pid: number;
  /** Complete stdout lines seen so far. */
  readonly lines: string[];
  /**
   * Resolves with the first stdout line (already seen or still to come) matching `predicate`.
   * Rejects on timeout or when the child exits first, with the output collected so far.
   */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  /** Settles once the child has exited and its output is fully read. */
  readonly exited: Promise<ChildExit>;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
}

// Resolved from this file, so the child finds tsx whatever its cwd.
const tsxLoader = import.meta.resolve('tsx');
const running = new Set<ChildHandle>();

/**
 * Runs `node --import tsx <script> ...args` with stdout and stderr piped. `script` is resolved
 * against this process's cwd; `options.env` is added to this process's environment.
 */
export function spawnNode(script: string, options: SpawnNodeOptions = {}): ChildHandle {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.NODE_TEST_CONTEXT; // the child is a program under test, not a node:test file
  const child = spawn(process.execPath, ['--import', tsxLoader, resolve(script), ...(options.args ?? [])], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.on('error', (error) => {
    stderr += `\n[spawn error] ${error.message}\n`;
  });
  if (child.pid === undefined) {
    throw new Error(`could not spawn ${script}`);
  }

  const lines: string[] = [];
  let partial = '';
  let exit: ChildExit | undefined;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.map((line) => line.replace(/\r$/, '')));
    notify();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });

  const exited = new Promise<ChildExit>((resolveExit) => {
    child.on('close', (code, signal) => {
      if (partial) lines.push(partial);
      partial = '';
      exit = { code, signal };
      running.delete(handle);
      notify();
      resolveExit(exit);
    });
  });

  const output = () =>
    `--- stdout ---\n${[...lines, partial].join('\n').trimEnd()}\n--- stderr ---\n${stderr.trimEnd()}`;

  const handle: ChildHandle = {
    pid: child.pid,
    lines,
    exited,
    stderr: () => stderr,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      if (exit === undefined) child.kill(signal);
    },
    waitForLine: (predicate, timeoutMs = 30_000) =>
      new Promise<string>((resolveLine, reject) => {
        let checked = 0;
        const check = () => {
          for (; checked < lines.length; checked++) {
            const line = lines[checked] as string;
            let matched: boolean;
            try {
              matched = predicate(line);
            } catch (error) {
              return finish(() => reject(error));
            }
            if (matched) return finish(() => resolveLine(line));
          }
          if (exit !== undefined) {
            finish(() =>
              reject(new Error(`${script} exited (code ${exit?.code}, signal ${exit?.signal}) ` +
                `before the expected line\n${output()}`)),
            );
          }
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs}ms waiting for a line from ${script}\n${output()}`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      }),
  };
  running.add(handle);
  return handle;
}

// A test that fails or crashes must not leave workers running behind it.
process.on('exit', () => {
  for (const handle of running) handle.kill('SIGKILL');
});
