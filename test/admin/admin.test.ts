// The admin API end to end: a launched application serving its standalone admin server, real HTTP
// requests. Auth, probes, Prometheus text after a known workload, the queue length KEDA reads, the
// management routes (resume continues from its checkpoint, fork re-runs from step N, delete removes
// that workflow's rows and nothing else), and bad input answered as JSON 4xx with nothing changed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Ballast, ValidationError, type Queue } from '../../src/index.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { parseExposition, sampleValue } from '../support/prometheus.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'test-admin-token-0123456789abcdef';

let db: { url: string; close(): Promise<void> };
let admin: pg.Client;
let app: Ballast;
let base: string;
let held: Queue;
const stepRuns = new Map<string, number>();
let defs: ReturnType<typeof define>;

function define(ballast: Ballast) {
  const counted = (id: string, step: string) => stepRuns.set(`${id} ${step}`, (stepRuns.get(`${id} ${step}`) ?? 0) + 1);
  return {
    ok: ballast.workflow('ok', async (ctx, n: number) => ctx.step('double', () => n * 2)),
    failing: ballast.workflow('failing', async (ctx) => ctx.step('fail', () => {
      throw new Error('meant to fail');
    })),
    /** Three steps, waiting for "go" after the first: resumable and forkable mid-way. */
    three: ballast.workflow('three', async (ctx) => {
      const a = await ctx.step('a', () => (counted(ctx.workflowId, 'a'), 'a'));
      await ctx.recv('go', { timeout: '30s' });
      const b = await ctx.step('b', () => (counted(ctx.workflowId, 'b'), 'b'));
      const c = await ctx.step('c', () => (counted(ctx.workflowId, 'c'), 'c'));
      await ctx.setEvent('done', true);
      return a + b + c;
    }),
  };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

async function call(method: string, path: string, options: { body?: string; token?: string | null } = {}): Promise<Answer> {
  const token = options.token === undefined ? TOKEN : options.token;
  const response = await fetch(`${base}${path}`, {
    method,
    body: options.body,
    headers: { 'Content-Type': 'application/json', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Prometheus text
  }
  return { status: response.status, body, text, headers: response.headers };
}

function errorCode(answer: Answer): string {
  const error = answer.body.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(typeof error?.message, 'string', `a JSON error with a message: ${answer.text}`);
  return String(error?.code);
}

/** Every row Ballast keeps, to show that a refused request changed nothing. */
async function database(): Promise<unknown> {
  const tables = ['workflows', 'steps', 'messages', 'events', 'queues'];
  return Promise.all(tables.map(async (table) => (await admin.query(`SELECT * FROM ballast.${table} ORDER BY 1, 2`)).rows));
}

before(async () => {
  db = await testDatabase('admin');
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  app = new Ballast({
    name: 'admin-app',
    databaseUrl: db.url,
    executorId: 'admin-executor',
    appVersion: 'admin-v1',
    admin: { port: 0, token: TOKEN },
    logger: capturingLogger(),
  });
  held = app.queue('held', { workerConcurrency: 1, rateLimit: { limit: 1, period: '1h' } });
  app.queue('work', { workerConcurrency: 4 });
  defs = define(app);
  await app.launch();
  const port = (app as unknown as { adminServer: { port: number } }).adminServer.port;
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  await app.shutdown({ drainMs: 0 });
  await admin.end();
  await db.close();
});

describe('probes and metrics', () => {
  test('healthz and readyz answer without a token', async () => {
    assert.deepEqual((await call('GET', '/healthz', { token: null })).body, { status: 'ok' });
    assert.deepEqual((await call('GET', '/readyz', { token: null })).body, { status: 'ready' });
  });

  test('/metrics is Prometheus text holding the expected series after a known workload', async () => {
    await Promise.all([1, 2, 3].map(async (n) => (await defs.ok.start(n)).result()));
    await (await defs.failing.start(undefined)).result().catch(() => undefined);
    // The held queue starts one workflow an hour: the first runs (and waits), the rest wait.
    const waiting = await Promise.all([1, 2, 3].map(() => defs.three.enqueue(undefined, { queue: held })));
    await waitFor('the first held workflow runs', async () => (await app.queues.metrics('held')).pending === 1);

    const answer = await call('GET', '/metrics', { token: null });
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const metrics = parseExposition(answer.text);
    assert.equal(sampleValue(metrics, 'ballast_workflows_finished_total', { workflow: 'ok', status: 'SUCCESS' }), 3);
    assert.equal(sampleValue(metrics, 'ballast_workflows_finished_total', { workflow: 'failing', status: 'ERROR' }), 1);
    assert.equal(sampleValue(metrics, 'ballast_workflow_run_duration_seconds_count', { workflow: 'ok', status: 'SUCCESS' }), 3);
    assert.equal(sampleValue(metrics, 'ballast_step_duration_seconds_count', { workflow: 'ok', outcome: 'ok' }), 3);
    assert.equal(sampleValue(metrics, 'ballast_step_duration_seconds_count', { workflow: 'failing', outcome: 'error' }), 1);
    assert.equal(sampleValue(metrics, 'ballast_queue_workflows', { queue: 'held', status: 'ENQUEUED', version: 'admin-v1' }), 2);
    assert.equal(sampleValue(metrics, 'ballast_queue_workflows', { queue: 'held', status: 'PENDING', version: 'admin-v1' }), 1);
    assert.ok((sampleValue(metrics, 'ballast_queue_oldest_waiting_seconds', { queue: 'held' }) ?? -1) >= 0);
    assert.equal(sampleValue(metrics, 'ballast_executors_alive', { version: 'admin-v1' }), 1);
    assert.ok((sampleValue(metrics, 'ballast_group_commit_flush_writes_count') ?? 0) > 0);
    assert.equal(sampleValue(metrics, 'ballast_local_running_workflows', { executor: 'admin-executor' }), 1);
    for (const family of ['ballast_recoveries_total', 'ballast_dead_lettered_total', 'ballast_fenced_runs_total', 'ballast_executor_running_workflows']) {
      assert.ok(metrics.types.has(family), `${family} is exposed`);
    }

    // /metrics/:queue equals the library's count (ENQUEUED + PENDING), per version too.
    const library = await app.queues.metrics('held');
    assert.deepEqual((await call('GET', '/metrics/held', { token: null })).body, { queue_length: library.queueLength });
    assert.equal(library.queueLength, 3);
    assert.deepEqual((await call('GET', '/metrics/held?version=admin-v1', { token: null })).body, { queue_length: 3 });
    assert.deepEqual((await call('GET', '/metrics/held?version=other', { token: null })).body, { queue_length: 0 });
    for (const handle of waiting) await app.workflows.cancel(handle.id);
  });
});

describe('auth', () => {
  test('mutations are refused without the token or with a wrong one, and accepted with it', async () => {
    const handle = await defs.three.start(undefined);
    await waitFor('it waits for "go"', async () => (await app.workflows.steps(handle.id)).length >= 2);
    const before = await database();
    for (const token of [null, 'wrong-token', '']) {
      const refused = await call('POST', `/api/workflows/${handle.id}/cancel`, { token });
      assert.equal(refused.status, 401, `token ${JSON.stringify(token)}`);
      assert.equal(errorCode(refused), 'UNAUTHORIZED');
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    assert.deepEqual(await database(), before, 'nothing changed');
    const accepted = await call('POST', `/api/workflows/${handle.id}/cancel`);
    assert.deepEqual(accepted.body, { workflowId: handle.id, cancelled: true });
    // Reads are open unless protectReads is set.
    assert.equal((await call('GET', `/api/workflows/${handle.id}`, { token: null })).status, 200);
  });

  test('protectReads guards reads too, never the probes', async () => {
    const { createServer } = await import('node:http');
    const server = createServer(app.adminHandler({ token: TOKEN, protectReads: true }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const get = (path: string, token?: string) =>
        fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} }).then((r) => r.status);
      assert.equal(await get('/api/workflows'), 401);
      assert.equal(await get('/metrics'), 401);
      assert.equal(await get('/api/workflows', TOKEN), 200);
      assert.equal(await get('/healthz'), 200);
      assert.equal(await get('/readyz'), 200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('management routes', () => {
  test('list with filters, get with payloads in stored form, steps', async () => {
    const handle = await defs.ok.start(21, { id: 'admin-ok-21' });
    await handle.result();
    const listed = await call('GET', '/api/workflows?name=ok&status=SUCCESS&limit=100&withPayloads=true');
    const workflows = listed.body.workflows as Array<Record<string, unknown>>;
    assert.ok(workflows.some((w) => w.id === 'admin-ok-21' && w.output === 42 && w.input === 21));
    assert.ok(workflows.every((w) => w.name === 'ok' && w.status === 'SUCCESS'));
    const got = (await call('GET', '/api/workflows/admin-ok-21')).body;
    assert.equal(got.status, 'SUCCESS');
    assert.equal(got.appVersion, 'admin-v1');
    assert.equal(typeof got.createdAt, 'string');
    const steps = (await call('GET', '/api/workflows/admin-ok-21/steps')).body.steps as Array<Record<string, unknown>>;
    assert.deepEqual(steps.map((step) => [step.index, step.name, step.output]), [[0, 'double', 42]]);
  });

  test('attributes: returned with a workflow, filtered by ?attr.KEY=VALUE, and by the bulk routes\' filter', async () => {
    for (const [id, tenant] of [['admin-attr-1', 'acme'], ['admin-attr-2', 'acme'], ['admin-attr-3', 'globex']] as const) {
      await (await defs.ok.start(1, { id, attributes: { tenant, 'order.id': id } })).result();
    }
    const ids = async (query: string) =>
      ((await call('GET', `/api/workflows?${query}`)).body.workflows as Array<Record<string, unknown>>).map((w) => w.id);
    assert.deepEqual(await ids('attr.tenant=acme&order=asc'), ['admin-attr-1', 'admin-attr-2']);
    assert.deepEqual(await ids('attr.tenant=acme&attr.order.id=admin-attr-2'), ['admin-attr-2']);
    assert.deepEqual(await ids('attr.tenant=globex&status=SUCCESS&name=ok'), ['admin-attr-3']);
    assert.deepEqual(await ids('attr.tenant=initech'), []);
    assert.deepEqual((await call('GET', '/api/workflows/admin-attr-3')).body.attributes, { tenant: 'globex', 'order.id': 'admin-attr-3' });
    const deleted = await call('POST', '/api/bulk/delete', { body: JSON.stringify({ filter: { attributes: { tenant: 'acme' } } }) });
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual((deleted.body as { applied: string[] }).applied, ['admin-attr-1', 'admin-attr-2']);
    assert.deepEqual(await ids('attr.tenant=acme'), []);
  });

  test('resume of a CANCELLED and of a DEAD_LETTER workflow continues from its checkpoint', async () => {
    for (const how of ['CANCELLED', 'DEAD_LETTER'] as const) {
      const handle = await defs.three.start(undefined, { id: `admin-resume-${how}` });
      await waitFor('step a is recorded', async () => (await app.workflows.steps(handle.id)).length >= 2);
      if (how === 'CANCELLED') {
        await call('POST', `/api/workflows/${handle.id}/cancel`);
      } else {
        // What a takeover does once the workflow exhausted its recoveries (test/fleet/poison.test.ts
        // produces a real one by killing processes): fenced, dead-lettered.
        await app.workflows.cancel(handle.id);
        await admin.query(`UPDATE ballast.workflows SET status = 'DEAD_LETTER', epoch = epoch + 1, recoveries = 50 WHERE id = $1`, [handle.id]);
      }
      const resumed = await call('POST', `/api/workflows/${handle.id}/resume`);
      assert.equal(resumed.status, 202, resumed.text);
      await app.send(handle.id, 'go', true);
      assert.equal(await app.result(handle.id, { timeout: '10s' }), 'abc');
      assert.equal(stepRuns.get(`${handle.id} a`), 1, `${how}: the completed step did not run again`);
      assert.equal(stepRuns.get(`${handle.id} b`), 1);
      assert.equal((await app.workflows.get(handle.id))?.recoveries, 0, 'a fresh recovery count');
    }
  });

  test('fork from step N re-runs exactly the steps from N on', async () => {
    const handle = await defs.three.start(undefined, { id: 'admin-fork-source' });
    await app.send(handle.id, 'go', true);
    await handle.result();
    const history = await app.workflows.steps(handle.id);
    const b = history.findIndex((step) => step.name === 'b');
    const forked = await call('POST', `/api/workflows/${handle.id}/fork`, { body: JSON.stringify({ fromStep: b, id: 'admin-fork-copy' }) });
    assert.equal(forked.status, 201, forked.text);
    assert.equal(await app.result('admin-fork-copy', { timeout: '10s' }), 'abc');
    assert.deepEqual([stepRuns.get('admin-fork-copy a'), stepRuns.get('admin-fork-copy b'), stepRuns.get('admin-fork-copy c')], [undefined, 1, 1]);
    const copied = await app.workflows.steps('admin-fork-copy');
    assert.deepEqual(copied.map((step) => step.name), history.map((step) => step.name));
  });

  test('delete removes that workflow, its steps, events and messages, and nothing else', async () => {
    const doomed = await defs.three.start(undefined, { id: 'admin-doomed' });
    const kept = await defs.three.start(undefined, { id: 'admin-kept' });
    for (const handle of [doomed, kept]) await app.send(handle.id, 'go', true);
    await Promise.all([doomed.result(), kept.result()]);
    await app.send('admin-doomed', 'late', 'unread');
    const rowsOf = async (id: string) =>
      Promise.all(
        ['SELECT id FROM ballast.workflows WHERE id = $1', 'SELECT idx FROM ballast.steps WHERE workflow_id = $1',
          'SELECT key FROM ballast.events WHERE workflow_id = $1', 'SELECT id FROM ballast.messages WHERE destination_id = $1',
        ].map(async (sql) => (await admin.query(sql, [id])).rowCount),
      );
    const keptBefore = await rowsOf('admin-kept');
    const everythingElse = async () => (await admin.query(`SELECT count(*)::int AS n FROM ballast.workflows WHERE id <> 'admin-doomed'`)).rows[0].n as number;
    const othersBefore = await everythingElse();
    assert.deepEqual((await rowsOf('admin-doomed')).map((n) => (n ?? 0) > 0), [true, true, true, true]);

    const deleted = await call('DELETE', '/api/workflows/admin-doomed');
    assert.deepEqual(deleted.body, { workflowId: 'admin-doomed', deleted: true });
    assert.deepEqual(await rowsOf('admin-doomed'), [0, 0, 0, 0]);
    assert.deepEqual(await rowsOf('admin-kept'), keptBefore);
    assert.equal(await everythingElse(), othersBefore);
  });

  test('bulk resume applies to every match of the filter, in batches', async () => {
    const failed = await Promise.all([1, 2, 3].map(() => defs.failing.start(undefined)));
    await Promise.all(failed.map((handle) => handle.result().catch(() => undefined)));
    const answer = await call('POST', '/api/bulk/resume', { body: JSON.stringify({ filter: { name: 'failing', status: 'ERROR' }, batchSize: 2 }) });
    assert.equal(answer.status, 200, answer.text);
    const result = answer.body as { applied: string[]; failed: unknown[] };
    for (const handle of failed) assert.ok(result.applied.includes(handle.id), `${handle.id} was resumed`);
    assert.deepEqual(result.failed, []);
  });

  test('queues, limits, executors, versions, schedules', async () => {
    const queues = (await call('GET', '/api/queues')).body.queues as Array<Record<string, unknown>>;
    const work = queues.find((queue) => queue.queue === 'work');
    assert.deepEqual((work?.limits as Record<string, unknown>)?.workerConcurrency, 4);
    const changed = await call('PUT', '/api/queues/work/limits', { body: JSON.stringify({ workerConcurrency: 3, concurrency: 10 }) });
    assert.equal(changed.status, 200, changed.text);
    assert.deepEqual(changed.body, { name: 'work', workerConcurrency: 3, concurrency: 10, rateLimit: null, ratePeriodMs: null, partitionConcurrency: null, fairness: null, partitionWeights: null });
    assert.equal((await app.queues.list()).find((queue) => queue.name === 'work')?.concurrency, 10);

    const executors = (await call('GET', '/api/executors')).body.executors as Array<Record<string, unknown>>;
    assert.deepEqual(executors.map((executor) => [executor.id, executor.alive]), [['admin-executor', true]]);
    const versions = (await call('GET', '/api/versions')).body.versions as Array<Record<string, unknown>>;
    assert.deepEqual(versions.map((version) => [version.version, version.latest]), [['admin-v1', true]]);
    assert.deepEqual((await call('GET', '/api/schedules')).body, { schedules: [] });
  });
});

describe('bad input is a JSON 4xx with a stable code, and changes nothing', () => {
  test('bad handler options are a ValidationError', () => {
    for (const options of [{ maxBodyBytes: 0 }, { token: 42 }, { protectReads: 'yes' }, { readiness: true }, null]) {
      assert.throws(() => app.adminHandler(options as never), (error: unknown) => error instanceof ValidationError && error.code === 'INVALID_ARGUMENT');
    }
  });

  test('unknown workflows, fork out of range, resume of a running workflow, bad bodies, unknown parameters', async () => {
    const running = await defs.three.start(undefined, { id: 'admin-running' });
    await waitFor('it runs', async () => (await app.workflows.steps(running.id)).length >= 2);
    const before = await database();
    const cases: Array<[string, string, { body?: string; token?: string | null }, number, string]> = [
      ['POST', '/api/workflows/nope/resume', {}, 404, 'WORKFLOW_NOT_FOUND'],
      ['POST', '/api/workflows/nope/fork', {}, 404, 'WORKFLOW_NOT_FOUND'],
      ['POST', '/api/workflows/admin-running/fork', { body: '{"fromStep": 99}' }, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/workflows/admin-running/fork', { body: '{"fromStep": -1}' }, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/workflows/admin-running/fork', { body: '{"appVersion": "never-deployed"}' }, 404, 'UNKNOWN_VERSION'],
      ['POST', '/api/workflows/admin-running/resume', {}, 409, 'INVALID_WORKFLOW_STATE'],
      ['DELETE', '/api/workflows/admin-running', {}, 409, 'INVALID_WORKFLOW_STATE'],
      ['POST', '/api/workflows/admin-running/cancel', { body: '{"children": ' }, 400, 'INVALID_JSON'],
      ['POST', '/api/workflows/admin-running/cancel', { body: '[true]' }, 400, 'INVALID_JSON'],
      ['POST', '/api/workflows/admin-running/cancel', { body: '{"children": "yes"}' }, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/workflows/admin-running/cancel', { body: '{"childern": true}' }, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/workflows/admin-running/cancel', { body: JSON.stringify({ pad: 'x'.repeat(70_000) }) }, 413, 'BODY_TOO_LARGE'],
      ['GET', '/api/workflows?stauts=ERROR', {}, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows?status=FINISHED', {}, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows?limit=lots', {}, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows?attr.=acme', {}, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows?attr.bad%20key=acme', {}, 400, 'INVALID_ARGUMENT'],
      ['GET', `/api/workflows?attr.tenant=${'x'.repeat(300)}`, {}, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows?attr.tenant=a&attr.tenant=b', {}, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/bulk/cancel', { body: '{"filter": {"attributes": {"tenant": 1}}}' }, 400, 'INVALID_ARGUMENT'],
      ['GET', '/api/workflows/admin-running/steps?x=1', {}, 400, 'INVALID_ARGUMENT'],
      ['POST', '/api/bulk/resume', { body: '{"filter": {"status": "ERROR", "limit": 5}}' }, 400, 'INVALID_ARGUMENT'],
      ['PUT', '/api/queues/work/limits', { body: '{"workerConcurrency": 0}' }, 400, 'INVALID_ARGUMENT'],
      ['PUT', '/api/queues/nope/limits', { body: '{"workerConcurrency": 1}' }, 404, 'UNKNOWN_QUEUE'],
      ['POST', '/api/schedules/nope/pause', {}, 404, 'UNKNOWN_SCHEDULE'],
      ['GET', '/metrics/nope', {}, 404, 'UNKNOWN_QUEUE'],
      ['GET', '/nowhere', {}, 404, 'NOT_FOUND'],
      ['PATCH', '/api/workflows/admin-running', {}, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/api/workflows/admin-running/cancel', { token: 'wrong' }, 401, 'UNAUTHORIZED'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const answer = await call(method, path, options);
      assert.equal(answer.status, status, `${method} ${path} ${options.body?.slice(0, 40) ?? ''}: ${answer.text.slice(0, 300)}`);
      assert.equal(errorCode(answer), code, `${method} ${path}`);
    }
    assert.deepEqual(await database(), before, 'no refused request changed anything');
    await app.send(running.id, 'go', true);
    await running.result();
  });
});
