// The control loops of a cluster, played against real pods: per ScaledObject, the HPA syncs every 15 s
// of model time (metric from KEDA, then reconcile, then set spec.replicas) and KEDA polls every
// pollingInterval (activation and scale to zero). A Service resolver stands in for cluster DNS.
import type { Clock } from './clock.js';
import { HorizontalPodAutoscaler, HPA_SYNC_PERIOD_MS } from './hpa.js';
import { KedaScaler, type ScaledObjectModel, type UrlResolver } from './keda.js';
import type { ExampleDeployment } from './pods.js';

export interface Sample {
  at: number;
  scaledObject: string;
  metric: number | undefined;
  proposal: number;
  spec: number;
  status: number;
  ready: number;
}

/** A Service `name` in front of the ready pods of `backends`, like kube-proxy: any ready pod, in turn. */
export function serviceResolver(name: string, backends: () => ExampleDeployment[]): UrlResolver {
  let turn = 0;
  return (url) => {
    if (url.hostname.split('.')[0] !== name) return undefined;
    const ready = backends().flatMap((deployment) => deployment.readyPods()).filter((pod) => pod.url !== undefined);
    const pod = ready[turn++ % Math.max(ready.length, 1)];
    return pod === undefined ? undefined : new URL(`${url.pathname}${url.search}`, pod.url);
  };
}

interface Controlled {
  model: ScaledObjectModel;
  deployment: ExampleDeployment;
  hpa: HorizontalPodAutoscaler;
  keda: KedaScaler;
}

export class Autoscaler {
  readonly samples: Sample[] = [];
  private readonly controlled: Controlled[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  add(model: ScaledObjectModel, deployment: ExampleDeployment, resolve: UrlResolver): void {
    if (model.target !== deployment.name) throw new Error(`ScaledObject ${model.name} targets ${model.target}, not ${deployment.name}`);
    this.controlled.push({ model, deployment, hpa: new HorizontalPodAutoscaler(model.hpa), keda: new KedaScaler(model, resolve) });
  }

  start(): void {
    this.running = true;
    for (const entry of this.controlled) {
      this.loops.push(this.every(HPA_SYNC_PERIOD_MS, () => this.syncHpa(entry)));
      this.loops.push(this.every(entry.model.pollingIntervalMs, () => this.pollKeda(entry)));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** The largest spec.replicas the HPA or KEDA set for `scaledObject`'s target so far. */
  maxSpec(scaledObject: string): number {
    return Math.max(0, ...this.samples.filter((sample) => sample.scaledObject === scaledObject).map((sample) => sample.spec));
  }

  private async every(periodMs: number, run: () => Promise<void>): Promise<void> {
    while (this.running) {
      await run();
      await this.clock.sleep(periodMs);
    }
  }

  private async syncHpa({ model, deployment, hpa, keda }: Controlled): Promise<void> {
    const now = this.clock.now();
    const metric = await keda.metricForHpa(now);
    const before = deployment.specReplicas;
    const { proposal, desired, reason } = hpa.reconcile(now, before, deployment.statusReplicas, metric);
    if (desired !== before) {
      this.log(`hpa ${model.name}: metric ${metric} proposal ${proposal} -> ${desired} (${reason})`);
      deployment.scale(desired);
    }
    this.samples.push({
      at: now, scaledObject: model.name, metric, proposal, spec: deployment.specReplicas, status: deployment.statusReplicas, ready: deployment.readyPods().length,
    });
  }

  private async pollKeda({ model, deployment, keda }: Controlled): Promise<void> {
    const now = this.clock.now();
    const replicas = await keda.poll(now, deployment.specReplicas);
    if (replicas !== undefined && replicas !== deployment.specReplicas) {
      this.log(`keda ${model.name}: metric ${keda.lastMetric} -> ${replicas}`);
      deployment.scale(replicas);
      this.samples.push({
        at: now, scaledObject: model.name, metric: keda.lastMetric, proposal: replicas, spec: replicas, status: deployment.statusReplicas, ready: deployment.readyPods().length,
      });
    }
  }
}
