import { ASSET_NAMES, ASSETS } from './assets.generated.js';

export { ASSET_NAMES };

/** A generated asset by its content-hashed file name. */
export function findAsset(name: string): { contentType: string; body: string } | undefined {
  return Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
}
