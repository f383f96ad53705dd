// The generated assets module is committed (the dashboard runs from source through tsx); it must be
// what the generator makes from the client sources and uplot now.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
// @ts-expect-error: a plain JavaScript build script without type declarations
import { generate } from '../../scripts/generate-dashboard-assets.mjs';
import { ASSET_NAMES } from '../../src/dashboard/assets.generated.js';
import { findAsset } from '../../src/dashboard/assets.js';

test('src/dashboard/assets.generated.ts is up to date (run `npm run assets` after changing src/dashboard/client/)', () => {
  const committed = readFileSync(new URL('../../src/dashboard/assets.generated.ts', import.meta.url), 'utf8');
  assert.ok(committed === (generate as () => string)(), 'the committed assets module is stale: run `npm run assets` and commit it');
});

test('every asset is found by its content-hashed name, and nothing else is', () => {
  for (const name of Object.values(ASSET_NAMES)) {
    assert.match(name, /^[a-z]+\.[0-9a-f]{12}\.(js|css)$/);
    assert.ok(findAsset(name)?.body.length);
  }
  for (const name of ['dashboard.js', '../app.tsx', 'toString', '__proto__', 'constructor']) assert.equal(findAsset(name), undefined, name);
});
