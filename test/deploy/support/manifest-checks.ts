// The cross-checks of rendered manifests, by name, against each other and against the app
// (AppContract): scaling-checks.ts and workload-checks.ts hold them. test/deploy/manifests.test.ts runs
// them on every kustomization and proves each one can fail with a seeded mistake.
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { AppContract } from './app-contract.js';
import { appContainer, deployments, httpProbe, nameOf, scaledObjects, type Check, type Manifests } from './manifest-model.js';
import { connectionBudget, metricsApiTriggers, postgresqlTriggers, replicaBounds, scaledObjectTargets, triggerMetadataStrings } from './scaling-checks.js';
import { schemaProblems } from './schemas.js';
import {
  databaseUrlConsistency, environment, executorIds, gracePeriods, migrationJob, postgresPersistence, probes, resources, secretReferences,
  security, selectors, versions,
} from './workload-checks.js';

export type { Check } from './manifest-model.js';

const schemas: Check = (m) => schemaProblems(m.resources);

const namespaces: Check = (m) => {
  const found = new Set(m.resources.map((resource) => resource.metadata.namespace));
  if (found.has(undefined)) {
    const missing = m.resources.filter((resource) => resource.metadata.namespace === undefined).map((r) => `${r.kind}/${r.metadata.name}`);
    return [`${missing.join(', ')} ha${missing.length === 1 ? 's' : 've'} no namespace: set \`namespace:\` in the kustomization that adds ${missing.length === 1 ? 'it' : 'them'}`];
  }
  return found.size === 1 ? [] : [`resources are spread over namespaces ${[...found].join(', ')}`];
};

export const CHECKS: Readonly<Record<string, Check>> = {
  schemas,
  namespaces,
  'scaledobject-targets': scaledObjectTargets,
  'trigger-metadata-strings': triggerMetadataStrings,
  'metrics-api-triggers': metricsApiTriggers,
  'replica-bounds': replicaBounds,
  'postgresql-triggers': postgresqlTriggers,
  selectors,
  probes,
  'executor-ids': executorIds,
  environment,
  'secret-references': secretReferences,
  'database-url-consistency': databaseUrlConsistency,
  'grace-periods': gracePeriods,
  resources,
  security,
  'migration-job': migrationJob,
  'connection-budget': connectionBudget,
  'postgres-persistence': postgresPersistence,
  versions,
};

/** Every check's problems, prefixed with its name. */
export function allProblems(m: Manifests, app: AppContract): string[] {
  return Object.entries(CHECKS).flatMap(([name, check]) => check(m, app).map((problem) => `${m.name} [${name}] ${problem}`));
}

/** The HTTP paths (with query) the manifests expect the app to answer: probes and metrics polls. */
export function expectedEndpoints(m: Manifests): { what: string; path: string; expect: 'ok' | 'metric' }[] {
  const endpoints: { what: string; path: string; expect: 'ok' | 'metric' }[] = [];
  for (const deployment of deployments(m)) {
    const container = appContainer(deployment);
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
      const probe = httpProbe(container?.[kind]);
      if (probe) endpoints.push({ what: `Deployment ${nameOf(deployment)} ${kind}`, path: probe.path, expect: 'ok' });
    }
  }
  for (const scaledObject of scaledObjects(m) as IScaledObject[]) {
    for (const trigger of scaledObject.spec.triggers.filter((t) => t.type === 'metrics-api')) {
      const url = new URL(trigger.metadata.url ?? 'http://invalid/');
      endpoints.push({ what: `ScaledObject ${nameOf(scaledObject)} metrics-api url`, path: `${url.pathname}${url.search}`, expect: 'metric' });
    }
  }
  return endpoints;
}

/**
 * Asks a running example service every path the manifests expect it to answer: probes must answer
 * 200 (the service is ready), metrics polls 200 with a number at `queue_length`.
 */
export async function endpointProblems(m: Manifests, baseUrl: string): Promise<string[]> {
  const problems: string[] = [];
  for (const endpoint of expectedEndpoints(m)) {
    const response = await fetch(new URL(endpoint.path, baseUrl));
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (response.status !== 200) problems.push(`${m.name}: ${endpoint.what} GET ${endpoint.path} answered ${response.status}`);
    else if (endpoint.expect === 'metric' && typeof body?.queue_length !== 'number') {
      problems.push(`${m.name}: ${endpoint.what} GET ${endpoint.path} has no numeric queue_length: ${JSON.stringify(body)}`);
    }
  }
  return problems;
}
