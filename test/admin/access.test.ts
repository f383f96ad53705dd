// Who may do what through /api, as a new user meets it: with no token, only clients on the machine
// may change anything or read payloads, and a refusal says how to configure a token; viewers read
// everything and change nothing; anonymous readers see no payloads once a token is configured;
// read-only mode and per-action switches; the authorize hook; the redaction hook; one audit line per
// change. A remote client is a real one where the machine has a non-loopback address.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Ballast, type AdminHandlerOptions } from '../../src/index.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const ADMIN = 'access-admin-token-0123456789abcdef';
const VIEWER = 'access-viewer-token-0123456789abcdef';

let db: { url: string; close(): Promise<void> };
let app: Ballast;
const servers: Server[] = [];
const audit: string[] = [];
let waiter: ReturnType<typeof define>['waiter'];
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;

function define(ballast: Ballast) {
  return {
    waiter: ballast.workflow('waiter', async (ctx, secret: string) => {
      await ctx.step('first', () => `saw ${secret}`);
      await ctx.recv('go', { timeout: '1h' });
      return 'done';
    }),
  };
}

/** Serves a handler made with `options` on all interfaces; returns the loopback and the remote base URLs. */
async function serve(options: AdminHandlerOptions): Promise<{ local: string; remote: string; remoteHeaders: Record<string, string> }> {
  const server = createServer(app.adminHandler({ ...options, logger: { error: () => undefined, info: (line) => audit.push(line) } }));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, externalAddress ? '0.0.0.0' : '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    local: `http://127.0.0.1:${port}`,
    // Without another interface, a proxy on this host relaying a remote client is the remote case.
    remote: `http://${externalAddress ?? '127.0.0.1'}:${port}`,
    remoteHeaders: externalAddress ? {} : { 'X-Forwarded-For': '203.0.113.7' },
  };
}

async function call(url: string, method = 'GET', headers: Record<string, string> = {}, body?: string) {
  const response = await fetch(url, { method, headers: { 'Content-Type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

async function running(id: string): Promise<void> {
  await waiter.start('s3cret', { id });
  await waitFor(`${id} waits`, async () => (await app.workflows.steps(id)).length >= 2);
}

before(async () => {
  db = await testDatabase('access');
  app = new Ballast({ name: 'access-app', databaseUrl: db.url, executorId: 'access-executor', appVersion: 'v1', admin: false, logger: capturingLogger() });
  ({ waiter } = define(app));
  await app.launch();
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await app.shutdown({ drainMs: 0 });
  await db.close();
});

describe('no token configured: only this machine may act or read payloads', () => {
  test('a remote cancel or delete is refused with a message that says how to configure a token; loopback may', async () => {
    const { local, remote, remoteHeaders } = await serve({ token: '', viewerToken: '' });
    await running('open-1');
    const refused = await call(`${remote}/api/workflows/open-1/cancel`, 'POST', remoteHeaders);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error?.code, 'FORBIDDEN');
    assert.match(refused.body.error?.message ?? '', /only clients on this machine \(loopback\) may change anything\. Set BALLAST_ADMIN_TOKEN/);
    assert.equal((await call(`${remote}/api/workflows/open-1`, 'DELETE', remoteHeaders)).status, 403);
    assert.equal((await app.workflows.get('open-1'))?.status, 'PENDING');
    // Remote reads work, without payloads.
    const read = await call(`${remote}/api/workflows/open-1`, 'GET', remoteHeaders);
    assert.equal(read.status, 200);
    assert.equal(read.body.input, undefined);
    assert.equal(read.body.payloadsHidden, true);
    assert.equal((await call(`${remote}/api/workflows?withPayloads=true`, 'GET', remoteHeaders)).body.error?.code, 'FORBIDDEN');
    const steps = (await call(`${remote}/api/workflows/open-1/steps`, 'GET', remoteHeaders)).body.steps as Array<Record<string, unknown>>;
    assert.equal(steps[0]?.output, undefined, 'step results are payloads too');
    // The same machine may read and act.
    assert.equal((await call(`${local}/api/workflows/open-1`)).body.input, 's3cret');
    assert.deepEqual((await call(`${local}/api/workflows/open-1/cancel`, 'POST')).body, { workflowId: 'open-1', cancelled: true });
  });

  test('a page on another site rebound to 127.0.0.1 is not "this machine"', async () => {
    const { local } = await serve({ token: '', viewerToken: '' });
    await running('open-2');
    // fetch() may not set Host; a plain request may, as a browser's does after DNS rebinding.
    const status = await new Promise<number>((resolve, reject) => {
      const sent = request(`${local}/api/workflows/open-2/cancel`, { method: 'POST', headers: { Host: 'evil.example:80' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      sent.on('error', reject);
      sent.end();
    });
    assert.equal(status, 403);
    assert.equal((await app.workflows.get('open-2'))?.status, 'PENDING');
    await app.workflows.cancel('open-2');
  });
});

describe('tokens: operators act, viewers read, anonymous readers see no payloads', () => {
  test('roles over /api', async () => {
    const { local } = await serve({ token: ADMIN, viewerToken: VIEWER });
    await running('roles-1');
    const as = (token: string) => ({ Authorization: `Bearer ${token}` });
    assert.equal((await call(`${local}/api/workflows/roles-1`, 'GET', as(VIEWER))).body.input, 's3cret');
    assert.equal((await call(`${local}/api/workflows/roles-1`)).body.input, undefined, 'anonymous: no payloads');
    const viewerCancel = await call(`${local}/api/workflows/roles-1/cancel`, 'POST', as(VIEWER));
    assert.equal(viewerCancel.status, 403);
    assert.match(viewerCancel.body.error?.message ?? '', /A viewer cannot cancel/);
    assert.equal((await call(`${local}/api/workflows/roles-1/cancel`, 'POST')).status, 401, 'loopback counts for nothing once a token is configured');
    assert.equal((await call(`${local}/api/workflows/roles-1`, 'GET', as('wrong-token-wrong-token'))).status, 401, 'a wrong token is never read as anonymous');
    assert.equal((await app.workflows.get('roles-1'))?.status, 'PENDING');
    assert.equal((await call(`${local}/api/workflows/roles-1/cancel`, 'POST', as(ADMIN))).status, 200);
    const line = audit.find((entry) => entry.includes('"id":"roles-1"') && entry.includes('"outcome":"200"'));
    assert.ok(line, 'an audit line for the cancel');
    assert.match(line as string, /"role":"operator","via":"token"/);
    assert.ok(audit.some((entry) => entry.includes('"id":"roles-1"') && entry.includes('refused: FORBIDDEN')), 'and one for the refused attempt');
  });

  test('publicPayloads shows payloads to anonymous readers', async () => {
    const { local } = await serve({ token: ADMIN, publicPayloads: true });
    await running('public-1');
    assert.equal((await call(`${local}/api/workflows/public-1`)).body.input, 's3cret');
    await app.workflows.cancel('public-1');
  });
});

describe('switches and hooks', () => {
  test('read-only mode and per-action switches refuse with ACTION_DISABLED and change nothing', async () => {
    const readOnly = await serve({ token: ADMIN, readOnly: true });
    const noDelete = await serve({ token: ADMIN, actions: { delete: false } });
    await running('switch-1');
    const operator = { Authorization: `Bearer ${ADMIN}` };
    const refused = await call(`${readOnly.local}/api/workflows/switch-1/cancel`, 'POST', operator);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error?.code, 'ACTION_DISABLED');
    assert.equal((await app.workflows.get('switch-1'))?.status, 'PENDING');
    assert.equal((await call(`${noDelete.local}/api/workflows/switch-1/cancel`, 'POST', operator)).status, 200);
    const deleted = await call(`${noDelete.local}/api/workflows/switch-1`, 'DELETE', operator);
    assert.equal(deleted.body.error?.code, 'ACTION_DISABLED');
    const bulk = await call(`${noDelete.local}/api/bulk/delete`, 'POST', operator, JSON.stringify({ filter: { name: 'waiter' } }));
    assert.equal(bulk.body.error?.code, 'ACTION_DISABLED');
    assert.equal((await app.workflows.get('switch-1'))?.status, 'CANCELLED', 'still there');
  });

  test('authorize(request) decides roles from the application\'s own login; redact(value) masks payloads', async () => {
    const { local } = await serve({
      authorize: (request) => (request.headers['x-user'] === 'alice' ? 'operator' : request.headers['x-user'] === 'bob' ? 'viewer' : null),
      redact: (value, site) => (site.field === 'input' ? '[redacted]' : value),
    });
    await running('hook-1');
    assert.equal((await call(`${local}/api/workflows/hook-1`, 'GET', { 'X-User': 'bob' })).body.input, '[redacted]');
    assert.equal((await call(`${local}/api/workflows/hook-1/cancel`, 'POST', { 'X-User': 'bob' })).status, 403);
    assert.equal((await call(`${local}/api/workflows/hook-1/cancel`, 'POST')).status, 401, 'with a hook, nobody acts anonymously, not even loopback');
    assert.equal((await call(`${local}/api/workflows/hook-1/cancel`, 'POST', { 'X-User': 'alice' })).status, 200);
  });

  test('bad options are a ValidationError', () => {
    for (const options of [
      { viewerToken: 'short' },
      { token: ADMIN, viewerToken: ADMIN },
      { readOnly: 'yes' },
      { actions: { launch: false } },
      { actions: { delete: 'no' } },
      { basePath: 'ops/' },
      { authorize: 'alice' },
      { dashboard: { liveIntervalMs: 10 } },
    ]) {
      assert.throws(() => app.adminHandler(options as never), (error: unknown) => (error as { code?: string }).code === 'INVALID_ARGUMENT', JSON.stringify(options));
    }
  });
});
