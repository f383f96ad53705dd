// The chaos suite's producer: enqueues order workflows through a BallastClient at a steady rate
// (order n at start + n / RATE seconds, each on its own, so an outage delays calls without slowing
// the schedule), and sends each order its payment. A call that fails is tried again with the same
// workflow ID or idempotency key, so a retry after a lost reply never makes a second workflow or
// message. On SIGTERM it stops starting orders, finishes the ones under way, prints
// `produced <count>` and exits 0.
//
//   env: CHAOS_DATABASE_URL, RATE (orders per second), FIRST (number of the first order, default 0)
import { setTimeout as sleep } from 'node:timers/promises';
import { BallastClient } from '../../../src/client/index.js';
import { APP_NAME, APP_VERSION, PAYMENT_TOPIC, paymentFor, QUEUE } from './chaos-app.js';

const databaseUrl = process.env.CHAOS_DATABASE_URL;
const rate = Number(process.env.RATE ?? '10');
const first = Number(process.env.FIRST ?? '0');
if (!databaseUrl || !(rate > 0)) throw new Error('CHAOS_DATABASE_URL and a positive RATE are required');

const warn = (message: string) => process.stderr.write(`[warn] ${new Date().toISOString()} ${message}\n`);
const client = new BallastClient({
  appName: APP_NAME,
  databaseUrl,
  appVersion: APP_VERSION,
  logger: { info: () => undefined, warn, error: (message: string) => process.stderr.write(`[error] ${message}\n`) },
});

/** Runs `call` until it succeeds; every attempt is idempotent, so repeating one that may have worked is safe. */
async function persist(what: string, call: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await call();
      return;
    } catch (error) {
      warn(`${what} failed (attempt ${attempt}), trying again with the same key: ${(error as Error).message}`);
      await sleep(Math.min(1_000, 50 * attempt));
    }
  }
}

async function produce(n: number): Promise<void> {
  const id = `order-${n}`;
  await persist(`enqueue ${id}`, () => client.enqueue('order', n, { queue: QUEUE, id }));
  await persist(`pay ${id}`, () => client.send(id, PAYMENT_TOPIC, paymentFor(n), { idempotencyKey: `pay-${id}` }));
}

let stopping = false;
process.on('SIGTERM', () => (stopping = true));

const started = Date.now();
const underWay = new Set<Promise<void>>();
let count = 0;
while (!stopping) {
  const n = first + count++;
  const call = produce(n).finally(() => underWay.delete(call));
  underWay.add(call);
  const next = started + (count * 1_000) / rate;
  while (!stopping && Date.now() < next) await sleep(Math.min(50, next - Date.now()));
}
await Promise.all(underWay);
await client.close();
process.stdout.write(`produced ${count}\n`);
process.exit(0);
