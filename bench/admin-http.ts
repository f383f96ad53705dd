// The admin API's HTTP layer, measured: requests per second and latency of GET /api/workflows and
// GET /metrics/:queue, for this tree and for another checkout (the hand-written router before the
// move to Hono, say), each in its own child process on its own database of one throwaway Postgres,
// taking turns round by round. Written for docs/decisions/0007; not part of `npm run bench`.
//
//   node --import tsx bench/admin-http.ts --base /path/to/other/checkout [--seconds 5] [--rounds 3] [--concurrency 8]
//
// The other checkout needs its dependencies (a node_modules beside its src/).
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { throwawayServer } from './lib/postgres.js';

interface RouteResult {
  route: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] as string) : fallback;
}

/** Keeps `concurrency` requests in flight for `seconds`; latencies of each. */
async function load(url: string, seconds: number, concurrency: number): Promise<{ count: number; latencies: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((done, fail) => {
      const started = performance.now();
      request(url, { agent }, (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode !== 200) fail(new Error(`${url}: ${response.statusCode}`));
          latencies.push(performance.now() - started);
          done();
        });
      })
        .on('error', fail)
        .end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  agent.destroy();
  return { count: latencies.length, latencies: latencies.sort((a, b) => a - b) };
}

async function child(tree: string, databaseUrl: string, seconds: number, concurrency: number): Promise<void> {
  const { Ballast } = (await import(pathToFileURL(resolve(tree, 'src/index.ts')).href)) as typeof import('../src/index.js');
  const app = new Ballast({ name: 'http-bench', databaseUrl, executorId: 'bench', appVersion: 'v1', admin: false, logger: { info: () => {}, warn: () => {}, error: () => {} } });
  const tasks = app.queue('tasks', { workerConcurrency: 10 });
  const task = app.workflow('task', async (ctx, n: number) => ctx.step('double', () => n * 2));
  await app.launch();
  await Promise.all(Array.from({ length: 100 }, async (_, n) => (await task.enqueue(n, { queue: tasks })).result()));
  const server = createServer(app.adminHandler({ logger: { error: () => {}, info: () => {} } }));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const results: RouteResult[] = [];
  for (const route of ['/api/workflows?limit=20', '/metrics/tasks', '/healthz']) {
    await load(`${base}${route}`, 1, concurrency); // warm-up
    const { count, latencies } = await load(`${base}${route}`, seconds, concurrency);
    results.push({
      route,
      requestsPerSecond: Math.round(count / seconds),
      p50Ms: Number((latencies[Math.floor(latencies.length / 2)] ?? 0).toFixed(2)),
      p99Ms: Number((latencies[Math.floor(latencies.length * 0.99)] ?? 0).toFixed(2)),
    });
  }
  server.closeAllConnections();
  server.close();
  await app.shutdown({ drainMs: 0 });
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

async function main(): Promise<void> {
  const seconds = Number(option('seconds', '5'));
  const concurrency = Number(option('concurrency', '8'));
  if (process.argv.includes('--child')) return child(option('tree', '.'), option('url', ''), seconds, concurrency);
  const base = option('base', '');
  if (!base) throw new Error('--base <checkout> is required: the tree to compare this one with');
  const rounds = Number(option('rounds', '3'));
  const server = await throwawayServer();
  const runs: Record<string, RouteResult[][]> = { base: [], this: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [label, tree] of [['base', resolve(base)], ['this', process.cwd()]] as const) {
        const url = await server.createDatabase(`http_${label}`);
        const output = await new Promise<string>((done, fail) => {
          const proc = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', '--tree', tree, '--url', url, '--seconds', String(seconds), '--concurrency', String(concurrency)], {
            cwd: tree,
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let text = '';
          proc.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
          proc.on('close', (code) => (code === 0 ? done(text) : fail(new Error(`${label} exited ${code}`))));
        });
        runs[label]?.push(JSON.parse(output.trim().split('\n').at(-1) as string) as RouteResult[]);
        console.log(JSON.stringify({ round, tree: label, results: runs[label]?.at(-1) }));
      }
    }
  } finally {
    await server.stop();
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  for (const route of runs.this?.[0]?.map((result) => result.route) ?? []) {
    const of = (label: string, field: keyof Omit<RouteResult, 'route'>) => median((runs[label] ?? []).map((results) => results.find((r) => r.route === route)?.[field] ?? 0));
    console.log(
      JSON.stringify({
        route,
        base: { requestsPerSecond: of('base', 'requestsPerSecond'), p50Ms: of('base', 'p50Ms'), p99Ms: of('base', 'p99Ms') },
        this: { requestsPerSecond: of('this', 'requestsPerSecond'), p50Ms: of('this', 'p50Ms'), p99Ms: of('this', 'p99Ms') },
      }),
    );
  }
}

await main();
