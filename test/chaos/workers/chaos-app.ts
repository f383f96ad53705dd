// The application of the chaos suite and the connection-fault tests: an order workflow that uses
// every kind of durable operation (steps, a message from the producer, a child workflow, events, a
// durable sleep), run by worker processes that faults keep hitting. Every step run appends a line to
// a log file the test reads (O_APPEND writes from all workers, in the order they happened), so
// "ran once" and "no checkpointed step ran again" are checked from lines Ballast does not write.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ballast, QueueOptions, WorkflowContext } from '../../../src/index.js';

export const APP_NAME = 'chaos-app';
export const APP_VERSION = 'chaos-v1';
export const QUEUE = 'orders';
export const QUEUE_OPTIONS = { concurrency: 12, workerConcurrency: 6 } satisfies QueueOptions;
export const PAYMENT_TOPIC = 'payment';

/** The steps of an order and of its child, in the order they run. */
export const ORDER_STEPS = ['reserve', 'charge', 'confirm'] as const;
export const SHIP_STEPS = ['book'] as const;
/** The checkpoint names an order leaves, in order (ballast.* are durable operations of the engine). */
export const ORDER_CHECKPOINTS = [
  'reserve', 'ballast.recv-deadline:payment', 'ballast.recv:payment', 'charge', 'ballast.start:ship',
  'ballast.setEvent:stage', 'ballast.sleep', 'confirm', 'ballast.setEvent:stage',
];

export interface OrderResult {
  n: number;
  reserved: number;
  paid: number;
  charged: number;
  tracking: number;
  confirmed: number;
}

/** What the producer pays for order `n`. */
export const paymentFor = (n: number): number => 1_000 + n;

export function expectedOrder(n: number): OrderResult {
  const reserved = n * 3;
  const paid = paymentFor(n);
  const charged = reserved + paid;
  const tracking = n * 7 + 1;
  return { n, reserved, paid, charged, tracking, confirmed: charged + tracking };
}

/** One line of the run log: a step run began (`step`), or an order's code passed its last durable operation (`settled`). */
export interface RunLine {
  kind: 'step' | 'settled';
  workflowId: string;
  step: string;
  executor: string;
  at: number;
  /** Position in the log: the order in which things happened across all processes. */
  seq: number;
}

export function parseRunLog(text: string): RunLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, seq) => {
      const [kind, workflowId, step, executor, at] = line.split(' ');
      if ((kind !== 'step' && kind !== 'settled') || !workflowId || !step || !executor || !at) throw new Error(`bad run-log line ${JSON.stringify(line)}`);
      return { kind, workflowId, step, executor, at: Number(at), seq };
    });
}

export function registerChaosWorkflows(ballast: Ballast, runLog: string, executor: string) {
  const log = (kind: RunLine['kind'], workflowId: string, step: string) =>
    appendFileSync(runLog, `${kind} ${workflowId} ${step} ${executor} ${Date.now()}\n`);

  /** A step's work: logged as it begins, then 10–80 ms of honest waiting (it stops when its run is stopped). */
  const work = <T>(ctx: WorkflowContext, step: string, value: () => T) =>
    ctx.step(step, async ({ signal }) => {
      log('step', ctx.workflowId, step);
      await sleep(10 + Math.floor(Math.random() * 70), undefined, { signal });
      return value();
    });

  const ship = ballast.workflow('ship', async (ctx, n: number) => work(ctx, 'book', () => n * 7 + 1));

  const order = ballast.workflow('order', async (ctx, n: number): Promise<OrderResult> => {
    const reserved = await work(ctx, 'reserve', () => n * 3);
    const paid = await ctx.recv<number>(PAYMENT_TOPIC, { timeout: '10m' });
    if (paid === undefined) throw new Error(`order ${n}: no payment arrived`);
    const charged = await work(ctx, 'charge', () => reserved + paid);
    const shipment = await ctx.start(ship, n, { id: `${ctx.workflowId}-ship` });
    const tracking = await shipment.result();
    await ctx.setEvent('stage', 'shipped');
    await ctx.sleep(200);
    const confirmed = await work(ctx, 'confirm', () => charged + tracking);
    await ctx.setEvent('stage', 'confirmed');
    // Past a durable operation: every checkpoint before it has committed.
    log('settled', ctx.workflowId, 'order');
    return { n, reserved, paid, charged, tracking, confirmed };
  });

  return { order, ship };
}
