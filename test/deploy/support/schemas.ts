// Schema validation of rendered manifests: Kubernetes kinds against the OpenAPI schemas of
// `kubernetes-models`, KEDA kinds against `@kubernetes-models/keda` (both JSON-schema validators
// generated from the upstream definitions), and CloudNativePG's Cluster, for which no schema package
// exists on npm, by a structural check of the fields this repository uses (see `cnpgClusterProblems`).
//
// The upstream schemas do not forbid unknown fields, so a misspelt optional field (`livenesProbe`)
// passes here; the cross-checks in manifest-checks.ts require every field the deployment depends on.
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, ResourceRequirements, Secret, Service } from 'kubernetes-models/v1';
import { isObject, resourceId, type JsonObject, type Resource } from './kustomize.js';

interface Validatable {
  validate(): void;
}

const MODELS: Readonly<Record<string, (data: Resource) => Validatable>> = {
  'apps/v1/Deployment': (data) => new Deployment(data as never),
  'apps/v1/StatefulSet': (data) => new StatefulSet(data as never),
  'batch/v1/Job': (data) => new Job(data as never),
  'policy/v1/PodDisruptionBudget': (data) => new PodDisruptionBudget(data as never),
  'v1/Service': (data) => new Service(data as never),
  'v1/Secret': (data) => new Secret(data as never),
  'v1/ConfigMap': (data) => new ConfigMap(data as never),
  'keda.sh/v1alpha1/ScaledObject': (data) => new ScaledObject(data as never),
  'keda.sh/v1alpha1/TriggerAuthentication': (data) => new TriggerAuthentication(data as never),
};

/** Problems found by the schemas, one line per resource that fails. */
export function schemaProblems(resources: Resource[]): string[] {
  const problems: string[] = [];
  for (const resource of resources) {
    const kind = `${resource.apiVersion}/${resource.kind}`;
    if (kind === 'postgresql.cnpg.io/v1/Cluster') {
      problems.push(...cnpgClusterProblems(resource));
      continue;
    }
    const model = MODELS[kind];
    if (model === undefined) {
      problems.push(`${resourceId(resource)}: no schema known for ${kind}; add it to test/deploy/support/schemas.ts`);
      continue;
    }
    try {
      model(resource).validate();
    } catch (error) {
      problems.push(`${resourceId(resource)}: ${(error as Error).message}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// CloudNativePG

/** Top-level fields of a CloudNativePG `Cluster` spec (postgresql.cnpg.io/v1, operator 1.2x). */
const CLUSTER_SPEC_FIELDS = new Set([
  'affinity', 'backup', 'bootstrap', 'certificates', 'description', 'enablePDB', 'enableSuperuserAccess', 'env', 'envFrom',
  'ephemeralVolumeSource', 'ephemeralVolumesSizeLimit', 'externalClusters', 'failoverDelay', 'imageCatalogRef', 'imageName',
  'imagePullPolicy', 'imagePullSecrets', 'inheritedMetadata', 'instances', 'livenessProbeTimeout', 'logLevel', 'managed',
  'maxSyncReplicas', 'minSyncReplicas', 'monitoring', 'nodeMaintenanceWindow', 'plugins', 'postgresGID', 'postgresUID',
  'postgresql', 'primaryUpdateMethod', 'primaryUpdateStrategy', 'priorityClassName', 'probes', 'projectedVolumeTemplate',
  'replica', 'replicationSlots', 'resources', 'schedulerName', 'seccompProfile', 'serviceAccountTemplate', 'smartShutdownTimeout',
  'startDelay', 'stopDelay', 'storage', 'superuserSecret', 'switchoverDelay', 'tablespaces', 'topologySpreadConstraints', 'walStorage',
]);
const QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T)?$/;

/**
 * The operator's CRD validation, for the fields this repository uses: types and enums as the CRD
 * declares them (postgresql.parameters are strings, as PostgreSQL settings are; a number there is
 * rejected by the API server), and no unknown top-level field.
 */
export function cnpgClusterProblems(resource: Resource): string[] {
  const where = resourceId(resource);
  const problems: string[] = [];
  const spec = resource.spec;
  if (!isObject(spec)) return [`${where}: spec is required`];
  for (const key of Object.keys(spec)) {
    if (!CLUSTER_SPEC_FIELDS.has(key)) problems.push(`${where}: spec.${key} is not a field of a CloudNativePG Cluster`);
  }
  if (!Number.isInteger(spec.instances) || (spec.instances as number) < 1) problems.push(`${where}: spec.instances must be an integer of at least 1`);
  const storage = spec.storage;
  if (!isObject(storage) || typeof storage.size !== 'string' || !QUANTITY.test(storage.size)) {
    problems.push(`${where}: spec.storage.size must be a quantity string such as "20Gi"`);
  }
  if (spec.imageName !== undefined && typeof spec.imageName !== 'string') problems.push(`${where}: spec.imageName must be a string`);
  const strategy = spec.primaryUpdateStrategy;
  if (strategy !== undefined && strategy !== 'supervised' && strategy !== 'unsupervised') {
    problems.push(`${where}: spec.primaryUpdateStrategy must be "supervised" or "unsupervised"`);
  }
  const initdb = isObject(spec.bootstrap) ? spec.bootstrap.initdb : undefined;
  if (initdb !== undefined) {
    if (!isObject(initdb)) problems.push(`${where}: spec.bootstrap.initdb must be a mapping`);
    else for (const field of ['database', 'owner']) {
      if (initdb[field] !== undefined && typeof initdb[field] !== 'string') problems.push(`${where}: spec.bootstrap.initdb.${field} must be a string`);
    }
  }
  const parameters = isObject(spec.postgresql) ? spec.postgresql.parameters : undefined;
  if (parameters !== undefined) {
    if (!isObject(parameters)) problems.push(`${where}: spec.postgresql.parameters must be a mapping`);
    else for (const [name, value] of Object.entries(parameters)) {
      if (typeof value !== 'string') problems.push(`${where}: spec.postgresql.parameters.${name} must be a string, got ${JSON.stringify(value)}`);
    }
  }
  if (spec.resources !== undefined) {
    try {
      new ResourceRequirements(spec.resources as JsonObject as never).validate();
    } catch (error) {
      problems.push(`${where}: spec.resources: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** Keys of the `<cluster>-app` Secret the operator generates for the application owner. */
export const CNPG_APP_SECRET_KEYS = ['username', 'password', 'host', 'port', 'dbname', 'uri', 'jdbc-uri', 'pgpass'];
