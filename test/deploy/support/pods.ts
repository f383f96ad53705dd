// Real processes of the example service as the pods of a Deployment. Like a ReplicaSet it keeps as
// many non-terminating pods as spec.replicas says: it starts missing ones (a new pod name, hence a new
// executor ID, every time), replaces pods that are gone, and on scale-down picks victims as the
// ReplicaSet controller does (not-ready pods first, then the most recently ready) and sends them
// SIGTERM, with no SIGKILL: the drain is DRAIN_MS and the example exits when done.
//
// `kill` plays the loss of a whole pod (its node failed, it was evicted past its grace period): the
// replacement has a new name, so the fleet's fail-over must take over its workflows. (A container
// that merely crashes restarts in the same pod under the same name and recovers its own workflows at
// launch; test/examples covers that.) A pod that exits by itself is replaced after a pause, as a
// crash loop backs off, so a broken build fails the test instead of spinning.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { spawnNode, type ChildHandle } from '../../support/processes.js';

const SERVICE_MAIN = fileURLToPath(new URL('../../../examples/service/main.ts', import.meta.url));
const CRASH_BACKOFF_MS = 2_000;

export interface Pod {
  readonly name: string;
  readonly child: ChildHandle;
  readonly createdAt: number;
  url: string | undefined;
  readyAt: number | undefined;
  terminatingSince: number | undefined;
  killed: boolean;
  exited: boolean;
}

export interface DeploymentOptions {
  name: string;
  /** Environment of every pod (BALLAST_EXECUTOR_ID and PORT are set per pod). */
  env: Record<string, string>;
  /** Called with every notable event, for the test's log. */
  log?: (line: string) => void;
}

export class ExampleDeployment {
  readonly pods: Pod[] = [];
  /** Every pod name this Deployment ever started, in order. */
  readonly history: string[] = [];
  private replicas = 0;

  constructor(readonly options: DeploymentOptions) {}

  get name(): string {
    return this.options.name;
  }

  get specReplicas(): number {
    return this.replicas;
  }

  /** Pods that exist and are not terminating: the Deployment's status.replicas. */
  get statusReplicas(): number {
    return this.active().length;
  }

  readyPods(): Pod[] {
    return this.active().filter((pod) => pod.readyAt !== undefined);
  }

  /** Pods still running, terminating ones included. */
  running(): Pod[] {
    return this.pods.filter((pod) => !pod.exited);
  }

  scale(replicas: number): void {
    if (replicas !== this.replicas) this.options.log?.(`${this.name}: spec.replicas ${this.replicas} -> ${replicas}`);
    this.replicas = replicas;
    this.reconcile();
  }

  /** The ReplicaSet's loop: start or stop pods until the non-terminating ones match spec.replicas. */
  reconcile(): void {
    const active = this.active();
    for (let i = active.length; i < this.replicas; i++) this.start();
    if (active.length > this.replicas) {
      for (const victim of rankForDeletion(active).slice(0, active.length - this.replicas)) this.terminate(victim);
    }
  }

  /** Kills a pod without warning (SIGKILL), as a node failure would; the ReplicaSet replaces it. */
  kill(pod: Pod): void {
    this.options.log?.(`${this.name}: SIGKILL ${pod.name}`);
    pod.killed = true;
    pod.child.kill('SIGKILL');
  }

  async stopAll(): Promise<void> {
    this.replicas = 0;
    for (const pod of this.running()) if (pod.terminatingSince === undefined) this.terminate(pod);
    await Promise.all(this.pods.map((pod) => pod.child.exited));
  }

  private active(): Pod[] {
    return this.pods.filter((pod) => !pod.exited && pod.terminatingSince === undefined);
  }

  private start(): void {
    const name = `${this.name}-${randomBytes(3).toString('hex')}`;
    const child = spawnNode(SERVICE_MAIN, { env: { ...this.options.env, PORT: '0', BALLAST_EXECUTOR_ID: name } });
    const pod: Pod = { name, child, createdAt: Date.now(), url: undefined, readyAt: undefined, terminatingSince: undefined, killed: false, exited: false };
    this.pods.push(pod);
    this.history.push(name);
    this.options.log?.(`${this.name}: start ${name}`);
    void child.waitForLine((line) => line.includes('listening on http://'), 120_000).then(
      (line) => (pod.url = /listening on (http:\/\/\S+)/.exec(line)?.[1]),
      () => undefined,
    );
    // The readiness probe: the example prints this once launch() has finished.
    void child.waitForLine((line) => line.startsWith('[service] ready'), 120_000).then(
      () => {
        pod.readyAt = Date.now();
        this.options.log?.(`${this.name}: ${name} ready`);
      },
      () => undefined,
    );
    void child.exited.then((exit) => {
      pod.exited = true;
      this.options.log?.(`${this.name}: ${name} exited (${exit.signal ?? `code ${exit.code}`})${exit.code ? `\n${child.stderr().slice(-2000)}` : ''}`);
      const crashed = pod.terminatingSince === undefined && !pod.killed;
      setTimeout(() => this.reconcile(), crashed ? CRASH_BACKOFF_MS : 0).unref();
    });
  }

  private terminate(pod: Pod): void {
    pod.terminatingSince = Date.now();
    this.options.log?.(`${this.name}: SIGTERM ${pod.name}`);
    pod.child.kill('SIGTERM');
  }
}

/** The ReplicaSet controller's deletion order, as far as it applies here: unready first, then the most recently ready, then the newest. */
function rankForDeletion(pods: Pod[]): Pod[] {
  return [...pods].sort((a, b) => {
    if ((a.readyAt === undefined) !== (b.readyAt === undefined)) return a.readyAt === undefined ? -1 : 1;
    if (a.readyAt !== undefined && b.readyAt !== undefined && a.readyAt !== b.readyAt) return b.readyAt - a.readyAt;
    return b.createdAt - a.createdAt;
  });
}
