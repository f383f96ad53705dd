// The example service as the deployment guide runs it: real processes, real HTTP. Two replicas on one
// Postgres share the `tasks` queue; probes, validation, queue metrics and SIGTERM draining behave as
// documented in docs/deployment.md. A single process on the embedded database serves tasks too, in
// the memory the quick start promises.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { measureEmbeddedFootprint } from './embedded-footprint.js';

const MAIN = new URL('../../examples/service/main.ts', import.meta.url).pathname;

/** The message of an error answer, {"error": {"code", "message"}}. */
function errorMessage(reply: { body: Record<string, unknown> }): string {
  const error = reply.body.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(typeof error?.code, 'string', `an error answer carries a code: ${JSON.stringify(reply.body)}`);
  return String(error?.message);
}

interface Service {
  child: ChildHandle;
  url: string;
  executor: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

interface TaskAnswer {
  status: string;
  result: { steps: number; elapsedMs: number } | null;
  executor: string | null;
  attempts: number;
  error?: string;
}

/** Starts the service on a free port and returns once it printed its URL (not yet ready). */
async function startService(executor: string, env: Record<string, string>): Promise<Service> {
  const child = spawnNode(MAIN, { env: { PORT: '0', BALLAST_EXECUTOR_ID: executor, ...env } });
  const line = await child.waitForLine((l) => l.includes('listening on http://'), 30_000);
  const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
  assert.ok(url, `a URL in the startup line: ${line}`);
  return { child, url, executor };
}

async function call(service: Service, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${service.url}${path}`, {
    method,
    body,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
  });
  const text = await response.text();
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/, `${method} ${path} answers JSON`);
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as Record<string, unknown> };
}

/** Retries `check` until it returns a value (not undefined) or the time is up. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

async function waitReady(service: Service, timeoutMs = 30_000): Promise<void> {
  await eventually(
    `${service.executor} to be ready\n${service.child.lines.join('\n')}\n${service.child.stderr()}`,
    async () => ((await call(service, 'GET', '/readyz')).status === 200 ? true : undefined),
    timeoutMs,
  );
}

async function postTask(service: Service, input: Record<string, unknown>): Promise<string> {
  const answer = await call(service, 'POST', '/tasks', JSON.stringify(input));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(typeof answer.body.workflowId, 'string');
  return answer.body.workflowId as string;
}

async function task(service: Service, id: string): Promise<TaskAnswer> {
  const answer = await call(service, 'GET', `/tasks/${encodeURIComponent(id)}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body as unknown as TaskAnswer;
}

async function finished(service: Service, id: string, timeoutMs = 30_000): Promise<TaskAnswer> {
  return eventually(`task ${id} to finish`, async () => {
    const answer = await task(service, id);
    return answer.status === 'SUCCESS' || answer.status === 'ERROR' ? answer : undefined;
  }, timeoutMs);
}

async function queueLength(service: Service, query = ''): Promise<number> {
  const answer = await call(service, 'GET', `/metrics/tasks${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body), ['queue_length']);
  return answer.body.queue_length as number;
}

/**
 * SIGTERM: readiness turns 503 (with SHUTDOWN_DELAY_MS the process keeps serving it for a while;
 * without, the port may already be closed), then the process drains and exits 0.
 */
async function terminate(service: Service, expect: 'unready' | 'unready-or-refused'): Promise<void> {
  service.child.kill('SIGTERM');
  const readiness = await eventually('readiness to turn 503 after SIGTERM', async () => {
    try {
      const status = (await call(service, 'GET', '/readyz')).status;
      return status === 503 ? 'unready' : undefined;
    } catch {
      return 'refused'; // the server already stopped accepting connections
    }
  }, 10_000, 20);
  if (expect === 'unready') assert.equal(readiness, 'unready', 'readiness answers 503 during the shutdown delay');
  const exit = await service.child.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `${service.executor} exits 0 after SIGTERM\n${service.child.stderr()}`);
  assert.ok(service.child.lines.some((line) => line.includes('SIGTERM: readiness now answers 503')));
}

describe('example service: two replicas on one Postgres', () => {
  let db: { url: string; close(): Promise<void> };
  let a: Service;
  let b: Service;

  before(async () => {
    db = await testDatabase('example');
    // SHUTDOWN_DELAY_MS keeps the process serving 503 on /readyz for a moment after SIGTERM.
    const env = { BALLAST_DATABASE_URL: db.url, SHUTDOWN_DELAY_MS: '500', DRAIN_MS: '15000' };
    [a, b] = await Promise.all([startService('replica-a', env), startService('replica-b', env)]);
    await Promise.all([waitReady(a), waitReady(b)]);
  });

  after(async () => {
    a?.child.kill();
    b?.child.kill();
    await Promise.all([a?.child.exited, b?.child.exited]);
    await db?.close();
  });

  test('probes, validation and unknown routes answer clearly', async () => {
    assert.equal((await call(a, 'GET', '/healthz')).status, 200);
    assert.deepEqual((await call(a, 'GET', '/readyz')).body, { status: 'ready' });

    const badJson = await call(a, 'POST', '/tasks', '{"steps": 3,');
    assert.equal(badJson.status, 400);
    assert.match(errorMessage(badJson), /not valid JSON/);

    const notObject = await call(a, 'POST', '/tasks', '[1, 2]');
    assert.equal(notObject.status, 400);
    assert.match(errorMessage(notObject), /must be a JSON object.*got an array/);

    const zeroSteps = await call(a, 'POST', '/tasks', '{"steps": 0}');
    assert.equal(zeroSteps.status, 400);
    assert.match(errorMessage(zeroSteps), /"steps" .* must be an integer from 1 to 100, got 0/);

    const fractional = await call(a, 'POST', '/tasks', '{"stepMs": 1.5}');
    assert.equal(fractional.status, 400);
    assert.match(errorMessage(fractional), /"stepMs" .* from 0 to 60000, got 1.5/);

    const tooLong = await call(a, 'POST', '/tasks', '{"stepMs": 60001}');
    assert.equal(tooLong.status, 400);

    const typo = await call(a, 'POST', '/tasks', '{"step": 3}');
    assert.equal(typo.status, 400);
    assert.match(errorMessage(typo), /Unknown field "step"/);

    const unknownTask = await call(a, 'GET', '/tasks/no-such-task');
    assert.equal(unknownTask.status, 404);
    assert.match(errorMessage(unknownTask), /No task with ID "no-such-task"/);

    const unknownQueue = await call(a, 'GET', '/metrics/no-such-queue');
    assert.equal(unknownQueue.status, 404);
    assert.match(errorMessage(unknownQueue), /No queue named "no-such-queue"/);
    assert.equal((await call(a, 'GET', '/metrics/tasks?version=')).status, 400);

    assert.equal((await call(a, 'GET', '/nowhere')).status, 404);
    const wrongMethod = await call(a, 'DELETE', '/tasks');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    assert.equal((await call(a, 'POST', '/healthz')).status, 405);
  });

  test('an Idempotency-Key enqueues a task once', async () => {
    const first = await call(a, 'POST', '/tasks', '{"steps": 1, "stepMs": 0}', { 'Idempotency-Key': 'order-17' });
    const again = await call(b, 'POST', '/tasks', '{"steps": 1, "stepMs": 0}', { 'Idempotency-Key': 'order-17' });
    assert.equal(first.status, 202);
    assert.deepEqual(again.body, first.body);
    assert.equal(first.body.workflowId, 'order-17');
    assert.equal((await finished(a, 'order-17')).status, 'SUCCESS');
  });

  test('both replicas work the shared queue; queue_length rises and returns to 0', async () => {
    assert.equal(await queueLength(a), 0);
    const ids = await Promise.all(
      Array.from({ length: 12 }, (_, n) => postTask(n % 2 === 0 ? a : b, { steps: 3, stepMs: 250 })),
    );
    // Four run at a time (two per replica), so most of the twelve are still waiting here.
    const queued = await queueLength(b);
    assert.ok(queued > 0, `queue_length while work is queued: ${queued}`);
    assert.ok((await queueLength(a)) > 0, 'either replica reports the fleet-wide queue length');
    const version = /application version (\S+)\)/.exec(a.child.lines.join('\n'))?.[1];
    assert.ok(version, 'the ready line names the application version');
    assert.ok((await queueLength(a, `?version=${version}`)) > 0, 'the running version has work queued');
    assert.equal(await queueLength(a, '?version=some-other-version'), 0);

    const results = await Promise.all(ids.map((id, n) => finished(n % 2 === 0 ? b : a, id)));
    for (const result of results) {
      assert.equal(result.status, 'SUCCESS', JSON.stringify(result));
      assert.equal(result.result?.steps, 3);
      assert.ok((result.result?.elapsedMs ?? 0) >= 3 * 250 - 50, `three steps of 250 ms: ${JSON.stringify(result)}`);
    }
    const byExecutor = new Map<string, number>();
    for (const result of results) byExecutor.set(String(result.executor), (byExecutor.get(String(result.executor)) ?? 0) + 1);
    assert.deepEqual([...byExecutor.keys()].sort(), ['replica-a', 'replica-b'], `both executors ran tasks: ${JSON.stringify([...byExecutor])}`);

    assert.equal(await eventually('queue_length to return to 0', async () => ((await queueLength(a)) === 0 ? 0 : undefined)), 0);
    assert.equal(await queueLength(b), 0);
  });

  test('SIGTERM turns readiness 503, drains running tasks and exits 0; the other replica carries on', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => postTask(a, { steps: 2, stepMs: 400 })));
    // A task that replica-a is running when SIGTERM arrives must be finished by replica-a (drained),
    // not abandoned; tasks still waiting in the queue are left for replica-b.
    const runningOnA = await eventually('a task running on replica-a', async () => {
      for (const id of ids) {
        const answer = await task(a, id);
        if (answer.status === 'PENDING' && answer.executor === 'replica-a') return id;
      }
      return undefined;
    });
    await terminate(a, 'unready');
    const drained = await task(b, runningOnA);
    assert.deepEqual({ status: drained.status, executor: drained.executor }, { status: 'SUCCESS', executor: 'replica-a' });
    for (const id of ids) assert.equal((await finished(b, id)).status, 'SUCCESS', `task ${id} finished`);

    const later = await postTask(b, { steps: 1, stepMs: 10 });
    const done = await finished(b, later);
    assert.equal(done.status, 'SUCCESS');
    assert.equal(done.executor, 'replica-b');
    assert.equal(await queueLength(b), 0);
    assert.equal((await call(b, 'GET', '/healthz')).status, 200);
    await terminate(b, 'unready');
  });
});

describe('example service: embedded database', () => {
  let dir: string;
  let service: Service | undefined;
  // No database URL and no executor ID: the service uses PGlite and the fixed executor ID "local".
  const embeddedEnv = (dataDir: string) => ({
    BALLAST_DATABASE_URL: '',
    DBOS_SYSTEM_DATABASE_URL: '',
    BALLAST_EXECUTOR_ID: '',
    BALLAST_DATA_DIR: dataDir,
  });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-example-'));
  });

  after(async () => {
    service?.child.kill();
    await service?.child.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test('with no database URL it runs tasks on PGlite, and a task of a killed run finishes after a restart', async () => {
    const dataDir = join(dir, 'data');
    service = await startService('local', embeddedEnv(dataDir));
    assert.match(service.child.lines.join('\n'), /listening on http:\/\/localhost:\d+ — embedded database in .*data.*, executor local,/);
    // The server listens before Ballast launches (a fresh PGlite takes seconds): live, not ready.
    assert.equal((await call(service, 'GET', '/healthz')).status, 200);
    const early = await call(service, 'GET', '/readyz');
    assert.deepEqual({ status: early.status, body: early.body }, { status: 503, body: { status: 'starting' } });
    const notYet = await call(service, 'POST', '/tasks', '{}');
    assert.equal(notYet.status, 503, 'requests that need Ballast wait for launch');
    await waitReady(service, 45_000);

    const quick = await postTask(service, { steps: 2, stepMs: 20 });
    const done = await finished(service, quick);
    assert.deepEqual(
      { status: done.status, steps: done.result?.steps, executor: done.executor },
      { status: 'SUCCESS', steps: 2, executor: 'local' },
    );
    assert.equal(await queueLength(service), 0);
    assert.ok(existsSync(dataDir), 'the embedded database lives in BALLAST_DATA_DIR');
    // `npm start` and the console is there, showing the task.
    const dashboard = await fetch(`${service.url}/dashboard/workflows`);
    assert.equal(dashboard.status, 200);
    assert.match(dashboard.headers.get('content-type') ?? '', /^text\/html/);
    assert.ok((await dashboard.text()).includes(quick), 'the task is listed');

    // Kill the process in the middle of a task; the next run (same executor ID) recovers it.
    const long = await postTask(service, { steps: 4, stepMs: 400 });
    const first = service;
    await eventually('the long task to start', async () => ((await task(first, long)).status === 'PENDING' ? true : undefined));
    await sleep(600);
    service.child.kill('SIGKILL');
    await service.child.exited;

    service = await startService('local', embeddedEnv(dataDir));
    await waitReady(service, 45_000);
    const recovered = await finished(service, long);
    assert.deepEqual(
      { status: recovered.status, steps: recovered.result?.steps, executor: recovered.executor, attempts: recovered.attempts },
      { status: 'SUCCESS', steps: 4, executor: 'local', attempts: 2 },
    );
    assert.equal((await task(service, quick)).status, 'SUCCESS', 'earlier results survived the kill');
    await terminate(service, 'unready-or-refused');
  });
});

describe('example service: embedded database footprint', () => {
  /** `npm start`'s memory budget (docs/deployment.md, "The embedded database"). */
  const BUDGET_MB = 250;

  test(`npm start on a new data directory stays under ${BUDGET_MB} MB resident after 1,000 tasks`, { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const footprint = await measureEmbeddedFootprint({ tasks: 1_000 });
    const numbers = JSON.stringify(footprint);
    assert.equal(footprint.tasks, 1_000);
    assert.ok(footprint.rssAfterTasksMb <= BUDGET_MB, `resident set after 1,000 tasks over ${BUDGET_MB} MB: ${numbers}`);
    assert.ok(footprint.rssAfterFirstTaskMb <= BUDGET_MB, `resident set after the first task over ${BUDGET_MB} MB: ${numbers}`);
  });
});
