// Polling for a condition in tests, with a deadline and a message that says what never happened.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `check` holds; fails after `timeoutMs` naming `what` was waited for. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(everyMs);
  }
}
