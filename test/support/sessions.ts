// After SIGKILL, a process's database sessions may still be finishing a statement it sent (and
// commit it). Tests wait until those sessions are gone, so what they read next is exactly what the
// crash left behind.
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once no session of the current database has an application_name starting with `prefix`. */
export async function waitForSessionsToEnd(url: string, prefix: string, timeoutMs = 15_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'ballast-test-sessions' });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE starts_with(application_name, $1) AND datname = current_database()`,
        [prefix],
      );
      if (rows[0]?.n === 0) return;
      if (Date.now() > deadline) throw new Error(`sessions named ${prefix}… were still open after ${timeoutMs} ms`);
      await sleep(20);
    }
  } finally {
    await client.end();
  }
}
