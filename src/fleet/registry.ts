import { optionNames, requireOptions } from '../engine/validation.js';
import type { ExecutorRow, SystemStore, VersionRow } from '../store/system-store.js';

/** An executor as `executors.list()` shows it. */
export interface ExecutorInfo {
  id: string;
  appName: string;
  appVersion: string;
  hostname: string | null;
  pid: number | null;
  /** Queues it dispatches. */
  queues: string[];
  /** Workflows it ran at its last heartbeat. */
  running: number;
  startedAt: Date;
  lastHeartbeatAt: Date;
  leaseExpiresAt: Date;
  /** False once its lease has run out (it stopped, died, or is cut off). */
  alive: boolean;
  /** When its unfinished workflows were handed to the fleet (after it died or stopped); null while it may own some. */
  recoveredAt: Date | null;
}

/** An application version as `versions.list()` shows it: who runs it and what it still holds. */
export interface VersionInfo {
  version: string;
  /** The version new work goes to when an enqueue names none (see the rules in docs/fleet.md). */
  latest: boolean;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  /** Its live executors. */
  executors: ExecutorInfo[];
  backlog: {
    enqueued: number;
    delayed: number;
    pending: number;
    /** Of `pending`, those parked until their wait is over: any live executor of the version wakes them. */
    parked: number;
    /** PENDING workflows that no live executor owns: orphaned, or their executor's lease expired (parked ones not counted). */
    pendingWithoutLiveOwner: number;
  };
}

export interface ExecutorListOptions {
  /** Also list executors whose lease has run out (kept for a day after their work was handed over). */
  includeDead?: boolean;
}

const EXECUTOR_LIST_OPTIONS = optionNames<ExecutorListOptions>({ includeDead: true });

/** `ballast.executors` and the client's: the executors of the application. */
export interface ExecutorsApi {
  list(options?: ExecutorListOptions): Promise<ExecutorInfo[]>;
}

/** `ballast.versions` and the client's: the registry of application versions. */
export interface VersionsApi {
  /** Every version known to the application, newest first, with its live executors and backlog. */
  list(): Promise<VersionInfo[]>;
}

/** The fleet as the executors table shows it: executors and versions of one application. */
export class FleetRegistry {
  readonly executors: ExecutorsApi = { list: (options) => this.listExecutors(options) };
  readonly versions: VersionsApi = { list: () => this.listVersions() };

  constructor(
    private readonly store: SystemStore,
    private readonly appName: string,
  ) {}

  private async listExecutors(options: ExecutorListOptions = {}): Promise<ExecutorInfo[]> {
    requireOptions(options ?? null, EXECUTOR_LIST_OPTIONS, 'executors.list(options)', '{ includeDead: true }');
    return (await this.store.listExecutors(this.appName, options.includeDead !== true)).map(toExecutorInfo);
  }

  private async listVersions(): Promise<VersionInfo[]> {
    const [rows, live, latest] = await Promise.all([
      this.store.listVersions(this.appName),
      this.store.listExecutors(this.appName, true),
      this.store.currentAppVersion(this.appName, null),
    ]);
    return rows.map((row) => toVersionInfo(row, live.filter((executor) => executor.appVersion === row.version), row.version === latest));
  }
}

function toExecutorInfo(row: ExecutorRow): ExecutorInfo {
  return {
    id: row.id,
    appName: row.appName,
    appVersion: row.appVersion,
    hostname: row.hostname,
    pid: row.pid,
    queues: row.queues,
    running: row.running,
    startedAt: new Date(row.startedAt),
    lastHeartbeatAt: new Date(row.heartbeatAt),
    leaseExpiresAt: new Date(row.leaseExpiresAt),
    alive: row.alive,
    recoveredAt: row.recoveredAt === null ? null : new Date(row.recoveredAt),
  };
}

function toVersionInfo(row: VersionRow, executors: ExecutorRow[], latest: boolean): VersionInfo {
  return {
    version: row.version,
    latest,
    firstSeenAt: row.firstSeenAt === null ? null : new Date(row.firstSeenAt),
    lastSeenAt: row.lastSeenAt === null ? null : new Date(row.lastSeenAt),
    executors: executors.map(toExecutorInfo),
    backlog: {
      enqueued: row.enqueued,
      delayed: row.delayed,
      pending: row.pending,
      parked: row.parked,
      pendingWithoutLiveOwner: row.pendingWithoutLiveOwner,
    },
  };
}
