// A model of the Kubernetes HorizontalPodAutoscaler for one External metric with an AverageValue
// target, the kind KEDA's ScaledObjects create. Written from the HPA documentation and the
// controller's algorithm (pkg/controller/podautoscaler: replica_calculator.go
// GetExternalPerPodMetricReplicas; horizontal.go normalizeDesiredReplicasWithBehaviors,
// stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate,
// calculateScaleUpLimitWithScalingRules, calculateScaleDownLimitWithBehaviors):
//
// - proposal: usage ratio = metric / (target x status replicas); when |1 - ratio| <= tolerance
//   (default 0.1, kube-controller-manager --horizontal-pod-autoscaler-tolerance) the proposal is the
//   status replica count, else ceil(metric / target);
// - stabilization: the recommendation is clamped between the lowest proposal within the scale-up
//   window and the highest within the scale-down window (defaults 0 s and 300 s: "For scale up: 0
//   (i.e. no stabilization is done). For scale down: 300", HPAScalingRules API reference);
// - rate: each policy allows, from the replica count at the start of its period (current minus what
//   was added, plus what was removed, within periodSeconds), +value pods or ceil(x (1 + value%)) up,
//   -value pods or floor(x (1 - value%)) down; selectPolicy Max takes the policy allowing the largest
//   change, Min the smallest, Disabled none. Defaults: "For scale up: allow doubling the number of
//   pods, or an absolute change of 4 pods in a 15s window. For scale down: allow all pods to be
//   removed in a 15s window" (HPAScalingRules API reference);
// - then minReplicas and maxReplicas; a target scaled to zero with minReplicas > 0 is left alone
//   (KEDA handles zero). The controller syncs every 15 s (--horizontal-pod-autoscaler-sync-period).

export const DEFAULT_TOLERANCE = 0.1;
export const HPA_SYNC_PERIOD_MS = 15_000;

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

export const DEFAULT_SCALE_UP: ScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
};

export const DEFAULT_SCALE_DOWN: ScalingRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

export interface HpaSpec {
  minReplicas: number;
  maxReplicas: number;
  /** Target value of the metric per replica (KEDA's targetValue). */
  targetAverageValue: number;
  tolerance?: number;
  scaleUp?: Partial<ScalingRules>;
  scaleDown?: Partial<ScalingRules>;
}

export interface Reconciliation {
  /** What the metric alone asks for (before stabilization, rate limits and bounds). */
  proposal: number;
  /** The replica count the HPA sets. */
  desired: number;
  reason: string;
}

interface Timestamped {
  at: number;
  value: number;
}

export class HorizontalPodAutoscaler {
  readonly scaleUp: ScalingRules;
  readonly scaleDown: ScalingRules;
  readonly tolerance: number;
  private recommendations: Timestamped[] = [];
  private scaleUpEvents: Timestamped[] = [];
  private scaleDownEvents: Timestamped[] = [];

  constructor(readonly spec: HpaSpec) {
    this.scaleUp = { ...DEFAULT_SCALE_UP, ...spec.scaleUp };
    this.scaleDown = { ...DEFAULT_SCALE_DOWN, ...spec.scaleDown };
    this.tolerance = spec.tolerance ?? DEFAULT_TOLERANCE;
  }

  /** The replica count the metric alone asks for, given the pods that exist now. */
  proposal(metric: number, statusReplicas: number): number {
    const usageRatio = metric / (this.spec.targetAverageValue * statusReplicas);
    // NaN (no pods, no backlog) compares false, as in the controller: the count stays.
    return Math.abs(1 - usageRatio) > this.tolerance ? Math.ceil(metric / this.spec.targetAverageValue) : statusReplicas;
  }

  /**
   * One sync of the controller at model time `now`. `specReplicas` is the target's spec.replicas,
   * `statusReplicas` its pods that exist and are not terminating; `metric` is undefined when it
   * could not be read (the HPA then leaves the count alone).
   */
  reconcile(now: number, specReplicas: number, statusReplicas: number, metric: number | undefined): Reconciliation {
    const { minReplicas, maxReplicas } = this.spec;
    if (specReplicas === 0 && minReplicas !== 0) return { proposal: 0, desired: 0, reason: 'ScalingDisabled' };
    let result: Reconciliation;
    if (specReplicas > maxReplicas) result = { proposal: maxReplicas, desired: maxReplicas, reason: 'TooManyReplicas' };
    else if (specReplicas < minReplicas) result = { proposal: minReplicas, desired: minReplicas, reason: 'TooFewReplicas' };
    else if (metric === undefined) return { proposal: specReplicas, desired: specReplicas, reason: 'FailedGetExternalMetric' };
    else {
      const proposal = this.proposal(metric, statusReplicas);
      const stabilized = this.stabilize(now, specReplicas, proposal);
      const { desired, reason } = this.limitRate(now, specReplicas, stabilized);
      result = { proposal, desired, reason };
    }
    if (result.desired !== specReplicas) this.recordScaleEvent(now, specReplicas, result.desired);
    return result;
  }

  private stabilize(now: number, current: number, proposal: number): number {
    const upCutoff = now - this.scaleUp.stabilizationWindowSeconds * 1000;
    const downCutoff = now - this.scaleDown.stabilizationWindowSeconds * 1000;
    let up = proposal;
    let down = proposal;
    for (const recommendation of this.recommendations) {
      if (recommendation.at > upCutoff) up = Math.min(up, recommendation.value);
      if (recommendation.at > downCutoff) down = Math.max(down, recommendation.value);
    }
    this.recommendations = this.recommendations.filter((r) => r.at > Math.min(upCutoff, downCutoff));
    this.recommendations.push({ at: now, value: proposal });
    return Math.min(Math.max(current, up), down);
  }

  private limitRate(now: number, current: number, desired: number): { desired: number; reason: string } {
    const { minReplicas, maxReplicas } = this.spec;
    if (desired > current) {
      const limit = Math.max(this.scaleUpLimit(now, current), current);
      const allowed = Math.min(maxReplicas, limit);
      if (desired > allowed) return { desired: allowed, reason: allowed === limit && limit < maxReplicas ? 'ScaleUpLimit' : 'TooManyReplicas' };
    } else if (desired < current) {
      const limit = Math.min(this.scaleDownLimit(now, current), current);
      const allowed = Math.max(minReplicas, limit);
      if (desired < allowed) return { desired: allowed, reason: allowed === limit && limit > minReplicas ? 'ScaleDownLimit' : 'TooFewReplicas' };
    }
    return { desired, reason: 'DesiredWithinRange' };
  }

  private changedWithin(events: Timestamped[], now: number, periodSeconds: number): number {
    return events.filter((event) => event.at > now - periodSeconds * 1000).reduce((sum, event) => sum + event.value, 0);
  }

  private periodStart(now: number, current: number, periodSeconds: number): number {
    return current - this.changedWithin(this.scaleUpEvents, now, periodSeconds) + this.changedWithin(this.scaleDownEvents, now, periodSeconds);
  }

  private scaleUpLimit(now: number, current: number): number {
    const rules = this.scaleUp;
    if (rules.selectPolicy === 'Disabled') return current;
    const proposals = rules.policies.map((policy) => {
      const start = this.periodStart(now, current, policy.periodSeconds);
      return policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
    });
    return rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals);
  }

  private scaleDownLimit(now: number, current: number): number {
    const rules = this.scaleDown;
    if (rules.selectPolicy === 'Disabled') return current;
    const proposals = rules.policies.map((policy) => {
      const start = this.periodStart(now, current, policy.periodSeconds);
      return policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
    });
    // For scale-down the largest change is the lowest count.
    return rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals);
  }

  private recordScaleEvent(now: number, previous: number, next: number): void {
    const longest = (rules: ScalingRules) => Math.max(0, ...rules.policies.map((policy) => policy.periodSeconds)) * 1000;
    if (next > previous) {
      this.scaleUpEvents = this.scaleUpEvents.filter((event) => event.at > now - longest(this.scaleUp));
      this.scaleUpEvents.push({ at: now, value: next - previous });
    } else {
      this.scaleDownEvents = this.scaleDownEvents.filter((event) => event.at > now - longest(this.scaleDown));
      this.scaleDownEvents.push({ at: now, value: previous - next });
    }
  }
}
