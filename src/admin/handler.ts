import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { AccessPolicy } from './access.js';
import { createAdminApp, type AdminLogger } from './app.js';
import { checkAdminOptions, type AdminHandlerOptions } from './options.js';
import { adminRoutes, type AdminSource, type Readiness } from './routes.js';

export type { AdminSource, Readiness };
export type { AdminHandlerOptions, DashboardOptions } from './options.js';
export type { AdminAction, Authorize, Role } from './access.js';
export type { PayloadSite, Redact } from './views.js';

/**
 * A node:http request handler. Called with `next`, it hands requests for paths it does not serve
 * to it (so an application serves the admin API on its own port beside its own routes); without,
 * it answers them 404.
 */
export type AdminRequestHandler = (request: IncomingMessage, response: ServerResponse, next?: () => void) => void;

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_LIVE_INTERVAL_MS = 2_000;
const DEFAULT_WAITING_TOO_LONG_MS = 5 * 60_000;
/** The paths the handler owns below its base path; any other goes to `next`. */
const OWNED = /^\/(healthz|readyz|metrics|api|dashboard)(\/|$)/;

/** The admin API and dashboard over `source`, read at each request (a Ballast instance answers 503 until launched). */
export function createAdminHandler(source: () => AdminSource, options: AdminHandlerOptions = {}): AdminRequestHandler {
  checkAdminOptions(options);
  const logger: AdminLogger = {
    error: options.logger?.error.bind(options.logger) ?? ((message, error) => console.error(`[ballast] ${message}`, error ?? '')),
    info: options.logger?.info?.bind(options.logger) ?? ((message) => console.info(`[ballast] ${message}`)),
  };
  const policy = new AccessPolicy({
    adminToken: nonEmpty(options.token ?? process.env.BALLAST_ADMIN_TOKEN),
    viewerToken: nonEmpty(options.viewerToken ?? process.env.BALLAST_VIEWER_TOKEN),
    protectReads: options.protectReads === true,
    publicPayloads: options.publicPayloads === true,
    authorize: options.authorize,
    readOnly: options.readOnly === true,
    actions: options.actions ?? {},
  });
  const basePath = options.basePath ?? '';
  const dashboard = options.dashboard === false ? undefined : options.dashboard === true || options.dashboard === undefined ? {} : options.dashboard;
  const app = createAdminApp({
    routes: adminRoutes(source, {
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      readiness: options.readiness ?? (() => source().readiness()),
    }),
    policy,
    basePath,
    redact: options.redact,
    logger,
    dashboard: dashboard && {
      source,
      liveIntervalMs: dashboard.liveIntervalMs ?? DEFAULT_LIVE_INTERVAL_MS,
      waitingTooLongMs: dashboard.waitingTooLongMs ?? DEFAULT_WAITING_TOO_LONG_MS,
    },
  });
  // Globals stay as they are (the application may rely on them); bodies are read from the request itself.
  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false, autoCleanupIncoming: false });

  return (request, response, next) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    const below = basePath === '' ? path : path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : undefined;
    if (below !== undefined && OWNED.test(below)) {
      void listener(request, response).catch((error: unknown) => logger.error(`could not answer ${request.method} ${request.url}`, error));
      return;
    }
    if (next) return next();
    response.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(`${JSON.stringify({ error: { code: 'NOT_FOUND', message: `No admin route for ${request.method} ${path}; see docs/operations.md for the routes.` } })}\n`);
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
