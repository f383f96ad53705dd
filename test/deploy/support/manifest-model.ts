// Typed views of rendered manifests for the cross-checks: the app Deployments, their containers and
// environment, Services and what they select, ScaledObjects and what they target.
import type { IScaledObject, ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { IJob } from 'kubernetes-models/batch/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IContainer, IEnvVar, IPodTemplateSpec, IProbe, ISecret, IService } from 'kubernetes-models/v1';
import type { AppContract } from './app-contract.js';
import type { Resource } from './kustomize.js';

/** A cross-check: its problems as sentences; none means it holds. */
export type Check = (m: Manifests, app: AppContract) => string[];

/** The Service the app's pods answer on, and that KEDA polls. */
export const APP_SERVICE = 'ballast-app';

export interface Manifests {
  /** The kustomization it was rendered from, for messages. */
  name: string;
  resources: Resource[];
}

type Labels = Record<string, string>;

function ofKind<T>(manifests: Manifests, kind: string): T[] {
  return manifests.resources.filter((resource) => resource.kind === kind) as unknown as T[];
}

export const deployments = (m: Manifests) => ofKind<IDeployment>(m, 'Deployment');
export const statefulSets = (m: Manifests) => ofKind<IStatefulSet>(m, 'StatefulSet');
export const jobs = (m: Manifests) => ofKind<IJob>(m, 'Job');
export const services = (m: Manifests) => ofKind<IService>(m, 'Service');
export const secrets = (m: Manifests) => ofKind<ISecret>(m, 'Secret');
export const disruptionBudgets = (m: Manifests) => ofKind<IPodDisruptionBudget>(m, 'PodDisruptionBudget');
export const scaledObjects = (m: Manifests) => ofKind<IScaledObject>(m, 'ScaledObject');
export const triggerAuthentications = (m: Manifests) => ofKind<ITriggerAuthentication>(m, 'TriggerAuthentication');

export function nameOf(resource: { metadata?: { name?: string } }): string {
  return resource.metadata?.name ?? '(unnamed)';
}

export function template(workload: IDeployment | IStatefulSet | IJob): IPodTemplateSpec | undefined {
  return workload.spec?.template;
}

export function podLabels(workload: IDeployment | IStatefulSet | IJob): Labels {
  return (template(workload)?.metadata?.labels ?? {}) as Labels;
}

export function containersOf(workload: IDeployment | IStatefulSet | IJob): IContainer[] {
  return template(workload)?.spec?.containers ?? [];
}

/** The container that runs the example service: the one that sets PORT. */
export function appContainer(deployment: IDeployment): IContainer | undefined {
  return containersOf(deployment).find((container) => envVar(container, 'PORT') !== undefined) ?? containersOf(deployment)[0];
}

export function envVar(container: IContainer, name: string): IEnvVar | undefined {
  return container.env?.find((variable) => variable.name === name);
}

/** A plain `value:` of an environment variable (not one from a Secret or the downward API). */
export function envValue(container: IContainer | undefined, name: string): string | undefined {
  return container === undefined ? undefined : envVar(container, name)?.value;
}

export function appVersion(deployment: IDeployment): string | undefined {
  return envValue(appContainer(deployment), 'BALLAST_APP_VERSION');
}

export function selects(selector: Labels | undefined, labels: Labels): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** Workloads whose pods a Service or a PodDisruptionBudget selects. */
export function workloadsSelectedBy(m: Manifests, selector: Labels | undefined): (IDeployment | IStatefulSet)[] {
  return [...deployments(m), ...statefulSets(m)].filter((workload) => selects(selector, podLabels(workload)));
}

export function serviceSelector(service: IService): Labels | undefined {
  return service.spec?.selector as Labels | undefined;
}

/**
 * The Deployment that takes new work: the one the app Service routes to. With one Deployment per
 * version, the Service selects one version.
 */
export function currentDeployment(m: Manifests, serviceName: string): IDeployment | undefined {
  const service = services(m).find((candidate) => nameOf(candidate) === serviceName);
  if (service === undefined) return undefined;
  const selected = deployments(m).filter((deployment) => selects(serviceSelector(service), podLabels(deployment)));
  return selected.length === 1 ? selected[0] : undefined;
}

export function scaledObjectTarget(m: Manifests, scaledObject: IScaledObject): IDeployment | undefined {
  const ref = scaledObject.spec.scaleTargetRef;
  if ((ref.kind ?? 'Deployment') !== 'Deployment' || (ref.apiVersion ?? 'apps/v1') !== 'apps/v1') return undefined;
  return deployments(m).find((deployment) => nameOf(deployment) === ref.name);
}

/** Port number of `port` (a number or a container port's name) in `container`. */
export function resolvePort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Seconds of a preStop `sleep N` (exec) or `sleep: {seconds}` hook; 0 without one. */
export function preStopSeconds(container: IContainer): number | undefined {
  const preStop = container.lifecycle?.preStop as { exec?: { command?: string[] }; sleep?: { seconds?: number } } | undefined;
  if (preStop === undefined) return 0;
  if (preStop.sleep?.seconds !== undefined) return preStop.sleep.seconds;
  const command = preStop.exec?.command ?? [];
  if (command.length === 2 && command[0] === 'sleep' && /^\d+$/.test(command[1] as string)) return Number(command[1]);
  return undefined; // some other hook: its duration is unknown
}

/** A CPU quantity in millicores ("2", "1500m", "0.5"). */
export function millicores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) : Number(text) * 1000;
}

/** `-c name=value` settings of a postgres container's args. */
export function postgresSettings(container: IContainer): Record<string, string> {
  const settings: Record<string, string> = {};
  const args = container.args ?? [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const setting = arg === '-c' ? args[++i] : arg.startsWith('-c') ? arg.slice(2) : undefined;
    const [name, value] = setting?.split('=', 2) ?? [];
    if (name !== undefined && value !== undefined) settings[name.trim()] = value.trim();
  }
  return settings;
}

export function httpProbe(probe: IProbe | undefined): { path: string; port: number | string } | undefined {
  return probe?.httpGet === undefined ? undefined : { path: probe.httpGet.path ?? '/', port: probe.httpGet.port };
}
