// The admin handler's options and their validation (also run by new Ballast() on config.admin).
import { optionNames, requireOptions } from '../engine/validation.js';
import { ValidationError } from '../errors.js';
import { ADMIN_ACTIONS, type AdminAction, type Authorize } from './access.js';
import type { Readiness } from './routes.js';
import type { Redact } from './views.js';

export interface DashboardOptions {
  /** Least time between two live updates of one browser tab. Default 2 s, at least 500 ms. */
  liveIntervalMs?: number;
  /** A queue whose oldest waiting workflow is older than this is listed as a problem. Default 5 minutes. */
  waitingTooLongMs?: number;
}

export interface AdminHandlerOptions {
  /** Operators' token (`Authorization: Bearer <token>` or the dashboard's sign-in). Default BALLAST_ADMIN_TOKEN. */
  token?: string;
  /** Viewers' token: reads everything, payloads included, changes nothing. Default BALLAST_VIEWER_TOKEN. */
  viewerToken?: string;
  /** Also require a token for reads (/api GETs, /metrics, the dashboard); probes (/healthz, /readyz) never need one. Default false. */
  protectReads?: boolean;
  /**
   * Show inputs, outputs, errors and step results to anonymous readers too. Default false: only
   * viewers and operators see them (and, with no token configured, loopback clients).
   */
  publicPayloads?: boolean;
  /** Decides the role of a request from the application's own login; null/undefined falls back to tokens. */
  authorize?: Authorize;
  /** Refuse every change (cancel, resume, fork, delete, limits, schedules). Default false. */
  readOnly?: boolean;
  /** Switch single actions off, e.g. `{ delete: false }`. */
  actions?: Partial<Record<AdminAction, boolean>>;
  /** Replaces workflow values before they are shown or returned (masking personal data, say). */
  redact?: Redact;
  /** The path the handler is mounted under in the application's server, e.g. '/ops'. Default ''. */
  basePath?: string;
  /** The dashboard at <basePath>/dashboard/; false to leave it out. Default on. */
  dashboard?: DashboardOptions | boolean;
  /** Largest request body accepted. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * What /readyz reports, instead of the instance's own readiness: an application that turns
   * unready before it shuts Ballast down (to let load balancers drain) says so here.
   */
  readiness?: () => Promise<Readiness>;
  /** Errors, and one audit line per change (info). */
  logger?: { error(message: string, error?: unknown): void; info?(message: string): void };
}

const MIN_TOKEN_LENGTH = 16;

export const ADMIN_HANDLER_OPTIONS = optionNames<AdminHandlerOptions>({
  token: true, viewerToken: true, protectReads: true, publicPayloads: true, authorize: true, readOnly: true, actions: true, redact: true,
  basePath: true, dashboard: true, maxBodyBytes: true, readiness: true, logger: true,
});
const DASHBOARD_OPTIONS = optionNames<DashboardOptions>({ liveIntervalMs: true, waitingTooLongMs: true });

/** Throws a ValidationError that says what to fix. */
export function checkAdminOptions(options: AdminHandlerOptions): void {
  requireOptions(options ?? null, ADMIN_HANDLER_OPTIONS, 'adminHandler(options)', '{ token: process.env.BALLAST_ADMIN_TOKEN }');
  const { token, viewerToken, maxBodyBytes, readiness, authorize, redact, basePath, actions, dashboard } = options;
  for (const [name, value] of [['token', token], ['viewerToken', viewerToken]] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ValidationError(`adminHandler: ${name} must be a string.`);
    if (value !== '' && value.length < MIN_TOKEN_LENGTH) {
      throw new ValidationError(`adminHandler: ${name} must be at least ${MIN_TOKEN_LENGTH} characters (a random secret, say 32 bytes in hex).`);
    }
  }
  if (token && viewerToken && token === viewerToken) throw new ValidationError('adminHandler: token and viewerToken must differ, or a viewer could act.');
  for (const name of ['protectReads', 'publicPayloads', 'readOnly'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') throw new ValidationError(`adminHandler: ${name} must be true or false.`);
  }
  if (maxBodyBytes !== undefined && (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0)) {
    throw new ValidationError(`adminHandler: maxBodyBytes must be a positive integer, got ${String(maxBodyBytes)}.`);
  }
  for (const [name, value] of [['readiness', readiness], ['authorize', authorize], ['redact', redact]] as const) {
    if (value !== undefined && typeof value !== 'function') throw new ValidationError(`adminHandler: ${name} must be a function.`);
  }
  if (basePath !== undefined && (typeof basePath !== 'string' || !/^(\/[A-Za-z0-9._~-]+)*$/.test(basePath))) {
    throw new ValidationError(`adminHandler: basePath must be '' or a path such as '/ops' (no trailing slash), got ${JSON.stringify(basePath)}.`);
  }
  if (actions !== undefined) {
    if (typeof actions !== 'object' || actions === null) throw new ValidationError('adminHandler: actions must be an object such as { delete: false }.');
    for (const [name, value] of Object.entries(actions)) {
      if (!(ADMIN_ACTIONS as readonly string[]).includes(name)) throw new ValidationError(`adminHandler: unknown action "${name}"; use ${ADMIN_ACTIONS.join(', ')}.`);
      if (typeof value !== 'boolean') throw new ValidationError(`adminHandler: actions.${name} must be true or false.`);
    }
  }
  if (dashboard !== undefined && typeof dashboard !== 'boolean') {
    if (typeof dashboard !== 'object' || dashboard === null) throw new ValidationError('adminHandler: dashboard must be true, false or an object such as { liveIntervalMs: 2000 }.');
    requireOptions(dashboard, DASHBOARD_OPTIONS, 'adminHandler: dashboard', '{ liveIntervalMs: 2000 }');
    const { liveIntervalMs, waitingTooLongMs } = dashboard;
    if (liveIntervalMs !== undefined && (!Number.isInteger(liveIntervalMs) || liveIntervalMs < 500)) {
      throw new ValidationError(`adminHandler: dashboard.liveIntervalMs must be an integer of at least 500, got ${String(liveIntervalMs)}.`);
    }
    if (waitingTooLongMs !== undefined && (!Number.isInteger(waitingTooLongMs) || waitingTooLongMs <= 0)) {
      throw new ValidationError(`adminHandler: dashboard.waitingTooLongMs must be a positive integer, got ${String(waitingTooLongMs)}.`);
    }
  }
}

