/// <reference lib="dom" />
// The dashboard in a real browser (Debian's chromium through playwright-core) against a real
// server and Postgres, after a realistic workload: successes, failures with retries, a parent with
// children, messages and an event, a DEAD_LETTER, a stranded version, a paused schedule and a
// rate-limited queue. One browser and one workload serve every test. Each visit also checks what a
// user would not see: CSP violations, console errors, requests outside the page's origin (aborted:
// the page must be complete offline), and axe-core's serious or critical findings.
//
// BALLAST_SCREENSHOTS=<dir> also saves a screenshot of each screen there (npm run screenshots).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Ballast, type ScheduledRun } from '../../src/index.js';
import { accessibilityProblems, chromiumPath, cspViolations, launchBrowser, NO_BROWSER, watchedPage, type Watched } from '../support/browser.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const ADMIN_TOKEN = 'dash-admin-token-0123456789abcdef';
const VIEWER_TOKEN = 'dash-viewer-token-0123456789abcdef';
const SCREENSHOTS = process.env.BALLAST_SCREENSHOTS;
const browserPath = chromiumPath();
if (!browserPath) console.warn(`\n\n*** ${NO_BROWSER} ***\n\n`);

let db: { url: string; close(): Promise<void> };
let sql: pg.Client;
let app: Ballast;
let server: Server;
let base: string;
let browser: Browser;
let operator: BrowserContext;
let viewer: BrowserContext;
let anonymous: BrowserContext;
const audit: string[] = [];
let defs: ReturnType<typeof define>;

function define(ballast: Ballast) {
  const child = ballast.workflow('child', async (ctx, n: number) => ctx.step('ship', () => ({ parcel: n })));
  return {
    child,
    ok: ballast.workflow('ok', async (ctx, n: number) => ctx.step('double', () => n * 2)),
    flaky: ballast.workflow('flaky', async (ctx) =>
      ctx.step(
        'charge',
        () => {
          throw new Error('card declined <script>alert(1)</script>');
        },
        { retries: 2, backoff: { initial: 1 } },
      ),
    ),
    parent: ballast.workflow('parent', async (ctx, order: { id: string }) => {
      const reserved = await ctx.step('reserve', () => `reserved ${order.id}`);
      const first = await ctx.start(child, 1);
      const second = await ctx.start(child, 2);
      await ctx.setEvent('stage', 'shipping');
      const approved = await ctx.recv<boolean>('approval', { timeout: '30s' });
      await ctx.send(first.id, 'note', 'thanks');
      return { reserved, approved, parcels: [await first.result(), await second.result()] };
    }),
    /** Waits for "go" after its first step: something to cancel, resume and fork mid-way. */
    waiter: ballast.workflow('waiter', async (ctx) => {
      await ctx.step('first', () => 1);
      await ctx.recv('go', { timeout: '1h' });
      await ctx.step('second', () => 2);
      await ctx.step('third', () => 3);
      return 'done';
    }),
    nightly: ballast.workflow('nightly', async (ctx, run: ScheduledRun) => ctx.step('report', () => String(run.scheduledAt))),
  };
}

async function status(id: string): Promise<string | undefined> {
  return (await sql.query<{ status: string }>('SELECT status FROM ballast.workflows WHERE id = $1', [id])).rows[0]?.status;
}

before(async () => {
  if (!browserPath) return;
  db = await testDatabase('dashboard');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const logger = { ...capturingLogger(), info: (message: string) => audit.push(message) };
  app = new Ballast({ name: 'dash-app', databaseUrl: db.url, executorId: 'dash-executor', appVersion: 'v2', admin: false, logger });
  app.queue('work', { workerConcurrency: 4 });
  const limited = app.queue('limited', { workerConcurrency: 1, rateLimit: { limit: 1, period: '1h' } });
  defs = define(app);
  app.schedule('nightly-report', '0 3 * * *', defs.nightly, { timezone: 'Europe/Paris' });
  await app.launch();

  // ---- the workload
  await Promise.all(Array.from({ length: 60 }, async (_, n) => (await defs.ok.start(n, { id: `ok-${String(n).padStart(3, '0')}` })).result()));
  for (let n = 0; n < 3; n++) await (await defs.flaky.start(undefined, { id: `flaky-${n}` })).result().catch(() => undefined);
  const parent = await defs.parent.start({ id: 'o-1' }, { id: 'parent-1' });
  await app.send(parent.id, 'approval', true);
  await parent.result();
  const dead = await defs.waiter.start(undefined, { id: 'dead-1' });
  await waitFor('dead-1 waits', async () => (await app.workflows.steps(dead.id)).length >= 2);
  await app.workflows.cancel(dead.id);
  // What a takeover does once a workflow exhausted its recoveries (test/fleet/poison.test.ts makes a real one).
  await sql.query(`UPDATE ballast.workflows SET status = 'DEAD_LETTER', epoch = epoch + 1, recoveries = 50 WHERE id = $1`, [dead.id]);
  // A version whose executors are gone while its work waits: stranded.
  const now = Date.now();
  await sql.query(`INSERT INTO ballast.app_versions (app_name, version, first_seen_at, last_seen_at) VALUES ('dash-app', 'v1', $1, $1)`, [now - 86_400_000]);
  await sql.query(
    `INSERT INTO ballast.workflows (id, name, status, app_name, app_version, queue, priority, input, created_at, updated_at)
     SELECT 'stranded-' || i, 'ok', 'ENQUEUED', 'dash-app', 'v1', 'work', 2147483647, '1', $1::int8 - 3600000 + i, $1::int8 - 3600000 + i FROM generate_series(1, 3) i`,
    [now],
  );
  await app.schedules.pause('nightly-report');
  for (let n = 0; n < 3; n++) await defs.waiter.enqueue(undefined, { queue: limited, id: `limited-${n}` });
  await waitFor('one limited workflow runs', async () => (await app.queues.metrics('limited')).pending === 1);
  await (app as unknown as { rollups: { flush(): Promise<void> } }).rollups.flush();

  server = createServer(app.adminHandler({ token: ADMIN_TOKEN, viewerToken: VIEWER_TOKEN, dashboard: { liveIntervalMs: 500 } }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  browser = await launchBrowser();
  const contexts = await Promise.all([0, 1, 2].map(() => browser.newContext({ viewport: { width: 1360, height: 900 } })));
  [operator, viewer, anonymous] = contexts as [BrowserContext, BrowserContext, BrowserContext];
  await signIn(operator, ADMIN_TOKEN);
  await signIn(viewer, VIEWER_TOKEN);
});

after(async () => {
  if (!browserPath) return;
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await app?.shutdown({ drainMs: 0 });
  await sql?.end();
  await db?.close();
});

async function signIn(context: BrowserContext, token: string): Promise<void> {
  const page = await context.newPage();
  await page.goto(`${base}/dashboard/sign-in`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/dashboard/`);
  await page.close();
}

const opened = new Map<BrowserContext, Watched>();

/** Opens a page in the context and checks everything a user would not see; returns the page. */
async function visit(context: BrowserContext, path: string, checks: { axe?: boolean; screenshot?: string } = {}): Promise<Page> {
  let watched = opened.get(context);
  if (!watched) {
    watched = await watchedPage(context, base);
    opened.set(context, watched);
  }
  const { page } = watched;
  await page.goto(`${base}${path}`);
  await page.waitForLoadState('load');
  if ((await page.locator('.chart-canvas').count()) > 0) await page.locator('.uplot').first().waitFor();
  await assertClean(watched, path);
  if (checks.axe !== false) assert.deepEqual(await accessibilityProblems(page), [], `accessibility of ${path}`);
  if (checks.screenshot && SCREENSHOTS) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${checks.screenshot}.png`), fullPage: true });
  }
  return page;
}

async function assertClean(watched: Watched, what: string): Promise<void> {
  assert.deepEqual(await cspViolations(watched.page), [], `no CSP violation on ${what}`);
  assert.deepEqual(watched.consoleErrors, [], `no console error on ${what}`);
  assert.deepEqual(watched.foreignRequests, [], `no request outside the origin on ${what}`);
  // Complete without anything from elsewhere: the stylesheet applies and the client module ran.
  assert.equal(await watched.page.evaluate(() => getComputedStyle(document.querySelector('.top') as Element).position), 'sticky', `${what} is styled`);
}

describe('every screen renders real workflows', { skip: !browserPath && NO_BROWSER }, () => {
  test('overview: runs, percentiles, queues, executors and the problems', async () => {
    const page = await visit(operator, '/dashboard/', { screenshot: 'overview' });
    const problems = await page.locator('.problems').innerText();
    assert.match(problems, /Queue work: the oldest of 3 waiting workflows has waited 1 h/);
    assert.match(problems, /Workflow flaky: 3 of 3 runs failed/);
    assert.match(problems, /1 workflow is in DEAD_LETTER/);
    assert.match(problems, /Version v1 is stranded: 3 workflows and no live executor/);
    const stats = await page.locator('.stats').innerText();
    assert.match(stats, /Started\s+6[0-9]/, stats);
    assert.match(stats, /Failed\s+3/);
    assert.equal(await page.locator('.uplot').count(), 2, 'both charts are drawn');
    assert.match(await page.locator('#queues-title + table').innerText(), /limited\s+2\s+1\s+0/);
  });

  test('workflows: the list, newest first, with statuses in words', async () => {
    const page = await visit(operator, '/dashboard/workflows', { screenshot: 'workflows' });
    const rows = page.locator('table.list tbody tr');
    assert.equal(await rows.count(), 50, 'a page of 50');
    assert.match(await page.locator('table.list').innerText(), /limited-2[\s\S]*ENQUEUED/);
  });

  test('a workflow: facts, payloads escaped, the waterfall with its children inline, reproduce', async () => {
    const page = await visit(operator, '/dashboard/workflows/parent-1', { screenshot: 'workflow' });
    assert.match(await page.locator('.facts').innerText(), /SUCCESS[\s\S]*parent[\s\S]*v2/);
    assert.match(await page.locator('.payload').first().innerText(), /"id": "o-1"/);
    const steps = page.locator('table.waterfall').first();
    const text = await steps.innerText();
    for (const expected of ['reserve', 'start child child', 'set event “stage”', 'receive “approval”', 'send “note”']) assert.ok(text.includes(expected), `${expected} in\n${text}`);
    // Children are inline, their own steps included, and expandable.
    const children = page.locator('tr.child > td > details');
    assert.equal(await children.count(), 2);
    assert.match(await children.first().innerText(), /child[\s\S]*SUCCESS[\s\S]*ship/);
    assert.ok((await page.locator('svg.bar rect.fill').count()) >= 8, 'bars for the steps and the children\'s steps');
    assert.match(await page.locator('.commands').innerText(), /curl -H "Authorization: Bearer \$BALLAST_VIEWER_TOKEN" http:\/\/127\.0\.0\.1:\d+\/api\/workflows\/parent-1\nballast|ballast workflows get 'parent-1'/);
    // The export and the raw download carry the same values.
    const exported = await page.evaluate(async () => {
      const [whole, input] = await Promise.all(['export.json', 'raw/input'].map(async (path) => (await fetch(`/dashboard/workflows/parent-1/${path}`)).json()));
      return { whole, input };
    });
    assert.equal(exported.whole.workflow.id, 'parent-1');
    assert.equal(exported.whole.steps.length, 7);
    assert.deepEqual(exported.input, { id: 'o-1' });
    // A failed workflow's error is shown as text, never as markup.
    const failed = await visit(operator, '/dashboard/workflows/flaky-0');
    assert.match(await failed.locator('.payload').innerText(), /card declined <script>alert\(1\)<\/script>/);
    assert.equal(await failed.locator('.payload script').count(), 0);
    assert.match(await failed.locator('table.waterfall').innerText(), /charge[\s\S]*failed after 3 attempts/);
    assert.equal(await failed.locator('table.waterfall svg.bar .fill.retried').count(), 1);
  });

  test('queues: limits against use, and why work waits', async () => {
    const page = await visit(operator, '/dashboard/queues', { screenshot: 'queues' });
    const text = await page.locator('table.queues').innerText();
    assert.match(text, /limited[\s\S]*Rate limit reached: 1 started in the last 1 h \(limit 1\)/);
    assert.match(text, /work[\s\S]*3 of version v1 wait: no live executor of that version dispatches this queue/);
    const detail = await visit(operator, '/dashboard/queues/limited', { screenshot: 'queue' });
    assert.match(await detail.locator('#limits-title + dl').innerText(), /Rate window\s+1 \/ 1 per 1 h/);
    assert.match(await detail.locator('table.list').innerText(), /dash-executor\s+v2\s+1 \/ 1/);
    assert.equal(await detail.locator('.uplot').count(), 2);
  });

  test('executors and versions: leases, the latest, the stranded one', async () => {
    const page = await visit(operator, '/dashboard/fleet', { screenshot: 'fleet' });
    const versions = await page.locator('#versions-title + table').innerText();
    assert.match(versions, /v2\s+latest: new work goes here\s+1/);
    assert.match(versions, /v1\s+stranded: 3 workflows, no live executor\s+0\s+3/);
    assert.match(await page.locator('#executors-title + table').innerText(), /dash-executor\s+v2[\s\S]*work, limited[\s\S]*expires in/);
  });

  test('schedules: cron, time zone, next runs, paused', async () => {
    const page = await visit(operator, '/dashboard/schedules', { screenshot: 'schedules' });
    const text = await page.locator('table.schedules').innerText();
    assert.match(text, /nightly-report\s+0 3 \* \* \*\s+Europe\/Paris[\s\S]*nightly[\s\S]*paused/);
    assert.equal(await page.getByRole('button', { name: 'resume nightly-report' }).count(), 1);
  });
});

describe('filters, search, pagination and deep links', { skip: !browserPath && NO_BROWSER }, () => {
  test('a filter is a link; pages follow a keyset; the back button returns', async () => {
    const page = await visit(operator, '/dashboard/workflows');
    await page.getByLabel('Workflow', { exact: true }).fill('ok');
    await page.locator('.statuses input[value="SUCCESS"]').check();
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/name=ok/);
    assert.match(page.url(), /status=SUCCESS/);
    const ids = async () => page.locator('td.id a').allInnerTexts();
    const first = await ids();
    assert.equal(first.length, 50);
    assert.ok(first.every((id) => id.startsWith('ok-')));
    assert.equal(first[0], 'ok-059', 'newest first');
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForURL(/after=/);
    const second = await ids();
    assert.deepEqual(second, Array.from({ length: 10 }, (_, n) => `ok-${String(9 - n).padStart(3, '0')}`));
    assert.equal(await page.getByRole('link', { name: 'Older →' }).count(), 0, 'the last page');
    await page.getByRole('link', { name: '← Newer' }).click();
    await page.waitForURL(/before=/);
    assert.deepEqual(await ids(), first, 'newer goes back to the same page');
    await page.goBack();
    await page.waitForURL(/after=/);
    assert.deepEqual(await ids(), second);
    await assertClean(opened.get(operator) as Watched, 'paging');
    // A deep link opens the same filtered list directly.
    const deep = await visit(anonymous, '/dashboard/workflows?status=ERROR&name=flaky', { screenshot: undefined });
    assert.deepEqual((await deep.locator('td.id a').allInnerTexts()).sort(), ['flaky-0', 'flaky-1', 'flaky-2']);
  });

  test('search finds text in errors within a time range; ID prefix, version and parent filters', async () => {
    const page = await visit(operator, '/dashboard/workflows?search=card%20declined');
    assert.deepEqual((await page.locator('td.id a').allInnerTexts()).sort(), ['flaky-0', 'flaky-1', 'flaky-2']);
    const prefix = await visit(operator, '/dashboard/workflows?idPrefix=ok-05');
    assert.equal(await prefix.locator('td.id a').count(), 10);
    const version = await visit(operator, '/dashboard/workflows?version=v1');
    assert.deepEqual((await version.locator('td.id a').allInnerTexts()).sort(), ['stranded-1', 'stranded-2', 'stranded-3']);
    const children = await visit(operator, '/dashboard/workflows?parent=parent-1');
    assert.equal(await children.locator('td.id a').count(), 2);
  });

  test('saved views are links kept in the browser', async () => {
    const page = await visit(operator, '/dashboard/workflows?status=ERROR');
    await page.getByLabel('Save this view as').fill('Failures');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await visit(operator, '/dashboard/workflows');
    await page.getByRole('link', { name: 'Failures' }).click();
    await page.waitForURL(/status=ERROR/);
    assert.equal(await page.locator('td.id a').count(), 3);
  });
});

describe('actions change the database as they should', { skip: !browserPath && NO_BROWSER }, () => {
  test('cancel, then resume, a running workflow', async () => {
    const handle = await defs.waiter.start(undefined, { id: 'act-cancel' });
    await waitFor('it waits', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const page = await visit(operator, '/dashboard/workflows/act-cancel');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(/done=cancelled/);
    assert.equal(await status('act-cancel'), 'CANCELLED');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.waitForURL(/done=resumed/);
    await app.send('act-cancel', 'go', true);
    assert.equal(await app.result('act-cancel', { timeout: '10s' }), 'done');
    assert.equal(await status('act-cancel'), 'SUCCESS');
    assert.ok(audit.some((line) => line.includes('"action":"dashboard cancel"') && line.includes('"workflowId":"act-cancel"') && line.includes('"role":"operator"')));
  });

  test('fork from step 2 onto a chosen version keeps the checkpoints before it', async () => {
    const source = await defs.waiter.start(undefined, { id: 'act-fork-source' });
    await waitFor('it waits', async () => (await app.workflows.steps(source.id)).length >= 2);
    await app.send(source.id, 'go', true);
    await source.result();
    const page = await visit(operator, '/dashboard/workflows/act-fork-source');
    await page.getByText('Fork…').click();
    await page.getByLabel('Run again from').selectOption('2');
    await page.getByLabel('On version').selectOption('v2');
    await page.getByLabel('New ID (optional)').fill('act-forked');
    await page.getByRole('button', { name: 'Fork', exact: true }).click();
    await page.waitForURL(/act-forked\?done=forked/);
    const copied = (await sql.query('SELECT idx, name FROM ballast.steps WHERE workflow_id = $1 ORDER BY idx', ['act-forked'])).rows;
    assert.deepEqual(copied.slice(0, 2), (await sql.query('SELECT idx, name FROM ballast.steps WHERE workflow_id = $1 AND idx < 2 ORDER BY idx', ['act-fork-source'])).rows);
    await app.send('act-forked', 'go', true);
    assert.equal(await app.result('act-forked', { timeout: '10s' }), 'done');
    assert.equal((await sql.query(`SELECT app_version FROM ballast.workflows WHERE id = 'act-forked'`)).rows[0].app_version, 'v2');
  });

  test('bulk cancel by filter: a count, a typed confirmation, progress and a report', async () => {
    const page = await visit(operator, '/dashboard/workflows?queue=limited&status=ENQUEUED');
    await page.getByRole('button', { name: 'Cancel all that match…' }).click();
    assert.match(await page.locator('.notice').innerText(), /2 workflows in ENQUEUED, DELAYED, PENDING match queue=limited, status=ENQUEUED now/);
    await page.getByLabel('Type cancel 2 to confirm').fill('cancel 2');
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await page.waitForURL(/\/bulk\/jobs\//);
    await waitFor('the job finished', async () => /Finished/.test(await page.locator('#live').innerText()), 10_000);
    assert.match(await page.locator('#live').innerText(), /2 done, 0 failed/);
    assert.deepEqual([await status('limited-1'), await status('limited-2')], ['CANCELLED', 'CANCELLED']);
    assert.equal(await status('limited-0'), 'PENDING', 'the running one did not match the filter');
  });

  test('bulk by selection reports what it could not do', async () => {
    const page = await visit(operator, '/dashboard/workflows?name=flaky');
    await page.getByLabel('Select flaky-0').check();
    await page.getByLabel('Select ok-000', { exact: true }).count();
    await page.getByRole('button', { name: 'Delete selected…' }).click();
    await page.getByLabel('Type delete 1 to confirm').fill('delete 1');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await waitFor('the job finished', async () => /Finished/.test(await page.locator('#live').innerText()), 10_000);
    assert.equal(await status('flaky-0'), undefined, 'deleted');
  });
});

describe('queue limits and schedules from their screens', { skip: !browserPath && NO_BROWSER }, () => {
  test('limits change fleet-wide from the queue page', async () => {
    const page = await visit(operator, '/dashboard/queues/work');
    await page.getByLabel('Per executor').fill('3');
    await page.getByLabel('Fleet-wide').fill('20');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await page.waitForURL(/\/dashboard\/queues\/work$/);
    const stored = (await sql.query(`SELECT worker_concurrency, concurrency FROM ballast.queues WHERE name = 'work'`)).rows[0];
    assert.deepEqual(stored, { worker_concurrency: 3, concurrency: 20 });
    assert.match(await page.locator('#limits-title + dl').innerText(), /Running, fleet-wide\s+0 \/ 20/);
  });

  test('a schedule resumes, pauses and triggers from the schedules page', async () => {
    const page = await visit(operator, '/dashboard/schedules');
    await page.getByRole('button', { name: 'resume nightly-report' }).click();
    await page.waitForURL(/\/dashboard\/schedules$/);
    assert.equal((await app.schedules.get('nightly-report'))?.paused, false);
    await page.getByRole('button', { name: 'trigger nightly-report' }).click();
    await waitFor('the triggered run', async () => (await app.workflows.list({ idPrefix: 'sched:nightly-report:manual:' })).length === 1);
    await page.getByRole('button', { name: 'pause nightly-report' }).click();
    await page.waitForURL(/\/dashboard\/schedules$/);
    assert.equal((await app.schedules.get('nightly-report'))?.paused, true);
  });
});

describe('roles, sign-in and cross-site requests', { skip: !browserPath && NO_BROWSER }, () => {
  test('a viewer sees payloads but no control, and the server refuses its POST', async () => {
    const page = await visit(viewer, '/dashboard/workflows/parent-1');
    assert.match(await page.locator('.role').innerText(), /Viewer/);
    assert.equal(await page.locator('.payload').count() > 0, true, 'payloads are shown to viewers');
    assert.equal(await page.locator('form[action*="/cancel"], form[action*="/fork"], form[action*="/delete"]').count(), 0);
    const list = await visit(viewer, '/dashboard/workflows');
    assert.equal(await list.locator('#bulk-form, input[name="id"]').count(), 0);
    const handle = await defs.waiter.start(undefined, { id: 'viewer-target' });
    await waitFor('it waits', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const answer = await list.evaluate(async (id) => {
      const token = (document.querySelector('meta[name="ballast-csrf"]') as HTMLMetaElement).content;
      const response = await fetch(`/dashboard/workflows/${id}/cancel`, { method: 'POST', body: new URLSearchParams({ _csrf: token }) });
      return { status: response.status, text: await response.text() };
    }, handle.id);
    assert.equal(answer.status, 403);
    assert.match(answer.text, /A viewer cannot cancel/);
    assert.equal(await status('viewer-target'), 'PENDING');
    await app.workflows.cancel(handle.id);
  });

  test('anonymous readers see no payloads and no control; sign-in and sign-out', async () => {
    const page = await visit(anonymous, '/dashboard/workflows/parent-1');
    assert.equal(await page.locator('.payload').count(), 0);
    assert.match(await page.locator('main').innerText(), /shown to signed-in viewers and operators/);
    assert.equal(await page.locator('.action-row').count(), 0);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Token').fill('not-the-token-at-all-0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.locator('[role="alert"]').innerText(), /neither the operators'/);
    await page.getByLabel('Token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/dashboard\/workflows\/parent-1$/);
    assert.match(await page.locator('.role').innerText(), /Operator/);
    const cookie = (await anonymous.cookies()).find((c) => c.name === 'ballast_session');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/dashboard/`);
    assert.match(await page.locator('.role').innerText(), /Anonymous/);
    await assertClean(opened.get(anonymous) as Watched, 'sign-in and out');
  });

  test('a cross-site POST is refused, with or without the form token', async () => {
    const handle = await defs.waiter.start(undefined, { id: 'csrf-target' });
    await waitFor('it waits', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const cookies = (await operator.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const page = await visit(operator, '/dashboard/workflows/csrf-target');
    const token = await page.locator('meta[name="ballast-csrf"]').getAttribute('content');
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${base}/dashboard/workflows/csrf-target/cancel`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookies, ...headers },
        body,
      });
    assert.equal((await post({ Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' }, `_csrf=${token}`)).status, 403);
    assert.equal((await post({ Origin: base, 'Sec-Fetch-Site': 'same-origin' }, '_csrf=forged')).status, 403);
    assert.equal(await status('csrf-target'), 'PENDING');
    assert.equal((await post({ Origin: base, 'Sec-Fetch-Site': 'same-origin' }, `_csrf=${token}`)).status, 303, 'the same request from the page itself');
    assert.equal(await status('csrf-target'), 'CANCELLED');
  });

  test('headers: the strict CSP, nosniff, no referrer, no caching of pages and data, immutable assets', async () => {
    const response = await fetch(`${base}/dashboard/workflows`);
    assert.equal(
      response.headers.get('content-security-policy'),
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'",
    );
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal((await fetch(`${base}/api/workflows`)).headers.get('cache-control'), 'no-store');
    const script = /src="(\/dashboard\/assets\/dashboard\.[0-9a-f]+\.js)"/.exec(await response.text())?.[1];
    assert.ok(script);
    assert.equal((await fetch(`${base}${script}`)).headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });
});

describe('live updates, keyboard, sub-path', { skip: !browserPath && NO_BROWSER }, () => {
  test('a workflow page follows the workflow over SSE; the pause toggle holds updates', async () => {
    const handle = await defs.waiter.start(undefined, { id: 'live-1' });
    await waitFor('it waits', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const page = await visit(operator, '/dashboard/workflows/live-1');
    assert.match(await page.locator('.facts').innerText(), /PENDING/);
    await app.send(handle.id, 'go', true);
    await page.locator('.facts .status-success').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('table.waterfall').innerText(), /third/);
    const toggle = page.locator('#live-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.match(await toggle.innerText(), /Paused/);
    await toggle.click();
    await assertClean(opened.get(operator) as Watched, 'live updates');
  });

  test('keyboard only: from the list to a workflow to its cancel button', async () => {
    const handle = await defs.waiter.start(undefined, { id: 'keyboard-1' });
    await waitFor('it waits', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const page = await visit(operator, '/dashboard/workflows?idPrefix=keyboard-');
    const focusOn = async (matches: () => Promise<boolean>, what: string) => {
      for (let n = 0; n < 80; n++) {
        await page.keyboard.press('Tab');
        if (await matches()) return;
      }
      assert.fail(`Tab never reached ${what}`);
    };
    await focusOn(async () => (await page.evaluate(() => document.activeElement?.textContent)) === 'keyboard-1', 'the workflow link');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/workflows\/keyboard-1$/);
    await focusOn(async () => (await page.evaluate(() => (document.activeElement as HTMLElement | null)?.innerText)) === 'Cancel', 'the cancel button');
    await page.keyboard.press('Enter');
    await page.waitForURL(/done=cancelled/);
    assert.equal(await status('keyboard-1'), 'CANCELLED');
  });

  test('mounted under a sub-path of another node:http server', async () => {
    const handler = app.adminHandler({ token: ADMIN_TOKEN, viewerToken: VIEWER_TOKEN, basePath: '/ops' });
    const host = createServer((request, response) => {
      if (request.url === '/') {
        response.end('the application');
        return;
      }
      handler(request, response, () => {
        response.writeHead(404).end('not the admin');
      });
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    try {
      const context = await browser.newContext();
      const watched = await watchedPage(context, origin);
      const { page } = watched;
      await page.goto(`${origin}/ops/dashboard/`);
      await page.locator('.uplot').first().waitFor();
      const links = await page.locator('a[href^="/"]').evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')));
      assert.ok(links.length > 5 && links.every((href) => href?.startsWith('/ops/dashboard')), JSON.stringify(links));
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Workflows' }).click();
      await page.waitForURL(`${origin}/ops/dashboard/workflows`);
      assert.equal(await page.locator('table.list tbody tr').count(), 50);
      await assertClean(watched, 'the sub-path mount');
      assert.equal(await (await fetch(`${origin}/`)).text(), 'the application');
      assert.equal(await (await fetch(`${origin}/dashboard/`)).text(), 'not the admin');
      assert.equal((await fetch(`${origin}/ops/healthz`)).status, 200);
      await context.close();
    } finally {
      host.closeAllConnections();
      await new Promise((resolve) => host.close(resolve));
    }
  });
});
