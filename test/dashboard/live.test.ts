// Live updates at the database's expense: tabs that watch the same page share one render per tick,
// so 50 open tabs cost what one does; a tab is refreshed at most once per interval; a page that
// fails to render sends an event and the stream stays open; a database restart pauses updates and
// they resume on their own, with the host process none the worse. The statement counts are
// printed as the measurement the issue asks for.
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { MAX_RENDERS_PER_TICK } from '../../src/dashboard/live.js';
import { Ballast } from '../../src/index.js';
import type { Driver } from '../../src/store/driver.js';
import { capturingLogger } from '../support/backends.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const INTERVAL_MS = 500;
const WINDOW_MS = 4_000;

let postgres: ThrowawayPostgres;
let url: string;
let app: Ballast;
let server: Server;
let base: string;
let statements = 0;
let defs: ReturnType<typeof define>;
const unhandled: unknown[] = [];
const onUnhandled = (error: unknown) => unhandled.push(error);

function define(ballast: Ballast) {
  return {
    waiter: ballast.workflow('waiter', async (ctx) => {
      await ctx.step('first', () => 1);
      await ctx.recv('go', { timeout: '1h' });
      return 'done';
    }),
  };
}

interface Stream {
  events: Array<{ event: string; data: string }>;
  headers: IncomingMessage['headers'];
  close(): void;
}

/** A tab's EventSource, as plain HTTP. */
function openStream(page: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const events: Stream['events'] = [];
    const request = get(`${base}/dashboard/live?page=${encodeURIComponent(page)}`, (response: IncomingMessage) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: block.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n') });
        }
      });
      response.on('error', () => undefined);
      resolve({ events, headers: response.headers, close: () => request.destroy() });
    });
    request.on('error', reject);
  });
}

async function commits(): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)).rows[0].xact_commit);
  } finally {
    await client.end();
  }
}

/** Statements the application sent, and transactions Postgres committed, while tabs watched `pages` for WINDOW_MS. */
async function measure(pages: string[]): Promise<{ statements: number; commits: number; streams: Stream[] }> {
  const streams = await Promise.all(pages.map(openStream));
  await waitFor('every tab is subscribed', () => streams.every((stream) => stream.events.some((event) => event.event === 'ready')));
  await sleep(INTERVAL_MS * 2);
  const before = await commits();
  statements = 0;
  await sleep(WINDOW_MS);
  const result = { statements, commits: (await commits()) - before - 1, streams };
  for (const stream of streams) stream.close();
  await sleep(INTERVAL_MS * 2);
  return result;
}

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  postgres = await startThrowawayPostgres();
  url = await postgres.createDatabase('live');
  app = new Ballast({ name: 'live-app', databaseUrl: url, executorId: 'live-executor', appVersion: 'v1', admin: false, logger: capturingLogger() });
  defs = define(app);
  app.queue('work', { workerConcurrency: 2 });
  await app.launch();
  for (let n = 0; n < 50; n++) await defs.waiter.start(undefined, { id: `tab-${n}` });
  const driver = (app as unknown as { store: { driver: Driver } }).store.driver;
  const query = driver.query.bind(driver);
  driver.query = ((text: string, params?: unknown[], prepare?: string) => {
    statements++;
    return query(text, params, prepare);
  }) as Driver['query'];
  const handler = app.adminHandler({ dashboard: { liveIntervalMs: INTERVAL_MS }, logger: { error: () => undefined, info: () => undefined } });
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server.close(resolve));
  await app?.shutdown({ drainMs: 0 });
  await postgres?.stop();
});

test('50 tabs on one page cost the database what one tab does; a tab is refreshed at most once per interval', async () => {
  const idle = await measure([]);
  const one = await measure(['/']);
  const fifty = await measure(Array.from({ length: 50 }, () => '/'));
  const distinct = await measure(Array.from({ length: 50 }, (_, n) => `/workflows/tab-${n}`));
  const perSecond = (n: number) => ((n * 1000) / WINDOW_MS).toFixed(1);
  console.log(
    `\nLive updates, ${INTERVAL_MS} ms interval, over ${WINDOW_MS / 1000} s (statements the application sent / transactions Postgres committed, per second):\n` +
      `  no tab:                        ${perSecond(idle.statements)} / ${perSecond(idle.commits)}\n` +
      `  1 tab on the overview:         ${perSecond(one.statements)} / ${perSecond(one.commits)}\n` +
      `  50 tabs on the overview:       ${perSecond(fifty.statements)} / ${perSecond(fifty.commits)}\n` +
      `  50 tabs on 50 workflow pages:  ${perSecond(distinct.statements)} / ${perSecond(distinct.commits)} (at most ${MAX_RENDERS_PER_TICK} pages rendered per tick)\n`,
  );
  assert.equal(one.streams[0]?.headers['content-type'], 'text/event-stream');
  assert.equal(one.streams[0]?.headers['cache-control'], 'no-store');
  const dashboardOne = one.statements - idle.statements;
  const dashboardFifty = fifty.statements - idle.statements;
  assert.ok(dashboardOne > 0, 'a watched page is rendered');
  // One render per tick whatever the number of tabs: the same statements, give or take a tick.
  assert.ok(dashboardFifty <= dashboardOne * 1.5 + 15, `50 tabs: ${dashboardFifty} statements, 1 tab: ${dashboardOne}`);
  // Distinct pages are rendered at most MAX_RENDERS_PER_TICK a tick: 50 cost about as much as that many.
  const perPage = dashboardOne / Math.max(1, one.streams[0]?.events.filter((event) => event.event === 'update').length ?? 1);
  assert.ok(distinct.statements - idle.statements <= ((WINDOW_MS / INTERVAL_MS) + 2) * MAX_RENDERS_PER_TICK * 12, `${distinct.statements} statements for 50 pages (${perPage.toFixed(1)} a render)`);
  // Each tab got at most one update per interval (an upper bound: a loaded machine only makes fewer).
  const maxUpdates = Math.max(...fifty.streams.map((stream) => stream.events.filter((event) => event.event === 'update').length));
  assert.ok(maxUpdates <= Math.ceil((WINDOW_MS + 4 * INTERVAL_MS) / INTERVAL_MS) + 2, `${maxUpdates} updates`);
});

test('a page that fails to render sends an event and keeps the stream; it recovers when the page can render', async () => {
  const stream = await openStream('/workflows/appears-later');
  await waitFor('a failure event', () => stream.events.some((event) => event.event === 'failure' && /No workflow with ID "appears-later"/.test(event.data)));
  await defs.waiter.start(undefined, { id: 'appears-later' });
  await waitFor('an update once it exists', () => stream.events.some((event) => event.event === 'update' && event.data.includes('PENDING'))).catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify(stream.events.slice(-3)).slice(0, 2000)}`);
  });
  stream.close();
});

test('a database restart pauses updates; they resume, and the process carries on', async () => {
  const stream = await openStream('/workflows/tab-0');
  await waitFor('a first update', () => stream.events.some((event) => event.event === 'update'));
  await postgres.stopServer('fast');
  await waitFor('the tab is told', () => stream.events.some((event) => event.event === 'failure'), 20_000);
  await postgres.startServer();
  const seen = stream.events.length;
  await app.send('tab-0', 'go', true);
  await waitFor('updates resume with the workflow finished', () => stream.events.slice(seen).some((event) => event.event === 'update' && /SUCCESS/.test(event.data)), 30_000);
  stream.close();
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});
