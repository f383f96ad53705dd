// `kubectl kustomize` when kubectl is installed: the real renderer, to compare the test loader with.
import { execFileSync, spawnSync } from 'node:child_process';
import { parseResources, type Resource } from './kustomize.js';

let available: boolean | undefined;

export function kubectlAvailable(): boolean {
  available ??= spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
  return available;
}

export function kubectlKustomize(dir: string): Resource[] {
  const output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseResources(output, `kubectl kustomize ${dir}`);
}
