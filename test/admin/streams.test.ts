// GET /api/workflows/:id/streams/:key: Server-Sent Events whose IDs are positions, resumed by
// Last-Event-ID or ?from=, ending with an `end` event; stream values are payloads (a viewer or
// operator token, never anonymous once tokens exist; the redaction hook sees them); bad offsets,
// unknown workflows and unknown parameters answer the API's JSON errors.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { Ballast, type AdminHandlerOptions } from '../../src/index.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { readSse } from '../support/sse.js';

const ADMIN = 'streams-admin-token-0123456789abcdef';
const VIEWER = 'streams-viewer-token-0123456789abcdef';

let db: { url: string; close(): Promise<void> };
let app: Ballast;
let workflowId: string;

/** The admin handler made with `options`, served on loopback for the test `t`; its /api/workflows URL. */
async function serve(t: TestContext, options: AdminHandlerOptions): Promise<string> {
  const server = createServer(app.adminHandler({ dashboard: false, ...options, logger: { error: () => undefined, info: () => undefined } }));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/workflows`;
}

before(async () => {
  db = await testDatabase('admin_streams');
  app = new Ballast({ name: 'streams-app', databaseUrl: db.url, executorId: 'streams-executor', appVersion: 'v1', admin: false, logger: capturingLogger() });
  const letters = app.workflow('letters', async (ctx) => {
    for (const letter of ['a', 'b', 'c']) await ctx.writeStream('letters', { letter, at: new Date(0) });
    return 'done';
  });
  await app.launch();
  const handle = await letters.start(undefined);
  await handle.result();
  workflowId = handle.id;
});

after(async () => {
  await app.shutdown({ drainMs: 0 });
  await db.close();
});

test('events carry positions and stored values, end with an end event, and resume from Last-Event-ID or ?from=', async (t) => {
  const base = await serve(t, {});
  const all = await readSse(`${base}/${workflowId}/streams/letters`);
  assert.equal(all.status, 200);
  assert.deepEqual(all.events.map((event) => [event.event, event.id]), [['message', '0'], ['message', '1'], ['message', '2'], ['end', undefined]]);
  assert.deepEqual(JSON.parse(all.events[0]?.data as string), { letter: 'a', at: { $: 'date', v: '1970-01-01T00:00:00.000Z' } });
  const resumed = await readSse(`${base}/${workflowId}/streams/letters`, { lastEventId: '0' });
  assert.deepEqual(resumed.events.map((event) => event.id), ['1', '2', undefined]);
  const fromTwo = await readSse(`${base}/${workflowId}/streams/letters?from=2`);
  assert.deepEqual(fromTwo.events.map((event) => event.id), ['2', undefined]);
  const past = await readSse(`${base}/${workflowId}/streams/letters?from=9`);
  assert.deepEqual(past.events.map((event) => event.event), ['end']);
});

test('bad offsets, unknown workflows and unknown parameters are JSON errors', async (t) => {
  const base = await serve(t, {});
  const json = async (path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, { headers });
    return { status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code };
  };
  assert.deepEqual(await json(`/${workflowId}/streams/letters?from=-1`), { status: 400, code: 'INVALID_ARGUMENT' });
  assert.deepEqual(await json(`/${workflowId}/streams/letters?from=x`), { status: 400, code: 'INVALID_ARGUMENT' });
  assert.deepEqual(await json(`/${workflowId}/streams/letters`, { 'Last-Event-ID': 'seven' }), { status: 400, code: 'INVALID_ARGUMENT' });
  assert.deepEqual(await json(`/${workflowId}/streams/letters?offset=1`), { status: 400, code: 'INVALID_ARGUMENT' });
  assert.deepEqual(await json(`/no-such-workflow/streams/letters`), { status: 404, code: 'WORKFLOW_NOT_FOUND' });
});

test('with tokens configured, values need a viewer or operator token; the redaction hook sees each value', async (t) => {
  const base = await serve(t, { token: ADMIN, viewerToken: VIEWER, redact: (value, site) => (site.field === 'stream' ? `${site.stream?.key}#${site.stream?.position}` : value) });
  const url = `${base}/${workflowId}/streams/letters`;
  const anonymous = await fetch(url);
  assert.equal(anonymous.status, 403);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
  assert.equal((await fetch(url, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  for (const token of [VIEWER, ADMIN]) {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /data: "letters#0"/);
    assert.match(text, /data: "letters#2"/);
    assert.doesNotMatch(text, /"letter"/);
  }
});
