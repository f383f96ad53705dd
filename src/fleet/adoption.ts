import type { Runtime } from '../engine/runtime.js';
import { StopSwitch } from '../engine/waiters.js';
import type { RunnableWorkflow } from '../store/records.js';
import type { SystemStore } from '../store/system-store.js';
import { wakeKey } from '../store/wakeups.js';

/** Most orphans one executor adopts in one round. */
const MAX_ADOPT_BATCH = 50;
/** Pause between rounds while orphans remain, so the other survivors take their share. */
const ROUND_PAUSE_MS = 100;

export interface AdoptionOptions {
  appName: string;
  pollIntervalMs: number;
  logger: { warn(message: string): void };
}

/**
 * Adopts orphaned direct workflows: PENDING with no owner, as a takeover or a graceful hand-back
 * leaves them. Woken by the hand-over's NOTIFY (and by a slow poll), every live executor of the
 * workflows' version adopts its fair share per round — the orphans divided by the live executors
 * of that version, at most MAX_ADOPT_BATCH — and rounds are spaced so that the survivors of a dead
 * executor split its work instead of the quickest one taking it all. Adopting bumps the epoch and
 * counts an attempt; the workflow replays from its checkpoints here.
 */
export class OrphanAdoption {
  private readonly stopping = new StopSwitch();
  private loop: Promise<void> | undefined;
  /** An adoption may have committed without its reply reaching us: run what it gave us first. */
  private adoptionsUncertain = false;
  adopted = 0;

  constructor(
    private readonly store: SystemStore,
    private readonly runtime: Runtime,
    private readonly options: AdoptionOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.stop();
    await this.loop;
  }

  /** One round: adopts this executor's share of the orphans; true if more may be left. */
  async adoptRound(): Promise<boolean> {
    const { runtime } = this;
    if (!runtime.isAccepting) return false;
    if (this.adoptionsUncertain) {
      this.adoptionsUncertain = false;
      for (const record of await this.store.ownPendingIn(null, runtime.executorId)) this.runAdopted(record);
    }
    const { orphans, executors } = await this.store.orphanShare(this.options.appName, runtime.appVersion);
    if (orphans === 0) return false;
    const share = Math.min(MAX_ADOPT_BATCH, Math.ceil(orphans / Math.max(1, executors)));
    const confirming = runtime.leaseGate.confirm();
    if (confirming) await confirming;
    const records = await this.store.adoptOrphans(
      {
        owner: runtime.executorId,
        appName: this.options.appName,
        appVersion: runtime.appVersion,
        names: runtime.registry.names(),
        limit: share,
      },
      () => (this.adoptionsUncertain = true),
    );
    this.adopted += records.length;
    for (const record of records) this.runAdopted(record);
    return this.adoptionsUncertain || (records.length === share && orphans > share);
  }

  /** Runs a workflow this executor owns (unless it runs that ownership already); a failure to start one stays with it. */
  private runAdopted(record: RunnableWorkflow): void {
    try {
      this.runtime.runClaimed(record, true);
    } catch (error) {
      this.options.logger.warn(`could not run adopted workflow ${record.id}: ${(error as Error).message}`);
    }
  }

  private async run(): Promise<void> {
    const key = wakeKey('orphans');
    while (!this.stopping.isStopped) {
      const armed = this.runtime.waiters.arm(key);
      let more = false;
      try {
        more = await this.adoptRound();
      } catch (error) {
        if (this.stopping.isStopped) break;
        this.options.logger.warn(`adopting orphaned workflows failed, retrying: ${(error as Error).message}`);
      }
      if (more) {
        armed.cancel();
        await this.stopping.sleep(ROUND_PAUSE_MS * (0.5 + Math.random()));
        continue;
      }
      await armed.wait(this.options.pollIntervalMs * (0.8 + Math.random() * 0.4), this.stopping);
    }
  }
}
