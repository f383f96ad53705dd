import { performance } from 'node:perf_hooks';
import type { LeaseGate } from '../engine/lease-gate.js';
import type { Runtime } from '../engine/runtime.js';
import { isTransientError } from '../store/retry.js';
import type { ExecutorRegistration, SystemStore } from '../store/system-store.js';

/** How long shutdown waits for a lease renewal on its way before handing the executor's work back. */
const HEARTBEAT_LANDING_MS = 2_000;

export interface LeaseOptions {
  heartbeatIntervalMs: number;
  logger: { info(message: string): void; warn(message: string): void };
}

/**
 * This executor's lease: registered at launch, renewed every heartbeat from the database's clock.
 * It also keeps, on this process's monotonic clock, a conservative bound on how long the lease is
 * surely current: the moment the last renewal was sent, plus the lease. Within it, the fleet cannot
 * have judged this executor dead, so steps run without asking anyone. Past it (the process was
 * paused, or could not reach the database, for longer than the lease), `confirm` renews the lease
 * first and stops the runs whose workflows another executor took over meanwhile.
 */
export class ExecutorLease implements LeaseGate {
  private heartbeat: NodeJS.Timeout | undefined;
  /** The renewal on its way, if any: shutdown waits for it before handing work back. */
  private beating: Promise<void> | undefined;
  private confirming: Promise<void> | undefined;
  /** performance.now() until which the lease is surely current (0: not yet registered). */
  private currentUntil = 0;
  private stopped = false;

  constructor(
    private readonly store: SystemStore,
    private readonly registration: ExecutorRegistration,
    private readonly runtime: Runtime,
    private readonly options: LeaseOptions,
  ) {}

  get executorId(): string {
    return this.registration.id;
  }

  /** Registers the executor (retrying through outages) and starts the heartbeat. */
  async register(): Promise<void> {
    const sentAt = performance.now();
    await this.store.registerExecutor(this.registration);
    this.currentUntil = sentAt + this.registration.leaseMs;
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  confirm(): Promise<void> | undefined {
    if (performance.now() < this.currentUntil || this.stopped) return undefined;
    this.confirming ??= this.renewUntilDone().finally(() => (this.confirming = undefined));
    return this.confirming;
  }

  /**
   * Whether this executor should look for dead peers now: not while its own lease may have run out.
   * The database has the last word (see FleetTakeover.judge): it also makes an executor whose lease
   * was broken, or that just started, wait before it judges anyone.
   */
  mayJudgePeers(): boolean {
    return !this.stopped && performance.now() < this.currentUntil;
  }

  /** Stops the heartbeat and lets a renewal on its way land (for at most a couple of seconds). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    const pending = this.beating ?? this.confirming;
    if (!pending) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, HEARTBEAT_LANDING_MS)))]);
    clearTimeout(timer);
  }

  /** One heartbeat; not retried: the next beat is the retry, and a beat never holds up a shutdown. */
  private beat(): void {
    if (this.beating || this.confirming || this.stopped) return;
    this.beating = this.renewOnce()
      .catch((error: Error) => this.options.logger.warn(`heartbeat failed: ${error.message}`))
      .finally(() => (this.beating = undefined));
  }

  /**
   * Renews the lease. If it may have run out before this renewal landed, the fleet may have taken
   * workflows over meanwhile: the runs of those stop before they run anything more.
   */
  private async renewOnce(): Promise<void> {
    const sentAt = performance.now();
    await this.store.renewLease(this.registration, this.runtime.runningCount);
    const lapsedFor = sentAt - this.currentUntil;
    if (lapsedFor < 0) {
      this.currentUntil = sentAt + this.registration.leaseMs;
      return;
    }
    this.options.logger.warn(
      `executor ${this.registration.id}: its lease ran out ${Math.round(lapsedFor)} ms before this renewal ` +
        '(the process was paused or could not reach the database); workflows the fleet took over meanwhile stop here',
    );
    const checked = this.runtime.runningLeases();
    const held = new Set(await this.store.heldAmong(checked));
    this.runtime.stopLost(checked, held);
    // Only now: no step may pass the gate while lost runs are still being found.
    this.currentUntil = sentAt + this.registration.leaseMs;
  }

  /** Renews the lease, retrying until it lands (or the instance stops). */
  private async renewUntilDone(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        if (this.beating) await this.beating;
        if (performance.now() < this.currentUntil) return;
        await this.renewOnce();
        return;
      } catch (error) {
        if (!isTransientError(error)) this.options.logger.warn(`lease renewal failed: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** Math.min(attempt, 6))));
      }
    }
  }
}
