import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import type { QueueLimits } from '../queues/options.js';
import type { BeginOptions, Driver, Transaction } from './driver.js';
import { migrate, type MigrationReport } from './migrate.js';
import type { Lease, NewCheckpoint, RunnableWorkflow, StepRecord, WorkflowRecord } from './records.js';
import { withRetry } from './retry.js';
import * as debounce from './sql/debounce.js';
import * as events from './sql/events.js';
import * as executors from './sql/executors.js';
import { quoteIdent } from './sql/identifiers.js';
import * as list from './sql/list.js';
import * as parking from './sql/parking.js';
import * as messages from './sql/messages.js';
import * as queues from './sql/queues.js';
import * as retention from './sql/retention.js';
import * as rollups from './sql/rollups.js';
import * as schedules from './sql/schedules.js';
import * as streams from './sql/streams.js';
import * as takeover from './sql/takeover.js';
import { insertTransactionCheckpoint } from './sql/transactions.js';
import * as versions from './sql/versions.js';
import * as workflows from './sql/workflows.js';
import { channelFor, packWakeKeys, unpackWakeKeys, wakeKey } from './wakeups.js';
import { GroupCommitWriter, isPositionTaken } from './writer.js';
import { callerTransaction, insertOrphanIn, outboxInserts, type OutboxInserts } from './outbox.js';
import { ReadBatcher } from './read-batcher.js';

export type { ExecutorRegistration, ExecutorRow } from './sql/executors.js';
export type { VersionRow } from './sql/versions.js';
export type { Judge, OwnedWorkflow, Release } from './sql/takeover.js';
export type { OrphanWorkflow, ScheduleDefinition, ScheduleRow } from './sql/schedules.js';

/** A transaction that recorded its checkpoint in its own commit, or was refused with nothing committed. */
export type CheckpointedTransaction<T> = { applied: true; value: T; output: string } | { applied: false; output: string };

class CheckpointRefused extends Error {
  constructor(readonly output: string) {
    super('checkpoint refused');
  }
}

export interface StoreOptions {
  schema: string;
  logger: { warn(message: string): void };
  /** Stamps rows and judges due times. Default: the system clock. */
  clock?: Clock;
}

/**
 * The engine's only door to the database. Every operation waits out connection failures (the
 * database restarting, a failover) and retries; it fails only for real errors or after close().
 */
export class SystemStore {
  readonly writer: GroupCommitWriter;
  readonly channel: string;
  private readonly s: string;
  private readonly clock: Clock;
  private closed = false;
  private lastOutageLog = 0;
  private readonly workflowReads = new ReadBatcher<WorkflowRecord>((ids) =>
    this.retry(() => workflows.getWorkflows(this.driver, this.s, ids)),
  );

  constructor(
    readonly driver: Driver,
    private readonly options: StoreOptions,
  ) {
    this.s = quoteIdent(options.schema);
    this.clock = options.clock ?? systemClock;
    this.channel = channelFor(options.schema);
    this.writer = new GroupCommitWriter(driver, {
      schema: this.s,
      channel: this.channel,
      maxInFlight: driver.kind === 'pglite' ? 1 : 2,
      isClosed: () => this.closed,
      onRetry: (error) => this.logOutage(error),
    });
  }

  get schema(): string {
    return this.options.schema;
  }

  /** Runs `operation`, waiting out connection failures (until close()). */
  retry<T>(operation: () => Promise<T>, onRetry?: () => void): Promise<T> {
    return withRetry(operation, {
      shouldStop: () => this.closed,
      onRetry: (error) => {
        this.logOutage(error);
        onRetry?.();
      },
    });
  }

  private logOutage(error: unknown): void {
    const now = Date.now();
    if (now - this.lastOutageLog < 5_000) return;
    this.lastOutageLog = now;
    this.options.logger.warn(`database unavailable, retrying: ${(error as Error).message}`);
  }

  migrate(): Promise<MigrationReport> {
    return this.retry(() => migrate(this.driver, this.options.schema));
  }

  listen(handlers: { onWake(key: string): void; onReconnect(): void }): Promise<() => Promise<void>> {
    return this.retry(() =>
      this.driver.listen(this.channel, {
        onNotification: (payload) => {
          for (const key of unpackWakeKeys(payload)) handlers.onWake(key);
        },
        onReconnect: handlers.onReconnect,
      }),
    );
  }

  /** A workflow by ID. Without payloads (input), reads in the same tick share one query. */
  getWorkflow(id: string, withPayloads = false): Promise<WorkflowRecord | undefined> {
    if (!withPayloads) return this.workflowReads.load(id);
    return this.retry(() => workflows.getWorkflow(this.driver, this.s, id, true));
  }

  loadSteps(workflowId: string): Promise<StepRecord[]> {
    return this.retry(() => workflows.loadSteps(this.driver, this.s, workflowId));
  }

  listWorkflows(query: list.ListQuery): Promise<WorkflowRecord[]> {
    if (query.search !== null) return this.retry(() => this.driver.transaction((tx) => list.searchWorkflows(tx, this.s, query)));
    return this.retry(() => list.listWorkflows(this.driver, this.s, query));
  }

  finishedAmong(ids: string[]): Promise<string[]> {
    return this.retry(() => workflows.finishedAmong(this.driver, this.s, ids));
  }

  /** `only`: these workflows among them (the testing kit's recover), else all. */
  reclaimOwnPending(owner: string, appVersion: string, only: string[] | null = null): Promise<WorkflowRecord[]> {
    return this.retry(() => workflows.reclaimOwnPending(this.driver, this.s, owner, appVersion, this.clock.now(), only));
  }

  async moveToDeadLetter(lease: Lease, error: string): Promise<boolean> {
    const moved = await this.retry(() => workflows.finishFenced(this.driver, this.s, lease, 'DEAD_LETTER', error, this.clock.now()));
    if (moved) await this.notify([wakeKey('done', lease.workflowId)]);
    return moved;
  }

  leaseState(lease: Lease, idx: number | null): Promise<workflows.LeaseState | undefined> {
    return this.retry(() => workflows.leaseState(this.driver, this.s, lease, idx));
  }

  /** Cancels a workflow (and, `withChildren`, its active descendants); wakes their runs and waiters. */
  async cancelWorkflows(id: string, withChildren: boolean): Promise<string[]> {
    const cancelled = await this.retry(() => workflows.cancelWorkflows(this.driver, this.s, id, withChildren, this.clock.now()));
    if (cancelled.length > 0) await this.notify(cancelled.flatMap((each) => [wakeKey('cancel', each), wakeKey('done', each)]));
    return cancelled;
  }

  deleteWorkflows(ids: string[]): Promise<string[]> {
    return this.retry(() => workflows.deleteWorkflows(this.driver, this.s, ids));
  }

  async failTimedOut(lease: Lease, error: string): Promise<boolean> {
    const failed = await this.retry(() => workflows.finishFenced(this.driver, this.s, lease, 'ERROR', error, this.clock.now()));
    if (failed) await this.notify([wakeKey('done', lease.workflowId)]);
    return failed;
  }

  /** See workflows.resumeWorkflow; an unowned resume wakes the executors that will take it. */
  async resumeWorkflow(id: string, owner: string | null): Promise<WorkflowRecord | undefined> {
    const record = await this.retry(() => workflows.resumeWorkflow(this.driver, this.s, id, owner, this.clock.now()));
    if (record && (owner === null || record.queue !== null)) {
      await this.notify([record.queue === null ? wakeKey('orphans') : wakeKey('queue', record.queue)]);
    }
    return record;
  }

  /** See workflows.forkWorkflow; an unowned fork (for another version) wakes the executors that adopt it. */
  async forkWorkflow(sourceId: string, newId: string, fromStep: number, fields: { owner: string | null; appVersion: string }) {
    const record = await this.retry(() =>
      this.driver.transaction((tx) => workflows.forkWorkflow(tx, this.s, sourceId, newId, fromStep, { ...fields, now: this.clock.now() })),
    );
    if (record && fields.owner === null) await this.notify([wakeKey('orphans')]);
    return record;
  }

  /**
   * Runs `work` in one transaction of the system database that also inserts its checkpoint, fenced
   * on the lease (see sql/transactions.ts). Not retried here: the caller decides what a failure
   * means. `applied: false`: nothing was committed, because the workflow is not this run's any
   * more or its position already holds another run's checkpoint.
   */
  async checkpointedTransaction<T>(
    checkpoint: Omit<NewCheckpoint, 'output' | 'completedAt'>,
    begin: BeginOptions,
    work: (tx: Transaction) => Promise<{ value: T; output: string }>,
  ): Promise<CheckpointedTransaction<T>> {
    let output: string | undefined;
    try {
      return await this.driver.transaction(async (tx) => {
        const done = await work(tx);
        output = done.output;
        if (!(await insertTransactionCheckpoint(tx, this.s, { ...checkpoint, output, completedAt: Date.now() }))) throw new CheckpointRefused(output);
        return { applied: true as const, value: done.value, output };
      }, begin);
    } catch (error) {
      if (error instanceof CheckpointRefused) return { applied: false, output: error.output };
      if (output !== undefined && isPositionTaken(error)) return { applied: false, output };
      throw error;
    }
  }

  consumeMessage(lease: Lease, step: { idx: number; name: string; topic: string; startedAt: number }): Promise<messages.RecvOutcome> {
    return this.retry(() => messages.consumeMessage(this.driver, this.s, lease, { ...step, now: this.clock.now() }));
  }

  /**
   * Sends a message from outside a workflow. Without a key, one is made per call so that retrying
   * through a lost reply still delivers once.
   */
  sendMessage(destinationId: string, topic: string, payload: string, idempotencyKey: string | null): Promise<void> {
    const key = idempotencyKey ?? `auto:${randomUUID()}`;
    return this.retry(() =>
      messages.insertMessage(this.driver, this.s, this.channel, {
        destinationId,
        topic,
        payload,
        idempotencyKey: key,
        now: this.clock.now(),
        wakeKey: wakeKey('message', destinationId, topic),
      }),
    );
  }

  readEvent(workflowId: string, key: string): Promise<string | undefined> {
    return this.retry(() => events.readEvent(this.driver, this.s, workflowId, key));
  }

  listEvents(workflowId: string): ReturnType<typeof events.listEvents> {
    return this.retry(() => events.listEvents(this.driver, this.s, workflowId));
  }

  listMessages(destinationId: string): Promise<messages.MessageRow[]> {
    return this.retry(() => messages.listMessages(this.driver, this.s, destinationId));
  }

  readStreamPage(workflowId: string, key: string, from: number, limit: number): Promise<streams.StreamPage> {
    return this.retry(() => streams.readStreamPage(this.driver, this.s, workflowId, key, from, limit));
  }

  async upsertQueues(limits: QueueLimits[], notify: boolean): Promise<void> {
    await this.retry(() => queues.upsertQueues(this.driver, this.s, limits, this.clock.now()));
    if (notify) await this.notify([wakeKey('limits'), ...limits.map((q) => wakeKey('queue', q.name))]);
  }

  readQueues(names: string[] | null): Promise<QueueLimits[]> {
    return this.retry(() => queues.readQueues(this.driver, this.s, names));
  }

  /** `onUncertain` hears of each retry: the failed attempt may have claimed rows we never saw. */
  /**
   * Claims once: after a failure that may have committed (the reply was lost), a second attempt
   * could claim as many again while the first attempt's rows are ours too, over workerConcurrency.
   * So it answers nothing instead, and `onUncertain` has the caller adopt what the first one took.
   */
  claimWorkflows(request: Omit<queues.ClaimRequest, 'lockKey' | 'virtualNow'>, onUncertain: () => void): Promise<queues.ClaimResult> {
    const lockKey = `ballast:queue:${this.options.schema}:${request.queue}`;
    let failed = false;
    const claim = async (): Promise<queues.ClaimResult> =>
      failed ? { claimed: [], retryAt: null } : queues.claimWorkflows(this.driver, this.s, { ...request, lockKey, virtualNow: this.clock.sqlNow() });
    return this.retry(claim, () => {
      failed = true;
      onUncertain();
    });
  }

  ownPendingIn(queue: string | null, owner: string): Promise<WorkflowRecord[]> {
    return this.retry(() => queues.ownPendingIn(this.driver, this.s, queue, owner));
  }

  /** See queues.pollQueues: `now` is the instance's clock, as `promoteDelayed` is then given. */
  pollQueues(names: ReadonlySet<string>, appVersion: string, now: number): Promise<queues.QueuePoll> {
    return this.retry(() => queues.pollQueues(this.driver, this.s, names, appVersion, now));
  }

  promoteDelayed(names: string[], now: number): Promise<number> {
    return this.retry(() => queues.promoteDelayed(this.driver, this.s, names, now));
  }

  /** See debounce.debounceWorkflow; a call that opens a key's window wakes the queue's dispatchers to its due time. */
  async debounceWorkflow(call: debounce.DebounceCall): Promise<debounce.Debounced> {
    const debounced = await this.retry(() => debounce.debounceWorkflow(this.driver, this.s, call, this.clock.sqlNow()));
    if (debounced.opened) await this.notify([wakeKey('delayed', call.row.queue as string)]);
    return debounced;
  }

  findActiveByDedup(queue: string, dedupId: string): Promise<string | undefined> {
    return this.retry(() => queues.findActiveByDedup(this.driver, this.s, queue, dedupId));
  }

  queueDepths(queue: string | null, appVersion: string | null): Promise<queues.QueueDepth[]> {
    return this.retry(() => queues.queueDepths(this.driver, this.s, queue, appVersion));
  }

  versionDepths(): Promise<queues.VersionDepth[]> {
    return this.retry(() => queues.versionDepths(this.driver, this.s));
  }

  queueUsage(queue: string, ratePeriodMs: number): Promise<queues.QueueUsage> {
    return this.retry(() => queues.queueUsage(this.driver, this.s, queue, ratePeriodMs));
  }

  // --- per-minute history (the dashboard's charts) ---

  addRollups(rows: rollups.RollupRow[]): Promise<void> {
    return this.retry(() => rollups.addRollups(this.driver, this.s, rows));
  }

  readRollups(query: rollups.RollupQuery): ReturnType<typeof rollups.readRollups> {
    return this.retry(() => rollups.readRollups(this.driver, this.s, query));
  }

  readRollupBreakdown(query: Omit<rollups.RollupQuery, 'stepMs'>): Promise<rollups.RollupBreakdownRow[]> {
    return this.retry(() => rollups.readRollupBreakdown(this.driver, this.s, query));
  }

  sampleQueueDepths(minute: number): Promise<void> {
    return this.retry(() => rollups.sampleQueueDepths(this.driver, this.s, minute));
  }

  readDepthSamples(queue: string, from: number, to: number, stepMs: number): Promise<rollups.DepthSampleRow[]> {
    return this.retry(() => rollups.readDepthSamples(this.driver, this.s, queue, from, to, stepMs));
  }

  pruneRollups(minutesBefore: number, hoursBefore: number): Promise<number> {
    return this.retry(() => rollups.pruneRollups(this.driver, this.s, minutesBefore, hoursBefore));
  }

  deleteFinished(cutoff: retention.RetentionCutoff, from: number | null, batch: number, turn: retention.RetentionTurn | null): Promise<retention.DeleteOutcome> {
    return this.retry(() => retention.deleteFinished(this.driver, this.s, cutoff, from, batch, turn));
  }

  releaseRetentionTurn(holder: string, pauseMs: number): Promise<void> {
    return this.retry(() => retention.releaseTurn(this.driver, this.s, holder, pauseMs));
  }

  retentionBudgetCutoff(maxRows: number): Promise<number | null> {
    return this.retry(() => retention.budgetCutoff(this.driver, this.s, maxRows));
  }

  registerExecutor(registration: executors.ExecutorRegistration): Promise<void> {
    return this.retry(() => executors.registerExecutor(this.driver, this.s, registration));
  }

  /**
   * One heartbeat: renews the executor's lease, registering it again if its row is gone. Not
   * retried: the next beat is the retry, and a beat must never hold up a shutdown.
   */
  async renewLease(registration: executors.ExecutorRegistration, running: number): Promise<void> {
    if (await executors.renewLease(this.driver, this.s, registration.id, registration.leaseMs, running)) return;
    await executors.registerExecutor(this.driver, this.s, registration);
  }

  currentAppVersion(appName: string, queue: string | null): Promise<string | undefined> {
    return this.retry(() => executors.currentAppVersion(this.driver, this.s, appName, queue));
  }

  versionExists(appName: string, version: string): Promise<boolean> {
    return this.retry(() => executors.versionExists(this.driver, this.s, appName, version));
  }

  listExecutors(appName: string | null, liveOnly: boolean): Promise<executors.ExecutorRow[]> {
    return this.retry(() => executors.listExecutors(this.driver, this.s, appName, liveOnly));
  }

  listVersions(appName: string): Promise<versions.VersionRow[]> {
    return this.retry(() => versions.listVersions(this.driver, this.s, appName));
  }

  forgetRecoveredExecutors(appName: string, olderThanMs: number): Promise<number> {
    return this.retry(() => executors.forgetRecovered(this.driver, this.s, appName, olderThanMs));
  }

  expiredExecutors(appName: string, judge: takeover.Judge, limit: number): Promise<string[]> {
    return this.retry(() => takeover.expiredExecutors(this.driver, this.s, appName, judge, limit));
  }

  /**
   * Hands over up to `batch` PENDING workflows of an executor, in one transaction: by a `judge`, it
   * takes them from an executor whose lease expired (locked, so one claimer at a time; nothing
   * happens if it renewed meanwhile or the judge may not judge now); by `'self'`, it is a graceful
   * hand-back by the executor itself.
   * `decide` says what becomes of each. Once none is left, the executor is marked recovered (and,
   * for a hand-back, its lease ended). Returns the workflows handed over, or null if the executor
   * was not ours to take.
   */
  handOver(
    executorId: string,
    by: takeover.Judge | 'self',
    batch: number,
    decide: (owned: takeover.OwnedWorkflow[]) => takeover.Release[],
  ): Promise<{ released: takeover.Release[]; owned: takeover.OwnedWorkflow[]; done: boolean } | null> {
    return this.retry(() =>
      this.driver.transaction(async (tx) => {
        if (by !== 'self' && !(await takeover.lockExpiredExecutor(tx, this.s, executorId, by))) return null;
        const owned = await takeover.pendingOwnedBy(tx, this.s, executorId, batch);
        const released = decide(owned);
        await takeover.releaseWorkflows(tx, this.s, released);
        const done = owned.length < batch;
        if (done) await takeover.markRecovered(tx, this.s, executorId, by === 'self');
        const keys = new Set<string>();
        owned.forEach((workflow, n) => {
          const status = released[n]?.status;
          if (status === 'DEAD_LETTER') keys.add(wakeKey('done', workflow.id));
          else if (workflow.queue !== null) keys.add(wakeKey('queue', workflow.queue));
          else keys.add(wakeKey('orphans'));
        });
        // Delivered at commit: nobody looks before the rows are handed over.
        for (const payload of packWakeKeys(keys)) await tx.query(`SELECT pg_notify($1, $2)`, [this.channel, payload]);
        return { released, owned, done };
      }),
    );
  }

  orphanShare(appName: string, appVersion: string): Promise<{ orphans: number; executors: number }> {
    return this.retry(() => takeover.orphanShare(this.driver, this.s, appName, appVersion));
  }

  /** `onUncertain`: an attempt failed after it may have committed (its adoptions are ours, unheard). */
  adoptOrphans(adoption: Parameters<typeof takeover.adoptOrphans>[2], onUncertain: () => void): Promise<RunnableWorkflow[]> {
    return this.retry(() => takeover.adoptOrphans(this.driver, this.s, adoption), onUncertain);
  }

  /** Parks a workflow we hold (see sql/parking.ts); false when it is not ours any more. */
  async park(lease: Lease, wake: parking.WakeCondition): Promise<boolean> {
    const parked = await this.writer.park({ workflowId: lease.workflowId, owner: lease.owner, epoch: lease.epoch, ...wake, parkedAt: this.clock.now() });
    if (parked && wake.topic !== null) {
      const topic = wake.topic;
      await this.retry(() => parking.recheckMessage(this.driver, this.s, this.channel, lease, topic, this.clock.now()));
    }
    return parked;
  }

  /** Parks a workflow we hold until workflows it waits on finish (see sql/parking.ts). */
  parkOnWorkflows(lease: Lease, wait: Omit<parking.WorkflowsWait, 'parkedAt'>): Promise<parking.WorkflowsPark> {
    return this.retry(() => parking.parkOnWorkflows(this.driver, this.s, lease, { ...wait, parkedAt: this.clock.now() }));
  }

  /** `onUncertain`: an attempt failed after it may have committed (its claims are ours, unheard). */
  claimParked(claim: Omit<Parameters<typeof parking.claimDue>[2], 'now'>, onUncertain: () => void): Promise<RunnableWorkflow[]> {
    return this.retry(() => parking.claimDue(this.driver, this.s, { ...claim, now: this.clock.now() }), onUncertain);
  }

  nextParkedDue(appName: string, appVersion: string): Promise<number | null> {
    return this.retry(() => parking.nextDue(this.driver, this.s, appName, appVersion));
  }

  heldAmong(leases: Lease[]): Promise<string[]> {
    return this.retry(() => takeover.heldAmong(this.driver, this.s, leases));
  }

  // --- schedules (src/schedule) ---

  /**
   * A launch's declaration in one transaction: writes the declared schedules it may take (see
   * schedules.declareSchedules) and retires the ones a newer version no longer declares.
   */
  declareSchedules(appName: string, appVersion: string, declared: schedules.ScheduleDefinition[]): Promise<{ written: string[]; retired: string[] }> {
    const now = this.clock.now();
    return this.retry(() =>
      this.driver.transaction(async (tx) => ({
        written: await schedules.declareSchedules(tx, this.s, { appName, appVersion, now, schedules: declared, mode: 'launch' }),
        retired: await schedules.retireUndeclared(tx, this.s, { appName, appVersion, now, declared: declared.map((d) => d.name) }),
      })),
    );
  }

  /** Takes over declared schedules nobody alive fires (see schedules.declareSchedules, mode claim); returns the names taken. */
  claimSchedules(appName: string, appVersion: string, declared: schedules.ScheduleDefinition[]): Promise<string[]> {
    return this.retry(() => schedules.declareSchedules(this.driver, this.s, { appName, appVersion, now: this.clock.now(), schedules: declared, mode: 'claim' }));
  }

  readSchedules(appName: string, name: string | null = null): Promise<schedules.ScheduleRow[]> {
    return this.retry(() => schedules.readSchedules(this.driver, this.s, appName, name));
  }

  setSchedulePaused(appName: string, name: string, paused: boolean): Promise<boolean> {
    return this.retry(() => schedules.setPaused(this.driver, this.s, appName, name, paused, this.clock.now()));
  }

  recordScheduleTick(appName: string, name: string, tickAt: number, workflowId: string): Promise<void> {
    return this.retry(() => schedules.recordTick(this.driver, this.s, { appName, name, tickAt, workflowId, now: this.clock.now() }));
  }

  /**
   * Inserts in the caller's own open transaction (the outbox option of enqueue); throws
   * ValidationError, naming `what`, if `transaction` is not a client in a transaction.
   */
  outboxInserts(transaction: unknown, what: string): OutboxInserts {
    return outboxInserts(callerTransaction(transaction, what), this.s, this.channel);
  }

  /** insertOrphanWorkflow, in the caller's own open transaction (the outbox option of start). */
  insertOrphanInTransaction(transaction: unknown, what: string, orphan: schedules.OrphanWorkflow): Promise<boolean> {
    return insertOrphanIn(callerTransaction(transaction, what), this.s, this.channel, orphan);
  }

  /** Inserts an ownerless PENDING workflow for the executors of its version to adopt (and wakes them). */
  insertOrphanWorkflow(orphan: schedules.OrphanWorkflow): Promise<boolean> {
    return this.retry(() => schedules.insertOrphan(this.driver, this.s, this.channel, wakeKey('orphans'), orphan));
  }

  private async notify(keys: string[]): Promise<void> {
    for (const payload of packWakeKeys(keys)) await this.retry(() => this.driver.query(`SELECT pg_notify($1, $2)`, [this.channel, payload]));
  }

  /** Stops retrying through outages; in-flight retries give up with their last error. */
  markClosed(): void {
    this.closed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.driver.close();
  }
}
