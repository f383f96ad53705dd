// The application: one Ballast instance, the `tasks` queue and the `task` workflow, plus the small
// surface the HTTP layer needs (enqueue, look up, readiness). Nothing here knows HTTP.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ballast, type Readiness, type WorkflowInfo, type WorkflowStatus } from '../../src/index.js';

export const QUEUE_NAME = 'tasks';
/** Tasks one replica runs at once: KEDA's `targetValue` should match it. */
export const WORKER_CONCURRENCY = 2;

/** Executor ID on the embedded database when BALLAST_EXECUTOR_ID is not set. */
export const EMBEDDED_EXECUTOR_ID = 'local';

export const DEFAULT_STEPS = 5;
export const DEFAULT_STEP_MS = 500;

export interface TaskInput {
  /** Durable steps the task runs, one after another. */
  steps?: number;
  /** How long each step works (a stand-in for a call to another service). */
  stepMs?: number;
}

export interface TaskResult {
  steps: number;
  /** Milliseconds from the first to the last step, read from checkpointed clocks. */
  elapsedMs: number;
}

/** What `GET /tasks/:id` shows of a task. */
export interface TaskView {
  id: string;
  status: WorkflowStatus;
  /** The task's output once it succeeded, else null. */
  result: TaskResult | null;
  /** The error message of a failed, cancelled or dead-lettered task. */
  error?: string;
  /** The executor (replica) that runs or ran the task; null while it waits in the queue. */
  executor: string | null;
  /** Times the task was started: 1, plus one per recovery after a crash. */
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

export interface ServiceOptions {
  /** Postgres URL; absent => BALLAST_DATABASE_URL / DBOS_SYSTEM_DATABASE_URL, else the embedded database. */
  databaseUrl?: string;
  /** Directory of the embedded database. Default ./.ballast */
  dataDir?: string;
  /** Default: BALLAST_EXECUTOR_ID, else "local" on the embedded database, else unique per process. */
  executorId?: string;
  /**
   * Default: TASK_RUN_LOG. A file that gets one line per step run, `<workflow ID> <step> <executor>`:
   * an audit of what ran where (the fleet tests read it to prove no step ran twice).
   */
  runLog?: string;
}

type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

/** The example service's application logic, with its own start/stop lifecycle for probes. */
export class TaskService {
  readonly ballast: Ballast;
  private readonly registered: ReturnType<typeof registerTasks>;
  private phase: Phase = 'starting';

  constructor(options: ServiceOptions = {}) {
    const embedded = (options.databaseUrl ?? env('BALLAST_DATABASE_URL') ?? env('DBOS_SYSTEM_DATABASE_URL')) === undefined;
    this.ballast = new Ballast({
      name: 'ballast-example',
      databaseUrl: options.databaseUrl,
      dataDir: options.dataDir,
      // The embedded database serves one process, so a fixed ID is safe there, and it lets a restarted
      // `npm start` recover the tasks the last run left unfinished. On Postgres, replicas need distinct IDs.
      executorId: options.executorId ?? env('BALLAST_EXECUTOR_ID') ?? (embedded ? EMBEDDED_EXECUTOR_ID : undefined),
    });
    this.registered = registerTasks(this.ballast, options.runLog ?? env('TASK_RUN_LOG'));
  }

  /** Where the data lives, for the startup log line (never the password). */
  describeDatabase(): string {
    const url = this.ballast.config.databaseUrl;
    if (url === undefined) return `embedded database in ${this.ballast.config.dataDir} (one process; set BALLAST_DATABASE_URL for Postgres)`;
    try {
      const parsed = new URL(url);
      return `Postgres ${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
    } catch {
      return 'Postgres';
    }
  }

  async start(): Promise<void> {
    await this.ballast.launch();
    if (this.phase === 'starting') this.phase = 'running';
  }

  /** Readiness turns false at once; call before the HTTP server stops accepting connections. */
  beginShutdown(): void {
    if (this.phase !== 'stopped') this.phase = 'stopping';
  }

  /** Lets running tasks finish for up to `drainMs`; what is left is handed back to the fleet. */
  async stop(drainMs: number): Promise<void> {
    this.beginShutdown();
    if (this.ballast.launched) await this.ballast.shutdown({ drainMs });
    this.phase = 'stopped';
  }

  /** Ballast's readiness, except that the service turns unready at once when its shutdown begins. */
  async readiness(): Promise<Readiness> {
    if (this.phase === 'stopping' || this.phase === 'stopped') return { ready: false, reason: 'stopping' };
    return this.ballast.readiness();
  }

  /** Enqueues a task; `id` makes the request idempotent (the same ID returns the original task). */
  async enqueueTask(input: TaskInput, id?: string): Promise<string> {
    const handle = await this.registered.task.enqueue(input, { queue: this.registered.tasks, id });
    return handle.id;
  }

  async getTask(id: string): Promise<TaskView | undefined> {
    const info = await this.ballast.workflows.get(id, { withPayloads: true });
    if (info === undefined || info.name !== this.registered.task.name) return undefined;
    return toTaskView(info);
  }

}

/** The queue and the workflow. Every replica registers the same ones before launch(). */
function registerTasks(ballast: Ballast, runLog: string | undefined) {
  const tasks = ballast.queue(QUEUE_NAME, { workerConcurrency: WORKER_CONCURRENCY });
  const task = ballast.workflow('task', async (ctx, input: TaskInput): Promise<TaskResult> => {
    const steps = input.steps ?? DEFAULT_STEPS;
    const stepMs = input.stepMs ?? DEFAULT_STEP_MS;
    const startedAt = await ctx.now();
    for (let n = 1; n <= steps; n++) {
      // Each step's result is checkpointed: after a crash the task resumes at its first unfinished step.
      await ctx.step(`step-${n}`, async ({ signal }) => {
        await sleep(stepMs, undefined, { signal });
        if (runLog !== undefined) appendFileSync(runLog, `${ctx.workflowId} ${n} ${ballast.executorId}\n`);
        return n;
      });
    }
    const finishedAt = await ctx.now();
    return { steps, elapsedMs: finishedAt - startedAt };
  });
  return { tasks, task };
}

function toTaskView(info: WorkflowInfo): TaskView {
  const view: TaskView = {
    id: info.id,
    status: info.status,
    result: info.status === 'SUCCESS' ? ((info.output ?? null) as TaskResult | null) : null,
    executor: info.executorId,
    attempts: info.attempts,
    createdAt: info.createdAt.toISOString(),
    startedAt: info.startedAt?.toISOString() ?? null,
    completedAt: info.completedAt?.toISOString() ?? null,
  };
  if (info.error !== undefined && info.error !== null) {
    view.error = info.error instanceof Error ? info.error.message : String(info.error);
  }
  return view;
}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}
