// The HTTP surface of the example service, on node:http alone:
//
//   POST /tasks            {"steps"?: 1..100, "stepMs"?: 0..60000}  -> 202 {"workflowId": "..."}
//   GET  /tasks/:id        -> 200 {"status": "...", "result": ..., "executor": "...", ...} | 404
//   GET  /metrics/:queue   -> 200 {"queue_length": N}  (what KEDA's metrics-api scaler reads);
//                             ?version=V counts only workflows of application version V
//   GET  /healthz          -> 200 while the process serves requests; never touches Postgres
//   GET  /readyz           -> 200 after launch while the database answers; 503 before and during shutdown
//
// Every answer is JSON; errors are {"error": "<what went wrong and how to fix it>"}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readiness, TaskInput, TaskView } from './app.js';

/** What the routes need from the application. */
export interface TaskApi {
  enqueueTask(input: TaskInput, id?: string): Promise<string>;
  getTask(id: string): Promise<TaskView | undefined>;
  queueLength(queue: string, version?: string): Promise<number>;
  readiness(): Promise<Readiness>;
}

export interface HttpLogger {
  error(message: string, error?: unknown): void;
}

export const MAX_BODY_BYTES = 64 * 1024;
export const STEPS_RANGE = { min: 1, max: 100 } as const;
export const STEP_MS_RANGE = { min: 0, max: 60_000 } as const;
const ALLOWED_FIELDS = ['steps', 'stepMs'];
const EXAMPLE_BODY = '{"steps": 3, "stepMs": 500}';

/** An answer other than 2xx, thrown by a route and turned into a JSON response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

type Handler = (request: IncomingMessage, params: string[]) => Promise<Reply>;

interface Route {
  /** Path segments; ':param' matches any one segment. */
  pattern: string[];
  methods: Record<string, Handler>;
}

export function createRequestHandler(api: TaskApi, logger: HttpLogger): (request: IncomingMessage, response: ServerResponse) => void {
  const routes: Route[] = [
    { pattern: ['healthz'], methods: { GET: async () => ({ status: 200, body: { status: 'ok' } }) } },
    { pattern: ['readyz'], methods: { GET: () => readyz(api) } },
    { pattern: ['tasks'], methods: { POST: (request) => postTask(api, request) } },
    { pattern: ['tasks', ':id'], methods: { GET: (_request, [id]) => getTask(api, id as string) } },
    { pattern: ['metrics', ':queue'], methods: { GET: (request, [queue]) => queueMetrics(api, request, queue as string) } },
  ];

  return (request, response) => {
    void dispatch(routes, request)
      .catch((error: unknown) => toErrorReply(error, request, logger))
      .then((reply) => send(response, reply))
      .catch((error: unknown) => logger.error(`could not answer ${request.method} ${request.url}`, error));
  };
}

async function dispatch(routes: Route[], request: IncomingMessage): Promise<Reply> {
  const segments = pathSegments(request.url ?? '/');
  for (const route of routes) {
    const params = match(route.pattern, segments);
    if (params === undefined) continue;
    const handler = route.methods[request.method ?? 'GET'];
    if (handler === undefined) {
      const allowed = Object.keys(route.methods).join(', ');
      throw new HttpError(405, `${request.method} is not allowed on ${routePath(route)}; use ${allowed}.`, { Allow: allowed });
    }
    return handler(request, params);
  }
  throw new HttpError(404, `No route for ${request.method} ${new URL(request.url ?? '/', 'http://localhost').pathname}. ` +
    'Routes: POST /tasks, GET /tasks/:id, GET /metrics/:queue, GET /healthz, GET /readyz.');
}

// ---------------------------------------------------------------------------------------------
// Routes

async function readyz(api: TaskApi): Promise<Reply> {
  const readiness = await api.readiness();
  if (readiness.ready) return { status: 200, body: { status: 'ready' } };
  return { status: 503, body: { status: readiness.reason }, headers: { 'Retry-After': '1' } };
}

async function postTask(api: TaskApi, request: IncomingMessage): Promise<Reply> {
  const input = parseTaskInput(await readJson(request));
  const workflowId = await api.enqueueTask(input, idempotencyKey(request));
  return { status: 202, body: { workflowId }, headers: { Location: `/tasks/${encodeURIComponent(workflowId)}` } };
}

async function getTask(api: TaskApi, id: string): Promise<Reply> {
  const task = await api.getTask(id);
  if (task === undefined) throw new HttpError(404, `No task with ID ${JSON.stringify(id)}.`);
  const { status, result, ...rest } = task;
  return { status: 200, body: { status, result, ...rest } };
}

async function queueMetrics(api: TaskApi, request: IncomingMessage, queue: string): Promise<Reply> {
  const version = new URL(request.url ?? '/', 'http://localhost').searchParams.get('version');
  if (version !== null && version.trim() === '') throw new HttpError(400, 'The version parameter must not be empty: use ?version=<application version>.');
  return { status: 200, body: { queue_length: await api.queueLength(queue, version ?? undefined) } };
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/** The body as JSON; an empty body is `{}`. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `The request body is not valid JSON (${(error as Error).message}). Send an object such as ${EXAMPLE_BODY}.`);
  }
}

function tooLarge(): HttpError {
  return new HttpError(413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`, { Connection: 'close' });
}

/** Checks the body of POST /tasks: an object with optional integer `steps` and `stepMs`. */
export function parseTaskInput(body: unknown): TaskInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, `The request body must be a JSON object such as ${EXAMPLE_BODY}, got ${describeJson(body)}.`);
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !ALLOWED_FIELDS.includes(key));
  if (unknown.length > 0) {
    throw new HttpError(400, `Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: ` +
      'the body may contain "steps" and "stepMs".');
  }
  const input: TaskInput = {};
  if (fields.steps !== undefined) input.steps = integerIn(fields.steps, 'steps', STEPS_RANGE, 'number of durable steps');
  if (fields.stepMs !== undefined) input.stepMs = integerIn(fields.stepMs, 'stepMs', STEP_MS_RANGE, 'milliseconds each step works');
  return input;
}

function integerIn(value: unknown, name: string, range: { min: number; max: number }, meaning: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw new HttpError(400, `"${name}" (the ${meaning}) must be an integer from ${range.min} to ${range.max}, got ${describeJson(value)}.`);
  }
  return value;
}

function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return String(value);
}

/** An `Idempotency-Key` header becomes the workflow ID: retrying the POST never enqueues twice. */
function idempotencyKey(request: IncomingMessage): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || key.trim() === '' || key.length > 200) {
    throw new HttpError(400, 'The Idempotency-Key header must be one non-empty value of at most 200 characters.');
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// Paths, errors and responses

function pathSegments(url: string): string[] {
  const { pathname } = new URL(url, 'http://localhost');
  const raw = pathname.split('/').slice(1);
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop(); // tolerate one trailing slash
  try {
    return raw.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, `The path ${pathname} is not valid percent-encoding.`);
  }
}

function match(pattern: string[], segments: string[]): string[] | undefined {
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

function routePath(route: Route): string {
  return `/${route.pattern.join('/')}`;
}

/** Ballast's typed errors carry a stable `code`; map the ones a client can act on. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_SERIALIZABLE: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNKNOWN_QUEUE: 404,
  WORKFLOW_NOT_FOUND: 404,
  INVALID_STATE: 503, // not launched yet, or shutting down
};

function toErrorReply(error: unknown, request: IncomingMessage, logger: HttpLogger): Reply {
  if (error instanceof HttpError) return { status: error.status, body: { error: error.message }, headers: error.headers };
  const code = (error as { code?: unknown })?.code;
  const status = typeof code === 'string' ? STATUS_BY_CODE[code] : undefined;
  if (status !== undefined) {
    const headers: Record<string, string> = status === 503 ? { 'Retry-After': '1' } : {};
    return { status, body: { error: (error as Error).message }, headers };
  }
  logger.error(`${request.method} ${request.url} failed`, error);
  return { status: 500, body: { error: `Internal error: ${error instanceof Error ? error.message : String(error)}` } };
}

function send(response: ServerResponse, reply: Reply): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const body = `${JSON.stringify(reply.body)}\n`;
  response.writeHead(reply.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...reply.headers,
  });
  response.end(body);
}
