// Offline validation of deploy/kubernetes: every kustomization renders (with the test's loader, and
// with `kubectl kustomize` where kubectl is installed, which must agree), validates against the
// Kubernetes and KEDA schemas, and passes the cross-checks of support/manifest-checks.ts. The paths the
// manifests probe and poll are asked of a running example service, and the KEDA postgresql trigger's
// query runs against a migrated schema. Every check is shown to fail on a seeded mistake (SEEDS).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Ballast } from '../../src/index.js';
import { BallastClient } from '../../src/client/index.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode, type ChildHandle } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { KUBERNETES_DIR, loadAppContract, REPO_ROOT } from './support/app-contract.js';
import { deleteAt, getAt, resource, setAt } from './support/json-path.js';
import { kubectlAvailable, kubectlKustomize } from './support/kubectl.js';
import { renderKustomization, resourceId, type Resource } from './support/kustomize.js';
import { allProblems, CHECKS, endpointProblems } from './support/manifest-checks.js';
import type { Manifests } from './support/manifest-model.js';

const KUSTOMIZATIONS = ['base', 'overlays/dev', 'overlays/cloudnativepg', 'overlays/scale-to-zero', 'overlays/versioned'] as const;
type Kustomization = (typeof KUSTOMIZATIONS)[number];

const app = loadAppContract();

function render(name: Kustomization): Manifests {
  return { name, resources: renderKustomization(join(KUBERNETES_DIR, name)) };
}

const APP_CONTAINER = 'spec.template.spec.containers.[name=app]';
const env = (name: string) => `${APP_CONTAINER}.env.[name=${name}]`;

interface Seed {
  check: keyof typeof CHECKS;
  overlay: Kustomization;
  mistake: string;
  seed(resources: Resource[]): void;
}

/** One mistake per check (several for some), each verified to be reported by that check. */
const SEEDS: Seed[] = [
  { check: 'schemas', overlay: 'base', mistake: 'containerPort written as a string',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.ports.0.containerPort`, '8000') },
  { check: 'schemas', overlay: 'base', mistake: 'KEDA targetValue as a number',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.targetValue', 2) },
  { check: 'schemas', overlay: 'overlays/cloudnativepg', mistake: 'CloudNativePG max_connections as a number',
    seed: (r) => setAt(resource(r, 'Cluster/ballast-db'), 'spec.postgresql.parameters.max_connections', 300) },
  { check: 'schemas', overlay: 'overlays/cloudnativepg', mistake: 'a misspelt CloudNativePG field',
    seed: (r) => setAt(resource(r, 'Cluster/ballast-db'), 'spec.instance', 3) },
  { check: 'namespaces', overlay: 'overlays/cloudnativepg', mistake: 'the overlay forgets its namespace',
    seed: (r) => deleteAt(resource(r, 'Cluster/ballast-db'), 'metadata.namespace') },
  { check: 'scaledobject-targets', overlay: 'base', mistake: 'ScaledObject targets a Deployment that does not exist',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.scaleTargetRef.name', 'ballast-api') },
  { check: 'trigger-metadata-strings', overlay: 'base', mistake: 'targetValue: 2 unquoted',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.targetValue', 2) },
  { check: 'metrics-api-triggers', overlay: 'base', mistake: 'targetValue is not the worker concurrency',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.targetValue', '5') },
  { check: 'metrics-api-triggers', overlay: 'base', mistake: 'the guide\'s short URL, unreachable from KEDA\'s namespace',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.url', 'http://ballast-app:8000/metrics/tasks') },
  { check: 'metrics-api-triggers', overlay: 'overlays/versioned', mistake: 'v1 scales on the v2 backlog',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app-v1'), 'spec.triggers.0.metadata.url', 'http://ballast-app.ballast.svc.cluster.local:8000/metrics/tasks?version=v2') },
  { check: 'replica-bounds', overlay: 'base', mistake: 'minReplicaCount 0 with an HTTP poll its own pods answer',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.minReplicaCount', 0) },
  { check: 'replica-bounds', overlay: 'base', mistake: 'no fallback',
    seed: (r) => deleteAt(resource(r, 'ScaledObject/ballast-app'), 'spec.fallback') },
  { check: 'replica-bounds', overlay: 'base', mistake: 'a single replica',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), 'spec.replicas', 1) },
  { check: 'postgresql-triggers', overlay: 'overlays/scale-to-zero', mistake: 'the query counts another version',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.query',
      "SELECT count(*) FROM ballast.workflows WHERE queue = 'tasks' AND app_version = 'v2' AND status IN ('ENQUEUED', 'PENDING')") },
  { check: 'postgresql-triggers', overlay: 'overlays/scale-to-zero', mistake: 'KEDA reads another Secret key than the app',
    seed: (r) => setAt(resource(r, 'TriggerAuthentication/ballast-postgres-backlog'), 'spec.secretTargetRef.0.key', 'admin-token') },
  { check: 'selectors', overlay: 'base', mistake: 'a typo in the Service selector',
    seed: (r) => setAt(resource(r, 'Service/ballast-app'), 'spec.selector', { 'app.kubernetes.io/name': 'ballast-ap' }) },
  { check: 'selectors', overlay: 'base', mistake: 'Deployment selector does not match its pods',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), 'spec.selector.matchLabels', { 'app.kubernetes.io/name': 'ballast' }) },
  { check: 'selectors', overlay: 'overlays/versioned', mistake: 'v2 Deployment selects v1 pods too',
    seed: (r) => deleteAt(resource(r, 'Deployment/ballast-app-v2'), 'spec.selector.matchLabels.app\\.kubernetes\\.io/version') },
  { check: 'selectors', overlay: 'overlays/versioned', mistake: 'the Service routes to both versions',
    seed: (r) => deleteAt(resource(r, 'Service/ballast-app'), 'spec.selector.app\\.kubernetes\\.io/version') },
  { check: 'probes', overlay: 'base', mistake: 'readiness asks /ready',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.readinessProbe.httpGet.path`, '/ready') },
  { check: 'probes', overlay: 'base', mistake: 'liveness on a port the container does not have',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.livenessProbe.httpGet.port`, 3001) },
  { check: 'probes', overlay: 'base', mistake: 'no startup probe',
    seed: (r) => deleteAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.startupProbe`) },
  { check: 'executor-ids', overlay: 'base', mistake: 'one executor ID for every pod',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), env('BALLAST_EXECUTOR_ID'), { name: 'BALLAST_EXECUTOR_ID', value: 'replica' }) },
  { check: 'environment', overlay: 'base', mistake: 'a misspelt variable',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${env('BALLAST_EXECUTOR_LEASE_MS')}.name`, 'BALLAST_EXECUTOR_LEASE') },
  { check: 'environment', overlay: 'base', mistake: 'the guide\'s database URL with its password in plain env',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), env('BALLAST_DATABASE_URL'),
      { name: 'BALLAST_DATABASE_URL', value: 'postgres://postgres:dbos@postgres:5432/ballast' }) },
  { check: 'secret-references', overlay: 'base', mistake: 'a Secret key nobody creates',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${env('BALLAST_DATABASE_URL')}.valueFrom.secretKeyRef.key`, 'url') },
  { check: 'secret-references', overlay: 'overlays/cloudnativepg', mistake: 'a key the operator\'s Secret does not have',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${env('BALLAST_DATABASE_URL')}.valueFrom.secretKeyRef.key`, 'url') },
  { check: 'secret-references', overlay: 'overlays/dev', mistake: 'the dev Secret lacks the admin token',
    seed: (r) => deleteAt(resource(r, 'Secret/ballast-app'), 'stringData.admin-token') },
  { check: 'database-url-consistency', overlay: 'overlays/dev', mistake: 'the app\'s URL has another password than Postgres',
    seed: (r) => setAt(resource(r, 'Secret/ballast-postgres'), 'stringData.password', 'changed') },
  { check: 'grace-periods', overlay: 'base', mistake: 'a drain longer than the grace period',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${env('DRAIN_MS')}.value`, '60000') },
  { check: 'grace-periods', overlay: 'base', mistake: 'no delay before shutdown',
    seed: (r) => deleteAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.lifecycle`) },
  { check: 'resources', overlay: 'base', mistake: 'a CPU limit of half a core',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), `${APP_CONTAINER}.resources.limits.cpu`, '500m') },
  { check: 'resources', overlay: 'base', mistake: 'no memory limit on Postgres',
    seed: (r) => deleteAt(resource(r, 'StatefulSet/postgres'), 'spec.template.spec.containers.0.resources.limits') },
  { check: 'security', overlay: 'base', mistake: 'running as root',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app'), 'spec.template.spec.securityContext.runAsUser', 0) },
  { check: 'migration-job', overlay: 'base', mistake: 'the Job migrates with an older image',
    seed: (r) => setAt(resource(r, 'Job/ballast-migrate'), 'spec.template.spec.containers.0.image', 'registry.example.com/ballast-example:0.9.0') },
  { check: 'migration-job', overlay: 'overlays/versioned', mistake: 'the old version migrates',
    seed: (r) => setAt(resource(r, 'Job/ballast-migrate'), 'spec.template.spec.containers.0.image', 'registry.example.com/ballast-example:1.0.0') },
  { check: 'connection-budget', overlay: 'base', mistake: 'more replicas than Postgres has connections for',
    seed: (r) => setAt(resource(r, 'ScaledObject/ballast-app'), 'spec.maxReplicaCount', 40) },
  { check: 'postgres-persistence', overlay: 'base', mistake: 'the guide\'s emptyDir for the data',
    seed: (r) => {
      const postgres = resource(r, 'StatefulSet/postgres');
      setAt(postgres, 'spec.template.spec.volumes', [{ name: 'storage', emptyDir: {} }]);
      setAt(postgres, 'spec.template.spec.containers.0.volumeMounts.0.name', 'storage');
    } },
  { check: 'versions', overlay: 'overlays/versioned', mistake: 'both Deployments run version v1',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app-v2'), `${env('BALLAST_APP_VERSION')}.value`, 'v1') },
  { check: 'versions', overlay: 'overlays/versioned', mistake: 'the versions\' manifests drift apart',
    seed: (r) => setAt(resource(r, 'Deployment/ballast-app-v2'), `${env('DRAIN_MS')}.value`, '10000') },
];

describe('deploy/kubernetes manifests', () => {
  for (const name of KUSTOMIZATIONS) {
    test(`${name} renders, matches the schemas and passes every cross-check`, () => {
      assert.deepEqual(allProblems(render(name), app), []);
    });
  }

  test('every manifest file is part of some kustomization (so every one is validated)', () => {
    const files = yamlFiles(KUBERNETES_DIR).filter((file) => !file.endsWith('/kustomization.yaml'));
    const used = new Set<string>();
    for (const name of KUSTOMIZATIONS) {
      const dir = join(KUBERNETES_DIR, name);
      const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
      for (const match of text.matchAll(/^\s*-\s*(?:path:\s*)?([\w./-]+\.yaml)\s*$/gm)) used.add(resolve(dir, match[1] as string));
    }
    assert.deepEqual(files.filter((file) => !used.has(file)).map((file) => relative(REPO_ROOT, file)), []);
  });

  test('the test loader renders exactly what `kubectl kustomize` renders', { skip: !kubectlAvailable() && 'kubectl is not installed' }, () => {
    for (const name of KUSTOMIZATIONS) {
      const mine = new Map(render(name).resources.map((r) => [resourceId(r), r]));
      const theirs = new Map(kubectlKustomize(join(KUBERNETES_DIR, name)).map((r) => [resourceId(r), r]));
      assert.deepEqual([...mine.keys()].sort(), [...theirs.keys()].sort(), `${name}: the same resources`);
      for (const [id, rendered] of mine) assert.ok(isDeepStrictEqual(rendered, theirs.get(id)), `${name}: ${id} renders the same`);
    }
  });

  describe('seeded mistakes are caught', () => {
    for (const seed of SEEDS) {
      test(`${seed.check} catches: ${seed.mistake} (${seed.overlay})`, () => {
        const manifests = render(seed.overlay);
        assert.deepEqual(CHECKS[seed.check]?.(manifests, app), [], 'the check passes before the seed');
        seed.seed(manifests.resources);
        const problems = CHECKS[seed.check]?.(manifests, app) ?? [];
        assert.ok(problems.length > 0, `${seed.check} missed: ${seed.mistake}`);
      });
    }
  });
});

describe('the manifests against the running example service', () => {
  let db: { url: string; close(): Promise<void> };
  let service: ChildHandle;
  let baseUrl: string;

  before(async () => {
    db = await testDatabase('deploy_endpoints');
    service = spawnNode(join(REPO_ROOT, 'examples/service/main.ts'), {
      env: { PORT: '0', BALLAST_DATABASE_URL: db.url, BALLAST_EXECUTOR_ID: 'manifests-test', BALLAST_APP_VERSION: 'v1', DRAIN_MS: '0' },
    });
    const line = await service.waitForLine((l) => l.includes('listening on http://'), 60_000);
    baseUrl = /listening on (http:\/\/\S+)/.exec(line)?.[1] as string;
    await service.waitForLine((l) => l.startsWith('[service] ready'), 60_000);
  });

  after(async () => {
    service?.kill('SIGTERM');
    await service?.exited;
    await db?.close();
  });

  test('every probe path and metrics poll of every kustomization is answered', async () => {
    for (const name of KUSTOMIZATIONS) assert.deepEqual(await endpointProblems(render(name), baseUrl), []);
  });

  test('seeded: a probe path or a poll the service does not answer is caught', async () => {
    const probe = render('base');
    setAt(resource(probe.resources, 'Deployment/ballast-app'), `${APP_CONTAINER}.readinessProbe.httpGet.path`, '/ready');
    assert.match((await endpointProblems(probe, baseUrl)).join('\n'), /readinessProbe GET \/ready answered 404/);
    const poll = render('base');
    setAt(resource(poll.resources, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.url', 'http://ballast-app.ballast.svc.cluster.local:8000/metrics/task');
    assert.match((await endpointProblems(poll, baseUrl)).join('\n'), /GET \/metrics\/task answered 404/);
  });
});

describe("the KEDA postgresql trigger's query on the real schema", () => {
  let db: { url: string; close(): Promise<void> };
  let ballast: Ballast;
  let client: BallastClient;
  let release: () => void = () => undefined;

  // On a fresh schema, the `tasks` queue holds for v1: 3 finished, 2 running (held), 3 waiting and
  // 1 delayed, plus 2 on another queue; and for v2, 3 waiting that no v2 executor claims.
  before(async () => {
    db = await testDatabase('deploy_query');
    const held = new Promise<void>((resolveHeld) => (release = resolveHeld));
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    ballast = new Ballast({ name: 'ballast-example', databaseUrl: db.url, appVersion: 'v1', executorId: 'query-test', logger: quiet });
    const tasks = ballast.queue('tasks', { workerConcurrency: 2 });
    const other = ballast.queue('other', { workerConcurrency: 1 });
    const task = ballast.workflow('task', async (_ctx, input: { hold: boolean }) => {
      if (input.hold) await held;
      return 'done';
    });
    await ballast.launch();
    const finished = await Promise.all([1, 2, 3].map(() => task.enqueue({ hold: false }, { queue: tasks })));
    await Promise.all(finished.map((handle) => handle.result()));
    for (let i = 0; i < 5; i++) await task.enqueue({ hold: true }, { queue: tasks });
    await task.enqueue({ hold: true }, { queue: tasks, delay: '1h' });
    for (let i = 0; i < 2; i++) await task.enqueue({ hold: true }, { queue: other });
    client = new BallastClient({ appName: 'ballast-example', databaseUrl: db.url, appVersion: 'v2' });
    for (let i = 0; i < 3; i++) await client.enqueue('task', { hold: true }, { queue: 'tasks' });
    await waitFor('two v1 tasks running', async () => (await ballast.queues.metrics('tasks', { version: 'v1' })).pending === 2);
  });

  after(async () => {
    release();
    await client?.close();
    await ballast?.shutdown({ drainMs: 0 });
    await db?.close();
  });

  async function count(query: string): Promise<number> {
    const connection = new pg.Client({ connectionString: db.url });
    await connection.connect();
    try {
      return Number((await connection.query<{ count: string }>(query)).rows[0]?.count);
    } finally {
      await connection.end();
    }
  }

  const triggerQuery = () => getAt(resource(render('overlays/scale-to-zero').resources, 'ScaledObject/ballast-app'), 'spec.triggers.0.metadata.query') as string;

  test('counts what /metrics/tasks reports, for the version the Deployment runs', async () => {
    const query = triggerQuery();
    assert.equal((await ballast.queues.metrics('tasks', { version: 'v1' })).queueLength, 5, 'v1: 2 PENDING + 3 ENQUEUED');
    assert.equal((await ballast.queues.metrics('tasks', { version: 'v2' })).queueLength, 3, 'v2: 3 ENQUEUED');
    assert.equal(await count(query), 5);
    assert.equal(await count(query.replace("'v1'", "'v2'")), 3);
  });

  test('seeded: a query that counts ENQUEUED only, or every version, is caught by the same comparison', async () => {
    const query = triggerQuery();
    assert.notEqual(await count(query.replace("status IN ('ENQUEUED', 'PENDING')", "status = 'ENQUEUED'")), 5);
    assert.notEqual(await count(query.replace("app_version = 'v1' AND ", '')), 5);
  });
});

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? yamlFiles(path) : entry.name.endsWith('.yaml') ? [path] : [];
  });
}
