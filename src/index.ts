export { Ballast } from './ballast.js';
export type { SendOptions, ShutdownOptions } from './ballast.js';
export type { BallastConfig, Logger } from './config.js';
export type { ForkOptions, GetOptions, WorkflowManagement } from './management.js';
export type {
  BackoffOptions,
  Duration,
  ResultOptions,
  StartOptions,
  StepAttempt,
  StepInfo,
  StepOptions,
  WorkflowContext,
  WorkflowDefinition,
  WorkflowFunction,
  WorkflowHandle,
  WorkflowInfo,
} from './engine/types.js';
export type { WorkflowStatus } from './store/records.js';
export * from './errors.js';
