// Acceptance of patching, on Postgres and on the embedded database: four deployments of one
// application share one version (config.patching) and each is SIGKILLed with workflows in flight,
// which the next deployment recovers. A workflow that passed the patch point under the old code
// takes the old branch under the patched code; one that had not reached it, or started under the
// patch, takes the new one; deprecatePatch accepts the marker in older histories and records none,
// so the call can then be deleted and the workflows started after it still replay cleanly.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { backends } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';
import { spawnNode } from '../support/processes.js';

const WORKER = fileURLToPath(new URL('./workers/patch-worker.ts', import.meta.url));
const MARKER = 'ballast.patch:new-b';

interface Reported {
  result: string;
  steps: string[];
}

async function deploy(code: string, env: Record<string, string>): Promise<Map<string, Reported>> {
  const child = spawnNode(WORKER, { env: { ...env, CODE: code } });
  const end = await child.waitForLine((line) => line === 'hang' || line === 'done', 60_000);
  if (end === 'hang') {
    child.kill('SIGKILL');
    await child.exited;
  } else {
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  }
  assert.doesNotMatch(child.stderr(), /\[(error|fatal)\]/, `the ${code} deployment logged no errors:\n${child.stderr()}`);
  const results = new Map<string, Reported>();
  for (const line of child.lines.filter((l) => l.startsWith('result '))) {
    const [, id, json] = line.match(/^result (\S+) (.*)$/) ?? [];
    results.set(id as string, JSON.parse(json as string) as Reported);
  }
  return results;
}

for (const backend of backends()) {
  describe(`patching (${backend})`, () => {
    test('old histories take the old branch, new ones the new branch, and a deprecated patch can be removed', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ballast-patch-'));
      const db = backend === 'postgres' ? await testDatabase('patching') : undefined;
      const env: Record<string, string> = db ? { PATCH_DATABASE_URL: db.url } : { PATCH_DATA_DIR: join(dir, 'data') };
      try {
        assert.equal((await deploy('old', env)).size, 0);

        const patched = await deploy('patched', env);
        assert.deepEqual(patched.get('w1'), { result: 'old', steps: ['a', 'ballast.recv-deadline:start', 'ballast.recv:start', 'old-b', 'ballast.recv-deadline:go', 'ballast.recv:go'] },
          'w1 passed the patch point under the old code: the old branch, no marker');
        assert.deepEqual(patched.get('w3'), { result: 'new', steps: ['a', 'ballast.recv-deadline:start', 'ballast.recv:start', MARKER, 'new-b', 'ballast.recv-deadline:go', 'ballast.recv:go'] },
          'w3 had not reached the patch point when the old code stopped: the new branch, marker recorded');
        assert.deepEqual(patched.get('w2')?.result, 'new', 'w2 started under the patch: the new branch');
        assert.ok(patched.get('w2')?.steps.includes(MARKER));

        const deprecated = await deploy('deprecated', env);
        assert.deepEqual(deprecated.get('w5')?.result, 'new', 'w5 (marker in its history) replays under deprecatePatch');
        assert.ok(deprecated.get('w5')?.steps.includes(MARKER));

        const removed = await deploy('removed', env);
        assert.deepEqual(removed.get('w4'), { result: 'new', steps: ['a', 'ballast.recv-deadline:start', 'ballast.recv:start', 'new-b', 'ballast.recv-deadline:go', 'ballast.recv:go'] },
          'w4, started after the deprecation, recorded no marker and replays without the call');
      } finally {
        await db?.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
