import { LifecycleError, WaitTimeoutError, WorkflowNotFoundError } from '../errors.js';
import { isFinal, type WorkflowRecord } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import type { LocalOutcome } from './execution.js';
import { Waiters } from './waiters.js';

/**
 * Waits on other workflows from one process: results and events. Every wait is woken by the one
 * LISTEN connection; lost notifications are covered by one batched poll per interval for all result
 * waits of the process (never a query loop per waiter) and a slow per-wait re-check for events.
 */
export class Observer {
  readonly waiters = new Waiters();
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly store: SystemStore,
    private readonly pollIntervalMs: number,
    private readonly logger: { warn(message: string): void },
  ) {}

  /** Connects the hints from LISTEN; returns the function that stops listening. */
  async listen(onWake: (key: string) => void, onReconnect: () => void): Promise<() => Promise<void>> {
    const stop = await this.store.listen({
      onWake: (key) => {
        onWake(key);
        this.waiters.wake(key);
      },
      onReconnect: () => {
        onReconnect();
        this.waiters.wakeAll();
      },
    });
    this.poller = setInterval(() => void this.pollResults(), this.pollIntervalMs);
    this.poller.unref();
    return async () => {
      clearInterval(this.poller);
      await stop();
    };
  }

  /** The instance is shutting down: every wait still pending ends with a LifecycleError. */
  close(): void {
    this.closed = true;
    clearInterval(this.poller);
    this.waiters.wakeAll();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new LifecycleError(`Stopped waiting for ${what}: this instance was shut down.`);
  }

  private async pollResults(): Promise<void> {
    const prefix = wakeKey('done', '');
    const ids = this.waiters.keys(prefix).map((key) => key.slice(prefix.length));
    if (ids.length === 0) return;
    try {
      for (const id of await this.store.finishedAmong(ids)) this.waiters.wake(wakeKey('done', id));
    } catch (error) {
      this.logger.warn(`result poll failed: ${(error as Error).message}`);
    }
  }

  /**
   * The workflow's row once it is final; WaitTimeoutError past `deadline` (epoch ms or Infinity).
   * With `runningHere`, the wait also ends as soon as the workflow starts running in this process
   * (its outcome then arrives without another read).
   */
  async awaitFinal(
    id: string,
    deadline: number,
    timeoutMs: number,
    runningHere?: (id: string) => Promise<LocalOutcome> | undefined,
  ): Promise<{ record: WorkflowRecord } | { local: Promise<LocalOutcome> }> {
    for (;;) {
      this.assertOpen(`the result of workflow ${id}`);
      // Armed before the read: a completion that commits in between still wakes us.
      const armed = this.waiters.arm(wakeKey('done', id));
      const record = await this.store.getWorkflow(id);
      if (!record) {
        armed.cancel();
        throw new WorkflowNotFoundError(id);
      }
      if (isFinal(record.status)) {
        armed.cancel();
        return { record };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        armed.cancel();
        throw new WaitTimeoutError(`the result of workflow ${id}`, timeoutMs);
      }
      await armed.wait(Math.min(remaining, 2_147_000_000));
      const local = runningHere?.(id);
      if (local) return { local };
    }
  }

  /** The event's stored value, or undefined when `timeoutMs` passes first. */
  async awaitEvent(workflowId: string, key: string, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.assertOpen(`event "${key}" of workflow ${workflowId}`);
      const armed = this.waiters.arm(wakeKey('event', workflowId, key));
      const value = await this.store.readEvent(workflowId, key);
      if (value !== undefined) {
        armed.cancel();
        return value;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        armed.cancel();
        return undefined;
      }
      await armed.wait(Math.min(remaining, this.pollIntervalMs));
    }
  }
}
