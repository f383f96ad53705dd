// A model of what KEDA does with a ScaledObject, read from the manifest itself:
//
// - it creates an HPA with minReplicas = max(minReplicaCount, 1), maxReplicas = maxReplicaCount, the
//   behavior of advanced.horizontalPodAutoscalerConfig, and one External metric per trigger with an
//   AverageValue target of the trigger's targetValue; every HPA sync asks the scaler for the metric;
// - the metrics-api scaler GETs `url` and reads the number at `valueLocation` (a dotted path into the
//   JSON answer); a failed request, a non-2xx answer or a missing number is an error;
// - fallback: after `failureThreshold` failures in a row KEDA answers the HPA with
//   fallback.replicas x targetValue, so the HPA settles on fallback.replicas;
// - KEDA itself, every pollingInterval (default 30 s), activates a target at zero replicas when the
//   metric is above activationTargetValue (default 0), and with minReplicaCount 0 scales it to zero
//   once no trigger has been active for cooldownPeriod (default 300 s).
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { HpaSpec, ScalingRules } from './hpa.js';

export const DEFAULT_POLLING_INTERVAL_S = 30;
export const DEFAULT_COOLDOWN_PERIOD_S = 300;

export interface ScaledObjectModel {
  name: string;
  target: string;
  minReplicaCount: number;
  maxReplicaCount: number;
  pollingIntervalMs: number;
  cooldownPeriodMs: number;
  fallback: { failureThreshold: number; replicas: number } | undefined;
  targetValue: number;
  activationTargetValue: number;
  hpa: HpaSpec;
  trigger: MetricsApiTrigger;
}

export interface MetricsApiTrigger {
  url: string;
  valueLocation: string;
}

/** The model of a ScaledObject manifest with one metrics-api trigger; `overrides` caps max replicas for tests. */
export function scaledObjectModel(manifest: IScaledObject, overrides: { maxReplicaCount?: number } = {}): ScaledObjectModel {
  const spec = manifest.spec;
  const trigger = spec.triggers[0];
  if (spec.triggers.length !== 1 || trigger?.type !== 'metrics-api') throw new Error('the model plays a ScaledObject with one metrics-api trigger');
  const metadata = trigger.metadata;
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
  const minReplicaCount = spec.minReplicaCount ?? 0;
  const maxReplicaCount = overrides.maxReplicaCount ?? spec.maxReplicaCount ?? 100;
  const targetValue = number(metadata.targetValue, NaN);
  const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return {
    name: manifest.metadata?.name ?? '?',
    target: spec.scaleTargetRef.name,
    minReplicaCount,
    maxReplicaCount,
    pollingIntervalMs: (spec.pollingInterval ?? DEFAULT_POLLING_INTERVAL_S) * 1000,
    cooldownPeriodMs: (spec.cooldownPeriod ?? DEFAULT_COOLDOWN_PERIOD_S) * 1000,
    fallback: spec.fallback,
    targetValue,
    activationTargetValue: number(metadata.activationTargetValue, 0),
    hpa: {
      minReplicas: Math.max(minReplicaCount, 1),
      maxReplicas: maxReplicaCount,
      targetAverageValue: targetValue,
      scaleUp: behavior?.scaleUp as Partial<ScalingRules> | undefined,
      scaleDown: behavior?.scaleDown as Partial<ScalingRules> | undefined,
    },
    trigger: { url: metadata.url ?? '', valueLocation: metadata.valueLocation ?? '' },
  };
}

/** Reads the value at a dotted `valueLocation` of a JSON answer (the subset of GJSON KEDA's docs use). */
export function valueAt(body: unknown, valueLocation: string): number {
  let value: unknown = body;
  for (const part of valueLocation.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`no number at ${valueLocation} in ${JSON.stringify(body)}`);
  return value;
}

/** Resolves the trigger's in-cluster URL to one a test can reach (a ready pod behind the Service). */
export type UrlResolver = (url: URL) => URL | undefined;

/** The metrics-api scaler plus KEDA's fallback and activation state for one ScaledObject. */
export class KedaScaler {
  private failures = 0;
  private lastActiveAt: number | undefined;
  lastMetric: number | undefined;

  constructor(
    readonly model: ScaledObjectModel,
    private readonly resolve: UrlResolver,
    private readonly fetchJson: (url: URL) => Promise<unknown> = defaultFetchJson,
  ) {}

  /** One read of the scaler: the metric, or an error. */
  async read(): Promise<number> {
    const url = this.resolve(new URL(this.model.trigger.url));
    if (url === undefined) throw new Error(`nothing answers ${this.model.trigger.url}`);
    return valueAt(await this.fetchJson(url), this.model.trigger.valueLocation);
  }

  /** What KEDA's metrics server answers the HPA: the metric, the fallback value, or undefined (an error). */
  async metricForHpa(now: number): Promise<number | undefined> {
    try {
      const metric = await this.read();
      this.failures = 0;
      this.observe(now, metric);
      return metric;
    } catch {
      this.failures++;
      const fallback = this.model.fallback;
      return fallback !== undefined && this.failures >= fallback.failureThreshold ? fallback.replicas * this.model.targetValue : undefined;
    }
  }

  /**
   * KEDA's own loop, every pollingInterval: the replica count it sets itself (from zero to one on
   * activation, to zero after the cooldown), or undefined to leave the count to the HPA.
   */
  async poll(now: number, specReplicas: number): Promise<number | undefined> {
    let metric: number | undefined;
    try {
      metric = await this.read();
      this.observe(now, metric);
    } catch {
      return undefined; // errors leave the count as it is (fallback applies through the HPA)
    }
    const active = metric > this.model.activationTargetValue;
    if (active && specReplicas === 0) return Math.max(this.model.minReplicaCount, 1);
    if (!active && specReplicas > 0 && this.model.minReplicaCount === 0) {
      const quietSince = this.lastActiveAt ?? -Infinity;
      if (now - quietSince >= this.model.cooldownPeriodMs) return 0;
    }
    if (specReplicas < this.model.minReplicaCount) return this.model.minReplicaCount;
    return undefined;
  }

  private observe(now: number, metric: number): void {
    this.lastMetric = metric;
    if (metric > this.model.activationTargetValue) this.lastActiveAt = now;
  }
}

async function defaultFetchJson(url: URL): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}
