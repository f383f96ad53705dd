// The Dockerfile, checked without a Docker engine: its shape (multi-stage, production dependencies,
// non-root numeric user, tini, no HEALTHCHECK), that what it copies exists and is not ignored, and
// that its compile step yields a program that runs without tsx: the compiled example service starts,
// answers its probes, runs a task and drains on SIGTERM; the compiled CLI migrates a database.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { KUBERNETES_DIR, REPO_ROOT } from './support/app-contract.js';
import { contextCopySources, dockerignorePatterns, dockerIgnores, execForm, last, parseDockerfile, type Stage } from './support/dockerfile.js';
import { getAt } from './support/json-path.js';
import { renderKustomization, type Resource } from './support/kustomize.js';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1) as Stage;
const build = stages.find((stage) => stage.name === 'build') as Stage;

describe('Dockerfile', () => {
  test('builds in one stage and runs from another with production dependencies only', () => {
    assert.ok(stages.length >= 2 && build !== undefined, 'a `build` stage and a runtime stage');
    const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    assert.ok(runs(build).some((command) => /\bnpm ci\b/.test(command) && !command.includes('--omit=dev')), 'build: npm ci with dev dependencies (TypeScript)');
    assert.ok(runs(runtime).some((command) => /\bnpm ci\b.*--omit=dev/.test(command)), 'runtime: npm ci --omit=dev');
    assert.ok(!runtime.instructions.some((i) => i.keyword === 'COPY' && /\bnode_modules\b/.test(i.args)), 'runtime copies no node_modules from the build');
  });

  test('runs as a numeric non-root user, under tini, with no HEALTHCHECK, on port 8000', () => {
    const user = last(runtime, 'USER')?.args ?? '';
    assert.match(user, /^[1-9]\d*(:\d+)?$/, 'USER is numeric (Kubernetes can then check runAsNonRoot) and not 0');
    assert.deepEqual(execForm(last(runtime, 'ENTRYPOINT'))?.slice(0, 2), ['/usr/bin/tini', '--']);
    assert.ok(runtime.instructions.some((i) => i.keyword === 'RUN' && /apt-get install .*\btini\b/.test(i.args)), 'tini is installed');
    assert.ok(!stages.some((stage) => stage.instructions.some((i) => i.keyword === 'HEALTHCHECK')), 'no HEALTHCHECK: Kubernetes probes');
    assert.equal(last(runtime, 'EXPOSE')?.args, '8000');
    assert.deepEqual(execForm(last(runtime, 'CMD')), ['node', 'examples/service/main.js']);
  });

  test('everything it copies from the build context exists and is not excluded by .dockerignore', () => {
    const ignore = dockerignorePatterns(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
    const sources = stages.flatMap(contextCopySources);
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.ok(existsSync(join(REPO_ROOT, source)), `COPY source ${source} exists`);
      assert.ok(!dockerIgnores(ignore, source), `COPY source ${source} is not excluded by .dockerignore`);
    }
    for (const excluded of ['node_modules', 'src/node_modules', '.git', '.ballast', 'dist', 'build', 'test', 'npm-debug.log']) {
      assert.ok(dockerIgnores(ignore, excluded), `.dockerignore keeps ${excluded} out of the context`);
    }
  });

  test('the migration Job and the Deployment run commands the image has', () => {
    const resources = renderKustomization(join(KUBERNETES_DIR, 'base'));
    const job = JSON.stringify(resources.find((r) => r.kind === 'Job'));
    assert.match(job, /"args":\["ballast","migrate"\]/);
    assert.equal(last(runtime, 'WORKDIR')?.args, '/app', 'CMD and the symlink below are relative to /app');
    assert.match(dockerfile, /ln -s \/app\/src\/cli\/main\.js \/usr\/local\/bin\/ballast/, 'the image puts `ballast` on PATH');
    const deployment = resources.find((r) => r.kind === 'Deployment');
    const container = getAt(deployment as Resource, 'spec.template.spec.containers.0') as Record<string, unknown>;
    assert.ok(container.command === undefined && container.args === undefined, 'the Deployment runs the image CMD');
  });
});

describe('the compiled image contents', () => {
  let dir: string;
  let app: string;
  let db: { url: string; close(): Promise<void> };

  // Lays out what the runtime stage holds in /app: package.json, node_modules (here: the checkout's,
  // checked below for production-only imports) and the build stage's compiled tree.
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-image-'));
    app = join(dir, 'app');
    const compile = compileCommand();
    const result = spawnSync(compile[0] as string, [...compile.slice(1), '--outDir', app], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 });
    assert.equal(result.status, 0, `${compile.join(' ')} failed:\n${result.stdout}${result.stderr}`);
    cpSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(app, 'node_modules'));
    db = await testDatabase('deploy_image');
  });

  after(async () => {
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the compiled code imports production dependencies and Node built-ins only', () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const allowed = new Set([...Object.keys(manifest.dependencies), ...builtinModules]);
    const bare = /\bfrom\s+'([^'.][^']*)'|\bimport\(\s*'([^'.][^']*)'\s*\)/g;
    const imported = new Set<string>();
    for (const file of javaScriptFiles(app)) {
      for (const match of readFileSync(file, 'utf8').matchAll(bare)) {
        const specifier = (match[1] ?? match[2] ?? '').replace(/^node:/, '');
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string));
      }
    }
    assert.deepEqual([...imported].filter((name) => !allowed.has(name)), []);
  });

  test('`ballast migrate` runs from the compiled CLI (the migration Job) and finds package.json', async () => {
    const cli = join(app, 'src/cli/main.js');
    assert.match(readFileSync(cli, 'utf8').split('\n')[0] as string, /^#!\/usr\/bin\/env node/, 'the CLI keeps its shebang for the `ballast` symlink');
    const migrate = spawnSync(process.execPath, [cli, 'migrate'], { cwd: app, encoding: 'utf8', env: plainEnv({ BALLAST_DATABASE_URL: db.url }), timeout: 60_000 });
    assert.equal(migrate.status, 0, migrate.stderr);
    assert.match(migrate.stdout, /Applied \d+ migrations?/);
    const version = spawnSync(process.execPath, [cli, '--version'], { cwd: app, encoding: 'utf8', env: plainEnv({}) });
    assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  test('the image CMD starts the service without tsx: probes answer, a task runs, SIGTERM drains and exits 0', async () => {
    const cmd = execForm(last(runtime, 'CMD')) as string[];
    assert.equal(cmd[0], 'node');
    const child = spawn(process.execPath, cmd.slice(1), {
      cwd: app,
      env: plainEnv({ PORT: '0', BALLAST_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: 'image-test', DRAIN_MS: '2000' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolveExit) => child.on('close', (code) => resolveExit(code)));
    try {
      await waitFor(`the compiled service to be ready\n${output}`, () => output.includes('[service] ready'), 60_000, 50);
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1] as string;
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      const posted = (await (await fetch(`${url}/tasks`, { method: 'POST', body: '{"steps": 2, "stepMs": 10}' })).json()) as { workflowId: string };
      await waitFor('the task to succeed', async () => ((await (await fetch(`${url}/tasks/${posted.workflowId}`)).json()) as { status: string }).status === 'SUCCESS', 30_000, 50);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output);
    assert.match(output, /\[service\] stopped/);
  });
});

/** The compile command of the build stage (`npx tsc -p tsconfig.examples.json`), as argv. */
function compileCommand(): string[] {
  const run = build.instructions.find((i) => i.keyword === 'RUN' && /\btsc\b/.test(i.args));
  assert.ok(run, 'the build stage compiles with tsc');
  assert.match(run.args, /^npx tsc -p tsconfig\.examples\.json$/, 'the compile step is one plain tsc invocation (the test reruns it)');
  return run.args.split(/\s+/);
}

/** The environment of a container: no tsx loader or test-runner variables inherited from here. */
function plainEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', ...extra };
}

function javaScriptFiles(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((entry) => {
    const path = join(root, entry.name);
    if (entry.name === 'node_modules') return [];
    if (entry.isDirectory()) return javaScriptFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}
