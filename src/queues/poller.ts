import type { Clock } from '../clock.js';
import { StopSwitch, Waiters } from '../engine/waiters.js';
import type { SystemStore } from '../store/system-store.js';

const FIRST_POLL_MS = 100;
const SIGNAL = 'poll';

export interface QueuePollerDeps {
  store: SystemStore;
  appVersion(): string;
  pollIntervalMs: number;
  clock: Clock;
  logger: { warn(message: string): void };
  /** Wakes the dispatchers of these queues: they may have work to claim. */
  wake(queues: string[]): void;
}

/**
 * The fallback look of one executor at all of its queues, so that an idle queue costs no timer and
 * no statement of its own. Dispatch itself wakes on hints (NOTIFY of an enqueue or a completion, a
 * local completion); this poll is there for what no hint announces — a lost notification, a claim
 * rolled back, work promoted by another executor — and for delayed work, whose due times it keeps:
 * one statement finds the queues with claimable or due work and the next due time (see
 * queuePollStatement), one more promotes what is due, and only the dispatchers of those queues
 * wake. The interval is short after activity and backs off to `pollIntervalMs` while nothing
 * arrives, with jitter so that a fleet's executors do not poll in step.
 */
export class QueuePoller {
  private readonly signal: Waiters;
  private readonly stopping: StopSwitch;
  private loop: Promise<void> | undefined;
  private stopped = false;
  /** A hint asked for a look now (a delayed enqueue of unknown due time, a reconnect). */
  private requested = true;
  private idlePolls = 0;
  /** When the fallback poll runs next, in real time. */
  private fallbackAt = 0;
  /** When the next delayed workflow falls due, on the instance's clock (null: none known). */
  private nextDelayedAt: number | null = null;
  /** Due times told while a poll was on the wire, whose snapshot may not have seen them. */
  private toldDuringPoll = Infinity;

  constructor(
    private readonly queues: ReadonlySet<string>,
    private readonly deps: QueuePollerDeps,
  ) {
    this.signal = new Waiters(deps.clock);
    this.stopping = new StopSwitch(deps.clock);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.stop();
    await this.loop;
  }

  /** Look now: notifications may have been missed, or work of unknown due time was enqueued. */
  pollSoon(): void {
    this.requested = true;
    this.signal.wake(SIGNAL);
  }

  /** A delayed workflow was enqueued here, due at `availableAt`: wait for it unless one due earlier is awaited. */
  delayedEnqueued(availableAt: number): void {
    this.toldDuringPoll = Math.min(this.toldDuringPoll, availableAt);
    if (this.nextDelayedAt !== null && availableAt >= this.nextDelayedAt) return;
    this.nextDelayedAt = availableAt;
    this.signal.wake(SIGNAL);
  }

  /** A dispatcher claimed work: more may follow that no hint announces, so look again soon. */
  claimed(): void {
    this.idlePolls = 0;
    const soon = Date.now() + FIRST_POLL_MS;
    if (this.fallbackAt <= soon) return;
    this.fallbackAt = soon;
    this.signal.wake(SIGNAL);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const armed = this.signal.arm(SIGNAL);
      const due = this.nextDelayedAt !== null && this.nextDelayedAt <= this.deps.clock.now();
      if (this.requested || due || Date.now() >= this.fallbackAt) {
        armed.cancel();
        await this.poll();
        continue;
      }
      await armed.wait(this.fallbackAt - Date.now(), this.stopping, this.nextDelayedAt ?? undefined);
    }
  }

  private async poll(): Promise<void> {
    const { store, clock } = this.deps;
    this.requested = false;
    this.toldDuringPoll = Infinity;
    try {
      const now = clock.now();
      const found = await store.pollQueues(this.queues, this.deps.appVersion(), now);
      if (found.due.length > 0) await store.promoteDelayed(found.due, now);
      const next = Math.min(found.nextDelayedAt ?? Infinity, this.toldDuringPoll);
      this.nextDelayedAt = next === Infinity ? null : next;
      const wake = [...new Set([...found.ready, ...found.due])];
      if (wake.length > 0) this.deps.wake(wake);
    } catch (error) {
      if (this.stopped) return;
      // The next fallback poll finds due work again; until then, a due time must not spin the loop.
      this.nextDelayedAt = null;
      this.deps.logger.warn(`queue poll failed, retrying: ${(error as Error).message}`);
    }
    this.idlePolls++;
    this.fallbackAt = Date.now() + this.pollDelay();
  }

  /** Quick after activity, backing off to pollIntervalMs, with jitter. */
  private pollDelay(): number {
    const base = Math.min(this.deps.pollIntervalMs, FIRST_POLL_MS * 2 ** Math.min(this.idlePolls, 10));
    return base * (0.75 + Math.random() / 2);
  }
}
