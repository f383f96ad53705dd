// The dashboard shows a workflow's attributes, each a link to the list filtered by it, and the
// list takes `attr.KEY=VALUE` like GET /api/workflows.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Ballast } from '../../src/index.js';
import { newBallast, openTestDatabase, type TestDatabase } from '../support/backends.js';

let db: TestDatabase;
let app: Ballast;
let server: Server;
let base: string;

before(async () => {
  db = await openTestDatabase('pglite');
  app = newBallast(db);
  const echo = app.workflow('echo', async (_ctx, n: number) => n);
  await app.launch();
  await (await echo.start(1, { id: 'dash-acme', attributes: { tenant: 'acme', note: '<b>&' } })).result();
  await (await echo.start(2, { id: 'dash-globex', attributes: { tenant: 'globex' } })).result();
  const handler = app.adminHandler();
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await app.shutdown({ drainMs: 0 });
  await db.close();
});

test('the workflow page lists its attributes as escaped links to the filtered list', async () => {
  const page = await (await fetch(`${base}/dashboard/workflows/dash-acme`)).text();
  assert.match(page, /<a href="\/dashboard\/workflows\?attr\.tenant=acme">tenant=acme<\/a>/);
  assert.match(page, /note=&lt;b&gt;&amp;</);
  assert.doesNotMatch(page, /<b>&/);
});

test('the list filters by attr.KEY=VALUE', async () => {
  const page = await (await fetch(`${base}/dashboard/workflows?attr.tenant=globex`)).text();
  assert.match(page, /dash-globex/);
  assert.doesNotMatch(page, /dash-acme/);
});
