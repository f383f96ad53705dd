// What the manifests must agree with, read from the code and the Dockerfile rather than restated:
// the queue and its worker concurrency (examples/service/app.ts), the environment variables the
// library and the example read (a scan of their source), the pool size (the library's own default),
// and the port and user of the image.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QUEUE_NAME, WORKER_CONCURRENCY } from '../../../examples/service/app.js';
import { resolveConfig } from '../../../src/config.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUBERNETES_DIR = join(REPO_ROOT, 'deploy/kubernetes');

export interface AppContract {
  queue: string;
  workerConcurrency: number;
  /** Environment variables some code reads. */
  envRead: ReadonlySet<string>;
  /** Must come from a Secret. */
  sensitiveEnv: readonly string[];
  /** Port the service listens on in the image (EXPOSE), which PORT must name. */
  port: number;
  /** Numeric user of the image (USER). */
  imageUser: number;
  poolSize: number;
  /** Connections a replica holds beside its pool: the LISTEN connection and the group-commit writer. */
  connectionsBesidePool: number;
  /** Connections of one `ballast migrate` run (its pool). */
  migrateConnections: number;
  livenessPath: string;
  readinessPath: string;
  /** Secrets an operator creates (docs/kubernetes.md), with the keys the manifests read. */
  externalSecrets: Readonly<Record<string, readonly string[]>>;
}

export function loadAppContract(): AppContract {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  return {
    queue: QUEUE_NAME,
    workerConcurrency: WORKER_CONCURRENCY,
    envRead: scanEnvNames([join(REPO_ROOT, 'src'), join(REPO_ROOT, 'examples/service')]),
    sensitiveEnv: ['BALLAST_DATABASE_URL', 'BALLAST_ADMIN_TOKEN'],
    port: Number(instruction(dockerfile, 'EXPOSE')),
    imageUser: Number(instruction(dockerfile, 'USER').split(':')[0]),
    poolSize: resolveConfig({ name: 'contract' }, {}).poolSize,
    connectionsBesidePool: 2,
    migrateConnections: 2, // src/cli/connect.ts opens the CLI's pool with poolSize 2
    livenessPath: '/healthz',
    readinessPath: '/readyz',
    externalSecrets: {
      'ballast-app': ['database-url', 'admin-token'],
      'ballast-postgres': ['username', 'password'],
    },
  };
}

/** The last value of a Dockerfile instruction (e.g. the runtime stage's USER). */
export function instruction(dockerfile: string, name: string): string {
  const values = dockerfile.split('\n').filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
  const last = values.at(-1);
  if (last === undefined) throw new Error(`the Dockerfile has no ${name}`);
  return last;
}

/** Names in `process.env.X`, `env.X`, `env('X')`, `env['X']` and `…FromEnv('X'` in .ts files under `dirs`. */
export function scanEnvNames(dirs: string[]): Set<string> {
  const pattern = /(?:\benv\.([A-Z][A-Z0-9_]+)|\benv\(\s*'([A-Z][A-Z0-9_]+)'|\benv\[\s*'([A-Z][A-Z0-9_]+)'|FromEnv\(\s*'([A-Z][A-Z0-9_]+)')/g;
  const names = new Set<string>();
  for (const file of dirs.flatMap(typeScriptFiles)) {
    for (const match of readFileSync(file, 'utf8').matchAll(pattern)) {
      const name = match.slice(1).find((group) => group !== undefined);
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}
