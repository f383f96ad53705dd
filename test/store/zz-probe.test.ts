import { test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/store/migrate.js';
import { PgDriver } from '../../src/store/pg-driver.js';
import { flushStatement } from '../../src/store/sql/flush.js';

test('probe', async () => {
  const url = 'postgresql://postgres@127.0.0.1:37683/postgres';
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('DROP SCHEMA IF EXISTS probe CASCADE');
  const d = new PgDriver({ connectionString: url, poolSize: 1, applicationName: 'x', logger: { warn: () => undefined } });
  await migrate(d, 'probe'); await d.close();
  const frac = Number(process.env.EVERY ?? 1000);
  await c.query(`INSERT INTO probe.workflows (id, name, status, app_name, app_version, owner, epoch, created_at, updated_at)
    SELECT 'wf-' || i, 'n', CASE WHEN i % ${frac} = 0 THEN 'PENDING' ELSE 'SUCCESS' END, 'a', 'v', 'executor-' || (i % 10), 1, i, i FROM generate_series(1, 50000) i`);
  await c.query(`INSERT INTO probe.steps (workflow_id, idx, name, completed_at) SELECT 'wf-' || i, j, 's', 1 FROM generate_series(1,50000) i, generate_series(0,2) j`);
  await c.query('ANALYZE probe.workflows, probe.steps');
  for (const n of [1, 10, 50, 500]) {
    const item = (i: number) => ({ item: { workflowId: `wf-${(i + 1) * frac}`, owner: 'executor-0', epoch: 1, idx: 3, name: 'x', output: '1', error: null, childId: null, startedAt: 1, completedAt: 2,
      status: 'SUCCESS' as const }, waiter: { resolve() {}, reject() {} } });
    for (const kind of ['c', 'd']) {
      const batch = { starts: [], checkpoints: kind === 'c' ? Array.from({ length: n }, (_, i) => item(i)) : [], completions: kind === 'd' ? Array.from({ length: n }, (_, i) => item(i)) : [] };
      const st = flushStatement('probe', 'ch', batch as never, []);
      const custom = await c.query(`EXPLAIN ${st.text}`, st.params);
      await c.query('DEALLOCATE ALL');
      await c.query(`SET plan_cache_mode = force_generic_plan`);
      await c.query(`PREPARE p AS ${st.text}`);
      const args = st.params.map((_, i) => `$${i + 1}`).join(', ');
      const generic = await c.query(`EXPLAIN EXECUTE p(${args})`, st.params);
      await c.query('RESET plan_cache_mode');
      console.log(`--- every=${frac} n=${n} kind=${kind}\nCUSTOM\n${custom.rows.map((r) => r['QUERY PLAN']).join('\n')}\nGENERIC\n${generic.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    }
  }
  await c.end();
});
