// Acceptance: a workflow writing 1,000 values to a stream is SIGKILLed twice mid-stream (a real
// process, restarted with the same executor ID each time). Every value arrives once, in order, at a
// reader that starts late from position 0, and at an SSE client that hangs up part-way and resumes
// with Last-Event-ID; the table holds each position once.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pg from 'pg';
import { BallastClient } from '../../src/client/index.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { testDatabase } from '../support/postgres.js';
import { waitForSessionsToEnd } from '../support/sessions.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { STREAM_VALUES, STREAMER_ID } from './workers/stream-worker.js';

const WORKER = new URL('./workers/stream-worker.ts', import.meta.url).pathname;
const APP_NAME = 'ballast:stream-app';
const expected = Array.from({ length: STREAM_VALUES }, (_, n) => n);

test('1,000 values from a workflow killed twice mid-stream arrive once each, in order, at a late reader and a resuming SSE client', async (t) => {
  const db = await testDatabase('streams_crash');
  const sql = new pg.Client({ connectionString: db.url, application_name: 'streams-crash-test' });
  const client = new BallastClient({ appName: 'stream-app', databaseUrl: db.url, pollIntervalMs: 200 });
  const server = createServer(client.adminHandler({ dashboard: false, logger: { info: () => undefined, error: console.error } }));
  let child: ChildHandle | undefined;
  t.after(async () => {
    child?.kill('SIGKILL');
    server.close();
    await client.close();
    await sql.end();
    await db.close();
  });
  await sql.connect();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/workflows/${STREAMER_ID}/streams/numbers`;
  const written = async () =>
    (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ballast.streams WHERE workflow_id = $1`, [STREAMER_ID])).rows[0]?.n ?? 0;
  const launch = async (start: boolean) => {
    child = spawnNode(WORKER, { env: { STREAM_DATABASE_URL: db.url, START: start ? '1' : '0' } });
    await child.waitForLine((line) => line === 'ready', 60_000);
    return child;
  };
  const kill = async (running: ChildHandle) => {
    running.kill('SIGKILL');
    assert.deepEqual(await running.exited, { code: null, signal: 'SIGKILL' });
    await waitForSessionsToEnd(db.url, APP_NAME);
    return written();
  };

  const first = await launch(true);
  // The SSE client connects early and hangs up after 450 values, past the first kill.
  const sseFirst = readSse(url, { until: (events) => events.length >= 450 });
  await waitFor('300 values are written', async () => (await written()) >= 300, 60_000, 5);
  const atFirstKill = await kill(first);

  // A reader that starts only now, from the beginning.
  const late: number[] = [];
  const lateReading = (async () => {
    for await (const value of client.readStream<number>(STREAMER_ID, 'numbers', { from: 0 })) late.push(value);
  })();

  const second = await launch(false);
  await waitFor('300 more values are written', async () => (await written()) >= atFirstKill + 300, 60_000, 5);
  const atSecondKill = await kill(second);
  t.diagnostic(`values written at the kills: ${atFirstKill}, ${atSecondKill}`);
  assert.ok(atFirstKill > 0 && atSecondKill > atFirstKill && atSecondKill < STREAM_VALUES, 'both kills landed mid-stream');

  const third = await launch(false);
  assert.equal(await third.waitForLine((line) => line.startsWith('done '), 60_000), `done ${STREAM_VALUES}`);
  assert.deepEqual(await third.exited, { code: 0, signal: null });
  assert.doesNotMatch(third.stderr(), /\[(error|fatal)\]/);

  await lateReading;
  assert.deepEqual(late, expected, 'the late reader got every value once, in order');

  const before = await sseFirst;
  assert.equal(before.ended, false);
  const lastSeen = before.events.at(-1)?.id;
  const after = await readSse(url, { lastEventId: lastSeen });
  assert.equal(after.ended, true);
  assert.deepEqual(after.events.at(-1), { event: 'end', id: undefined, data: '' });
  const values = [...before.events, ...after.events.slice(0, -1)];
  assert.deepEqual(values.map((event) => Number(event.id)), expected, 'event IDs are the positions, each once');
  assert.deepEqual(values.map((event) => JSON.parse(event.data) as number), expected, 'the SSE client got every value once, in order');

  const { rows } = await sql.query<{ position: number; value: string | null }>(
    `SELECT position, value FROM ballast.streams WHERE workflow_id = $1 AND key = 'numbers' ORDER BY position`,
    [STREAMER_ID],
  );
  assert.deepEqual(rows.map((row) => row.position), [...expected, STREAM_VALUES], 'one row per position, and the end');
  assert.equal(rows.at(-1)?.value, null);
});
