// Durable streams, measured: W workflows at once each write V small values to a stream (as fast as
// they can, or paced at --rate values per second per workflow), on a fresh database; prints the
// values per second committed and the transactions Postgres committed for them (pg_stat_database
// xact_commit of the database, before and after). Written for docs/benchmarks.md; not part of
// `npm run bench`.
//
//   node --import tsx bench/streams.ts [--workflows 100] [--values 1000] [--rate 1000] [--rounds 3]
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Ballast } from '../src/index.js';
import { openServer } from './lib/postgres.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const workflows = option('workflows', 100);
const values = option('values', 1_000);
const rate = option('rate', 0); // 0: unpaced
const rounds = option('rounds', 3);

async function commits(client: pg.Client): Promise<number> {
  // Statistics reach pg_stat_database when a backend goes idle (at most once a second).
  await sleep(1_500);
  const { rows } = await client.query<{ n: string }>(`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()`);
  return Number(rows[0]?.n);
}

async function round(url: string): Promise<Record<string, number>> {
  const ballast = new Ballast({ name: 'stream-bench', databaseUrl: url, executorId: 'bench', appVersion: 'v1', admin: false, logger: { info: () => {}, warn: () => {}, error: console.error } });
  const gapMs = rate > 0 ? 1_000 / rate : 0;
  const producer = ballast.workflow('producer', async (ctx, count: number) => {
    for (let n = 0; n < count; n++) {
      await ctx.writeStream('tokens', { n, text: 'token' });
      if (gapMs > 0) await sleep(gapMs);
    }
    return count;
  });
  await ballast.launch();
  const stats = new pg.Client({ connectionString: url });
  await stats.connect();
  const before = await commits(stats);
  const started = performance.now();
  const handles = await Promise.all(Array.from({ length: workflows }, () => producer.start(values)));
  await Promise.all(handles.map((handle) => handle.result()));
  const seconds = (performance.now() - started) / 1_000;
  await ballast.shutdown({ drainMs: 1_000 });
  // The statistics reads themselves (one each) and the shutdown's few writes are within the noise.
  const committed = (await commits(stats)) - before;
  const { rows } = await stats.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.streams WHERE value IS NOT NULL`);
  await stats.end();
  const total = rows[0]?.n ?? 0;
  if (total !== workflows * values) throw new Error(`expected ${workflows * values} values, found ${total}`);
  return {
    workflows,
    valuesPerWorkflow: values,
    ratePerWorkflow: rate,
    seconds: Number(seconds.toFixed(2)),
    valuesPerSec: Math.round(total / seconds),
    commits: committed,
    valuesPerCommit: Number((total / committed).toFixed(1)),
  };
}

const server = await openServer();
for (let n = 1; n <= rounds; n++) {
  const url = await server.createDatabase('stream_bench');
  try {
    console.log(JSON.stringify({ run: n, ...(await round(url)) }));
  } finally {
    await server.dropDatabase(url);
  }
}
await server.stop();
