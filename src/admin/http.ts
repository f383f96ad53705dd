// HTTP plumbing of the admin API, on node:http alone: routes by path pattern, query parameters
// checked against what a route accepts, size-limited JSON bodies, JSON answers, and errors as
// {"error": {"code", "message"}} with a stable code. The example service uses it for its own routes.
import type { IncomingMessage, ServerResponse } from 'node:http';

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
}

export interface Request {
  readonly raw: IncomingMessage;
  readonly method: string;
  readonly params: string[];
  readonly query: URLSearchParams;
}

export interface Route {
  method: string;
  /** Path segments; ':name' matches any one non-empty segment. */
  pattern: string[];
  /** Query parameters the route accepts; any other is refused (a typo must not silently match everything). */
  query?: readonly string[];
  handle(request: Request): Promise<Reply>;
}

/** The request's path as decoded segments (one trailing slash tolerated). */
export function pathSegments(url: string): string[] {
  const { pathname } = new URL(url, 'http://localhost');
  const raw = pathname.split('/').slice(1);
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  try {
    return raw.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, 'INVALID_PATH', `The path ${pathname} is not valid percent-encoding.`);
  }
}

export type RouteMatch = { route: Route; params: string[] } | { allowed: string[] } | undefined;

/** The route for a request; `{ allowed }` when the path exists under other methods only. */
export function findRoute(routes: readonly Route[], method: string, segments: string[]): RouteMatch {
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (params === undefined) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : undefined;
}

function matchPattern(pattern: string[], segments: string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string;
    const actual = segments[i] as string;
    if (expected.startsWith(':')) {
      if (actual === '') return undefined;
      params.push(actual);
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** Refuses query parameters the route does not know, and repeated ones. */
export function checkQuery(query: URLSearchParams, accepted: readonly string[] = []): void {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!accepted.includes(key)) {
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
};

/** An error as the reply a client gets; undefined for an unexpected error (a 500, to be logged). */
function errorReply(error: unknown): Reply | undefined {
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

function internalErrorReply(error: unknown): Reply {
  return { status: 500, body: { error: { code: 'INTERNAL', message: `Internal error: ${error instanceof Error ? error.message : String(error)}` } } };
}

/**
 * Sends what `reply` settles with: the answer, a typed error as its JSON 4xx/5xx, or an unexpected
 * error as a logged 500.
 */
export function respond(request: IncomingMessage, response: ServerResponse, reply: Promise<Reply>, logger: { error(message: string, error?: unknown): void }): void {
  const method = request.method ?? 'GET';
  void reply
    .catch((error: unknown) => {
      const known = errorReply(error);
      if (known) return known;
      logger.error(`${method} ${request.url} failed`, error);
      return internalErrorReply(error);
    })
    .then((answer) => send(response, answer, method))
    .catch((error: unknown) => logger.error(`could not answer ${method} ${request.url}`, error));
}

export function send(response: ServerResponse, reply: Reply, method: string): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const contentType = reply.text?.contentType ?? 'application/json; charset=utf-8';
  const body = reply.text?.body ?? `${JSON.stringify(reply.body ?? null)}\n`;
  response.writeHead(reply.status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...reply.headers,
  });
  response.end(method === 'HEAD' ? undefined : body);
}
