// Acceptance of application versions across processes: two versions of the application run side by
// side; each runs only its own backlog; the registry reports each version's executors and backlog;
// an enqueue naming no version lands on the newest live version; and when the last executor of a
// version dies, its work waits (visibly, not run by the other version) until a new executor of that
// version comes and runs it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { VersionInfo } from '../../src/client/index.js';
import { waitFor } from '../support/wait.js';
import { QUEUE } from './workers/failover-app.js';
import { TestFleet } from './support/fleet.js';

let fleet: TestFleet;

before(async () => {
  fleet = await TestFleet.open('versions', { LEASE_MS: '1500', WORKER_CONCURRENCY: '8' });
  await fleet.spawn('ver-v1-a', { APP_VERSION: 'v1', STEP_MS: '60000', START_DIRECT: 'v1-direct:2' });
  await fleet.spawn('ver-v2-a', { APP_VERSION: 'v2', STEP_MS: '50' });
});

after(() => fleet.close());

const byVersion = (versions: VersionInfo[], version: string): VersionInfo => {
  const found = versions.find((info) => info.version === version);
  assert.ok(found, `version ${version} is listed`);
  return found;
};

test('two versions run side by side, each only its own work; a version left without executors waits until one comes back', async (t) => {
  const v1 = fleet.client('v1');
  const v2 = fleet.client('v2');
  const unversioned = fleet.client();
  try {
    // 1. Each version runs its own backlog, and only its own.
    const quick = [
      ...(await v1.enqueueMany<{ version: string; executor: string }>('versioned', Array.from({ length: 10 }, () => ({ hold: false })), { queue: QUEUE })),
      ...(await v2.enqueueMany<{ version: string; executor: string }>('versioned', Array.from({ length: 10 }, () => ({ hold: false })), { queue: QUEUE })),
    ];
    const results = await Promise.all(quick.map((handle) => handle.result({ timeout: '30s' })));
    results.forEach((result, k) => {
      const version = k < 10 ? 'v1' : 'v2';
      assert.deepEqual(result, { version, executor: `ver-${version}-a` }, `workflow ${k} ran on ${version}'s code`);
    });

    // 2. The registry: executors and backlog per version; the newest live version is the latest.
    const held1 = await v1.enqueueMany('versioned', [{ hold: true }, { hold: true }, { hold: true }], { queue: QUEUE });
    const held2 = await v2.enqueueMany('versioned', [{ hold: true }, { hold: true }], { queue: QUEUE });
    await waitFor('the held workflows run', async () => (await fleet.countWhere(`name = 'versioned' AND status = 'PENDING'`)) === 5);
    let versions = await unversioned.versions.list();
    assert.deepEqual(versions.map((info) => info.version), ['v2', 'v1'], 'newest first');
    assert.deepEqual(byVersion(versions, 'v1').executors.map((e) => e.id), ['ver-v1-a']);
    assert.deepEqual(byVersion(versions, 'v2').executors.map((e) => e.id), ['ver-v2-a']);
    assert.deepEqual(byVersion(versions, 'v1').backlog, { enqueued: 0, delayed: 0, pending: 5, parked: 0, pendingWithoutLiveOwner: 0 }, 'v1: 3 held + 2 direct');
    assert.deepEqual(byVersion(versions, 'v2').backlog, { enqueued: 0, delayed: 0, pending: 2, parked: 0, pendingWithoutLiveOwner: 0 });
    assert.equal(byVersion(versions, 'v2').latest, true);
    assert.equal(byVersion(versions, 'v1').latest, false);
    const executor = byVersion(versions, 'v1').executors[0];
    assert.ok(executor && executor.queues.includes(QUEUE) && executor.pid !== null && executor.hostname !== null && executor.alive);

    // 3. An enqueue that names no version goes where new work should: the newest live version.
    const landed = await unversioned.enqueue<{ version: string }>('versioned', { hold: false }, { queue: QUEUE });
    assert.equal((await landed.result({ timeout: '30s' })).version, 'v2');

    // 4. v1's only executor dies: its work is handed over, but only a v1 executor may run it.
    await fleet.kill('ver-v1-a');
    const later1 = await v1.enqueueMany('versioned', [{ hold: false }, { hold: false }], { queue: QUEUE });
    await waitFor('the fleet (v2) took over v1\'s work', async () => (await fleet.countWhere(`app_version = 'v1' AND status IN ('ENQUEUED', 'PENDING') AND owner IS NULL`)) === 7, 15_000);
    versions = await unversioned.versions.list();
    t.diagnostic(`stranded v1: ${JSON.stringify(byVersion(versions, 'v1').backlog)}`);
    assert.deepEqual(byVersion(versions, 'v1').executors, [], 'v1 has no live executor');
    assert.deepEqual(byVersion(versions, 'v1').backlog, { enqueued: 5, delayed: 0, pending: 2, parked: 0, pendingWithoutLiveOwner: 2 }, 'v1: 3 held + 2 new queued, 2 direct orphans');
    assert.equal((await fleet.countWhere(`app_version = 'v1' AND owner = 'ver-v2-a'`)), 0, 'v2 runs none of v1\'s work');

    // 5. A new v1 executor (a new pod) runs all of it, on v1's code.
    await fleet.spawn('ver-v1-b', { APP_VERSION: 'v1', STEP_MS: '20' });
    await waitFor('v1-b runs the held workflows', async () => (await fleet.countWhere(`app_version = 'v1' AND owner = 'ver-v1-b' AND name = 'versioned' AND status = 'PENDING'`)) === 3);
    for (const handle of [...held1, ...held2]) await v1.send(handle.id, 'go', true);
    const resumed = await Promise.all([...held1, ...later1].map((handle) => handle.result({ timeout: '30s' })));
    for (const result of resumed) assert.deepEqual(result, { version: 'v1', executor: 'ver-v1-b' });
    for (const handle of held2) assert.deepEqual(await handle.result({ timeout: '30s' }), { version: 'v2', executor: 'ver-v2-a' });
    await Promise.all([0, 1].map((n) => v1.result(`v1-direct-${n}`, { timeout: '30s' })));
    versions = await unversioned.versions.list();
    for (const info of versions) assert.deepEqual(info.backlog, { enqueued: 0, delayed: 0, pending: 0, parked: 0, pendingWithoutLiveOwner: 0 }, `${info.version} drained`);
  } finally {
    await Promise.all([v1.close(), v2.close(), unversioned.close()]);
  }
});
