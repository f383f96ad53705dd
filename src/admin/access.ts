// Who may read and do what through the admin API and the dashboard. Two roles: operators act
// (BALLAST_ADMIN_TOKEN), viewers read everything including payloads (BALLAST_VIEWER_TOKEN). An
// application may decide itself through `authorize(request)`. With no token and no hook configured,
// only loopback clients may act or read payloads: a server reachable from a network is never
// silently writable. Tokens are compared as SHA-256 digests with timingSafeEqual.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ActionDisabledError, ForbiddenError } from '../errors.js';
import { HttpError } from './http.js';

export type Role = 'operator' | 'viewer';

/** What the admin API and the dashboard can change; each can be switched off (`actions`). */
export type AdminAction = 'cancel' | 'resume' | 'fork' | 'delete' | 'bulk' | 'limits' | 'schedules';
export const ADMIN_ACTIONS: readonly AdminAction[] = ['cancel', 'resume', 'fork', 'delete', 'bulk', 'limits', 'schedules'];

/** An application's own login: the role of the request's user, or null/undefined to fall back to tokens. */
export type Authorize = (request: IncomingMessage) => Role | null | undefined | Promise<Role | null | undefined>;

export interface Caller {
  /** null: anonymous. */
  role: Role | null;
  via: 'authorize' | 'token' | 'session' | 'loopback' | 'anonymous';
  /** The client's address as the socket saw it. */
  address: string;
}

export interface AccessOptions {
  adminToken: string | undefined;
  viewerToken: string | undefined;
  protectReads: boolean;
  publicPayloads: boolean;
  authorize: Authorize | undefined;
  readOnly: boolean;
  actions: Partial<Record<AdminAction, boolean>>;
}

const TOKEN_HELP = 'Set BALLAST_ADMIN_TOKEN (operators) or BALLAST_VIEWER_TOKEN (viewers), or the admin options token/viewerToken';

export class AccessPolicy {
  private readonly operatorDigest: Buffer | undefined;
  private readonly viewerDigest: Buffer | undefined;
  /** Signs sessions and form tokens; derived from the tokens, so rotating a token ends every session. */
  readonly secret: string | undefined;

  constructor(private readonly options: AccessOptions) {
    this.operatorDigest = options.adminToken ? digest(options.adminToken) : undefined;
    this.viewerDigest = options.viewerToken ? digest(options.viewerToken) : undefined;
    this.secret =
      options.adminToken || options.viewerToken
        ? createHash('sha256').update(`ballast-admin-secret\u0000${options.adminToken ?? ''}\u0000${options.viewerToken ?? ''}`).digest('hex')
        : undefined;
  }

  /** True when tokens or an authorize hook decide who may do what (rather than where the request comes from). */
  get secured(): boolean {
    return this.operatorDigest !== undefined || this.viewerDigest !== undefined || this.options.authorize !== undefined;
  }

  /** True when a token can be turned into a session by the sign-in form. */
  get signInEnabled(): boolean {
    return this.operatorDigest !== undefined || this.viewerDigest !== undefined;
  }

  get readOnly(): boolean {
    return this.options.readOnly;
  }

  /** The role a token grants, compared in constant time; null for none. */
  roleOfToken(token: string): Role | null {
    const given = digest(token);
    if (this.operatorDigest && timingSafeEqual(given, this.operatorDigest)) return 'operator';
    if (this.viewerDigest && timingSafeEqual(given, this.viewerDigest)) return 'viewer';
    return null;
  }

  /**
   * Who is asking: the authorize hook's answer, else a bearer token, else the session the dashboard
   * signed (`session`), else a loopback client while nothing is secured, else anonymous. A bearer
   * token that matches nothing is refused (401), so that a typo never passes for anonymous access.
   */
  async caller(request: IncomingMessage, session: Role | null = null): Promise<Caller> {
    const address = request.socket.remoteAddress ?? '';
    if (this.options.authorize) {
      const role = await this.options.authorize(request);
      if (role !== null && role !== undefined) {
        if (role !== 'operator' && role !== 'viewer') throw new Error(`authorize(request) must return "operator", "viewer", null or undefined, got ${String(role)}`);
        return { role, via: 'authorize', address };
      }
    }
    const header = request.headers.authorization;
    if (this.signInEnabled && typeof header === 'string' && header !== '') {
      const match = /^Bearer +(\S+) *$/i.exec(header);
      const role = match ? this.roleOfToken(match[1] as string) : null;
      if (!role) {
        throw new HttpError(401, 'UNAUTHORIZED', match ? 'The bearer token is wrong.' : 'Send the token as "Authorization: Bearer <token>".', {
          'WWW-Authenticate': 'Bearer realm="ballast"',
        });
      }
      return { role, via: 'token', address };
    }
    if (session) return { role: session, via: 'session', address };
    if (!this.secured && isLoopback(request)) return { role: 'operator', via: 'loopback', address };
    return { role: null, via: 'anonymous', address };
  }

  canRead(caller: Caller): boolean {
    return caller.role !== null || !this.options.protectReads;
  }

  /** Inputs, outputs, errors and step results: signed-in viewers and operators, loopback without tokens, or anyone if made public. */
  canReadPayloads(caller: Caller): boolean {
    return caller.role !== null || this.options.publicPayloads;
  }

  isEnabled(action: AdminAction): boolean {
    return !this.options.readOnly && this.options.actions[action] !== false;
  }

  /** Whether the caller may take the action now (for showing controls). */
  allows(caller: Caller, action: AdminAction): boolean {
    return this.isEnabled(action) && caller.role === 'operator';
  }

  requireRead(caller: Caller): void {
    if (this.canRead(caller)) return;
    throw new HttpError(401, 'UNAUTHORIZED', `Reading needs a viewer or operator token ("Authorization: Bearer <token>"). ${TOKEN_HELP}.`, {
      'WWW-Authenticate': 'Bearer realm="ballast"',
    });
  }

  /** Throws unless the caller may take the action: 401 without credentials, 403 otherwise. */
  requireAction(caller: Caller, action: AdminAction): void {
    if (!this.isEnabled(action)) throw new ActionDisabledError(action, this.options.readOnly ? 'the admin API is read-only' : `actions.${action} is false`);
    if (caller.role === 'operator') return;
    if (caller.role === 'viewer') throw new ForbiddenError(`A viewer cannot ${action}: that takes an operator (BALLAST_ADMIN_TOKEN).`);
    if (!this.secured) {
      throw new ForbiddenError(
        `No admin token is configured, so only clients on this machine (loopback) may change anything. ${TOKEN_HELP}, ` +
          'then send "Authorization: Bearer <token>" or sign in to the dashboard.',
      );
    }
    throw new HttpError(401, 'UNAUTHORIZED', 'This route needs "Authorization: Bearer <BALLAST_ADMIN_TOKEN>".', { 'WWW-Authenticate': 'Bearer realm="ballast"' });
  }

  /** An HMAC of `value` under the policy's secret (or `fallback` when no token is configured). */
  sign(value: string, fallback: Buffer): string {
    return createHmac('sha256', this.secret ?? fallback).update(value).digest('base64url');
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * A client on this machine, talking to this machine by a loopback name. A request relayed by a
 * proxy on this host (forwarding headers) is not one, nor one whose Host names another machine (a
 * page on another site whose name was rebound to 127.0.0.1 must not act as a local user).
 */
export function isLoopback(request: IncomingMessage): boolean {
  const address = request.socket.remoteAddress ?? '';
  if (!(address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'))) return false;
  const headers = request.headers;
  if (headers['x-forwarded-for'] !== undefined || headers.forwarded !== undefined || headers['x-real-ip'] !== undefined) return false;
  const host = (headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '[::1]';
}

/** One line per mutation in the log: who, what, on which workflow or filter, and how it ended. */
export function auditLine(caller: Caller, action: string, target: Record<string, unknown>, outcome: string): string {
  return `audit ${JSON.stringify({ at: new Date().toISOString(), role: caller.role ?? 'anonymous', via: caller.via, address: caller.address, action, ...target, outcome })}`;
}
