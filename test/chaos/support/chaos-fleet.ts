// A fleet of chaos workers on a throwaway Postgres server of its own (so a test may restart it),
// each worker behind its own fault proxy (so one can be cut off alone), a producer process, and a
// sampler of the running set. The fault methods are the ones the chaos schedule and the
// connection-fault tests inject; `report` reads back everything the invariants are checked on.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { deserialize } from '../../../src/codec.js';
import { RunningSampler } from '../../fleet/support/sampler.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../support/postgres.js';
import { spawnNode, type ChildExit, type ChildHandle } from '../../support/processes.js';
import { APP_NAME, parseRunLog, type RunLine } from '../workers/chaos-app.js';

const WORKER = fileURLToPath(new URL('../workers/chaos-worker.ts', import.meta.url));
const PRODUCER = fileURLToPath(new URL('../workers/producer.ts', import.meta.url));
/** How long drained() waits for workflows that never appear once nothing is active. */
const IDLE_GIVE_UP_MS = 10_000;

export interface ChaosWorker {
  readonly id: string;
  readonly child: ChildHandle;
  readonly proxy: FaultProxy;
  /** running, paused (SIGSTOP), leaving (SIGTERM or SIGKILL sent), gone */
  state: 'running' | 'paused' | 'leaving' | 'gone';
  /** How the test ended it, if it did. */
  endedBy?: 'SIGKILL' | 'SIGTERM';
  exit?: ChildExit;
}

export interface WorkflowRow {
  id: string;
  name: string;
  status: string;
  recoveries: number;
  attempts: number;
  output: unknown;
  error: string | null;
  created_at: number;
  completed_at: number | null;
}

export interface MessageRow {
  destination_id: string;
  topic: string;
  idempotency_key: string | null;
  consumed: boolean;
}

/** Everything the invariants are checked on, read once the fleet has drained. */
export interface FleetReport {
  workflows: WorkflowRow[];
  /** workflow ID → checkpoint names in order */
  checkpoints: Map<string, string[]>;
  messages: MessageRow[];
  runs: RunLine[];
  workers: ChaosWorker[];
  /** When each SIGSTOP ended (see invariants: a step caught inside by the pause logs its start late). */
  resumes: Array<{ executorId: string; at: number }>;
}

export interface ChaosFleetOptions {
  name: string;
  leaseMs: number;
  /** How long a SIGTERMed worker drains. Default 2 s. */
  drainMs?: number;
}

export class ChaosFleet {
  readonly workers = new Map<string, ChaosWorker>();
  readonly sampler: RunningSampler;
  readonly admin: pg.Pool;
  readonly runLog: string;
  readonly resumes: FleetReport['resumes'] = [];
  private producer: ChildHandle | undefined;
  private spawned = 0;

  private constructor(
    readonly server: ThrowawayPostgres,
    readonly url: string,
    private readonly dir: string,
    readonly options: ChaosFleetOptions,
  ) {
    this.runLog = join(dir, 'runs.log');
    this.sampler = new RunningSampler(url, 'ballast', 10, true);
    this.admin = new pg.Pool({ connectionString: url, max: 4, application_name: 'chaos-test-admin' });
    // The test's own connections ride out the faults it injects.
    this.admin.on('error', () => undefined);
    this.admin.on('connect', (client) => client.on('error', () => undefined));
  }

  static async open(options: ChaosFleetOptions): Promise<ChaosFleet> {
    const server = await startThrowawayPostgres();
    const url = await server.createDatabase(options.name);
    const fleet = new ChaosFleet(server, url, mkdtempSync(join(tmpdir(), `ballast-${options.name}-`)), options);
    await fleet.sampler.start();
    return fleet;
  }

  /** Starts a worker under a new executor ID, behind a proxy of its own, and waits until it dispatches. */
  async spawn(): Promise<ChaosWorker> {
    const id = `w${++this.spawned}`;
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: this.server.port });
    const child = spawnNode(WORKER, {
      env: {
        CHAOS_DATABASE_URL: proxy.urlFor(this.url),
        BALLAST_EXECUTOR_ID: id,
        RUN_LOG: this.runLog,
        LEASE_MS: String(this.options.leaseMs),
        DRAIN_MS: String(this.options.drainMs ?? 2_000),
      },
    });
    const worker: ChaosWorker = { id, child, proxy, state: 'running' };
    this.workers.set(id, worker);
    void child.exited.then((exit) => {
      worker.exit = exit;
      worker.state = 'gone';
    });
    await child.waitForLine((line) => line === `ready ${id}`, 60_000);
    return worker;
  }

  /** Workers that are running or paused (not leaving or gone). */
  present(): ChaosWorker[] {
    return [...this.workers.values()].filter((worker) => worker.state === 'running' || worker.state === 'paused');
  }

  running(): ChaosWorker[] {
    return [...this.workers.values()].filter((worker) => worker.state === 'running');
  }

  async kill(worker: ChaosWorker): Promise<void> {
    worker.state = 'leaving';
    worker.endedBy = 'SIGKILL';
    worker.child.kill('SIGKILL');
    await worker.child.exited;
    await worker.proxy.close();
  }

  /** SIGTERM: a graceful shutdown with its drain, which must end with exit code 0. */
  async stop(worker: ChaosWorker): Promise<void> {
    if (worker.state === 'paused') this.resume(worker);
    worker.state = 'leaving';
    worker.endedBy = 'SIGTERM';
    worker.child.kill('SIGTERM');
    await worker.child.exited;
    await worker.proxy.close();
  }

  pause(worker: ChaosWorker): void {
    worker.state = 'paused';
    worker.child.kill('SIGSTOP');
  }

  resume(worker: ChaosWorker): void {
    worker.state = 'running';
    worker.child.kill('SIGCONT');
    this.resumes.push({ executorId: worker.id, at: Date.now() });
  }

  startProducer(rate: number, first = 0): void {
    if (this.producer) throw new Error('the producer is already running');
    this.producer = spawnNode(PRODUCER, { env: { CHAOS_DATABASE_URL: this.url, RATE: String(rate), FIRST: String(first) } });
  }

  /** Stops the producer and returns how many orders it made (all of them enqueued and paid). */
  async stopProducer(): Promise<number> {
    const producer = this.producer;
    if (!producer) throw new Error('no producer is running');
    this.producer = undefined;
    producer.kill('SIGTERM');
    const line = await producer.waitForLine((text) => text.startsWith('produced '), 120_000);
    const exit = await producer.exited;
    if (exit.code !== 0 || /\[error\]|Unhandled|uncaught/i.test(producer.stderr())) {
      throw new Error(`the producer failed (${JSON.stringify(exit)}):\n${producer.stderr()}`);
    }
    return Number(line.slice('produced '.length));
  }

  async count(sql: string, params: unknown[] = []): Promise<number> {
    const { rows } = await this.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) AS q`, params);
    return rows[0]?.n ?? 0;
  }

  /**
   * Resolves once no workflow is waiting or running and `expected` workflows exist (or, if fewer
   * ever do, once nothing has been active for IDLE_GIVE_UP_MS: the invariants then say which are
   * missing); rejects with what is still active after `timeoutMs`.
   */
  async drained(expected: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let idleSince: number | undefined;
    for (;;) {
      try {
        const { rows } = await this.admin.query<{ total: number; active: number }>(
          `SELECT count(*)::int AS total, count(*) FILTER (WHERE status IN ('ENQUEUED', 'DELAYED', 'PENDING'))::int AS active FROM ballast.workflows`,
        );
        const { total, active } = rows[0] ?? { total: 0, active: 0 };
        if (total >= expected && active === 0) return Date.now();
        idleSince = active === 0 ? (idleSince ?? Date.now()) : undefined;
        if (idleSince !== undefined && Date.now() - idleSince > IDLE_GIVE_UP_MS) return idleSince;
        if (Date.now() > deadline) {
          const { rows: stuck } = await this.admin.query(
            `SELECT id, status, owner, epoch, attempts, recoveries, queue, app_version FROM ballast.workflows
              WHERE status IN ('ENQUEUED', 'DELAYED', 'PENDING') ORDER BY id LIMIT 20`,
          );
          const { rows: executors } = await this.admin.query(`SELECT id, lease_expires_at - (extract(epoch from clock_timestamp()) * 1000)::int8 AS lease_left_ms, recovered_at FROM ballast.executors`);
          const ids = stuck.map((row) => String(row.id));
          const { rows: related } = await this.admin.query(
            `SELECT w.id, w.status, w.owner, w.epoch, (SELECT array_agg(name ORDER BY idx) FROM ballast.steps WHERE workflow_id = w.id) AS checkpoints,
                    (SELECT array_agg(topic || ':' || (consumed_at IS NOT NULL)) FROM ballast.messages WHERE destination_id = w.id) AS messages
               FROM ballast.workflows w WHERE w.id = ANY($1::text[]) OR w.parent_id = ANY($1::text[]) ORDER BY w.id`,
            [ids],
          );
          const mentions = [...this.workers.values()].flatMap((worker) =>
            worker.child.stderr().split('\n').filter((line) => ids.some((id) => line.includes(id))).map((line) => `${worker.id}: ${line}`),
          );
          throw new Error(
            `not drained after ${timeoutMs} ms: ${total} workflows, ${active} still active:\n${stuck.map((row) => JSON.stringify(row)).join('\n')}\n` +
              `with their children: ${related.map((row) => JSON.stringify(row)).join('\n')}\n` +
              `executors: ${JSON.stringify(executors)}\nworker lines naming them:\n${mentions.slice(-40).join('\n')}`,
          );
        }
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The run log so far. */
  runs(): RunLine[] {
    return existsSync(this.runLog) ? parseRunLog(readFileSync(this.runLog, 'utf8')) : [];
  }

  /** Step runs that `executorId` began in [from, to). */
  stepsBy(executorId: string, from: number, to = Infinity): RunLine[] {
    return this.runs().filter((line) => line.kind === 'step' && line.executor === executorId && line.at >= from && line.at < to);
  }

  async report(): Promise<FleetReport> {
    const { rows: workflows } = await this.admin.query<WorkflowRow & { output: string | null }>(
      `SELECT id, name, status, recoveries, attempts, output, error, created_at, completed_at FROM ballast.workflows ORDER BY id`,
    );
    const { rows: steps } = await this.admin.query<{ workflow_id: string; names: string[] }>(
      `SELECT workflow_id, array_agg(name ORDER BY idx) AS names FROM ballast.steps GROUP BY workflow_id`,
    );
    const { rows: messages } = await this.admin.query<MessageRow>(
      `SELECT destination_id, topic, idempotency_key, consumed_at IS NOT NULL AS consumed FROM ballast.messages ORDER BY id`,
    );
    return {
      workflows: workflows.map((row) => ({ ...row, output: row.output === null ? null : deserialize(row.output) })),
      checkpoints: new Map(steps.map((row) => [row.workflow_id, row.names])),
      messages,
      runs: this.runs(),
      workers: [...this.workers.values()],
      resumes: this.resumes,
    };
  }

  /** Stops every worker still present with SIGTERM (each must exit 0). */
  async stopAll(): Promise<void> {
    await Promise.all(this.present().map((worker) => this.stop(worker)));
  }

  async close(): Promise<void> {
    this.producer?.kill('SIGKILL');
    for (const worker of this.workers.values()) {
      if (worker.state === 'paused') worker.child.kill('SIGCONT');
      worker.child.kill('SIGKILL');
    }
    await Promise.all([...this.workers.values()].map((worker) => worker.child.exited));
    await Promise.all([...this.workers.values()].map((worker) => worker.proxy.close()));
    await this.sampler.stop().catch(() => undefined);
    await this.admin.end();
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The application_name of a worker's pool and writer sessions (its LISTEN session adds `:listen`). */
export function sessionName(executorId: string): string {
  return `ballast:${APP_NAME}@${executorId}`.slice(0, 56);
}
