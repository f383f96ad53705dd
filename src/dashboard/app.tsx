// The dashboard: server-rendered pages at <basePath>/dashboard/, one screen per file in screens/,
// one small client module and a local copy of uPlot (assets.generated.ts). Security on by default:
// a strict Content-Security-Policy, no caching of pages or data, roles from tokens, a signed
// session cookie, and every POST checked for its origin and its form token.
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { streamSSE } from 'hono/streaming';
import { errorReply } from '../admin/http.js';
import { findAsset } from './assets.js';
import { ErrorPage } from './components.js';
import { LiveHub } from './live.js';
import { registerActions } from './screens/actions.js';
import { registerFleet } from './screens/fleet.js';
import { registerOverview } from './screens/overview.js';
import { registerQueues } from './screens/queues.js';
import { registerSchedules } from './screens/schedules.js';
import { registerSignIn } from './screens/sign-in.js';
import { registerWorkflow } from './screens/workflow.js';
import { registerWorkflows } from './screens/workflows.js';
import { formToken, readSession, ensureCsrfCookie } from './session.js';
import { FRAGMENT_HEADER, makeView, type DashboardEnv, type DashboardSettings } from './view.js';

export type { DashboardSettings };

const MAX_LIVE_CLIENTS = 500;
const MAX_FORM_BYTES = 64 * 1024;

export function createDashboard(settings: DashboardSettings): Hono<DashboardEnv> {
  const app = new Hono<DashboardEnv>({ strict: false });
  const { policy } = settings;
  // Signs form tokens when no admin token is configured (loopback-only mode): one process, one key.
  const processKey = randomBytes(32);
  const hub = new LiveHub(settings.liveIntervalMs, MAX_LIVE_CLIENTS);

  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        baseUri: ["'self'"],
        frameAncestors: ["'none'"],
      },
      referrerPolicy: 'no-referrer',
      xFrameOptions: 'DENY',
      // Set by whoever terminates TLS for the whole site; a library mounted in an application must not.
      strictTransportSecurity: false,
    }),
  );

  app.get('/assets/:name', (c) => {
    const asset = findAsset(c.req.param('name'));
    if (!asset) return c.text('No such asset.', 404, { 'Cache-Control': 'no-store' });
    return c.body(asset.body, 200, { 'Content-Type': asset.contentType, 'Cache-Control': 'public, max-age=31536000, immutable' });
  });

  app.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    const session = await readSession(c, policy);
    const caller = await policy.caller(c.env.incoming, session);
    const csrfCookie = ensureCsrfCookie(c, settings.basePath);
    const url = new URL(c.req.url);
    // The page below the dashboard (the live hub asks for fragments by it, and the sign-in returns to it).
    const prefix = `${settings.basePath}/dashboard`;
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) || '/' : url.pathname;
    // A live fragment is shared by every tab that watches the page with the same rights, so it carries no
    // form token: the client module fills in each tab's own (from the page's meta tag).
    const token = c.req.header(FRAGMENT_HEADER) ? '' : formToken(policy, csrfCookie, processKey);
    const view = makeView(settings, caller, token, `${path}${url.search}`);
    c.set('view', view);
    if (!policy.canRead(caller) && path !== '/sign-in') {
      return c.redirect(view.href('/sign-in', { next: view.page }), 303);
    }
    await next();
  });

  const formLimit = bodyLimit({ maxSize: MAX_FORM_BYTES, onError: (c) => c.text('The form is too large.', 413) });
  const sameOrigin = csrf();
  app.use('*', (c, next) => (c.req.method === 'POST' ? formLimit(c, next) : next()));
  app.use('*', (c, next) => (c.req.method === 'POST' ? sameOrigin(c, next) : next()));
  app.use('*', async (c, next) => {
      if (c.req.method !== 'POST') return next();
      const form = await c.req.parseBody();
      if (form._csrf !== c.get('view').csrf) {
        return errorPage(c, 403, 'Form expired', "This form's token does not match your session (it may be from another tab or an older sign-in). Go back, reload the page and submit again.");
      }
      await next();
  });

  registerSignIn(app);
  registerOverview(app);
  registerWorkflows(app);
  registerWorkflow(app);
  registerActions(app);
  registerQueues(app);
  registerFleet(app);
  registerSchedules(app);

  app.get('/live', (c) => {
    const view = c.get('view');
    const page = c.req.query('page') ?? '';
    if (!page.startsWith('/') || page.startsWith('//') || page.startsWith('/live')) return c.text('Unknown page.', 400);
    const headers = new Headers({ [FRAGMENT_HEADER]: 'live' });
    for (const name of ['cookie', 'authorization']) {
      const value = c.req.header(name);
      if (value !== undefined) headers.set(name, value);
    }
    const env = c.env;
    const render = async () => {
      const response = await app.fetch(new Request(new URL(page, 'http://dashboard.internal'), { headers }), env);
      const text = await response.text();
      if (response.status !== 200) throw new Error(text.slice(0, 300));
      return text;
    };
    const response = streamSSE(c, async (stream) => {
      const unsubscribe = hub.subscribe(
        `${view.caller.role ?? 'anonymous'}:${view.payloads.visible}:${page}`,
        render,
        {
          update: (html) => stream.writeSSE({ event: 'update', data: html }),
          failure: (message) => stream.writeSSE({ event: 'failure', data: message }),
          keepAlive: async () => {
            await stream.write(': keep-alive\n\n');
          },
        },
      );
      if (!unsubscribe) {
        await stream.writeSSE({ event: 'failure', data: 'Too many live tabs are open on this server; reload later.', retry: 60_000 });
        return;
      }
      await stream.writeSSE({ event: 'ready', data: String(settings.liveIntervalMs), retry: 5_000 });
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      unsubscribe();
    });
    response.headers.set('Cache-Control', 'no-store');
    return response;
  });

  app.all('*', (c) => errorPage(c, 404, 'Not found', `There is no dashboard page at ${new URL(c.req.url).pathname}.`));
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 403) {
      return errorPage(c, 403, 'Refused', 'This request came from another site (its Origin and Sec-Fetch-Site say so), so it was refused. Use the dashboard itself.');
    }
    if (error instanceof HTTPException) return error.getResponse();
    const known = errorReply(error);
    if (!known) settings.logger.error(`${c.req.method} ${c.req.url} failed`, error);
    const message = (known?.body as { error?: { message?: string } } | undefined)?.error?.message ?? `Internal error: ${(error as Error).message}`;
    return errorPage(c, known?.status ?? 500, known ? 'Not possible' : 'Something went wrong', message);
  });
  return app;
}

function errorPage(c: Context<DashboardEnv>, status: number, title: string, message: string): Response | Promise<Response> {
  const view = c.get('view');
  if (!view || c.req.header(FRAGMENT_HEADER)) return c.text(message, status as 500, { 'Cache-Control': 'no-store' });
  return c.html(html`<!DOCTYPE html>${<ErrorPage view={view} status={status} title={title} message={message} />}`, status as 500);
}
