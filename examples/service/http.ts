// The HTTP surface of the example service, on node:http: its own two routes (a small Hono app), and
// Ballast's admin API and dashboard mounted beside them on the same port (docs/operations.md and
// docs/dashboard.md):
//
//   POST /tasks            {"steps"?: 1..100, "stepMs"?: 0..60000}  -> 202 {"workflowId": "..."}
//   GET  /tasks/:id        -> 200 {"status": "...", "result": ..., "executor": "...", ...} | 404
//   GET  /metrics/:queue   -> 200 {"queue_length": N}  (what KEDA's metrics-api scaler reads)
//   GET  /healthz, /readyz, /metrics (Prometheus), /api/...   (the admin API)
//   GET  /dashboard/       (the console)
//
// Every answer is JSON; errors are {"error": {"code": "...", "message": "<what went wrong and how to fix it>"}}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { answerError } from '../../src/admin/app.js';
import { checkFields, describeJson, HttpError, readJsonObject, toResponse, type Reply } from '../../src/admin/http.js';
import type { AdminRequestHandler } from '../../src/index.js';
import type { TaskInput, TaskView } from './app.js';

/** What the routes need from the application. */
export interface TaskApi {
  enqueueTask(input: TaskInput, id?: string): Promise<string>;
  getTask(id: string): Promise<TaskView | undefined>;
}

export interface HttpLogger {
  error(message: string, error?: unknown): void;
}

export const MAX_BODY_BYTES = 64 * 1024;
export const STEPS_RANGE = { min: 1, max: 100 } as const;
export const STEP_MS_RANGE = { min: 0, max: 60_000 } as const;
const EXAMPLE_BODY = '{"steps": 3, "stepMs": 500}';

/** The service's routes under /tasks (a small Hono app); every other path goes to Ballast's admin API. */
export function createRequestHandler(api: TaskApi, admin: AdminRequestHandler, logger: HttpLogger): (request: IncomingMessage, response: ServerResponse) => void {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allow = methods.filter((method) => method !== 'HEAD').join(', ');
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}; use ${allow}.`, { Allow: allow });
      },
    }),
  );
  app.post('/tasks', async (c) => toResponse(await postTask(api, c.env.incoming)));
  app.get('/tasks/:id', async (c) => toResponse(await getTask(api, c.req.param('id'))));
  app.notFound((c) => toResponse({ status: 404, body: { error: { code: 'NOT_FOUND', message: `No route for ${c.req.method} ${c.req.path}.` } } }));
  app.onError((error, c) => answerError(error, c, logger));
  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false, autoCleanupIncoming: false });

  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    if (path !== '/tasks' && !path.startsWith('/tasks/')) return admin(request, response);
    void listener(request, response).catch((error: unknown) => logger.error(`could not answer ${request.method} ${request.url}`, error));
  };
}

async function postTask(api: TaskApi, request: IncomingMessage): Promise<Reply> {
  const input = parseTaskInput(await readJsonObject(request, MAX_BODY_BYTES, EXAMPLE_BODY));
  const workflowId = await api.enqueueTask(input, idempotencyKey(request));
  return { status: 202, body: { workflowId }, headers: { Location: `/tasks/${encodeURIComponent(workflowId)}` } };
}

async function getTask(api: TaskApi, id: string): Promise<Reply> {
  const task = await api.getTask(id);
  if (task === undefined) throw new HttpError(404, 'WORKFLOW_NOT_FOUND', `No task with ID ${JSON.stringify(id)}.`);
  const { status, result, ...rest } = task;
  return { status: 200, body: { status, result, ...rest } };
}

/** Checks the body of POST /tasks: optional integer `steps` and `stepMs`. */
export function parseTaskInput(body: Record<string, unknown>): TaskInput {
  checkFields(body, ['steps', 'stepMs']);
  const input: TaskInput = {};
  if (body.steps !== undefined) input.steps = integerIn(body.steps, 'steps', STEPS_RANGE, 'number of durable steps');
  if (body.stepMs !== undefined) input.stepMs = integerIn(body.stepMs, 'stepMs', STEP_MS_RANGE, 'milliseconds each step works');
  return input;
}

function integerIn(value: unknown, name: string, range: { min: number; max: number }, meaning: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw new HttpError(400, 'INVALID_ARGUMENT', `"${name}" (the ${meaning}) must be an integer from ${range.min} to ${range.max}, got ${describeJson(value)}.`);
  }
  return value;
}

/** An `Idempotency-Key` header becomes the workflow ID: retrying the POST never enqueues twice. */
function idempotencyKey(request: IncomingMessage): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || key.trim() === '' || key.length > 200) {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'The Idempotency-Key header must be one non-empty value of at most 200 characters.');
  }
  return key;
}
