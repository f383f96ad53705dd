// The KEDA + HPA model of support/ (hpa.ts, keda.ts) on its own: the guide's arithmetic with the
// metric read from the real /metrics/tasks of a running example service (tasks long enough to stay
// counted), then the tolerance band, stabilization windows, rate policies, bounds, fallback and
// scale to zero on a hand-stepped clock.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { KUBERNETES_DIR, REPO_ROOT } from './support/app-contract.js';
import { ManualClock } from './support/clock.js';
import { HorizontalPodAutoscaler, HPA_SYNC_PERIOD_MS, type HpaSpec } from './support/hpa.js';
import { resource } from './support/json-path.js';
import { KedaScaler, scaledObjectModel } from './support/keda.js';
import { renderKustomization } from './support/kustomize.js';

const baseScaledObject = () => resource(renderKustomization(join(KUBERNETES_DIR, 'base')), 'ScaledObject/ballast-app') as unknown as IScaledObject;

/** Runs `syncs` HPA syncs 15 s apart on a constant metric; pods appear at once. Returns spec.replicas after each. */
function replicasOver(hpa: HorizontalPodAutoscaler, clock: ManualClock, start: number, metric: () => number, syncs: number): number[] {
  let replicas = start;
  const seen: number[] = [];
  for (let i = 0; i < syncs; i++) {
    replicas = hpa.reconcile(clock.now(), replicas, replicas, metric()).desired;
    seen.push(replicas);
    clock.advance(HPA_SYNC_PERIOD_MS);
  }
  return seen;
}

describe("the guide's arithmetic, on the metric of the real endpoint", () => {
  let db: { url: string; close(): Promise<void> };
  let service: ChildHandle;
  let url: string;
  let keda: KedaScaler;
  let enqueued = 0;

  before(async () => {
    db = await testDatabase('deploy_model');
    service = spawnNode(join(REPO_ROOT, 'examples/service/main.ts'), {
      env: { PORT: '0', BALLAST_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: 'model-test', DRAIN_MS: '0' },
    });
    url = /listening on (http:\/\/\S+)/.exec(await service.waitForLine((l) => l.includes('listening on http://'), 60_000))?.[1] as string;
    await service.waitForLine((l) => l.startsWith('[service] ready'), 60_000);
    // The ScaledObject's in-cluster URL, answered by this one process.
    keda = new KedaScaler(scaledObjectModel(baseScaledObject()), (target) => new URL(`${target.pathname}${target.search}`, url));
  });

  after(async () => {
    service?.kill('SIGTERM');
    await service?.exited;
    await db?.close();
  });

  /** Enqueues up to `total` one-minute tasks: the process runs 2 of them (PENDING), the rest wait; all count. */
  async function backlogOf(total: number): Promise<number> {
    for (; enqueued < total; enqueued++) {
      const response = await fetch(`${url}/tasks`, { method: 'POST', body: '{"steps": 1, "stepMs": 60000}' });
      assert.equal(response.status, 202);
    }
    await waitFor(`queue_length ${total}`, async () => (await keda.read()) === total);
    return keda.read();
  }

  // The guide's ScaledObject has minReplicaCount 1; otherwise the base's (target 2, default behavior).
  const hpaFor = (overrides: Partial<HpaSpec> = {}) => new HorizontalPodAutoscaler({ ...keda.model.hpa, minReplicas: 1, ...overrides });

  test('worker concurrency 2 and 7 waiting tasks: 4 replicas, in one sync', async () => {
    const metric = await backlogOf(7);
    assert.deepEqual(replicasOver(hpaFor(), new ManualClock(), 1, () => metric, 2), [4, 4]);
  });

  test('20 waiting tasks: 10 replicas, reached within the scale-up policy (double or +4 per 15 s)', async () => {
    const metric = await backlogOf(20);
    // From 1 pod: +4 is the larger step (5), then doubling (10). From the base's 2: 6, then 10.
    assert.deepEqual(replicasOver(hpaFor(), new ManualClock(), 1, () => metric, 3), [5, 10, 10]);
    assert.deepEqual(replicasOver(hpaFor({ minReplicas: 2 }), new ManualClock(), 2, () => metric, 3), [6, 10, 10]);
  });

  test('21 tasks on 10 replicas stay 10 (usage ratio 1.05, inside the 10 % tolerance); 23 go to 12', async () => {
    const metric = await backlogOf(21);
    const hpa = hpaFor({ maxReplicas: 100 }); // the guide's maxReplicaCount
    assert.equal(hpa.proposal(metric, 10), 10);
    assert.deepEqual(replicasOver(hpa, new ManualClock(), 10, () => metric, 2), [10, 10]);
    const more = await backlogOf(23);
    assert.equal(hpaFor().proposal(more, 10), 12, 'usage ratio 1.15 is outside the band: ceil(23 / 2)');
  });
});

describe('the HPA model', () => {
  const spec: HpaSpec = { minReplicas: 2, maxReplicas: 20, targetAverageValue: 2 };

  test('scale-down waits out the 300 s stabilization window, then drops at once (100 % per 15 s)', () => {
    const clock = new ManualClock();
    const hpa = new HorizontalPodAutoscaler(spec);
    assert.deepEqual(replicasOver(hpa, clock, 10, () => 20, 1), [10]);
    // 20 syncs of 15 s after the last high recommendation is 300 s: the window still holds it until then.
    const replicas = replicasOver(hpa, clock, 10, () => 0, 22);
    assert.deepEqual(replicas.slice(0, 19), Array(19).fill(10));
    assert.equal(replicas.at(-1), 2, 'down to minReplicas');
  });

  test('a scale-down policy of 1 pod per 60 s removes one pod a minute', () => {
    const clock = new ManualClock();
    const hpa = new HorizontalPodAutoscaler({ ...spec, scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } });
    assert.deepEqual(replicasOver(hpa, clock, 6, () => 0, 9), [5, 5, 5, 5, 4, 4, 4, 4, 3]);
  });

  test('selectPolicy Min takes the smaller scale-up step; Disabled never scales up', () => {
    const min = new HorizontalPodAutoscaler({ ...spec, scaleUp: { selectPolicy: 'Min' } });
    assert.deepEqual(replicasOver(min, new ManualClock(), 2, () => 40, 3), [4, 8, 12]);
    const disabled = new HorizontalPodAutoscaler({ ...spec, scaleUp: { selectPolicy: 'Disabled' } });
    assert.deepEqual(replicasOver(disabled, new ManualClock(), 2, () => 40, 2), [2, 2]);
  });

  test('a scale-up stabilization window takes the lowest recent recommendation', () => {
    const clock = new ManualClock();
    const hpa = new HorizontalPodAutoscaler({ ...spec, scaleUp: { stabilizationWindowSeconds: 60 } });
    let metric = 4;
    assert.deepEqual(replicasOver(hpa, clock, 2, () => metric, 1), [2]);
    metric = 16;
    // Held at 2 while the 60 s window still holds the low recommendation; then the rate policy (+4).
    assert.deepEqual(replicasOver(hpa, clock, 2, () => metric, 5), [2, 2, 2, 6, 8]);
  });

  test('bounds: never above maxReplicas, a count outside [min, max] is brought back first', () => {
    assert.deepEqual(replicasOver(new HorizontalPodAutoscaler(spec), new ManualClock(), 16, () => 200, 2), [20, 20]);
    assert.equal(new HorizontalPodAutoscaler(spec).reconcile(0, 30, 30, 0).desired, 20);
    assert.equal(new HorizontalPodAutoscaler(spec).reconcile(0, 1, 1, 0).desired, 2);
    assert.equal(new HorizontalPodAutoscaler(spec).reconcile(0, 0, 0, 50).desired, 0, 'zero is left to KEDA');
  });

  test('an unreadable metric leaves the count alone', () => {
    assert.equal(new HorizontalPodAutoscaler(spec).reconcile(0, 5, 5, undefined).desired, 5);
  });

  test('the proposal divides by the pods that exist (status), not the ones asked for (spec)', () => {
    const hpa = new HorizontalPodAutoscaler(spec);
    // 10 asked for, 5 running: 21 / (2 x 5) = 2.1 is outside the band, so ceil(21 / 2) = 11; counted on
    // spec the ratio would be 1.05 and the count would stay 10.
    assert.equal(hpa.reconcile(0, 10, 5, 21).desired, 11);
  });
});

describe('the KEDA model', () => {
  const manifest = (): IScaledObject => baseScaledObject();

  test('reads the base ScaledObject: HPA bounds, target, behavior and fallback', () => {
    const model = scaledObjectModel(manifest());
    assert.equal(model.targetValue, 2);
    assert.deepEqual([model.hpa.minReplicas, model.hpa.maxReplicas], [2, 20]);
    assert.equal(model.hpa.scaleDown?.stabilizationWindowSeconds, 300);
    assert.deepEqual(model.fallback, { failureThreshold: 3, replicas: 4 });
    assert.equal(scaledObjectModel(manifest(), { maxReplicaCount: 6 }).hpa.maxReplicas, 6);
  });

  test('fallback: after failureThreshold failed polls the HPA is steered to fallback.replicas; a success ends it', async () => {
    let answer: unknown = { queue_length: 40 };
    const keda = new KedaScaler(scaledObjectModel(manifest()), (url) => url, async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    });
    const hpa = new HorizontalPodAutoscaler(keda.model.hpa);
    const clock = new ManualClock();
    let replicas = 2;
    const sync = async () => {
      replicas = hpa.reconcile(clock.now(), replicas, replicas, await keda.metricForHpa(clock.now())).desired;
      clock.advance(HPA_SYNC_PERIOD_MS);
      return replicas;
    };
    assert.equal(await sync(), 6);
    assert.equal(await sync(), 12);
    answer = new Error('connection refused');
    assert.deepEqual([await sync(), await sync()], [12, 12], 'the first failures leave the count');
    assert.equal(await sync(), 12, 'third failure: fallback metric 4 x 2; scale-down still waits out its window');
    for (let i = 0; i < 20; i++) await sync();
    assert.equal(replicas, 4, 'settled on fallback.replicas');
    answer = { queue_length: 40 };
    assert.equal(await sync(), 8, 'a good poll ends the fallback');
  });

  test('scale to zero: active above activationTargetValue from zero, zero after cooldownPeriod without activity', async () => {
    const versioned = resource(renderKustomization(join(KUBERNETES_DIR, 'overlays/versioned')), 'ScaledObject/ballast-app-v1') as unknown as IScaledObject;
    let backlog = 0;
    const keda = new KedaScaler(scaledObjectModel(versioned), (url) => url, async () => ({ queue_length: backlog }));
    assert.equal(keda.model.minReplicaCount, 0);
    assert.equal(await keda.poll(0, 0), undefined, 'nothing to do at zero with no backlog');
    backlog = 3;
    assert.equal(await keda.poll(15_000, 0), 1, 'activated: zero to one, the HPA takes it from there');
    backlog = 0;
    assert.equal(await keda.poll(15_000 + 299_000, 2), undefined, 'inside the cooldown');
    assert.equal(await keda.poll(15_000 + 300_000, 2), 0, 'cooldown over: zero');
  });
});

describe('seeded: the guide-number checks tell a faithful model from a sloppy one', () => {
  const spec: HpaSpec = { minReplicas: 1, maxReplicas: 100, targetAverageValue: 2 };

  test('without the tolerance band, 21 tasks on 10 replicas would move to 11', () => {
    assert.equal(new HorizontalPodAutoscaler({ ...spec, tolerance: 0 }).proposal(21, 10), 11);
  });

  test('with the API comments\' 60 s policy periods, 20 tasks would not reach 10 replicas in two syncs', () => {
    const slow = [{ type: 'Percent' as const, value: 100, periodSeconds: 60 }, { type: 'Pods' as const, value: 4, periodSeconds: 60 }];
    const hpa = new HorizontalPodAutoscaler({ ...spec, scaleUp: { policies: slow } });
    assert.notDeepEqual(replicasOver(hpa, new ManualClock(), 1, () => 20, 3), [5, 10, 10]);
  });

  test('dividing by spec instead of status replicas gives another answer for 21 tasks, 10 asked, 5 running', () => {
    const hpa = new HorizontalPodAutoscaler(spec);
    assert.notEqual(hpa.reconcile(0, 10, 10, 21).desired, hpa.reconcile(0, 10, 5, 21).desired);
  });
});
