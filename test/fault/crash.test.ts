// Acceptance: a real child process is SIGKILLed in the middle of 50 workflows of 5 steps whose
// steps append to a file; after a restart with the same executor ID every workflow finishes SUCCESS
// exactly once, no step that had committed its checkpoint runs again, and the results equal an
// uninterrupted run.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { deserialize } from '../../src/codec.js';
import { waitForSessionsToEnd } from '../support/sessions.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import {
  expectedResult,
  STEP_COUNT,
  stepName,
  stepValue,
  WORKFLOW_COUNT,
  workflowId,
  type FiveStepsResult,
} from './workers/five-steps.js';

const WORKER = new URL('./workers/crash-worker.ts', import.meta.url).pathname;
const APP_NAME = 'ballast:crash-app'; // application_name of the worker's connections (and `:listen`)
const KILL_AFTER = 150; // of 250 step lines: some workflows finished, others mid-way

interface Database {
  url: string;
  close(): Promise<void>;
}

let dir: string;
let crashDb: Database;
let referenceDb: Database;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ballast-crash-'));
  [crashDb, referenceDb] = await Promise.all([testDatabase('crash'), testDatabase('crash_ref')]);
});

after(async () => {
  await Promise.all([crashDb?.close(), referenceDb?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function worker(mode: 'start' | 'recover' | 'all', databaseUrl: string, stepsFile: string): ChildHandle {
  return spawnNode(WORKER, {
    args: [mode],
    env: { CRASH_DATABASE_URL: databaseUrl, CRASH_STEPS_FILE: stepsFile, CRASH_KILL_AFTER: String(KILL_AFTER) },
  });
}

async function resultsOf(child: ChildHandle, what: string): Promise<FiveStepsResult[]> {
  const line = await child.waitForLine((l) => l.startsWith('results '), 60_000);
  const exit = await child.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `${what} exits cleanly\n${child.stderr()}`);
  assert.doesNotMatch(child.stderr(), /\[(error|fatal)\]/, `${what} logs no errors`);
  return JSON.parse(line.slice('results '.length)) as FiveStepsResult[];
}

/** `<workflowId> <stepIndex>` → how many times the step ran. */
function stepRuns(file: string): Map<string, number> {
  const runs = new Map<string, number>();
  if (!existsSync(file)) return runs;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    assert.match(line, /^wf-\d+ \d$/, `a well-formed step line: ${JSON.stringify(line)}`);
    runs.set(line, (runs.get(line) ?? 0) + 1);
  }
  return runs;
}

const key = (id: string, idx: number) => `${id} ${idx}`;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'crash-test' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

interface WorkflowRow {
  id: string;
  status: string;
  attempts: number;
  output: string | null;
  completed_at: string | null;
}

interface StepRow {
  workflow_id: string;
  idx: number;
  name: string;
  output: string | null;
  error: string | null;
}

async function snapshot(url: string): Promise<{ workflows: Map<string, WorkflowRow>; steps: StepRow[] }> {
  return withClient(url, async (client) => {
    const workflows = await client.query<WorkflowRow>('SELECT id, status, attempts, output, completed_at FROM ballast.workflows');
    const steps = await client.query<StepRow>('SELECT workflow_id, idx, name, output, error FROM ballast.steps ORDER BY workflow_id, idx');
    return { workflows: new Map(workflows.rows.map((row) => [row.id, row])), steps: steps.rows };
  });
}

const expected = Array.from({ length: WORKFLOW_COUNT }, (_, n) => expectedResult(n));

test('an uninterrupted run of the worker gives the expected results, each step once', async () => {
  const file = join(dir, 'reference.log');
  const results = await resultsOf(worker('all', referenceDb.url, file), 'the uninterrupted run');
  assert.deepEqual(results, expected);
  const runs = stepRuns(file);
  assert.equal(runs.size, WORKFLOW_COUNT * STEP_COUNT);
  for (const [line, count] of runs) assert.equal(count, 1, `step ${line} ran once`);
});

test('SIGKILL mid-flight, then a restart with the same executor ID: every workflow completes exactly once', async (t) => {
  const file = join(dir, 'crash.log');

  // 1. Run until KILL_AFTER step lines exist, then kill -9.
  const first = worker('start', crashDb.url, file);
  await first.waitForLine((line) => line.startsWith("progress "), 60_000);
  first.kill('SIGKILL');
  assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
  await waitForSessionsToEnd(crashDb.url, APP_NAME);

  // 2. What the crash left: committed checkpoints, finished workflows, step lines.
  const atKill = await snapshot(crashDb.url);
  const runsAtKill = stepRuns(file);
  const committedAtKill = new Set(atKill.steps.map((step) => key(step.workflow_id, step.idx)));
  const finishedAtKill = [...atKill.workflows.values()].filter((w) => w.status === 'SUCCESS');
  const pendingAtKill = [...atKill.workflows.values()].filter((w) => w.status === 'PENDING');
  const context = `at kill: ${finishedAtKill.length} SUCCESS, ${pendingAtKill.length} PENDING, ` +
    `${committedAtKill.size} checkpoints, ${[...runsAtKill.values()].reduce((a, b) => a + b, 0)} step lines`;

  t.diagnostic(context);
  assert.equal(atKill.workflows.size, WORKFLOW_COUNT, `all workflows were started before the kill (${context})`);
  assert.equal(finishedAtKill.length + pendingAtKill.length, WORKFLOW_COUNT, context);
  assert.ok(finishedAtKill.length > 0, `some workflows had finished before the kill (${context})`);
  assert.ok(pendingAtKill.length > 0, `the kill landed while workflows were running (${context})`);
  assert.ok(
    pendingAtKill.some((w) => atKill.steps.some((step) => step.workflow_id === w.id)),
    `some PENDING workflow had committed checkpoints (${context})`,
  );
  // A checkpoint is only written after its step ran: the line must be in the file, once.
  for (const step of committedAtKill) assert.equal(runsAtKill.get(step), 1, `committed step ${step} ran once before the kill`);
  for (const [line, count] of runsAtKill) assert.equal(count, 1, `step ${line} ran once before the kill`);

  // 3. Restart under the same executor ID: recovery resumes the PENDING workflows.
  const results = await resultsOf(worker('recover', crashDb.url, file), 'the recovering run');
  assert.deepEqual(results, expected, 'results equal the expected ones');

  // 4. The database agrees: every workflow SUCCESS once, with its five checkpoints.
  const final = await snapshot(crashDb.url);
  assert.equal(final.workflows.size, WORKFLOW_COUNT);
  for (let n = 0; n < WORKFLOW_COUNT; n++) {
    const id = workflowId(n);
    const row = final.workflows.get(id);
    assert.ok(row, `${id} exists`);
    assert.equal(row.status, 'SUCCESS', `${id} finished SUCCESS`);
    assert.deepEqual(deserialize(row.output ?? 'null'), expected[n], `${id} recorded the expected output`);
    const before = atKill.workflows.get(id);
    if (before?.status === 'SUCCESS') {
      // Finished before the crash: untouched by the recovery.
      assert.deepEqual(row, before, `${id} finished before the kill and was not run again`);
      assert.equal(row.attempts, 1);
    } else {
      assert.equal(row.attempts, 2, `${id} was recovered exactly once`);
    }

    const steps = final.steps.filter((step) => step.workflow_id === id);
    assert.deepEqual(steps.map((step) => [step.idx, step.name, step.error]), Array.from({ length: STEP_COUNT }, (_, i) => [i, stepName(i), null]));
    let previous = n;
    for (const step of steps) {
      previous = stepValue(n, step.idx, previous);
      assert.equal(deserialize(step.output ?? 'null'), previous, `${id} step ${step.idx} output`);
    }
  }
  for (const step of atKill.steps) {
    const now = final.steps.find((s) => s.workflow_id === step.workflow_id && s.idx === step.idx);
    assert.deepEqual(now, step, `checkpoint ${key(step.workflow_id, step.idx)} is unchanged`);
  }

  // 5. The file: a committed step never ran again; every other step ran exactly once more.
  const runsFinal = stepRuns(file);
  assert.equal(runsFinal.size, WORKFLOW_COUNT * STEP_COUNT, 'every step ran');
  for (let n = 0; n < WORKFLOW_COUNT; n++) {
    for (let i = 0; i < STEP_COUNT; i++) {
      const step = key(workflowId(n), i);
      const before = runsAtKill.get(step) ?? 0;
      const now = runsFinal.get(step) ?? 0;
      if (committedAtKill.has(step)) {
        assert.equal(now, before, `step ${step} had committed its checkpoint and did not run again`);
      } else {
        assert.equal(now, before + 1, `step ${step} without a checkpoint ran once in the recovery`);
      }
      assert.ok(now >= 1 && now <= 2, `step ${step} ran once or twice (${now})`);
    }
  }
});
