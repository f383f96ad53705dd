import { systemClock, type Clock } from '../clock.js';
import { LifecycleError, WaitTimeoutError, WorkflowNotFoundError } from '../errors.js';
import { isFinal, type WorkflowRecord } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';
import type { LocalOutcome } from './execution.js';
import { readStreamEntries } from './stream-reader.js';
import type { StreamEntry } from './types.js';
import { Waiters } from './waiters.js';

/**
 * "This workflow was not finished at this moment": taken before a start or enqueue inserts its row.
 * From then on, the listener hears of its completion, so a wait need not read the row first.
 */
export interface ActiveMark {
  at: number;
  generation: number;
}

/** How long completions heard over LISTEN are remembered for marks (two generations of this). */
const DONE_MEMORY_MS = 30_000;
const DONE_PREFIX = wakeKey('done', '');

/**
 * Waits on other workflows from one process: results, events and streams. Every wait is woken by the one
 * LISTEN connection; lost notifications are covered by one batched poll per interval for all result
 * waits of the process (never a query loop per waiter) and a slow per-wait re-check for events.
 */
export class Observer {
  readonly waiters: Waiters;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  /** Bumped by every (re)connection of the listener: a mark from an older one proves nothing. */
  private generation = 0;
  private doneRecently = new Set<string>();
  private doneBefore = new Set<string>();
  private recentSince = 0;
  private beforeSince = 0;

  constructor(
    private readonly store: SystemStore,
    private readonly pollIntervalMs: number,
    private readonly logger: { warn(message: string): void },
    private readonly clock: Clock = systemClock,
  ) {
    this.waiters = new Waiters(clock);
  }

  /** Connects the hints from LISTEN; returns the function that stops listening. */
  async listen(onWake: (key: string) => void, onReconnect: () => void): Promise<() => Promise<void>> {
    const stop = await this.store.listen({
      onWake: (key) => {
        if (key.startsWith(DONE_PREFIX)) this.heardDone(key.slice(DONE_PREFIX.length));
        onWake(key);
        this.waiters.wake(key);
      },
      onReconnect: () => {
        this.listenFromScratch();
        onReconnect();
        this.waiters.wakeAll();
      },
    });
    this.listenFromScratch();
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

  /** A mark for a workflow about to be inserted (so not finished yet); undefined when not listening. */
  markActive(): ActiveMark | undefined {
    return this.generation === 0 ? undefined : { at: Date.now(), generation: this.generation };
  }

  private listenFromScratch(): void {
    this.generation++;
    this.doneRecently = new Set();
    this.doneBefore = new Set();
    this.recentSince = this.beforeSince = Date.now();
  }

  private heardDone(id: string): void {
    const now = Date.now();
    if (now - this.recentSince > DONE_MEMORY_MS) {
      this.doneBefore = this.doneRecently;
      this.beforeSince = this.recentSince;
      this.doneRecently = new Set();
      this.recentSince = now;
    }
    this.doneRecently.add(id);
  }

  /** True when the listener has heard nothing of the workflow finishing since `mark`. */
  private unfinishedSince(id: string, mark: ActiveMark | undefined): boolean {
    return (
      mark !== undefined &&
      !this.closed &&
      mark.generation === this.generation &&
      mark.at >= this.beforeSince &&
      !this.doneRecently.has(id) &&
      !this.doneBefore.has(id)
    );
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new LifecycleError(`Stopped waiting for ${what}: this instance was shut down.`);
  }

  private async pollResults(): Promise<void> {
    const prefix = wakeKey('done', '');
    const ids = this.waiters.keys(prefix).map((key) => key.slice(prefix.length));
    if (ids.length === 0) return;
    try {
      for (const id of await this.store.finishedAmong(ids)) {
        // A completion whose notification was lost: remembered like one that was heard.
        this.heardDone(id);
        this.waiters.wake(wakeKey('done', id));
      }
    } catch (error) {
      this.logger.warn(`result poll failed: ${(error as Error).message}`);
    }
  }

  /**
   * The workflow's row once it is final; WaitTimeoutError past `deadline` (epoch ms or Infinity).
   * With `runningHere`, the wait also ends as soon as the workflow starts running in this process
   * (its outcome then arrives without another read). With a `mark`, the row is read only once
   * the listener has heard that the workflow finished (or can no longer vouch that it has not).
   */
  async awaitFinal(
    id: string,
    deadline: number,
    timeoutMs: number,
    runningHere?: (id: string) => Promise<LocalOutcome> | undefined,
    mark?: ActiveMark,
  ): Promise<{ record: WorkflowRecord } | { local: Promise<LocalOutcome> }> {
    for (;;) {
      this.assertOpen(`the result of workflow ${id}`);
      // Armed before the read: a completion that commits in between still wakes us.
      const armed = this.waiters.arm(wakeKey('done', id));
      const remainingNow = deadline - this.clock.now();
      if (remainingNow > 0 && this.unfinishedSince(id, mark)) {
        await armed.wait(Infinity, undefined, finite(deadline));
        const local = runningHere?.(id);
        if (local) return { local };
        continue;
      }
      const record = await this.store.getWorkflow(id);
      if (!record) {
        armed.cancel();
        throw new WorkflowNotFoundError(id);
      }
      if (isFinal(record.status)) {
        armed.cancel();
        return { record };
      }
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) {
        armed.cancel();
        throw new WaitTimeoutError(`the result of workflow ${id}`, timeoutMs);
      }
      await armed.wait(Infinity, undefined, finite(deadline));
      const local = runningHere?.(id);
      if (local) return { local };
    }
  }

  /** A workflow's stream from position `from` on (see readStreamEntries). */
  readStream(workflowId: string, key: string, from: number, signal: AbortSignal | undefined): AsyncGenerator<StreamEntry, void, undefined> {
    const source = { store: this.store, waiters: this.waiters, pollIntervalMs: this.pollIntervalMs, assertOpen: (what: string) => this.assertOpen(what) };
    return readStreamEntries(source, workflowId, key, from, signal);
  }

  /** The event's stored value, or undefined when `timeoutMs` passes first. */
  async awaitEvent(workflowId: string, key: string, timeoutMs: number): Promise<string | undefined> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      this.assertOpen(`event "${key}" of workflow ${workflowId}`);
      const armed = this.waiters.arm(wakeKey('event', workflowId, key));
      const value = await this.store.readEvent(workflowId, key);
      if (value !== undefined) {
        armed.cancel();
        return value;
      }
      if (deadline <= this.clock.now()) {
        armed.cancel();
        return undefined;
      }
      await armed.wait(this.pollIntervalMs, undefined, deadline);
    }
  }
}

function finite(deadline: number): number | undefined {
  return deadline === Infinity ? undefined : deadline;
}
