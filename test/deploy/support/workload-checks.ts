// Cross-checks of the workloads: selectors, probes, environment and Secrets, shutdown timing,
// resources and security, the migration Job, Postgres' volume, and one Deployment per version.
import { isDeepStrictEqual } from 'node:util';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IContainer } from 'kubernetes-models/v1';
import { clone, type Json, type JsonObject } from './kustomize.js';
import {
  APP_SERVICE, appContainer, appVersion, containersOf, currentDeployment, deployments, disruptionBudgets, envValue, envVar, httpProbe, jobs,
  millicores, nameOf, podLabels, preStopSeconds, resolvePort, secrets, selects, serviceSelector, services, statefulSets, template,
  triggerAuthentications, workloadsSelectedBy, type Check,
} from './manifest-model.js';
import { CNPG_APP_SECRET_KEYS } from './schemas.js';

/** Margin above preStop + shutdown delay + drain: the service waits up to 2 s for open requests and flushes. */
export const GRACE_MARGIN_SECONDS = 5;

export const selectors: Check = (m) => {
  const problems: string[] = [];
  for (const workload of [...deployments(m), ...statefulSets(m)]) {
    if (!selects(workload.spec?.selector.matchLabels as Record<string, string> | undefined, podLabels(workload))) {
      problems.push(`${workload.kind} ${nameOf(workload)}: spec.selector does not match its pod template's labels`);
    }
  }
  for (const service of services(m)) {
    if (workloadsSelectedBy(m, serviceSelector(service)).length === 0) problems.push(`Service ${nameOf(service)} selects no pods`);
  }
  for (const budget of disruptionBudgets(m)) {
    const selected = workloadsSelectedBy(m, budget.spec?.selector?.matchLabels as Record<string, string> | undefined);
    if (selected.length !== 1) problems.push(`PodDisruptionBudget ${nameOf(budget)} selects the pods of ${selected.length} workloads; it should cover exactly one`);
  }
  for (const deployment of deployments(m)) {
    for (const other of deployments(m)) {
      if (other !== deployment && selects(deployment.spec?.selector.matchLabels as Record<string, string>, podLabels(other))) {
        problems.push(`Deployment ${nameOf(deployment)}'s selector also matches the pods of ${nameOf(other)}: their ReplicaSets would fight`);
      }
    }
    if (!disruptionBudgets(m).some((budget) => selects(budget.spec?.selector?.matchLabels as Record<string, string>, podLabels(deployment)))) {
      problems.push(`Deployment ${nameOf(deployment)} has no PodDisruptionBudget`);
    }
  }
  if (currentDeployment(m, APP_SERVICE) === undefined) problems.push(`Service ${APP_SERVICE} must route to exactly one Deployment (the current version)`);
  return problems;
};

export const probes: Check = (m, app) => {
  const problems: string[] = [];
  for (const deployment of deployments(m)) {
    const container = appContainer(deployment);
    const where = `Deployment ${nameOf(deployment)}`;
    if (container === undefined) {
      problems.push(`${where}: no container`);
      continue;
    }
    const port = Number(envValue(container, 'PORT') ?? 8000);
    if (port !== app.port) problems.push(`${where}: PORT is ${port}, the image EXPOSEs ${app.port}`);
    if (resolvePort(container, port) === undefined) problems.push(`${where}: no containerPort ${port}`);
    const expected = { startupProbe: app.livenessPath, readinessProbe: app.readinessPath, livenessProbe: app.livenessPath } as const;
    for (const [kind, path] of Object.entries(expected) as [keyof typeof expected, string][]) {
      const probe = httpProbe(container[kind]);
      if (probe === undefined) {
        problems.push(`${where}: no HTTP ${kind}`);
        continue;
      }
      if (probe.path !== path) problems.push(`${where}: ${kind} asks ${probe.path}; it should ask ${path}`);
      if (resolvePort(container, probe.port) !== port) problems.push(`${where}: ${kind} port ${probe.port} is not the service's port ${port}`);
    }
  }
  return problems;
};

export const executorIds: Check = (m) =>
  deployments(m).flatMap((deployment) => {
    const variable = appContainer(deployment) && envVar(appContainer(deployment) as IContainer, 'BALLAST_EXECUTOR_ID');
    return variable?.valueFrom?.fieldRef?.fieldPath === 'metadata.name'
      ? []
      : [`Deployment ${nameOf(deployment)}: BALLAST_EXECUTOR_ID must come from the pod name (fieldRef metadata.name), one per pod`];
  });

export const environment: Check = (m, app) => {
  const problems: string[] = [];
  for (const workload of [...deployments(m), ...jobs(m)]) {
    for (const container of containersOf(workload)) {
      for (const variable of container.env ?? []) {
        if (!app.envRead.has(variable.name)) problems.push(`${workload.kind} ${nameOf(workload)}: ${variable.name} is read by nothing in src/ or examples/service/`);
        if (app.sensitiveEnv.includes(variable.name) && variable.valueFrom?.secretKeyRef === undefined) {
          problems.push(`${workload.kind} ${nameOf(workload)}: ${variable.name} must come from a Secret (secretKeyRef), not a plain value`);
        }
        if (variable.value !== undefined && /:\/\/[^/@\s]+:[^/@\s]+@/.test(variable.value)) {
          problems.push(`${workload.kind} ${nameOf(workload)}: ${variable.name} holds a URL with a password in plain text`);
        }
      }
    }
  }
  return problems;
};

export const secretReferences: Check = (m, app) => {
  const problems: string[] = [];
  const clusters = m.resources.filter((resource) => resource.kind === 'Cluster').map((cluster) => `${cluster.metadata.name}-app`);
  for (const workload of [...deployments(m), ...jobs(m), ...statefulSets(m)]) {
    for (const container of containersOf(workload)) {
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref === undefined) continue;
        const where = `${workload.kind} ${nameOf(workload)} ${variable.name}`;
        const secret = secrets(m).find((candidate) => nameOf(candidate) === ref.name);
        const keys = secret !== undefined
          ? [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]
          : clusters.includes(ref.name ?? '') ? CNPG_APP_SECRET_KEYS : app.externalSecrets[ref.name ?? ''];
        if (keys === undefined) problems.push(`${where}: Secret ${ref.name} is neither here, nor generated by an operator, nor one docs/kubernetes.md asks for`);
        else if (!keys.includes(ref.key)) problems.push(`${where}: Secret ${ref.name} has no key ${ref.key} (it has ${keys.join(', ')})`);
      }
    }
  }
  for (const authentication of triggerAuthentications(m)) {
    for (const ref of authentication.spec.secretTargetRef ?? []) {
      const keys = app.externalSecrets[ref.name] ?? secrets(m).filter((s) => nameOf(s) === ref.name).flatMap((s) => Object.keys({ ...s.data, ...s.stringData }));
      if (!keys.includes(ref.key)) problems.push(`TriggerAuthentication ${nameOf(authentication)}: Secret ${ref.name} has no key ${ref.key}`);
    }
  }
  for (const secret of secrets(m)) {
    const expected = app.externalSecrets[nameOf(secret)];
    const keys = Object.keys({ ...secret.data, ...secret.stringData });
    if (expected !== undefined && !isDeepStrictEqual([...keys].sort(), [...expected].sort())) {
      problems.push(`Secret ${nameOf(secret)} has keys ${keys.join(', ')}; docs/kubernetes.md documents ${expected.join(', ')}`);
    }
  }
  return problems;
};

/** With both Secrets rendered (overlays/dev), the app's URL must log in to the Postgres they create. */
export const databaseUrlConsistency: Check = (m) => {
  const postgres = statefulSets(m).find((set) => nameOf(set) === 'postgres');
  const container = postgres && containersOf(postgres)[0];
  const appSecret = secrets(m).find((secret) => nameOf(secret) === 'ballast-app');
  const dbSecret = secrets(m).find((secret) => nameOf(secret) === 'ballast-postgres');
  const urlText = appSecret?.stringData?.['database-url'];
  if (container === undefined || urlText === undefined || dbSecret?.stringData === undefined) return [];
  const url = new URL(urlText);
  const problems: string[] = [];
  if (decodeURIComponent(url.username) !== dbSecret.stringData.username || decodeURIComponent(url.password) !== dbSecret.stringData.password) {
    problems.push('Secret ballast-app database-url does not carry the username and password of Secret ballast-postgres');
  }
  if (url.pathname.slice(1) !== envValue(container, 'POSTGRES_DB')) problems.push(`database-url names database ${url.pathname.slice(1)}, Postgres creates ${envValue(container, 'POSTGRES_DB')}`);
  const service = services(m).find((candidate) => nameOf(candidate) === url.hostname.split('.')[0]);
  if (service === undefined || !selects(serviceSelector(service), podLabels(postgres as never))) problems.push(`database-url host ${url.hostname} is not a Service of the Postgres pods`);
  else if (!service.spec?.ports?.some((port) => port.port === Number(url.port || 5432))) problems.push(`database-url port ${url.port} is not a port of Service ${nameOf(service)}`);
  return problems;
};

export const gracePeriods: Check = (m) =>
  deployments(m).flatMap((deployment) => {
    const container = appContainer(deployment);
    if (container === undefined) return [];
    const preStop = preStopSeconds(container);
    if (preStop === undefined) return [`Deployment ${nameOf(deployment)}: preStop is not a plain sleep; its length cannot be checked`];
    const shutdownDelay = Number(envValue(container, 'SHUTDOWN_DELAY_MS') ?? 0) / 1000;
    const drain = Number(envValue(container, 'DRAIN_MS') ?? 20_000) / 1000;
    const needed = preStop + shutdownDelay + drain + GRACE_MARGIN_SECONDS;
    const grace = template(deployment)?.spec?.terminationGracePeriodSeconds ?? 30;
    const problems = grace >= needed ? [] : [
      `Deployment ${nameOf(deployment)}: terminationGracePeriodSeconds ${grace} < preStop ${preStop} s + SHUTDOWN_DELAY_MS ${shutdownDelay} s + DRAIN_MS ${drain} s + ${GRACE_MARGIN_SECONDS} s`,
    ];
    if (preStop + shutdownDelay <= 0) problems.push(`Deployment ${nameOf(deployment)}: no delay before shutdown (preStop sleep or SHUTDOWN_DELAY_MS): requests still routed to the pod would fail`);
    return problems;
  });

export const resources: Check = (m) =>
  [...deployments(m), ...statefulSets(m), ...jobs(m)].flatMap((workload) =>
    containersOf(workload).flatMap((container) => {
      const where = `${workload.kind} ${nameOf(workload)} container ${container.name}`;
      const requests = container.resources?.requests ?? {};
      const limits = container.resources?.limits ?? {};
      const problems: string[] = [];
      if (requests.cpu === undefined || requests.memory === undefined) problems.push(`${where}: needs cpu and memory requests`);
      if (limits.memory === undefined) problems.push(`${where}: needs a memory limit`);
      if (workload.kind === 'Deployment' && limits.cpu !== undefined && millicores(limits.cpu) <= 1000) {
        problems.push(`${where}: cpu limit ${limits.cpu}; Ballast's background work (dispatch, group commit) wants more than one core on a busy replica, so allow more than 1000m or set none`);
      }
      return problems;
    }),
  );

export const security: Check = (m, app) =>
  [...deployments(m), ...jobs(m)].flatMap((workload) => {
    const pod = template(workload)?.spec;
    const where = `${workload.kind} ${nameOf(workload)}`;
    const problems: string[] = [];
    if (pod?.securityContext?.runAsNonRoot !== true) problems.push(`${where}: set securityContext.runAsNonRoot`);
    if (pod?.securityContext?.runAsUser !== app.imageUser) problems.push(`${where}: runAsUser ${pod?.securityContext?.runAsUser} is not the image's user ${app.imageUser}`);
    for (const container of containersOf(workload)) {
      if (container.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${where} container ${container.name}: set allowPrivilegeEscalation: false`);
    }
    return problems;
  });

export const migrationJob: Check = (m) => {
  const migrate = jobs(m).filter((job) => containersOf(job).some((container) => [...(container.command ?? []), ...(container.args ?? [])].join(' ').includes('ballast migrate')));
  if (migrate.length !== 1) return [`found ${migrate.length} Jobs running \`ballast migrate\`; there should be one`];
  const job = migrate[0] as (typeof migrate)[number];
  const current = currentDeployment(m, APP_SERVICE);
  if (current === undefined) return [];
  const problems: string[] = [];
  const jobContainer = containersOf(job)[0] as IContainer;
  const appImage = appContainer(current)?.image;
  if (jobContainer.image !== appImage) problems.push(`Job ${nameOf(job)} runs ${jobContainer.image}; the current Deployment runs ${appImage} (the newest code migrates)`);
  const jobUrl = envVar(jobContainer, 'BALLAST_DATABASE_URL')?.valueFrom;
  const appUrl = envVar(appContainer(current) as IContainer, 'BALLAST_DATABASE_URL')?.valueFrom;
  if (!isDeepStrictEqual(jobUrl, appUrl)) problems.push(`Job ${nameOf(job)} reads BALLAST_DATABASE_URL from elsewhere than the app`);
  return problems;
};

export const postgresPersistence: Check = (m) =>
  statefulSets(m).flatMap((set) => {
    const container = containersOf(set).find((candidate) => candidate.image?.startsWith('postgres'));
    if (container === undefined) return [];
    const pgdata = envValue(container, 'PGDATA') ?? '/var/lib/postgresql/data';
    const mount = (container.volumeMounts ?? []).filter((candidate) => pgdata === candidate.mountPath || pgdata.startsWith(`${candidate.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    const claims = (set.spec?.volumeClaimTemplates ?? []).map((claim) => claim.metadata?.name);
    return mount !== undefined && claims.includes(mount.name) ? [] : [`StatefulSet ${nameOf(set)}: PGDATA ${pgdata} is not on a volumeClaimTemplate; a restarted pod would lose every workflow`];
  });

/** What may differ between the Deployments of two versions. */
function versionNeutral(deployment: IDeployment): Json {
  const copy = clone(deployment as unknown as JsonObject) as unknown as IDeployment;
  delete copy.metadata?.name;
  const dropVersion = (labels: Record<string, string> | undefined) => labels && delete labels['app.kubernetes.io/version'];
  dropVersion(copy.metadata?.labels);
  dropVersion(copy.spec?.selector.matchLabels);
  dropVersion(copy.spec?.template.metadata?.labels);
  for (const constraint of copy.spec?.template.spec?.topologySpreadConstraints ?? []) dropVersion(constraint.labelSelector?.matchLabels);
  for (const container of copy.spec?.template.spec?.containers ?? []) {
    delete container.image;
    for (const variable of container.env ?? []) if (variable.name === 'BALLAST_APP_VERSION') delete variable.value;
  }
  return copy as unknown as Json;
}

export const versions: Check = (m) => {
  const all = deployments(m);
  if (all.length < 2) return [];
  const problems: string[] = [];
  const seen = all.map(appVersion);
  if (seen.includes(undefined) || new Set(seen).size !== seen.length) problems.push(`each Deployment needs its own BALLAST_APP_VERSION; found ${seen.join(', ')}`);
  for (const deployment of all) {
    const version = appVersion(deployment);
    if (podLabels(deployment)['app.kubernetes.io/version'] !== version) problems.push(`Deployment ${nameOf(deployment)}: label app.kubernetes.io/version should be ${version}`);
  }
  const [first, ...rest] = all as [IDeployment, ...IDeployment[]];
  for (const other of rest) {
    if (!isDeepStrictEqual(versionNeutral(first), versionNeutral(other))) {
      problems.push(`Deployments ${nameOf(first)} and ${nameOf(other)} differ in more than name, version and image: keep the versions' manifests in step`);
    }
  }
  return problems;
};
