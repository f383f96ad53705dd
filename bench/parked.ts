// Parked workflows in a fleet of two processes (bench/parked-worker.ts), on one Postgres:
//  1. each process starts half of N sleepers that all wake at one time, --wake-after seconds after
//     the bench began (long enough for every start): RSS of each once all are parked (what an hour
//     of sleep would cost too);
//  2. when that time comes: time until every sleeper has finished (wake rate) and how many each
//     process resumed;
//  3. R receivers wait for a message and park; one message is sent every 20 ms from outside: the
//     time from the send to the start of the step after the recv (p50, p90).
// Prints JSON lines.
//   node --import tsx bench/parked.ts [--workflows 100000] [--receivers 200] [--park-after 1000] [--wake-after 120]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { BallastClient } from '../src/client/index.js';
import { spawnNode, type ChildHandle } from '../test/support/processes.js';
import { openServer } from './lib/postgres.js';

const { values } = parseArgs({ options: { workflows: { type: 'string', default: '100000' }, receivers: { type: 'string', default: '200' }, 'park-after': { type: 'string', default: '1000' }, 'wake-after': { type: 'string', default: '120' } } });
const total = Number(values.workflows);
const receivers = Number(values.receivers);
const WORKER = fileURLToPath(new URL('./parked-worker.ts', import.meta.url));
const PARKED = 'ballast:parked';

const server = await openServer();
const url = await server.createDatabase('parked');
const db = new pg.Pool({ connectionString: url, max: 2 });
const count = async (where: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.workflows WHERE ${where}`)).rows[0]?.n ?? 0;
const rssMB = (child: ChildHandle) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
const until = async (check: () => Promise<boolean>) => {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 200));
};
const print = (line: object) => console.log(JSON.stringify(line));

const children: ChildHandle[] = [];
try {
  const began = Date.now();
  const wakeAt = began + Number(values['wake-after']) * 1000;
  for (const id of ['parked-a', 'parked-b']) {
    children.push(spawnNode(WORKER, { env: { BENCH_DATABASE_URL: url, BALLAST_EXECUTOR_ID: id, PARK_AFTER_MS: values['park-after'], START: `${id}:${total / 2}:${wakeAt}`, RECEIVERS: `${id}-r:${receivers / 2}` } }));
  }
  await Promise.all(children.map((child) => child.waitForLine((line) => line === 'ready', 30 * 60_000)));
  const startSeconds = (Date.now() - began) / 1000;
  await until(async () => (await count(`owner = '${PARKED}'`)) === total + receivers);
  print({ phase: 'parked', sleepers: total, receivers, startSeconds: Math.round(startSeconds * 10) / 10, startsPerSecond: Math.round(total / startSeconds), rssMB: children.map(rssMB) });

  // Send → resumed: one message at a time, so each measures an idle fleet's latency.
  const client = new BallastClient({ appName: 'parked-bench', databaseUrl: url, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  const sentAt = new Map<string, number>();
  for (const id of ['parked-a', 'parked-b']) {
    for (let n = 0; n < receivers / 2; n++) {
      const workflowId = `${id}-r-${n}`;
      sentAt.set(workflowId, Date.now());
      await client.send(workflowId, 'go', n);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  await until(async () => (await count(`name = 'receiver' AND status = 'SUCCESS'`)) === receivers);
  const { rows: received } = await db.query<{ id: string; output: string }>(`SELECT id, output FROM ballast.workflows WHERE name = 'receiver'`);
  const latencies = received.map((row) => Number(JSON.parse(row.output)) - (sentAt.get(row.id) ?? 0)).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  print({ phase: 'send-to-resume', receivers, p50Ms: at(0.5), p90Ms: at(0.9), maxMs: latencies.at(-1) });
  void client.close().catch(() => undefined);

  if (Date.now() >= wakeAt) throw new Error('the sleepers fell due before the receivers were done: raise --wake-after');
  await until(async () => Date.now() >= wakeAt);
  const wokeAt = wakeAt;
  let peak = children.map(rssMB);
  await until(async () => {
    peak = children.map((child, i) => Math.max(peak[i] ?? 0, rssMB(child)));
    return (await count(`name = 'sleeper' AND status = 'SUCCESS'`)) === total;
  });
  const wakeSeconds = (Date.now() - wokeAt) / 1000;
  const { rows: spread } = await db.query<{ output: string; n: number }>(`SELECT output, count(*)::int AS n FROM ballast.workflows WHERE name = 'sleeper' GROUP BY output ORDER BY output`);
  const { rows: afterRuns } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.steps WHERE name = 'after'`);
  print({ phase: 'woken', sleepers: total, wakeSeconds: Math.round(wakeSeconds * 10) / 10, wakesPerSecond: Math.round(total / wakeSeconds), resumedBy: Object.fromEntries(spread.map((row) => [JSON.parse(row.output), row.n])), afterSteps: afterRuns[0]?.n, peakRssMB: peak, rssMB: children.map(rssMB) });
} catch (error) {
  for (const child of children) process.stderr.write(`--- worker ${child.pid} ---\n${child.stderr().slice(-3000)}\n`);
  throw error;
} finally {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((child) => child.exited));
  await db.end();
  await server.dropDatabase(url).catch(() => undefined);
  await server.stop();
}
