// The routes of the admin API (docs/operations.md has the reference): probes, KEDA's queue length,
// Prometheus metrics, and workflow, queue, executor, version and schedule management under /api/.
import type { ExecutorsApi, VersionsApi } from '../fleet/registry.js';
import type { BulkResult, WorkflowFilter, WorkflowQueries } from '../management.js';
import { QUEUE_OPTIONS, type QueueOptions } from '../queues/options.js';
import type { QueueService } from '../queues/service.js';
import type { SchedulesApi } from '../schedule/service.js';
import type { ReadStreamOptions, StreamEntry } from '../engine/types.js';
import type { WorkflowStatus } from '../store/records.js';
import type { StatsApi } from '../telemetry/history.js';
import { ForbiddenError } from '../errors.js';
import { checkFields, describeJson, HttpError, readJsonObject, type Reply, type Request, type Route } from './http.js';
import { stepJson, stored, visiblePayload, workflowJson } from './views.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

/** What the admin API serves: a Ballast instance or a BallastClient. */
export interface AdminSource {
  readonly workflows: WorkflowQueries;
  readonly queues: QueueService;
  readonly executors: ExecutorsApi;
  readonly versions: VersionsApi;
  readonly schedules?: SchedulesApi;
  /** The per-minute history (Ballast and BallastClient have it). */
  readonly stats?: StatsApi;
  readiness(): Promise<Readiness>;
  /** A workflow's stream with positions (Ballast and BallastClient have it). */
  readStreamEntries(workflowId: string, key: string, options?: ReadStreamOptions): AsyncIterable<StreamEntry>;
  /** The Prometheus text exposition of this process's metrics. */
  prometheusMetrics(): Promise<{ contentType: string; body: string }>;
}

/** `?attr.tenant=acme`: a workflow attribute to filter by. */
const ATTRIBUTE_PARAMETER = 'attr.';
export const LIST_PARAMETERS = [
  'status', 'queue', 'name', 'version', 'executor', 'parent', 'idPrefix', 'createdAfter', 'createdBefore',
  'completedAfter', 'completedBefore', 'queuedOnly', 'limit', 'offset', 'order', 'withPayloads', `${ATTRIBUTE_PARAMETER}*`,
] as const;
const PAYLOAD_HELP = 'Send "Authorization: Bearer <BALLAST_VIEWER_TOKEN>" (or the admin token), or make payloads public with the admin option publicPayloads.';
export const FILTER_FIELDS = [
  'status', 'queue', 'name', 'appVersion', 'executorId', 'parentId', 'idPrefix', 'attributes', 'createdAfter', 'createdBefore', 'completedAfter',
  'completedBefore',
] as const;

export interface RouteOptions {
  maxBodyBytes: number;
  readiness(): Promise<Readiness>;
}

export function adminRoutes(source: () => AdminSource, { maxBodyBytes, readiness }: RouteOptions): Route[] {
  const body = (request: Request, example: string) => readJsonObject(request.raw, maxBodyBytes, example);
  const bulk = (run: (workflows: WorkflowQueries, filter: WorkflowFilter, body: Record<string, unknown>) => Promise<BulkResult>): Route['handle'] =>
    async (request) => {
      const fields = await body(request, '{"filter": {"status": "DEAD_LETTER", "queue": "tasks"}, "batchSize": 100}');
      checkFields(fields, ['filter', 'batchSize', 'children']);
      if (typeof fields.filter !== 'object' || fields.filter === null || Array.isArray(fields.filter)) {
        throw new HttpError(400, 'INVALID_ARGUMENT', `"filter" must be an object such as {"status": "DEAD_LETTER"}, got ${describeJson(fields.filter)}.`);
      }
      checkFields(fields.filter as Record<string, unknown>, FILTER_FIELDS);
      const result = await run(source().workflows, fields.filter as WorkflowFilter, fields);
      return { status: 200, body: result, audit: { filter: fields.filter, applied: result.applied.length, failed: result.failed.length } };
    };

  return [
    { method: 'GET', path: '/healthz', handle: async () => ({ status: 200, body: { status: 'ok' } }) },
    { method: 'GET', path: '/readyz', handle: () => readyz(readiness) },
    {
      method: 'GET',
      path: '/metrics',
      handle: async () => ({ status: 200, text: await source().prometheusMetrics() }),
    },
    {
      method: 'GET',
      path: '/metrics/:queue',
      query: ['version'],
      handle: async ({ params: { queue }, query }) => {
        const version = optionalString(query, 'version');
        const metrics = await source().queues.metrics(queue as string, version === undefined ? {} : { version });
        return { status: 200, body: { queue_length: metrics.queueLength } };
      },
    },

    // ---- workflows
    {
      method: 'GET',
      path: '/api/workflows',
      query: LIST_PARAMETERS,
      handle: async ({ query, payloads }) => {
        const filter = listFilter(query);
        if (filter.withPayloads && !payloads.visible) throw new ForbiddenError(`Payloads need a viewer or operator token. ${PAYLOAD_HELP}`);
        return { status: 200, body: { workflows: (await source().workflows.list(filter)).map((info) => workflowJson(info, payloads)) } };
      },
    },
    {
      method: 'GET',
      path: '/api/workflows/:id',
      query: ['withPayloads'],
      handle: async ({ params: { id }, query, payloads }) => {
        const asked = optionalBoolean(query, 'withPayloads');
        if (asked === true && !payloads.visible) throw new ForbiddenError(`Payloads need a viewer or operator token. ${PAYLOAD_HELP}`);
        const info = await source().workflows.get(id as string, { withPayloads: asked ?? payloads.visible });
        if (!info) throw new HttpError(404, 'WORKFLOW_NOT_FOUND', `No workflow with ID "${id}" exists.`);
        return { status: 200, body: workflowJson(info, payloads) };
      },
    },
    {
      method: 'GET',
      path: '/api/workflows/:id/steps',
      handle: async ({ params: { id }, payloads }) => {
        const workflows = source().workflows;
        if (!(await workflows.get(id as string))) throw new HttpError(404, 'WORKFLOW_NOT_FOUND', `No workflow with ID "${id}" exists.`);
        return { status: 200, body: { steps: (await workflows.steps(id as string)).map((step) => stepJson(step, id as string, payloads)) } };
      },
    },
    {
      method: 'GET',
      path: '/api/workflows/:id/streams/:key',
      query: ['from'],
      handle: async ({ params: { id, key }, query, payloads, raw }) => {
        if (!payloads.visible) throw new ForbiddenError(`Stream values are payloads: they need a viewer or operator token. ${PAYLOAD_HELP}`);
        // A reconnecting EventSource says what it saw last; the URL it reconnects to keeps the first `from`.
        const lastEventId = raw.headers['last-event-id'];
        const from =
          typeof lastEventId === 'string' && lastEventId !== ''
            ? parseInteger(lastEventId, 'Last-Event-ID header') + 1
            : parseInteger(optionalString(query, 'from') ?? '0', 'from');
        const workflows = source();
        if (!(await workflows.workflows.get(id as string))) throw new HttpError(404, 'WORKFLOW_NOT_FOUND', `No workflow with ID "${id}" exists.`);
        return {
          status: 200,
          events: async function* (signal) {
            for await (const { position, value } of workflows.readStreamEntries(id as string, key as string, { from, signal })) {
              const shown = visiblePayload(value, { workflowId: id as string, field: 'stream', stream: { key: key as string, position } }, payloads);
              yield { id: String(position), data: JSON.stringify(shown === undefined ? null : stored(shown)) };
            }
            if (!signal.aborted) yield { event: 'end', data: '' };
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/api/workflows/:id/cancel',
      actions: ['cancel'],
      handle: async (request) => {
        const fields = await body(request, '{"children": true}');
        checkFields(fields, ['children']);
        const cancelled = await source().workflows.cancel(request.params.id as string, { children: fields.children as boolean | undefined });
        return { status: 200, body: { workflowId: request.params.id, cancelled } };
      },
    },
    {
      method: 'POST',
      path: '/api/workflows/:id/resume',
      actions: ['resume'],
      handle: async (request) => {
        checkFields(await body(request, '{}'), []);
        const handle = await source().workflows.resume(request.params.id as string);
        return { status: 202, body: { workflowId: handle.id } };
      },
    },
    {
      method: 'POST',
      path: '/api/workflows/:id/fork',
      actions: ['fork'],
      handle: async (request) => {
        const fields = await body(request, '{"fromStep": 2, "appVersion": "1.4.2"}');
        checkFields(fields, ['fromStep', 'appVersion', 'id']);
        const handle = await source().workflows.fork(request.params.id as string, {
          fromStep: fields.fromStep as number | undefined,
          appVersion: fields.appVersion as string | undefined,
          id: fields.id as string | undefined,
        });
        return {
          status: 201,
          body: { workflowId: handle.id },
          headers: { Location: `/api/workflows/${encodeURIComponent(handle.id)}` },
          audit: { fromStep: fields.fromStep, appVersion: fields.appVersion, forkId: handle.id },
        };
      },
    },
    {
      method: 'DELETE',
      path: '/api/workflows/:id',
      actions: ['delete'],
      handle: async ({ params: { id } }) => {
        await source().workflows.delete(id as string);
        return { status: 200, body: { workflowId: id, deleted: true } };
      },
    },
    { method: 'POST', path: '/api/bulk/cancel', actions: ['bulk', 'cancel'], handle: bulk((w, filter, b) => w.cancelMany(filter, { batchSize: b.batchSize as number | undefined, children: b.children as boolean | undefined })) },
    { method: 'POST', path: '/api/bulk/resume', actions: ['bulk', 'resume'], handle: bulk((w, filter, b) => w.resumeMany(filter, { batchSize: b.batchSize as number | undefined })) },
    { method: 'POST', path: '/api/bulk/delete', actions: ['bulk', 'delete'], handle: bulk((w, filter, b) => w.deleteMany(filter, { batchSize: b.batchSize as number | undefined })) },

    // ---- queues, executors, versions, schedules
    {
      method: 'GET',
      path: '/api/queues',
      query: ['version'],
      handle: async ({ query }) => {
        const version = optionalString(query, 'version');
        const queues = source().queues;
        const [limits, metrics] = await Promise.all([queues.list(), queues.allMetrics(version === undefined ? {} : { version })]);
        const byName = new Map(limits.map((limit) => [limit.name, limit]));
        return {
          status: 200,
          body: { queues: metrics.map((depth) => ({ ...depth, limits: byName.get(depth.queue) ?? null })) },
        };
      },
    },
    {
      method: 'PUT',
      path: '/api/queues/:name/limits',
      actions: ['limits'],
      handle: async (request) => {
        const fields = await body(request, '{"workerConcurrency": 2, "concurrency": 20, "rateLimit": {"limit": 100, "period": "1m"}}');
        checkFields(fields, QUEUE_OPTIONS);
        const limits = await source().queues.update(request.params.name as string, fields as QueueOptions);
        return { status: 200, body: limits, audit: { limits } };
      },
    },
    {
      method: 'GET',
      path: '/api/executors',
      query: ['includeDead'],
      handle: async ({ query }) => ({ status: 200, body: { executors: await source().executors.list({ includeDead: optionalBoolean(query, 'includeDead') ?? false }) } }),
    },
    { method: 'GET', path: '/api/versions', handle: async () => ({ status: 200, body: { versions: await source().versions.list() } }) },
    { method: 'GET', path: '/api/schedules', handle: async () => ({ status: 200, body: { schedules: await schedulesOf(source()).list() } }) },
    ...(['pause', 'resume'] as const).map((action): Route => ({
      method: 'POST',
      path: `/api/schedules/:name/${action}`,
      actions: ['schedules'],
      handle: async (request: Request): Promise<Reply> => {
        checkFields(await body(request, '{}'), []);
        return { status: 200, body: await schedulesOf(source())[action](request.params.name as string) };
      },
    })),
    {
      method: 'POST',
      path: '/api/schedules/:name/trigger',
      actions: ['schedules'],
      handle: async (request) => {
        checkFields(await body(request, '{}'), []);
        return { status: 202, body: await schedulesOf(source()).trigger(request.params.name as string) };
      },
    },
  ];
}

function schedulesOf(source: AdminSource): SchedulesApi {
  if (!source.schedules) throw new HttpError(404, 'NOT_FOUND', 'This process has no schedules API.');
  return source.schedules;
}

async function readyz(readiness: () => Promise<Readiness>): Promise<Reply> {
  const answer = await readiness();
  if (answer.ready) return { status: 200, body: { status: 'ready' } };
  return { status: 503, body: { status: answer.reason }, headers: { 'Retry-After': '1' } };
}

/** GET /api/workflows query parameters (the dashboard's too) as a WorkflowFilter; the library validates the values. */
export function listFilter(query: URLSearchParams): WorkflowFilter {
  const filter: WorkflowFilter = {};
  const statuses = query.getAll('status').flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
  if (statuses.length > 0) filter.status = statuses as WorkflowStatus[];
  const text: Array<[string, keyof WorkflowFilter]> = [
    ['queue', 'queue'], ['name', 'name'], ['version', 'appVersion'], ['executor', 'executorId'], ['parent', 'parentId'], ['idPrefix', 'idPrefix'],
  ];
  for (const [parameter, field] of text) {
    const value = optionalString(query, parameter);
    if (value !== undefined) (filter as Record<string, unknown>)[field] = value;
  }
  for (const field of ['createdAfter', 'createdBefore', 'completedAfter', 'completedBefore'] as const) {
    const value = optionalString(query, field);
    if (value !== undefined) filter[field] = parseTime(value, field);
  }
  for (const field of ['limit', 'offset'] as const) {
    const value = optionalString(query, field);
    if (value !== undefined) filter[field] = parseInteger(value, field);
  }
  const attributes: Record<string, string> = {};
  for (const [parameter, value] of query) {
    if (parameter.startsWith(ATTRIBUTE_PARAMETER)) attributes[parameter.slice(ATTRIBUTE_PARAMETER.length)] = value;
  }
  if (Object.keys(attributes).length > 0) filter.attributes = attributes;
  const order = optionalString(query, 'order');
  if (order !== undefined) filter.order = order as 'asc' | 'desc';
  const queuedOnly = optionalBoolean(query, 'queuedOnly');
  if (queuedOnly !== undefined) filter.queuedOnly = queuedOnly;
  const withPayloads = optionalBoolean(query, 'withPayloads');
  if (withPayloads !== undefined) filter.withPayloads = withPayloads;
  return filter;
}

function optionalString(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (value.trim() === '') throw new HttpError(400, 'INVALID_ARGUMENT', `The ${name} parameter must not be empty.`);
  return value;
}

function optionalBoolean(query: URLSearchParams, name: string): boolean | undefined {
  const value = optionalString(query, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new HttpError(400, 'INVALID_ARGUMENT', `The ${name} parameter must be true or false, got "${value}".`);
  return value === 'true';
}

function parseInteger(value: string, name: string): number {
  if (!/^\d+$/.test(value)) throw new HttpError(400, 'INVALID_ARGUMENT', `The ${name} parameter must be a non-negative integer, got "${value}".`);
  return Number(value);
}

/** ISO 8601 or epoch milliseconds. */
function parseTime(value: string, name: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new HttpError(400, 'INVALID_ARGUMENT', `The ${name} parameter must be an ISO 8601 time or epoch milliseconds, got "${value}".`);
  return ms;
}

