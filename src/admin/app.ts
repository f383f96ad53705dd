// The admin surface as one Hono application: probes, metrics and /api (the route table of
// routes.ts, with its validation) and the dashboard (src/dashboard). Access rules, audit lines and
// error answers are the same for both.
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { streamSSE } from 'hono/streaming';
import { createDashboard, type DashboardSettings } from '../dashboard/app.js';
import { auditLine, type AccessPolicy, type Caller } from './access.js';
import { checkQuery, errorReply, HttpError, internalErrorReply, toResponse, type Reply, type Route } from './http.js';
import type { Redact } from './views.js';

export type AdminEnv = { Bindings: HttpBindings };

export interface AdminLogger {
  info(message: string): void;
  error(message: string, error?: unknown): void;
}

export interface AdminAppSettings {
  routes: Route[];
  policy: AccessPolicy;
  /** '' or a path such as '/ops' that every route sits under. */
  basePath: string;
  redact: Redact | undefined;
  logger: AdminLogger;
  /** Undefined: no dashboard. */
  dashboard: Omit<DashboardSettings, 'policy' | 'basePath' | 'redact' | 'logger'> | undefined;
}

const PROBES = new Set(['/healthz', '/readyz']);

export function createAdminApp(settings: AdminAppSettings): Hono<AdminEnv> {
  const { policy, logger } = settings;
  const app = new Hono<AdminEnv>({ strict: false }).basePath(settings.basePath || '/');

  app.use(
    '*',
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const path = new URL(c.req.url).pathname;
        const allow = methods.filter((method) => method !== 'HEAD').join(', ');
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${path}; use ${allow}.`, { Allow: allow });
      },
    }),
  );

  for (const route of settings.routes) {
    app.on(route.method, route.path, async (c) => {
      const raw = c.env.incoming;
      const query = new URL(c.req.url).searchParams;
      let caller: Caller | undefined;
      if (!PROBES.has(route.path)) {
        caller = await policy.caller(raw);
        policy.requireRead(caller);
      }
      checkQuery(query, route.query);
      const request = {
        raw,
        method: c.req.method,
        params: c.req.param() as Record<string, string>,
        query,
        payloads: { visible: caller !== undefined && policy.canReadPayloads(caller), redact: settings.redact },
      };
      if (!route.actions || !caller) return respond(c, await route.handle(request), logger);
      const action = `${route.method} ${route.path}`;
      try {
        for (const action of route.actions) policy.requireAction(caller, action);
        const reply = await route.handle(request);
        logger.info(auditLine(caller, action, { ...request.params, ...reply.audit }, String(reply.status)));
        return toResponse(reply);
      } catch (error) {
        logger.info(auditLine(caller, action, request.params, `refused: ${(error as { code?: string }).code ?? 'INTERNAL'}`));
        throw error;
      }
    });
  }

  if (settings.dashboard) {
    app.route(
      '/dashboard',
      createDashboard({ ...settings.dashboard, policy, basePath: settings.basePath, redact: settings.redact, logger }),
    );
  }

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    return toResponse({ status: 404, body: { error: { code: 'NOT_FOUND', message: `No admin route for ${c.req.method} ${path}; see docs/operations.md for the routes.` } } });
  });
  app.onError((error, c) => answerError(error, c, logger));
  return app;
}

/** A reply as its Response: JSON, or a stream of Server-Sent Events that ends when the client goes away. */
function respond(c: Context<AdminEnv>, reply: Reply, logger: Pick<AdminLogger, 'error'>): Response {
  const events = reply.events;
  if (!events) return toResponse(reply);
  const response = streamSSE(
    c,
    async (stream) => {
      const gone = new AbortController();
      stream.onAbort(() => gone.abort());
      for await (const event of events(gone.signal)) await stream.writeSSE(event);
    },
    async (error, stream) => {
      const known = errorReply(error);
      if (!known) logger.error(`${c.req.method} ${c.req.url} failed while streaming`, error);
      await stream.writeSSE({ event: 'error', data: JSON.stringify((known ?? internalErrorReply(error)).body) });
    },
  );
  response.headers.set('Cache-Control', 'no-store');
  return response;
}

/** A typed error as its JSON answer; anything else is logged and answered 500. */
export function answerError(error: unknown, c: Context, logger: Pick<AdminLogger, 'error'>): Response {
  const known = errorReply(error);
  if (known) return toResponse(known);
  logger.error(`${c.req.method} ${c.req.url} failed`, error);
  return toResponse(internalErrorReply(error));
}
