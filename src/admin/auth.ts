import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

/**
 * Bearer-token checks of the admin API. Both sides are hashed first, so the comparison takes the
 * same time whatever the token's length or how much of it a guess got right.
 */
export class AdminAuth {
  private readonly expected: Buffer | undefined;

  constructor(
    token: string | undefined,
    /** Also require the token for reads (workflows, queues, metrics); probes never need it. */
    readonly protectReads: boolean,
  ) {
    this.expected = token === undefined || token === '' ? undefined : digest(token);
  }

  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** Throws 401 unless the request carries the token (when one is configured). */
  check(request: IncomingMessage): void {
    if (!this.expected) return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match || !timingSafeEqual(digest(match[1] as string), this.expected)) {
      throw new HttpError(
        401,
        'UNAUTHORIZED',
        match ? 'The bearer token is wrong.' : 'This route needs "Authorization: Bearer <BALLAST_ADMIN_TOKEN>".',
        { 'WWW-Authenticate': 'Bearer realm="ballast"' },
      );
    }
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
