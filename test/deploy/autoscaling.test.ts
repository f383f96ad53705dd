// The autoscaling loop end to end, without a cluster: the KEDA + HPA model (support/keda.ts,
// support/hpa.ts), configured from the ScaledObjects in deploy/kubernetes, scales real processes of the
// example service (support/pods.ts) on one Postgres, polling their real /metrics/tasks. Model time
// runs 30 times faster than real time, so the HPA syncs every 0.5 s and the 300 s scale-down window
// lasts 10 s. Max replicas are capped at what this machine runs comfortably.
//
// Every task's steps are audited in TASK_RUN_LOG (`<workflow> <step> <executor>` per step run): a step
// runs once, except that a pod killed mid-step may have run one that another pod runs again.
//
// Seeded mistakes verified to make this file fail (by hand: each costs a minute of real processes;
// the model's own seeds run in autoscaling-model.test.ts):
// - the ScaledObject's targetValue "50" instead of the worker concurrency: the burst never reaches
//   6 replicas ("timed out ... waiting until spec.replicas 6");
// - every pod of a Deployment under one BALLAST_EXECUTOR_ID: "step 3 of <id> ran 5 times";
// - fail-over out of reach (BALLAST_EXECUTOR_LEASE_MS 600000): the SIGKILL test times out waiting for
//   its 24 tasks to succeed;
// - the v1 Deployment running BALLAST_APP_VERSION v2: v1 never scales on its backlog (max spec 1, not 3).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test, type TestContext } from 'node:test';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import pg from 'pg';
import { WORKER_CONCURRENCY } from '../../examples/service/app.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { KUBERNETES_DIR } from './support/app-contract.js';
import { Autoscaler, serviceResolver } from './support/autoscaler.js';
import { ScaledClock } from './support/clock.js';
import { resource } from './support/json-path.js';
import { scaledObjectModel } from './support/keda.js';
import { renderKustomization } from './support/kustomize.js';
import { ExampleDeployment, type Pod } from './support/pods.js';

const SPEED = 30;
const LEASE_MS = 2_000;
const DRAIN_MS = 1_000;

let db: { url: string; close(): Promise<void> };
let pool: pg.Pool;
let workDir: string;
let running: { autoscaler?: Autoscaler; deployments: ExampleDeployment[] } = { deployments: [] };
const log: string[] = [];

before(async () => {
  db = await testDatabase('deploy_autoscaling');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  workDir = mkdtempSync(join(tmpdir(), 'ballast-autoscaling-'));
});

afterEach(async () => {
  await running.autoscaler?.stop();
  await Promise.all(running.deployments.map((deployment) => deployment.stopAll()));
  running = { deployments: [] };
});

after(async () => {
  await pool?.end();
  await db?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function scaledObject(kustomization: string, name: string): IScaledObject {
  return resource(renderKustomization(join(KUBERNETES_DIR, kustomization)), `ScaledObject/${name}`) as unknown as IScaledObject;
}

function deploymentFor(name: string, runLog: string, env: Record<string, string> = {}): ExampleDeployment {
  const deployment = new ExampleDeployment({
    name,
    env: { BALLAST_DATABASE_URL: db.url, BALLAST_EXECUTOR_LEASE_MS: String(LEASE_MS), DRAIN_MS: String(DRAIN_MS), TASK_RUN_LOG: runLog, ...env },
    log: (line) => log.push(`${new Date().toISOString().slice(11, 23)} ${line}`),
  });
  running.deployments.push(deployment);
  return deployment;
}

function autoscaler(clock: ScaledClock): Autoscaler {
  const scaler = new Autoscaler(clock, (line) => log.push(`${new Date().toISOString().slice(11, 23)} ${line}`));
  running.autoscaler = scaler;
  return scaler;
}

const recentLog = () => `\n--- harness log (last 60 lines) ---\n${log.slice(-60).join('\n')}`;

/** waitFor, with the harness log as it is when the wait fails. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs, everyMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}${recentLog()}`);
  }
}

async function postTasks(pod: Pod, count: number, body: { steps: number; stepMs: number }): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${pod.url}/tasks`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(response.status, 202, await response.clone().text());
    ids.push(((await response.json()) as { workflowId: string }).workflowId);
  }
  return ids;
}

async function readyPod(deployment: ExampleDeployment): Promise<Pod> {
  await until(`a ready pod of ${deployment.name}`, () => deployment.readyPods().some((pod) => pod.url !== undefined), 60_000, 50);
  return deployment.readyPods().find((pod) => pod.url !== undefined) as Pod;
}

interface WorkflowRow {
  id: string;
  status: string;
  attempts: number;
  app_version: string;
  owner: string | null;
}

async function workflows(ids: string[]): Promise<WorkflowRow[]> {
  const { rows } = await pool.query<WorkflowRow>('SELECT id, status, attempts, app_version, owner FROM ballast.workflows WHERE id = ANY($1)', [ids]);
  return rows;
}

async function waitAllSucceeded(ids: string[], timeoutMs: number): Promise<void> {
  await until(`all ${ids.length} tasks SUCCESS`, async () => (await workflows(ids)).every((row) => row.status === 'SUCCESS'), timeoutMs, 250);
}

interface StepRun {
  workflow: string;
  step: number;
  executor: string;
}

function stepRuns(runLog: string): StepRun[] {
  let text = '';
  try {
    text = readFileSync(runLog, 'utf8');
  } catch {
    return [];
  }
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [workflow = '', step = '', executor = ''] = line.split(' ');
    return { workflow, step: Number(step), executor };
  });
}

/**
 * Every step of every task ran, and ran once; a repeat is allowed only where every earlier run of
 * that step was on an executor in `killed` (at least once: it died before its checkpoint committed).
 */
function assertEachStepRanOnce(runLog: string, ids: string[], steps: (id: string) => number, killed: Set<string> = new Set()): StepRun[] {
  const runs = stepRuns(runLog);
  const byStep = new Map<string, StepRun[]>();
  for (const run of runs) byStep.set(`${run.workflow} ${run.step}`, [...(byStep.get(`${run.workflow} ${run.step}`) ?? []), run]);
  for (const id of ids) {
    for (let step = 1; step <= steps(id); step++) {
      const seen = byStep.get(`${id} ${step}`) ?? [];
      assert.ok(seen.length >= 1, `step ${step} of ${id} never ran`);
      const earlier = seen.slice(0, -1);
      assert.ok(earlier.every((run) => killed.has(run.executor)), `step ${step} of ${id} ran ${seen.length} times: ${seen.map((r) => r.executor).join(', ')}`);
    }
  }
  return runs;
}

function timeline(scaler: Autoscaler, name: string): string {
  const changes: string[] = [];
  let last: number | undefined;
  for (const sample of scaler.samples.filter((s) => s.scaledObject === name)) {
    if (sample.spec !== last) changes.push(`${Math.round(sample.at / 1000)}s:${sample.spec}(metric ${sample.metric})`);
    last = sample.spec;
  }
  return changes.join(' ');
}

test('a burst of 200 tasks scales to the capped count, drains with every task run once, and returns to the minimum', async (t: TestContext) => {
  const runLog = join(workDir, 'burst.log');
  const cap = 6;
  const model = scaledObjectModel(scaledObject('base', 'ballast-app'), { maxReplicaCount: cap });
  const app = deploymentFor('ballast-app', runLog);
  app.scale(2); // spec.replicas of the Deployment, before KEDA acts
  const entry = await readyPod(app);

  // 200 short tasks, then 6 long ones (30 steps of 0.5 s): they are still running when the backlog is
  // gone and the window lets the HPA scale down, so some pods leave mid-task and hand them back.
  const short = await postTasks(entry, 200, { steps: 3, stepMs: 100 });
  const long = await postTasks(entry, 6, { steps: 30, stepMs: 500 });
  const all = [...short, ...long];
  const expected = Math.min(cap, Math.ceil(all.length / WORKER_CONCURRENCY));
  assert.equal(expected, 6, 'ceil(206 / 2) = 103 replicas wanted, capped at 6');

  const clock = new ScaledClock(SPEED);
  const scaler = autoscaler(clock);
  scaler.add(model, app, serviceResolver('ballast-app', () => [app]));
  scaler.start();

  await until(`spec.replicas ${expected}`, () => app.specReplicas === expected, 10_000, 20);
  const firstChange = scaler.samples.find((sample) => sample.spec !== 2);
  assert.equal(firstChange?.spec, 6, 'one sync from 2 to 6: the scale-up policy allows max(2 x 2, 2 + 4)');
  await until(`${expected} ready pods`, () => app.readyPods().length === expected, 60_000, 50);

  await waitAllSucceeded(all, 120_000);
  await until(`back to the minimum of 2 pods`, () => app.specReplicas === 2 && app.running().length === 2, 60_000, 100);
  assert.equal(scaler.maxSpec('ballast-app'), expected, 'never above the cap');

  const runs = assertEachStepRanOnce(runLog, all, (id) => (long.includes(id) ? 30 : 3));
  const rows = await workflows(all);
  assert.equal(rows.length, all.length);
  const executors = new Set(runs.map((run) => run.executor));
  assert.ok(executors.size >= expected, `work spread over the scaled-up pods (${executors.size} executors)`);
  const handedOver = long.filter((id) => new Set(runs.filter((run) => run.workflow === id).map((run) => run.executor)).size > 1);
  t.diagnostic(`replicas: ${timeline(scaler, 'ballast-app')}; ${app.history.length} pods started; long tasks resumed on another pod after a scale-down: ${handedOver.length}`);
});

test('a pod killed mid-run (SIGKILL) loses nothing: its workflows are taken over once its lease expires', async (t: TestContext) => {
  const runLog = join(workDir, 'kill.log');
  const model = scaledObjectModel(scaledObject('base', 'ballast-app'), { maxReplicaCount: 4 });
  const app = deploymentFor('ballast-app', runLog);
  app.scale(2);
  const entry = await readyPod(app);
  const ids = await postTasks(entry, 24, { steps: 6, stepMs: 300 });

  const clock = new ScaledClock(SPEED);
  const scaler = autoscaler(clock);
  scaler.add(model, app, serviceResolver('ballast-app', () => [app]));
  scaler.start();
  await until(`4 ready pods`, () => app.readyPods().length === 4, 60_000, 50);

  // A pod that has run a step of a task that is not finished: kill it in the middle of that task.
  let victim: Pod | undefined;
  let inFlight: string[] = [];
  await until('a pod in the middle of a task', async () => {
    const runs = stepRuns(runLog);
    for (const pod of app.readyPods()) {
      const started = new Set(runs.filter((run) => run.executor === pod.name).map((run) => run.workflow));
      const unfinished = (await workflows([...started])).filter((row) => row.status === 'PENDING' && row.owner === pod.name).map((row) => row.id);
      if (unfinished.length > 0) {
        victim = pod;
        inFlight = unfinished;
        return true;
      }
    }
    return false;
  }, 30_000, 50);
  const killed = victim as Pod;
  app.kill(killed);
  await killed.child.exited;

  await waitAllSucceeded(ids, 90_000);
  const rows = await workflows(inFlight);
  for (const row of rows) {
    assert.equal(row.status, 'SUCCESS');
    assert.notEqual(row.owner, killed.name, `${row.id} finished on a survivor`);
    assert.ok(row.attempts >= 2, `${row.id} was taken over (attempts ${row.attempts})`);
  }
  assertEachStepRanOnce(runLog, ids, () => 6, new Set([killed.name]));
  assert.ok(app.history.length > 4, 'the ReplicaSet replaced the killed pod with a new one (a new executor ID)');
  await until(`back to the minimum of 2 pods`, () => app.specReplicas === 2 && app.running().length === 2, 60_000, 100);
  t.diagnostic(`killed ${killed.name} with ${inFlight.length} task(s) in flight; replicas: ${timeline(scaler, 'ballast-app')}`);
});

test('versioned Deployments: v1 drains its backlog while v2 takes new work; v1 ends at its minimum (zero)', async (t: TestContext) => {
  const runLog = join(workDir, 'versions.log');
  const cap = 3;
  const v1Model = scaledObjectModel(scaledObject('overlays/versioned', 'ballast-app-v1'), { maxReplicaCount: cap });
  const v2Model = scaledObjectModel(scaledObject('overlays/versioned', 'ballast-app-v2'), { maxReplicaCount: cap });
  const v1 = deploymentFor('ballast-app-v1', runLog, { BALLAST_APP_VERSION: 'v1' });
  const v2 = deploymentFor('ballast-app-v2', runLog, { BALLAST_APP_VERSION: 'v2' });
  v1.scale(2);
  v2.scale(2);

  // v1's backlog was enqueued before the rollout (through a v1 pod); new work arrives through the
  // Service, which routes to v2 only (service-routes-to-current.yaml).
  const v1Tasks = await postTasks(await readyPod(v1), 30, { steps: 3, stepMs: 200 });
  const v2Tasks = await postTasks(await readyPod(v2), 30, { steps: 3, stepMs: 200 });

  const clock = new ScaledClock(SPEED);
  const scaler = autoscaler(clock);
  const service = serviceResolver('ballast-app', () => [v2]);
  scaler.add(v1Model, v1, service);
  scaler.add(v2Model, v2, service);
  scaler.start();

  await waitAllSucceeded([...v1Tasks, ...v2Tasks], 120_000);
  // v1: HPA down to its minReplicas (1) after the window, then KEDA to zero after the cooldown.
  await until(`v1 at zero pods, v2 at its minimum of 2`,
    () => v1.specReplicas === 0 && v1.running().length === 0 && v2.specReplicas === 2 && v2.running().length === 2, 90_000, 100);

  assert.equal(scaler.maxSpec('ballast-app-v1'), cap, 'v1 scaled up on its own backlog (15 replicas wanted, capped)');
  const rows = await workflows([...v1Tasks, ...v2Tasks]);
  assert.deepEqual(new Set(rows.filter((row) => v1Tasks.includes(row.id)).map((row) => row.app_version)), new Set(['v1']));
  assert.deepEqual(new Set(rows.filter((row) => v2Tasks.includes(row.id)).map((row) => row.app_version)), new Set(['v2']));
  const runs = assertEachStepRanOnce(runLog, [...v1Tasks, ...v2Tasks], () => 3);
  for (const run of runs) {
    const version = v1Tasks.includes(run.workflow) ? 'v1' : 'v2';
    assert.ok(run.executor.startsWith(`ballast-app-${version}-`), `${run.workflow} (${version}) ran only on ${version} pods, not ${run.executor}`);
  }
  t.diagnostic(`v1: ${timeline(scaler, 'ballast-app-v1')} | v2: ${timeline(scaler, 'ballast-app-v2')}`);
});
