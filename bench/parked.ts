// Parked workflows in a fleet of two processes (bench/parked-worker.ts), on one Postgres:
//  1. each process starts half of N sleepers that all wake at one time, `wakeAfterSeconds` after
//     the bench began (long enough for every start): RSS of each once all are parked (what an hour
//     of sleep would cost too);
//  2. R receivers wait for a message and park; one message is sent every 20 ms from outside: the
//     time from the send to the start of the step after the recv (p50, p90);
//  3. when the sleepers' time comes: time until every sleeper has finished (wake rate) and how many
//     each process resumed.
// `measureParked` resolves to one object, a key per phase; the scale benchmark calls it.
//   node --import tsx bench/parked.ts [--workflows 100000] [--receivers 200] [--park-after 1000] [--wake-after 120]
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { BallastClient } from '../src/client/index.js';
import { spawnNode, type ChildHandle } from '../test/support/processes.js';
import { measureStandalone } from './lib/postgres.js';
import { round } from './lib/stats.js';

export interface ParkedOptions {
  /** A fresh database. */
  databaseUrl: string;
  /** Sleepers, half started by each process. */
  workflows: number;
  /** Receivers, half started by each process. Default 200. */
  receivers?: number;
  /** The workers' parkAfter in milliseconds. Default 1,000. */
  parkAfterMs?: number;
  /** When the sleepers fall due, from the bench's start. Default 120 s. */
  wakeAfterSeconds?: number;
}

export interface ParkedResult {
  parked: { sleepers: number; receivers: number; startSeconds: number; startsPerSecond: number; rssMB: number[] };
  sendToResume: { receivers: number; p50Ms: number | undefined; p90Ms: number | undefined; maxMs: number | undefined };
  woken: {
    sleepers: number;
    wakeSeconds: number;
    wakesPerSecond: number;
    /** Sleepers resumed by each executor. */
    resumedBy: Record<string, number>;
    afterSteps: number | undefined;
    peakRssMB: number[];
    rssMB: number[];
  };
}

const WORKER = fileURLToPath(new URL('./parked-worker.ts', import.meta.url));
const EXECUTORS = ['parked-a', 'parked-b'];
const PARKED = 'ballast:parked';
// The client's close was once seen never to settle; the measurement does not wait for it longer.
const CLOSE_TIMEOUT_MS = 5_000;

const rssMB = (child: ChildHandle) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
const until = async (check: () => Promise<boolean>) => {
  while (!(await check())) await sleep(200);
};

export async function measureParked(options: ParkedOptions): Promise<ParkedResult> {
  const { databaseUrl, workflows: total } = options;
  const receivers = options.receivers ?? 200;
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const count = async (where: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE ${where}`)).rows[0]?.n ?? 0;
  const children: ChildHandle[] = [];
  let client: BallastClient | undefined;
  try {
    const began = Date.now();
    const wakeAt = began + (options.wakeAfterSeconds ?? 120) * 1000;
    for (const id of EXECUTORS) {
      const env = { BENCH_DATABASE_URL: databaseUrl, BALLAST_EXECUTOR_ID: id, PARK_AFTER_MS: String(options.parkAfterMs ?? 1_000), START: `${id}:${total / 2}:${wakeAt}`, RECEIVERS: `${id}-r:${receivers / 2}` };
      children.push(spawnNode(WORKER, { env }));
    }
    await Promise.all(children.map((child) => child.waitForLine((line) => line === 'ready', 30 * 60_000)));
    const startSeconds = (Date.now() - began) / 1000;
    await until(async () => (await count(`owner = '${PARKED}'`)) === total + receivers);
    const parked = { sleepers: total, receivers, startSeconds: round(startSeconds, 1), startsPerSecond: Math.round(total / startSeconds), rssMB: children.map(rssMB) };

    // Send → resumed: one message at a time, so each measures an idle fleet's latency.
    client = new BallastClient({ appName: 'parked-bench', databaseUrl, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    const sentAt = new Map<string, number>();
    for (const id of EXECUTORS) {
      for (let n = 0; n < receivers / 2; n++) {
        const workflowId = `${id}-r-${n}`;
        sentAt.set(workflowId, Date.now());
        await client.send(workflowId, 'go', n);
        await sleep(20);
      }
    }
    await until(async () => (await count(`name = 'receiver' AND status = 'SUCCESS'`)) === receivers);
    const { rows: received } = await db.query<{ id: string; output: string }>(`SELECT id, output FROM ballast.workflows WHERE name = 'receiver'`);
    const latencies = received.map((row) => Number(JSON.parse(row.output)) - (sentAt.get(row.id) ?? 0)).sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    const sendToResume = { receivers, p50Ms: at(0.5), p90Ms: at(0.9), maxMs: latencies.at(-1) };

    if (Date.now() >= wakeAt) throw new Error('the sleepers fell due before the receivers were done: raise wakeAfterSeconds (--wake-after)');
    await until(async () => Date.now() >= wakeAt);
    let peak = children.map(rssMB);
    await until(async () => {
      peak = children.map((child, i) => Math.max(peak[i] ?? 0, rssMB(child)));
      return (await count(`name = 'sleeper' AND status = 'SUCCESS'`)) === total;
    });
    const wakeSeconds = (Date.now() - wakeAt) / 1000;
    const { rows: spread } = await db.query<{ output: string; n: number }>(`SELECT output, count(*)::int AS n FROM ballast.workflows WHERE name = 'sleeper' GROUP BY output ORDER BY output`);
    const { rows: afterRuns } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.steps WHERE name = 'after'`);
    const woken = {
      sleepers: total,
      wakeSeconds: round(wakeSeconds, 1),
      wakesPerSecond: Math.round(total / wakeSeconds),
      resumedBy: Object.fromEntries(spread.map((row) => [JSON.parse(row.output) as string, row.n])),
      afterSteps: afterRuns[0]?.n,
      peakRssMB: peak,
      rssMB: children.map(rssMB),
    };
    return { parked, sendToResume, woken };
  } catch (error) {
    for (const child of children) process.stderr.write(`--- worker ${child.pid} ---\n${child.stderr().slice(-3000)}\n`);
    throw error;
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exited));
    await Promise.race([client?.close().catch(() => undefined), sleep(CLOSE_TIMEOUT_MS, undefined, { ref: false })]);
    await db.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { workflows: { type: 'string', default: '100000' }, receivers: { type: 'string', default: '200' }, 'park-after': { type: 'string', default: '1000' }, 'wake-after': { type: 'string', default: '120' } } });
  await measureStandalone('parked', (databaseUrl) =>
    measureParked({
      databaseUrl,
      workflows: Number(values.workflows),
      receivers: Number(values.receivers),
      parkAfterMs: Number(values['park-after']),
      wakeAfterSeconds: Number(values['wake-after']),
    }),
  );
  // A client's close that never settled would keep the process alive.
  process.exit(0);
}
