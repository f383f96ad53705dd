// Cross-checks of autoscaling: ScaledObjects, their triggers and bounds, and the connections the
// replicas they allow would open.
import type { IContainer } from 'kubernetes-models/v1';
import { isObject } from './kustomize.js';
import {
  APP_SERVICE, appContainer, appVersion, containersOf, currentDeployment, deployments, envVar, nameOf, podLabels, postgresSettings,
  scaledObjects, scaledObjectTarget, selects, serviceSelector, services, statefulSets, triggerAuthentications, type Check, type Manifests,
} from './manifest-model.js';

/** PostgreSQL's superuser_reserved_connections default. */
const RESERVED_CONNECTIONS = 3;
const DEFAULT_MAX_CONNECTIONS = 100;

export const scaledObjectTargets: Check = (m) => {
  const problems: string[] = [];
  for (const scaledObject of scaledObjects(m)) {
    if (scaledObjectTarget(m, scaledObject) === undefined) {
      const ref = scaledObject.spec.scaleTargetRef;
      problems.push(`ScaledObject ${nameOf(scaledObject)} targets ${ref.kind ?? 'Deployment'} ${ref.name}, which is not an apps/v1 Deployment here`);
    }
  }
  for (const deployment of deployments(m)) {
    const scalers = scaledObjects(m).filter((scaledObject) => scaledObjectTarget(m, scaledObject) === deployment);
    if (scalers.length !== 1) problems.push(`Deployment ${nameOf(deployment)} has ${scalers.length} ScaledObjects; it needs exactly one`);
  }
  return problems;
};

export const triggerMetadataStrings: Check = (m) =>
  scaledObjects(m).flatMap((scaledObject) =>
    scaledObject.spec.triggers.flatMap((trigger) =>
      Object.entries(trigger.metadata as Record<string, unknown>)
        .filter(([, value]) => typeof value !== 'string')
        .map(([key, value]) => `ScaledObject ${nameOf(scaledObject)}: trigger metadata ${key} is ${JSON.stringify(value)}; KEDA takes strings only (quote it)`),
    ),
  );

export const metricsApiTriggers: Check = (m, app) => {
  const problems: string[] = [];
  for (const scaledObject of scaledObjects(m)) {
    const target = scaledObjectTarget(m, scaledObject);
    for (const trigger of scaledObject.spec.triggers.filter((t) => t.type === 'metrics-api')) {
      const where = `ScaledObject ${nameOf(scaledObject)}`;
      const metadata = trigger.metadata as Record<string, string>;
      if (metadata.valueLocation !== 'queue_length') problems.push(`${where}: valueLocation is ${metadata.valueLocation}; the endpoint answers {"queue_length": N}`);
      if (metadata.targetValue !== String(app.workerConcurrency)) {
        problems.push(`${where}: targetValue is ${metadata.targetValue}; it must equal the queue's worker concurrency, ${app.workerConcurrency}`);
      }
      if ((trigger.metricType ?? 'AverageValue') !== 'AverageValue') problems.push(`${where}: metricType must be AverageValue: replicas = queue_length / targetValue`);
      let url: URL;
      try {
        url = new URL(metadata.url ?? '');
      } catch {
        problems.push(`${where}: url ${metadata.url} is not a URL`);
        continue;
      }
      const namespace = scaledObject.metadata?.namespace;
      const [serviceName, serviceNamespace, svc, cluster, local] = url.hostname.split('.');
      if (serviceNamespace !== namespace || svc !== 'svc' || cluster !== 'cluster' || local !== 'local') {
        problems.push(`${where}: url host ${url.hostname} must be <service>.${namespace}.svc.cluster.local (KEDA's operator runs in another namespace)`);
      }
      const service = services(m).find((candidate) => nameOf(candidate) === serviceName);
      if (service === undefined) problems.push(`${where}: url names Service ${serviceName}, which is not here`);
      else if (!service.spec?.ports?.some((port) => port.port === Number(url.port || 80))) problems.push(`${where}: Service ${serviceName} has no port ${url.port || 80}`);
      if (url.pathname !== `/metrics/${app.queue}`) problems.push(`${where}: url path ${url.pathname} is not /metrics/${app.queue}`);
      const version = url.searchParams.get('version') ?? undefined;
      const targetVersion = target === undefined ? undefined : appVersion(target);
      if (deployments(m).length > 1 && version === undefined) problems.push(`${where}: with one Deployment per version, poll ?version=<its version>`);
      if (version !== undefined && version !== targetVersion) {
        problems.push(`${where}: polls version ${version}, but Deployment ${target ? nameOf(target) : '?'} runs BALLAST_APP_VERSION ${targetVersion}`);
      }
    }
  }
  return problems;
};

export const replicaBounds: Check = (m) => {
  const problems: string[] = [];
  for (const scaledObject of scaledObjects(m)) {
    const where = `ScaledObject ${nameOf(scaledObject)}`;
    const min = scaledObject.spec.minReplicaCount ?? 0;
    const max = scaledObject.spec.maxReplicaCount ?? 100;
    if (min > max) problems.push(`${where}: minReplicaCount ${min} is above maxReplicaCount ${max}`);
    const target = scaledObjectTarget(m, scaledObject);
    const pollsItsOwnPods = scaledObject.spec.triggers.some((trigger) => trigger.type === 'metrics-api' && target !== undefined &&
      services(m).some((service) => selects(serviceSelector(service), podLabels(target)) && (trigger.metadata.url ?? '').includes(`//${nameOf(service)}.`)));
    if (min < 1 && pollsItsOwnPods) problems.push(`${where}: minReplicaCount 0, but its metrics-api poll is answered by its own pods: at zero nothing answers`);
    const fallback = scaledObject.spec.fallback;
    if (scaledObject.spec.triggers.some((trigger) => trigger.type === 'metrics-api') && fallback === undefined) {
      problems.push(`${where}: no fallback; when the endpoint fails KEDA would keep the last replica count blindly`);
    }
    if (fallback !== undefined && (fallback.replicas < Math.max(min, 1) || fallback.replicas > max)) {
      problems.push(`${where}: fallback.replicas ${fallback.replicas} is outside [${Math.max(min, 1)}, ${max}]`);
    }
  }
  for (const deployment of deployments(m)) {
    if ((deployment.spec?.replicas ?? 1) < 2) problems.push(`Deployment ${nameOf(deployment)}: replicas ${deployment.spec?.replicas ?? 1}; run at least 2`);
  }
  const current = currentDeployment(m, APP_SERVICE);
  const currentScaler = current && scaledObjects(m).find((scaledObject) => scaledObjectTarget(m, scaledObject) === current);
  const servesHttp = currentScaler?.spec.triggers.some((trigger) => trigger.type === 'metrics-api');
  if (currentScaler && servesHttp && (currentScaler.spec.minReplicaCount ?? 0) < 2) {
    problems.push(`ScaledObject ${nameOf(currentScaler)} scales the Deployment that takes traffic: keep minReplicaCount at 2 or more`);
  }
  return problems;
};

/** `name = 'literal'` in a SQL text. */
function sqlEquals(query: string, column: string): string | undefined {
  return new RegExp(`\\b${column}\\s*=\\s*'([^']*)'`).exec(query)?.[1];
}

export const postgresqlTriggers: Check = (m, app) => {
  const problems: string[] = [];
  for (const scaledObject of scaledObjects(m)) {
    const target = scaledObjectTarget(m, scaledObject);
    for (const trigger of scaledObject.spec.triggers.filter((t) => t.type === 'postgresql')) {
      const where = `ScaledObject ${nameOf(scaledObject)} postgresql trigger`;
      const metadata = trigger.metadata as Record<string, string>;
      const query = metadata.query ?? '';
      if (sqlEquals(query, 'queue') !== app.queue) problems.push(`${where}: the query must count queue = '${app.queue}'`);
      const version = target === undefined ? undefined : appVersion(target);
      if (sqlEquals(query, 'app_version') !== version) problems.push(`${where}: the query must count app_version = '${version}', the version Deployment ${target ? nameOf(target) : '?'} runs`);
      if (metadata.targetQueryValue !== String(app.workerConcurrency)) problems.push(`${where}: targetQueryValue must be ${app.workerConcurrency}`);
      const authentication = triggerAuthentications(m).find((candidate) => nameOf(candidate) === trigger.authenticationRef?.name);
      const connection = authentication?.spec.secretTargetRef?.find((ref) => ref.parameter === 'connection');
      const appUrl = target && appContainer(target) && envVar(appContainer(target) as IContainer, 'BALLAST_DATABASE_URL')?.valueFrom?.secretKeyRef;
      if (connection === undefined) problems.push(`${where}: needs a TriggerAuthentication with a \`connection\` secretTargetRef`);
      else if (connection.name !== appUrl?.name || connection.key !== appUrl?.key) {
        problems.push(`${where}: reads the connection from ${connection.name}/${connection.key}, the app from ${appUrl?.name}/${appUrl?.key}`);
      }
    }
  }
  return problems;
};

function maxConnections(m: Manifests): number {
  const cluster = m.resources.find((resource) => resource.kind === 'Cluster');
  const fromCluster = cluster && isObject(cluster.spec) && isObject(cluster.spec.postgresql) && isObject(cluster.spec.postgresql.parameters)
    ? cluster.spec.postgresql.parameters.max_connections
    : undefined;
  const postgres = statefulSets(m).find((set) => nameOf(set) === 'postgres');
  const fromArgs = postgres && containersOf(postgres)[0] ? postgresSettings(containersOf(postgres)[0] as IContainer).max_connections : undefined;
  return Number(fromCluster ?? fromArgs ?? DEFAULT_MAX_CONNECTIONS);
}

export const connectionBudget: Check = (m, app) => {
  const perReplica = app.poolSize + app.connectionsBesidePool;
  const replicas = scaledObjects(m).reduce((sum, scaledObject) => sum + (scaledObject.spec.maxReplicaCount ?? 100), 0);
  const pollers = scaledObjects(m).reduce((sum, s) => sum + s.spec.triggers.filter((trigger) => trigger.type === 'postgresql').length, 0);
  const needed = replicas * perReplica + app.migrateConnections + pollers + RESERVED_CONNECTIONS;
  const available = maxConnections(m);
  return needed <= available ? [] : [
    `connections: ${replicas} replicas at most x (pool ${app.poolSize} + ${app.connectionsBesidePool}) + migrate ${app.migrateConnections} + KEDA ${pollers} + ${RESERVED_CONNECTIONS} reserved = ${needed} > max_connections ${available}`,
  ];
};
