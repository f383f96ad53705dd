import type { IncomingMessage, ServerResponse } from 'node:http';
import { ValidationError } from '../errors.js';
import { AdminAuth } from './auth.js';
import { checkQuery, findRoute, HttpError, pathSegments, respond, type Reply } from './http.js';
import { adminRoutes, type AdminSource, type Readiness } from './routes.js';

export type { AdminSource, Readiness };

export interface AdminHandlerOptions {
  /** Required as `Authorization: Bearer <token>` for mutating routes. Default BALLAST_ADMIN_TOKEN. */
  token?: string;
  /** Also require it for reads (/api GETs, /metrics); probes (/healthz, /readyz) never need it. Default false. */
  protectReads?: boolean;
  /** Largest request body accepted. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * What /readyz reports, instead of the instance's own readiness: an application that turns
   * unready before it shuts Ballast down (to let load balancers drain) says so here.
   */
  readiness?: () => Promise<Readiness>;
  logger?: { error(message: string, error?: unknown): void };
}

/**
 * A node:http request handler. Called with `next`, it hands requests for paths it does not serve
 * to it (so an application serves the admin API on its own port beside its own routes); without,
 * it answers them 404.
 */
export type AdminRequestHandler = (request: IncomingMessage, response: ServerResponse, next?: () => void) => void;

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

function checkOptions(options: AdminHandlerOptions): void {
  if (typeof options !== 'object' || options === null) throw new ValidationError('adminHandler(options): options must be an object such as { token: "…" }.');
  const { token, protectReads, maxBodyBytes, readiness } = options;
  if (token !== undefined && typeof token !== 'string') throw new ValidationError('adminHandler: token must be a string (the bearer token mutating routes require).');
  if (protectReads !== undefined && typeof protectReads !== 'boolean') throw new ValidationError('adminHandler: protectReads must be true or false.');
  if (maxBodyBytes !== undefined && (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0)) {
    throw new ValidationError(`adminHandler: maxBodyBytes must be a positive integer, got ${String(maxBodyBytes)}.`);
  }
  if (readiness !== undefined && typeof readiness !== 'function') throw new ValidationError('adminHandler: readiness must be a function returning a Readiness.');
}
const PROBES = new Set(['healthz', 'readyz']);

/** The admin API over `source`, read at each request (a Ballast instance answers 503 until launched). */
export function createAdminHandler(source: () => AdminSource, options: AdminHandlerOptions = {}): AdminRequestHandler {
  checkOptions(options);
  const auth = new AdminAuth(options.token ?? process.env.BALLAST_ADMIN_TOKEN, options.protectReads === true);
  const routes = adminRoutes(source, {
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    readiness: options.readiness ?? (() => source().readiness()),
  });
  const logger = options.logger ?? { error: (message: string, error?: unknown) => console.error(`[ballast] ${message}`, error ?? '') };

  return (request, response, next) => {
    const method = request.method ?? 'GET';
    let reply: Promise<Reply>;
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const segments = pathSegments(url.pathname);
      const found = findRoute(routes, method, segments);
      if (found === undefined) {
        if (next) return next();
        throw new HttpError(404, 'NOT_FOUND', `No admin route for ${method} ${url.pathname}; see docs/operations.md for the routes.`);
      }
      if ('allowed' in found) {
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}; use ${found.allowed.join(', ')}.`, {
          Allow: found.allowed.join(', '),
        });
      }
      const mutating = method !== 'GET' && method !== 'HEAD';
      if (mutating || (auth.protectReads && !PROBES.has(segments[0] ?? ''))) auth.check(request);
      checkQuery(url.searchParams, found.route.query);
      reply = found.route.handle({ raw: request, method, params: found.params, query: url.searchParams });
    } catch (error) {
      reply = Promise.reject(error);
    }
    respond(request, response, reply, logger);
  };
}
