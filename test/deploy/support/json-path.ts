// Dotted paths into rendered manifests, for seeding mistakes: `spec.template.spec.containers.0.image`,
// with `[name=DRAIN_MS]` picking the list element whose `name` is DRAIN_MS, and `\.` a dot inside a key
// (`metadata.labels.app\.kubernetes\.io/name`).
import { isObject, type Json, type Resource } from './kustomize.js';

function step(value: Json | undefined, segment: string, path: string): Json | undefined {
  const pick = /^\[(\w+)=(.*)\]$/.exec(segment);
  if (pick) {
    if (!Array.isArray(value)) throw new Error(`${path}: ${segment} needs a list`);
    return value.find((item) => isObject(item) && String(item[pick[1] as string]) === pick[2]);
  }
  if (Array.isArray(value)) return value[Number(segment)];
  return isObject(value) ? value[segment] : undefined;
}

function segmentsOf(path: string): string[] {
  return path.split(/(?<!\\)\./).map((segment) => segment.replace(/\\\./g, '.'));
}

function parentOf(root: Json, path: string): { parent: Json; last: string } {
  const segments = segmentsOf(path);
  const last = segments.pop() as string;
  let parent: Json | undefined = root;
  for (const segment of segments) {
    parent = step(parent, segment, path);
    if (parent === undefined) throw new Error(`${path}: nothing at ${segment}`);
  }
  return { parent, last };
}

export function getAt(root: Json, path: string): Json | undefined {
  return segmentsOf(path).reduce<Json | undefined>((value, segment) => step(value, segment, path), root);
}

/** The index `segment` names in `list`: a number, or the element a `[key=value]` picks. */
function indexIn(list: Json[], segment: string, path: string): number {
  if (!segment.startsWith('[')) return Number(segment);
  const index = list.indexOf(step(list, segment, path) as Json);
  if (index < 0) throw new Error(`${path}: no element ${segment}`);
  return index;
}

export function setAt(root: Json, path: string, value: Json): void {
  const { parent, last } = parentOf(root, path);
  if (Array.isArray(parent)) parent[indexIn(parent, last, path)] = value;
  else if (isObject(parent)) parent[last] = value;
  else throw new Error(`${path}: cannot set inside a scalar`);
}

export function deleteAt(root: Json, path: string): void {
  const { parent, last } = parentOf(root, path);
  if (Array.isArray(parent)) parent.splice(indexIn(parent, last, path), 1);
  else if (isObject(parent)) delete parent[last];
}

/** The rendered resource `Kind/name`; throws when it is not there, so a seed cannot silently miss. */
export function resource(resources: Resource[], kindAndName: string): Resource {
  const [kind, name] = kindAndName.split('/');
  const found = resources.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kindAndName} in the rendered manifests`);
  return found;
}
