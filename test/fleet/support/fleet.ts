// A fleet of failover-worker processes on one test database, and what the tests read back: the
// workflow and step rows, and the step lines the workflows append (see workers/failover-app.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BallastClient } from '../../../src/client/index.js';
import { testDatabase } from '../../support/postgres.js';
import { spawnNode, type ChildHandle } from '../../support/processes.js';
import { waitForSessionsToEnd } from '../../support/sessions.js';
import { APP_NAME, parseStepLines, type StepLine } from '../workers/failover-app.js';

const WORKER = fileURLToPath(new URL('../workers/failover-worker.ts', import.meta.url));

export interface WorkflowRow {
  id: string;
  name: string;
  status: string;
  queue: string | null;
  owner: string | null;
  epoch: number;
  attempts: number;
  recoveries: number;
  app_version: string;
  started_at: number | null;
  output: string | null;
  error: string | null;
}

export interface StepRow {
  workflow_id: string;
  idx: number;
  name: string;
  output: string | null;
  error: string | null;
}

export interface Worker {
  readonly id: string;
  readonly child: ChildHandle;
}

export class TestFleet {
  readonly stepsFile: string;
  readonly admin: pg.Pool;
  readonly workers = new Map<string, Worker>();

  private constructor(
    readonly url: string,
    private readonly dir: string,
    private readonly closeDatabase: () => Promise<void>,
    /** Environment every worker gets (LEASE_MS, STEP_MS, …); spawn() may add to it. */
    private readonly env: Record<string, string>,
  ) {
    this.stepsFile = join(dir, 'steps.log');
    this.admin = new pg.Pool({ connectionString: url, max: 3, application_name: 'fleet-test-admin' });
    this.admin.on('error', () => undefined);
    this.admin.on('connect', (client) => client.on('error', () => undefined));
  }

  static async open(name: string, env: Record<string, string>): Promise<TestFleet> {
    const db = await testDatabase(name);
    return new TestFleet(db.url, mkdtempSync(join(tmpdir(), `ballast-${name}-`)), db.close, env);
  }

  /** Starts a worker and waits until it dispatches. */
  async spawn(id: string, env: Record<string, string> = {}): Promise<Worker> {
    const child = spawnNode(WORKER, {
      env: { ...this.env, ...env, FLEET_DATABASE_URL: this.url, BALLAST_EXECUTOR_ID: id, STEPS_FILE: this.stepsFile },
    });
    const worker = { id, child };
    this.workers.set(id, worker);
    await child.waitForLine((line) => line === `ready ${id}`, 60_000);
    return worker;
  }

  /** SIGKILLs a worker and waits until its database sessions are gone (nothing it sent is still running). */
  async kill(id: string): Promise<number> {
    const worker = this.require(id);
    worker.child.kill('SIGKILL');
    const killedAt = Date.now();
    await worker.child.exited;
    await waitForSessionsToEnd(this.url, sessionPrefix(id));
    return killedAt;
  }

  /** SIGTERMs a worker (a graceful shutdown with its drain) and waits for it to exit cleanly. */
  async stop(id: string): Promise<void> {
    const worker = this.require(id);
    worker.child.kill('SIGTERM');
    const exit = await worker.child.exited;
    if (exit.code !== 0) throw new Error(`worker ${id} did not stop cleanly (${JSON.stringify(exit)})\n${worker.child.stderr()}`);
  }

  client(appVersion?: string): BallastClient {
    return new BallastClient({ appName: APP_NAME, databaseUrl: this.url, appVersion, pollIntervalMs: 500, logger: quietLogger });
  }

  async workflows(): Promise<WorkflowRow[]> {
    const { rows } = await this.admin.query<WorkflowRow>(
      `SELECT id, name, status, queue, owner, epoch, attempts, recoveries, app_version, started_at::float8 AS started_at, output, error
       FROM ballast.workflows ORDER BY id`,
    );
    return rows;
  }

  async steps(): Promise<StepRow[]> {
    const { rows } = await this.admin.query<StepRow>('SELECT workflow_id, idx, name, output, error FROM ballast.steps ORDER BY workflow_id, idx');
    return rows;
  }

  async countWhere(where: string, params: unknown[] = []): Promise<number> {
    const { rows } = await this.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE ${where}`, params);
    return rows[0]?.n ?? 0;
  }

  stepLines(): StepLine[] {
    return existsSync(this.stepsFile) ? parseStepLines(readFileSync(this.stepsFile, 'utf8')) : [];
  }

  stderrOf(id: string): string {
    return this.require(id).child.stderr();
  }

  async close(): Promise<void> {
    for (const worker of this.workers.values()) worker.child.kill('SIGKILL');
    await Promise.all([...this.workers.values()].map((worker) => worker.child.exited));
    await this.admin.end();
    await this.closeDatabase();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private require(id: string): Worker {
    const worker = this.workers.get(id);
    if (!worker) throw new Error(`no worker ${id}`);
    return worker;
  }
}

/** The application_name prefix of a worker's sessions (see Ballast's PgDriver options). */
export function sessionPrefix(executorId: string): string {
  return `ballast:${APP_NAME}@${executorId}`.slice(0, 56);
}

/** `<workflowId> <step>` → the lines of each step run, in order. */
export function runsByStep(lines: StepLine[]): Map<string, StepLine[]> {
  const runs = new Map<string, StepLine[]>();
  for (const line of lines) {
    const key = `${line.workflowId} ${line.step}`;
    runs.set(key, [...(runs.get(key) ?? []), line]);
  }
  return runs;
}

const quietLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
