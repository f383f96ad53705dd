export { Ballast, PATCHING_APP_VERSION } from './ballast.js';
export type { SendOptions, ShutdownOptions } from './ballast.js';
export type { AdminConfig, BallastConfig, Logger, RetentionConfig } from './config.js';
export type {
  AdminAction,
  AdminHandlerOptions,
  AdminRequestHandler,
  AdminSource,
  Authorize,
  DashboardOptions,
  PayloadSite,
  Readiness,
  Redact,
  Role,
} from './admin/handler.js';
export type { ForkOptions, GetOptions, WorkflowFilter, WorkflowManagement, WorkflowQueries } from './management.js';
export type {
  BackoffOptions,
  CallerTransaction,
  DebounceOptions,
  Duration,
  EnqueueOptions,
  FinishedWorkflow,
  OutputOf,
  ReadStreamOptions,
  ResultOptions,
  StartOptions,
  StepAttempt,
  StepInfo,
  StepOptions,
  IsolationLevel,
  StreamEntry,
  Transaction,
  TransactionOptions,
  WaitOptions,
  WorkflowContext,
  WorkflowDefinition,
  WorkflowFunction,
  WorkflowHandle,
  WorkflowInfo,
  WorkflowOutcome,
} from './engine/types.js';
export type { WorkflowStatus } from './store/records.js';
export type { WorkflowAttributes } from './engine/attributes.js';
export { MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_LENGTH, MAX_ATTRIBUTE_VALUE_LENGTH } from './engine/attributes.js';
export type { DataSourceOptions } from './store/data-sources.js';
export type { ExecutorInfo, ExecutorListOptions, ExecutorsApi, VersionInfo, VersionsApi } from './fleet/registry.js';
export type { QueueOptions, RateLimit } from './queues/options.js';
export type { Queue } from './queues/registry.js';
export type { MetricsOptions, QueueMetrics, QueueService } from './queues/service.js';
export type { ScheduledRun, ScheduleOptions } from './schedule/declaration.js';
export type { ScheduleInfo, SchedulesApi } from './schedule/service.js';
export type { History, HistoryOptions, HistoryPoint, QueueDepthPoint, RunCounts, StatsApi, WorkflowTotals } from './telemetry/history.js';
export * from './errors.js';
export type { WorkflowOptions } from './engine/registry.js';
