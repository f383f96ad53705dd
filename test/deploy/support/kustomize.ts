// A small kustomize, enough for deploy/kubernetes: `resources` (files and directories, recursively),
// `namespace`, and `patches` — strategic-merge patches (with `$patch: delete`) and JSON 6902 patches.
// Anything else in a kustomization.yaml is refused rather than ignored, so the tests never validate
// something other than what `kubectl kustomize` would render. When kubectl is installed the tests
// also render with it and compare (see kubectl.ts).
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Resource extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string; namespace?: string };
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches']);

/** Renders the kustomization in `dir` as a list of resources, in kustomize's input order. */
export function renderKustomization(dir: string): Resource[] {
  const path = join(dir, 'kustomization.yaml');
  const kustomization = asObject(readYamlDocuments(path)[0], path);
  const unsupported = Object.keys(kustomization).filter((key) => !SUPPORTED_FIELDS.has(key));
  if (unsupported.length > 0) {
    throw new Error(`${path}: the test's kustomize loader does not implement ${unsupported.join(', ')}; extend test/deploy/support/kustomize.ts`);
  }

  let resources: Resource[] = [];
  for (const entry of asArray(kustomization.resources ?? [], `${path} resources`)) {
    const target = resolve(dir, asString(entry, `${path} resources entry`));
    resources.push(...(statSync(target).isDirectory() ? renderKustomization(target) : readResources(target)));
  }
  rejectDuplicates(resources, path);

  for (const patch of asArray(kustomization.patches ?? [], `${path} patches`)) {
    resources = applyPatchEntry(resources, asObject(patch, `${path} patches entry`), dir);
  }

  const namespace = kustomization.namespace;
  if (namespace !== undefined) {
    const name = asString(namespace, `${path} namespace`);
    for (const resource of resources) resource.metadata.namespace = name;
  }
  return resources;
}

export function readResources(file: string): Resource[] {
  return readYamlDocuments(file).map((document, index) => asResource(document, `${file} document ${index + 1}`));
}

export function parseResources(text: string, source: string): Resource[] {
  return parseYamlDocuments(text, source).map((document, index) => asResource(document, `${source} document ${index + 1}`));
}

function readYamlDocuments(file: string): Json[] {
  return parseYamlDocuments(readFileSync(file, 'utf8'), file);
}

function parseYamlDocuments(text: string, source: string): Json[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw new Error(`${source}: not a YAML stream`);
  const values: Json[] = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${source}: ${document.errors.map((error) => error.message).join('; ')}`);
    const value = document.toJS({ maxAliasCount: 0 }) as Json;
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

export function resourceId(resource: Pick<Resource, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${resource.apiVersion}/${resource.kind}/${resource.metadata.name}`;
}

function rejectDuplicates(resources: Resource[], path: string): void {
  const seen = new Set<string>();
  for (const resource of resources) {
    const id = resourceId(resource);
    if (seen.has(id)) throw new Error(`${path}: ${id} is listed twice`);
    seen.add(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Patches

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
}

function applyPatchEntry(resources: Resource[], entry: JsonObject, dir: string): Resource[] {
  const where = `${dir} patches`;
  const unknown = Object.keys(entry).filter((key) => key !== 'path' && key !== 'patch' && key !== 'target');
  if (unknown.length > 0) throw new Error(`${where}: unsupported patch options ${unknown.join(', ')}`);
  const text = entry.path !== undefined ? readFileSync(resolve(dir, asString(entry.path, where)), 'utf8') : asString(entry.patch, where);
  const documents = parseYamlDocuments(text, where);
  if (documents.length !== 1) throw new Error(`${where}: one patch per entry, please (kustomize handles several badly)`);
  const patch = documents[0] as Json;
  const target = entry.target === undefined ? undefined : (asObject(entry.target, `${where} target`) as PatchTarget);

  if (Array.isArray(patch)) {
    if (target === undefined) throw new Error(`${where}: a JSON 6902 patch needs a target`);
    return resources.map((resource) => (matchesTarget(resource, target) ? applyJson6902(resource, patch, where) : resource));
  }
  const strategic = asResource(patch, where);
  const selector: PatchTarget = target ?? { kind: strategic.kind, name: strategic.metadata.name, ...splitApiVersion(strategic.apiVersion) };
  const matched = resources.filter((resource) => matchesTarget(resource, selector));
  if (matched.length === 0) throw new Error(`${where}: the patch for ${resourceId(strategic)} matches no resource`);
  if (strategic.$patch === 'delete') return resources.filter((resource) => !matched.includes(resource));
  return resources.map((resource) => (matched.includes(resource) ? (strategicMerge(resource, strategic, isBuiltIn(resource)) as Resource) : resource));
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function matchesTarget(resource: Resource, target: PatchTarget): boolean {
  const { group, version } = splitApiVersion(resource.apiVersion);
  return (
    (target.kind === undefined || target.kind === resource.kind) &&
    (target.name === undefined || target.name === resource.metadata.name) &&
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version)
  );
}

const BUILT_IN_GROUPS = new Set(['', 'apps', 'batch', 'policy', 'autoscaling', 'networking.k8s.io', 'rbac.authorization.k8s.io']);

function isBuiltIn(resource: Resource): boolean {
  return BUILT_IN_GROUPS.has(splitApiVersion(resource.apiVersion).group);
}

/**
 * Lists of built-in kinds merge element by element on these keys (their `patchMergeKey` in the
 * Kubernetes API); other lists, and every list of a custom resource, are replaced whole.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};
/** Lists that merge on keys this loader does not model; a patch touching them is refused. */
const UNMODELLED_MERGE_LISTS = new Set(['ports', 'topologySpreadConstraints', 'hostAliases', 'ephemeralContainers']);

function strategicMerge(original: Json, patch: Json, builtIn: boolean, field = ''): Json {
  if (isObject(patch) && isObject(original)) {
    if (patch.$patch !== undefined && field !== '') throw new Error(`$patch: ${String(patch.$patch)} inside a patch is not supported by the test loader`);
    const merged: JsonObject = { ...original };
    for (const [key, value] of Object.entries(patch)) {
      if (key === '$patch') continue;
      if (value === null) delete merged[key];
      else merged[key] = key in original ? strategicMerge(original[key] as Json, value, builtIn, key) : clone(value);
    }
    return merged;
  }
  if (Array.isArray(patch) && Array.isArray(original) && builtIn) {
    if (UNMODELLED_MERGE_LISTS.has(field)) throw new Error(`a strategic-merge patch of "${field}" is not supported by the test loader; use a JSON 6902 patch`);
    const key = MERGE_KEYS[field];
    if (key !== undefined) return mergeList(original, patch, key, builtIn);
  }
  return clone(patch);
}

function mergeList(original: Json[], patch: Json[], key: string, builtIn: boolean): Json[] {
  const keyOf = (item: Json) => (isObject(item) && item[key] !== undefined ? JSON.stringify(item[key]) : undefined);
  const merged = original.map(clone);
  for (const item of patch) {
    const index = merged.findIndex((existing) => keyOf(existing) !== undefined && keyOf(existing) === keyOf(item));
    if (index >= 0) merged[index] = strategicMerge(merged[index] as Json, item, builtIn);
    else merged.push(clone(item));
  }
  return merged;
}

interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: Json;
}

function applyJson6902(resource: Resource, operations: Json[], where: string): Resource {
  const result = clone(resource) as Resource;
  for (const raw of operations) {
    const operation = asObject(raw, where) as unknown as JsonPatchOperation;
    if (!['add', 'remove', 'replace'].includes(operation.op)) throw new Error(`${where}: op ${String(operation.op)} is not supported by the test loader`);
    const segments = operation.path.split('/').slice(1).map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop();
    if (last === undefined) throw new Error(`${where}: cannot patch the whole document`);
    let parent: Json = result;
    for (const segment of segments) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(segment)] : isObject(parent) ? parent[segment] : undefined;
      if (next === undefined) throw new Error(`${where}: ${operation.path} does not exist in ${resourceId(resource)}`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (operation.op === 'add') parent.splice(index, 0, clone(operation.value ?? null));
      else if (operation.op === 'remove') parent.splice(index, 1);
      else parent[index] = clone(operation.value ?? null);
    } else if (isObject(parent)) {
      if (operation.op !== 'add' && !(last in parent)) throw new Error(`${where}: ${operation.path} does not exist in ${resourceId(resource)}`);
      if (operation.op === 'remove') delete parent[last];
      else parent[last] = clone(operation.value ?? null);
    } else {
      throw new Error(`${where}: ${operation.path} does not lead into an object or a list`);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Shapes

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

function asResource(value: Json, where: string): Resource {
  const object = asObject(value, where);
  const metadata = object.metadata;
  if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string' || !isObject(metadata) || typeof metadata.name !== 'string') {
    throw new Error(`${where}: a resource needs apiVersion, kind and metadata.name`);
  }
  return object as Resource;
}

function asObject(value: Json | undefined, where: string): JsonObject {
  if (!isObject(value)) throw new Error(`${where}: expected a mapping`);
  return value;
}

function asArray(value: Json, where: string): Json[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list`);
  return value;
}

function asString(value: Json | undefined, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where}: expected a string`);
  return value;
}
