// The browser's side of access: a token typed once into the sign-in form becomes a signed, HttpOnly,
// SameSite=Strict session cookie (Secure over TLS); every form carries a token bound to a random
// per-browser cookie, so a page elsewhere cannot post on the user's behalf.
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Context } from 'hono';
import { deleteCookie, getCookie, getSignedCookie, setCookie, setSignedCookie } from 'hono/cookie';
import type { AccessPolicy, Role } from '../admin/access.js';
import type { DashboardEnv } from './view.js';

const SESSION_COOKIE = 'ballast_session';
const CSRF_COOKIE = 'ballast_csrf';
const SESSION_MS = 12 * 60 * 60_000;

function cookieOptions(c: Context<DashboardEnv>, basePath: string) {
  const encrypted = (c.env.incoming.socket as TLSSocket).encrypted === true || c.req.header('x-forwarded-proto') === 'https';
  return { path: `${basePath}/dashboard`, httpOnly: true, sameSite: 'Strict' as const, secure: encrypted };
}

/** The role of a valid, unexpired session cookie; null without one. */
export async function readSession(c: Context<DashboardEnv>, policy: AccessPolicy): Promise<Role | null> {
  if (!policy.secret || getCookie(c, SESSION_COOKIE) === undefined) return null;
  const value = await getSignedCookie(c, policy.secret, SESSION_COOKIE);
  if (typeof value !== 'string') return null;
  const [role, expires] = value.split('.');
  if ((role !== 'operator' && role !== 'viewer') || !(Number(expires) > Date.now())) return null;
  return role;
}

export async function startSession(c: Context<DashboardEnv>, policy: AccessPolicy, role: Role, basePath: string): Promise<void> {
  await setSignedCookie(c, SESSION_COOKIE, `${role}.${Date.now() + SESSION_MS}`, policy.secret as string, {
    ...cookieOptions(c, basePath),
    maxAge: SESSION_MS / 1000,
  });
}

export function endSession(c: Context<DashboardEnv>, basePath: string): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions(c, basePath));
}

/** The browser's random CSRF cookie, set now if it has none. */
export function ensureCsrfCookie(c: Context<DashboardEnv>, basePath: string): string {
  const existing = getCookie(c, CSRF_COOKIE);
  if (existing !== undefined && /^[A-Za-z0-9_-]{22,}$/.test(existing)) return existing;
  const fresh = randomBytes(18).toString('base64url');
  setCookie(c, CSRF_COOKIE, fresh, cookieOptions(c, basePath));
  return fresh;
}

/** The form token of a browser: an HMAC of its CSRF cookie, which a page on another site can neither read nor forge. */
export function formToken(policy: AccessPolicy, csrfCookie: string, processKey: Buffer): string {
  return policy.sign(`form:${csrfCookie}`, processKey);
}
