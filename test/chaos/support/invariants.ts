// What must hold after any run of faults: every order and its child finished right, with every
// checkpoint present; no step that had checkpointed ran again; every payment consumed exactly once;
// queue limits held; no worker crashed. All violations are collected, so one failure shows them all.
import { ORDER_CHECKPOINTS, ORDER_STEPS, expectedOrder, PAYMENT_TOPIC, QUEUE, QUEUE_OPTIONS, type RunLine } from '../workers/chaos-app.js';
import type { SampleWindow } from '../../fleet/support/sampler.js';
import type { ChaosWorker, FleetReport } from './chaos-fleet.js';

export interface ChaosSummary {
  orders: number;
  workflows: number;
  stepRuns: number;
  /** Step runs beyond the first of the same step: each the step in flight when a fault hit. */
  reRunSteps: number;
  /** Most runs of any one step. */
  maxRunsOfOneStep: number;
  /** Step starts a SIGSTOP caught between the lease gate and the step's first line, logged as it woke. */
  lateAfterPause: number;
  /** Workflows taken over from an executor that stopped renewing its lease. */
  recoveries: number;
  maxRunning: number;
  maxRunningPerWorker: number;
}

/** How soon after SIGCONT a step the pause caught logs its start. */
const PAUSE_WAKE_MS = 1_000;

const CRASH_SIGNS = /Unhandled|uncaught|\[error\]|FATAL ERROR|Segmentation fault|heap out of memory/i;

export class InvariantViolation extends Error {}

export function checkInvariants(report: FleetReport, orders: number, window: SampleWindow): ChaosSummary {
  const problems: string[] = [];
  const problem = (message: string) => {
    if (problems.length < 40) problems.push(message);
    else if (problems.length === 40) problems.push('… (more)');
  };

  // Every order and its child: SUCCESS with the right result and every checkpoint.
  const byId = new Map(report.workflows.map((row) => [row.id, row]));
  for (let n = 0; n < orders; n++) {
    const order = byId.get(`order-${n}`);
    const ship = byId.get(`order-${n}-ship`);
    if (!order) problem(`order-${n} does not exist`);
    else {
      if (order.status !== 'SUCCESS') problem(`order-${n} is ${order.status} ${order.error ?? ''}`);
      else if (JSON.stringify(order.output) !== JSON.stringify(expectedOrder(n))) problem(`order-${n} returned ${JSON.stringify(order.output)}`);
      const names = report.checkpoints.get(order.id) ?? [];
      if (JSON.stringify(names) !== JSON.stringify(ORDER_CHECKPOINTS)) problem(`order-${n} has checkpoints ${names.join(',')}`);
    }
    if (!ship) problem(`order-${n}-ship does not exist`);
    else {
      if (ship.status !== 'SUCCESS' || ship.output !== n * 7 + 1) problem(`order-${n}-ship is ${ship.status} with ${JSON.stringify(ship.output)}`);
      const names = report.checkpoints.get(ship.id) ?? [];
      if (JSON.stringify(names) !== '["book"]') problem(`order-${n}-ship has checkpoints ${names.join(',')}`);
    }
  }
  if (report.workflows.length !== 2 * orders) problem(`${report.workflows.length} workflows exist for ${orders} orders (expected ${2 * orders})`);
  for (const row of report.workflows) if (row.status !== 'SUCCESS') problem(`${row.id} is ${row.status}`);

  // Every payment was stored once and consumed once; no other message is left.
  const payments = new Map<string, number>();
  for (const message of report.messages) {
    if (message.topic !== PAYMENT_TOPIC) problem(`unexpected message on ${message.topic} to ${message.destination_id}`);
    if (!message.consumed) problem(`the payment to ${message.destination_id} was never consumed`);
    payments.set(message.destination_id, (payments.get(message.destination_id) ?? 0) + 1);
  }
  for (let n = 0; n < orders; n++) {
    const count = payments.get(`order-${n}`) ?? 0;
    if (count !== 1) problem(`order-${n} has ${count} payment messages`);
  }

  // Steps: every one ran, and none ran again after its checkpoint had committed. A step's
  // checkpoint has committed once a later step of the same workflow has begun (every durable
  // operation waits for the previous checkpoint), once the order settled, and for the child's
  // step once the parent confirmed (it had read the child's result). One exception, the step in
  // flight at a SIGSTOP: the pause can land after the step passed its lease gate but before its
  // first line ran, so its start is logged only as the process wakes, whatever happened meanwhile.
  const caughtByPause = (line: RunLine) =>
    report.resumes.some((resume) => resume.executorId === line.executor && line.at >= resume.at && line.at <= resume.at + PAUSE_WAKE_MS);
  const runs = new Map<string, RunLine[]>();
  for (const line of report.runs) {
    if (line.kind !== 'step') continue;
    const key = `${line.workflowId} ${line.step}`;
    runs.set(key, [...(runs.get(key) ?? []), line]);
  }
  const firstSeq = (workflowId: string, step: string) => runs.get(`${workflowId} ${step}`)?.[0]?.seq ?? Infinity;
  const settled = new Map(report.runs.filter((line) => line.kind === 'settled').map((line) => [line.workflowId, line.seq] as const));
  const committedBy = (workflowId: string, step: string): number => {
    if (workflowId.endsWith('-ship')) return firstSeq(workflowId.slice(0, -'-ship'.length), 'confirm');
    const later = ORDER_STEPS.slice(ORDER_STEPS.indexOf(step as (typeof ORDER_STEPS)[number]) + 1);
    return Math.min(settled.get(workflowId) ?? Infinity, ...later.map((name) => firstSeq(workflowId, name)));
  };
  let reRunSteps = 0;
  let maxRunsOfOneStep = 0;
  let lateAfterPause = 0;
  for (let n = 0; n < orders; n++) {
    for (const [workflowId, steps] of [[`order-${n}`, ORDER_STEPS], [`order-${n}-ship`, ['book']]] as const) {
      for (const step of steps) {
        const lines = runs.get(`${workflowId} ${step}`) ?? [];
        if (lines.length === 0) problem(`step ${step} of ${workflowId} never ran`);
        reRunSteps += Math.max(0, lines.length - 1);
        maxRunsOfOneStep = Math.max(maxRunsOfOneStep, lines.length);
        const committed = committedBy(workflowId, step);
        for (const line of lines) {
          if (line.seq <= committed) continue;
          if (caughtByPause(line)) lateAfterPause++;
          else problem(`step ${step} of ${workflowId} ran again on ${line.executor} after its checkpoint had committed`);
        }
      }
    }
  }

  // Limits, from the running set sampled straight from the database.
  const maxRunning = window.maxRunning(QUEUE);
  const maxRunningPerWorker = Math.max(0, ...window.perOwner(QUEUE).values());
  if (maxRunning > QUEUE_OPTIONS.concurrency) problem(`${maxRunning} orders ran at once (limit ${QUEUE_OPTIONS.concurrency})`);
  if (maxRunningPerWorker > QUEUE_OPTIONS.workerConcurrency) {
    problem(`${maxRunningPerWorker} orders ran at once in one worker (limit ${QUEUE_OPTIONS.workerConcurrency})`);
  }
  if (window.samples < 10) problem(`only ${window.samples} samples of the running set were taken`);

  for (const worker of report.workers) {
    const verdict = crashOf(worker);
    if (verdict) problem(verdict);
  }

  if (problems.length > 0) throw new InvariantViolation(`${problems.length} invariant(s) broken:\n  ${problems.join('\n  ')}`);
  return {
    orders,
    workflows: report.workflows.length,
    stepRuns: report.runs.filter((line) => line.kind === 'step').length,
    reRunSteps,
    maxRunsOfOneStep,
    lateAfterPause,
    recoveries: report.workflows.reduce((sum, row) => sum + row.recoveries, 0),
    maxRunning,
    maxRunningPerWorker,
  };
}

/** Why a worker counts as crashed: it exited without being told to, or not as told, or wrote signs of a crash. */
export function crashOf(worker: ChaosWorker): string | undefined {
  const stderr = worker.child.stderr();
  const exit = worker.exit;
  if (exit) {
    if (worker.endedBy === undefined) return `worker ${worker.id} exited by itself (${JSON.stringify(exit)}):\n${lastLines(stderr)}`;
    if (worker.endedBy === 'SIGKILL' && exit.signal !== 'SIGKILL') return `worker ${worker.id} was killed but exited ${JSON.stringify(exit)}:\n${lastLines(stderr)}`;
    if (worker.endedBy === 'SIGTERM' && exit.code !== 0) return `worker ${worker.id} did not stop cleanly (${JSON.stringify(exit)}):\n${lastLines(stderr)}`;
  }
  const sign = stderr.split('\n').find((line) => CRASH_SIGNS.test(line));
  return sign === undefined ? undefined : `worker ${worker.id} wrote: ${sign}\n${lastLines(stderr)}`;
}

function lastLines(text: string, count = 25): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}
