import type { Runtime } from '../engine/runtime.js';
import { StopSwitch } from '../engine/waiters.js';
import type { RunnableWorkflow } from '../store/records.js';
import { PARKED_WAKE_KEY } from '../store/sql/parking.js';
import type { SystemStore } from '../store/system-store.js';

/** Most parked workflows one executor claims in one round. */
const MAX_CLAIM_BATCH = 100;
/**
 * Workflows running here above which this executor claims no more due ones: a mass wake-up (a
 * million sleepers due at midnight) is taken on as fast as it is worked off, in bounded memory, and
 * the rest wait for whichever executor has room.
 */
const MAX_RUNNING = 1_000;
/** How soon an executor at MAX_RUNNING looks again. */
const BUSY_PAUSE_MS = 50;

export interface ParkedWakeupsOptions {
  appName: string;
  pollIntervalMs: number;
  logger: { warn(message: string): void };
}

/**
 * Resumes parked workflows of this executor's version when they fall due: at the earliest wake
 * time among them (read from the database after each round, so a workflow parked by any executor
 * counts), and whenever a message wakes one (the sender's NOTIFY). Every live executor of the
 * version claims due workflows side by side, each claimed once (SKIP LOCKED, the epoch moves on),
 * and replays them from their checkpoints. Between those, a slow poll covers lost notifications.
 */
export class ParkedWakeups {
  private readonly stopping: StopSwitch;
  private loop: Promise<void> | undefined;
  /** A claim may have committed without its reply reaching us: run what it gave us first. */
  private claimsUncertain = false;
  resumed = 0;

  constructor(
    private readonly store: SystemStore,
    private readonly runtime: Runtime,
    private readonly options: ParkedWakeupsOptions,
  ) {
    this.stopping = new StopSwitch(runtime.clock);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.stop();
    await this.loop;
  }

  /** One round: claims due parked workflows and runs them, as many as it has room for; true if more may be due. */
  async claimRound(): Promise<boolean> {
    const { runtime } = this;
    if (!runtime.isAccepting) return false;
    if (this.claimsUncertain) {
      this.claimsUncertain = false;
      for (const record of await this.store.ownPendingIn(null, runtime.executorId)) this.resume(record);
    }
    const limit = Math.min(MAX_CLAIM_BATCH, MAX_RUNNING - runtime.runningCount);
    if (limit <= 0) return true;
    const confirming = runtime.leaseGate.confirm();
    if (confirming) await confirming;
    const records = await this.store.claimParked(
      {
        owner: runtime.executorId,
        appName: this.options.appName,
        appVersion: runtime.appVersion,
        names: runtime.registry.names(),
        limit,
      },
      () => (this.claimsUncertain = true),
    );
    this.resumed += records.length;
    for (const record of records) this.resume(record);
    return this.claimsUncertain || records.length === limit;
  }

  private resume(record: RunnableWorkflow): void {
    try {
      this.runtime.runClaimed(record, true);
    } catch (error) {
      this.options.logger.warn(`could not resume parked workflow ${record.id}: ${(error as Error).message}`);
    }
  }

  private async run(): Promise<void> {
    const { runtime } = this;
    while (!this.stopping.isStopped) {
      if (runtime.runningCount >= MAX_RUNNING) {
        await this.stopping.sleep(BUSY_PAUSE_MS);
        continue;
      }
      const armed = runtime.waiters.arm(PARKED_WAKE_KEY);
      let more = false;
      let dueAt: number | undefined;
      try {
        more = await this.claimRound();
        if (!more) dueAt = (await this.store.nextParkedDue(this.options.appName, runtime.appVersion)) ?? undefined;
        // Due already, yet not ours to claim (say, a workflow this process has no code for): not a reason to spin.
        if (dueAt !== undefined && dueAt <= runtime.clock.now()) dueAt = undefined;
      } catch (error) {
        if (this.stopping.isStopped) break;
        this.options.logger.warn(`resuming parked workflows failed, retrying: ${(error as Error).message}`);
      }
      if (more) {
        armed.cancel();
        continue;
      }
      await armed.wait(this.options.pollIntervalMs * (0.8 + Math.random() * 0.4), this.stopping, dueAt);
    }
  }
}
