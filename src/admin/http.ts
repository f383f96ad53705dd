// The admin API's JSON conventions, whatever routes the requests: query parameters checked against
// what a route accepts, size-limited JSON bodies, JSON answers, and errors as {"error": {"code",
// "message"}} with a stable code. The example service uses them for its own routes.
import type { IncomingMessage } from 'node:http';
import type { AdminAction } from './access.js';
import type { PayloadView } from './views.js';

/** An answer other than 2xx: thrown by a route, sent as {"error": {"code", "message"}}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Reply {
  status: number;
  /** JSON-serialised, unless `text` is given. */
  body?: unknown;
  text?: { contentType: string; body: string };
  headers?: Record<string, string>;
  /** What the audit line of a mutation records beyond the route's parameters. */
  audit?: Record<string, unknown>;
  /** Server-Sent Events instead of a body: the events to send, until they end or `signal` aborts (the client went away). */
  events?: (signal: AbortSignal) => AsyncIterable<ServerSentEvent>;
}

export interface ServerSentEvent {
  data: string;
  event?: string;
  id?: string;
}

export interface Request {
  readonly raw: IncomingMessage;
  readonly method: string;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  /** Whether the caller may see workflow payloads, and how they are redacted. */
  readonly payloads: PayloadView;
}

export interface Route {
  method: string;
  /** A Hono path pattern: '/api/workflows/:id'. */
  path: string;
  /** Query parameters the route accepts; any other is refused (a typo must not silently match everything). */
  query?: readonly string[];
  /** What the route changes: the caller must be allowed every one of these (see AccessPolicy). */
  actions?: readonly AdminAction[];
  handle(request: Request): Promise<Reply>;
}

/** Refuses query parameters the route does not know, and repeated ones. `attr.*` accepts every `attr.KEY`. */
export function checkQuery(query: URLSearchParams, accepted: readonly string[] = []): void {
  const seen = new Set<string>();
  const prefixes = accepted.filter((name) => name.endsWith('.*')).map((name) => name.slice(0, -1));
  for (const key of query.keys()) {
    if (!accepted.includes(key) && !prefixes.some((prefix) => key.startsWith(prefix) && key.length > prefix.length)) {
      const known = accepted.length === 0 ? 'This route takes no query parameters.' : `Known: ${accepted.join(', ')}.`;
      throw new HttpError(400, 'INVALID_ARGUMENT', `Unknown query parameter "${key}". ${known}`);
    }
    if (seen.has(key) && key !== 'status') throw new HttpError(400, 'INVALID_ARGUMENT', `Query parameter "${key}" is given more than once.`);
    seen.add(key);
  }
}

/** The body as JSON, at most `maxBytes`; an empty body is `{}`. Anything but an object is refused. */
export async function readJsonObject(request: IncomingMessage, maxBytes: number, example: string): Promise<Record<string, unknown>> {
  const declared = Number(request.headers['content-length']);
  const tooLarge = () => new HttpError(413, 'BODY_TOO_LARGE', `The request body is larger than ${maxBytes} bytes.`, { Connection: 'close' });
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'INVALID_JSON', `The request body is not valid JSON (${(error as Error).message}). Send an object such as ${example}.`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'INVALID_JSON', `The request body must be a JSON object such as ${example}, got ${describeJson(body)}.`);
  }
  return body as Record<string, unknown>;
}

/** Refuses fields of a body that the route does not know. */
export function checkFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const allowed = known.length === 0 ? 'This route takes no body fields.' : `Known: ${known.map((k) => `"${k}"`).join(', ')}.`;
  throw new HttpError(400, 'INVALID_ARGUMENT', `Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}. ${allowed}`);
}

export function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return String(value);
}

/** HTTP status of each stable error code of Ballast's typed errors that a client can act on. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_SERIALIZABLE: 400,
  INVALID_SCHEDULE: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNKNOWN_QUEUE: 404,
  UNKNOWN_WORKFLOW: 404,
  UNKNOWN_VERSION: 404,
  UNKNOWN_SCHEDULE: 404,
  WORKFLOW_NOT_FOUND: 404,
  INVALID_WORKFLOW_STATE: 409,
  DEDUPLICATED: 409,
  INVALID_STATE: 503, // not launched yet, or shutting down
  FORBIDDEN: 403,
  ACTION_DISABLED: 403,
  SEARCH_TIMEOUT: 400,
};

/** An error as the reply a client gets; undefined for an unexpected error (a 500, to be logged). */
export function errorReply(error: unknown): Reply | undefined {
  if (error instanceof HttpError) return { status: error.status, body: { error: { code: error.code, message: error.message } }, headers: error.headers };
  const code = (error as { code?: unknown } | null)?.code;
  const status = typeof code === 'string' ? STATUS_BY_CODE[code] : undefined;
  if (status === undefined) return undefined;
  return {
    status,
    body: { error: { code, message: (error as Error).message } },
    headers: status === 503 ? { 'Retry-After': '1' } : {},
  };
}

export function internalErrorReply(error: unknown): Reply {
  return { status: 500, body: { error: { code: 'INTERNAL', message: `Internal error: ${error instanceof Error ? error.message : String(error)}` } } };
}

/** A reply as a web Response: JSON (or the given text), never cached. */
export function toResponse(reply: Reply): Response {
  const contentType = reply.text?.contentType ?? 'application/json; charset=utf-8';
  const body = reply.text?.body ?? `${JSON.stringify(reply.body ?? null)}\n`;
  return new Response(body, { status: reply.status, headers: { 'Content-Type': contentType, 'Cache-Control': 'no-store', ...reply.headers } });
}
