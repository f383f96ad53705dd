/**
 * Every error Ballast throws on purpose. Each class has a stable `code` that callers can switch on;
 * messages say what happened and what to do about it.
 */
export class BallastError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Invalid configuration or arguments passed to a public entry point. */
export class ValidationError extends BallastError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A value that cannot be stored durably (function, symbol, class instance, cycle, …). */
export class SerializationError extends BallastError {
  readonly path: string;

  constructor(message: string, path: string) {
    super('NOT_SERIALIZABLE', message);
    this.path = path;
  }
}

/** A serialized value is larger than the configured payload limit. */
export class PayloadTooLargeError extends BallastError {
  constructor(what: string, bytes: number, limit: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      `${what} serializes to ${bytes} bytes, over the ${limit}-byte limit (maxPayloadBytes). ` +
        'Store large data elsewhere and pass a reference, or raise maxPayloadBytes.',
    );
  }
}

export class DuplicateRegistrationError extends BallastError {
  constructor(kind: string, name: string) {
    super(
      'DUPLICATE_REGISTRATION',
      `A ${kind} named "${name}" is already registered on this Ballast instance; give each ${kind} a unique name.`,
    );
  }
}

export class UnknownWorkflowError extends BallastError {
  readonly workflowName: string;

  constructor(workflowName: string, detail = '') {
    super(
      'UNKNOWN_WORKFLOW',
      `No workflow named "${workflowName}" is registered${detail}. ` +
        'Register it with ballast.workflow(name, fn) before launch(), in every process that runs this application version.',
    );
    this.workflowName = workflowName;
  }
}

export class UnknownQueueError extends BallastError {
  constructor(queueName: string) {
    super(
      'UNKNOWN_QUEUE',
      `No queue named "${queueName}" exists. Declare it with ballast.queue("${queueName}", options) before launch().`,
    );
  }
}

/** A transaction named a data source that was not declared with ballast.dataSource(name, options). */
export class UnknownDataSourceError extends BallastError {
  readonly dataSource: string;

  constructor(dataSource: string, declared: string[]) {
    super(
      'UNKNOWN_DATA_SOURCE',
      `No data source named "${dataSource}" is declared${declared.length > 0 ? ` (declared: ${declared.map((name) => `"${name}"`).join(', ')})` : ''}. ` +
        `Declare it with ballast.dataSource("${dataSource}", { databaseUrl }) before launch(), or leave dataSource out to use the system database.`,
    );
    this.dataSource = dataSource;
  }
}

/** An enqueue whose dedupId matches a workflow still active in the same queue. */
export class DuplicateWorkflowError extends BallastError {
  readonly existingWorkflowId: string;

  constructor(queue: string, dedupId: string, existingWorkflowId: string) {
    super(
      'DEDUPLICATED',
      `Queue "${queue}" already has an active workflow (${existingWorkflowId}) with dedupId "${dedupId}". ` +
        'Wait for it to finish, or enqueue with { onDuplicate: "existing" } to get its handle instead.',
    );
    this.existingWorkflowId = existingWorkflowId;
  }
}

/** A durable operation (step, sleep, recv, …) was called outside a running workflow. */
export class NotInWorkflowError extends BallastError {
  constructor(operation: string) {
    super(
      'NOT_IN_WORKFLOW',
      `${operation} can only be called inside a running workflow, through the context passed to the workflow function; ` +
        'this context belongs to a workflow that has already finished or the call escaped it.',
    );
  }
}

/** Replay met a different operation than the one recorded at the same position. */
export class NonDeterminismError extends BallastError {
  readonly workflowId: string;
  readonly stepIndex: number;

  constructor(workflowId: string, stepIndex: number, recorded: string, found: string) {
    super(
      'NON_DETERMINISM',
      `Workflow ${workflowId} replayed step #${stepIndex} as "${found}" but the recorded checkpoint is "${recorded}". ` +
        'Workflow code changed in a way that alters the order of durable operations; guard new code with ctx.patched(name) ' +
        'or bump the application version.',
    );
    this.workflowId = workflowId;
    this.stepIndex = stepIndex;
  }
}

export class WorkflowCancelledError extends BallastError {
  readonly workflowId: string;

  constructor(workflowId: string) {
    super('WORKFLOW_CANCELLED', `Workflow ${workflowId} was cancelled.`);
    this.workflowId = workflowId;
  }
}

export class WorkflowTimeoutError extends BallastError {
  readonly workflowId: string;

  constructor(workflowId: string, timeoutMs: number) {
    super('WORKFLOW_TIMEOUT', `Workflow ${workflowId} exceeded its timeout of ${timeoutMs} ms.`);
    this.workflowId = workflowId;
  }
}

export class StepTimeoutError extends BallastError {
  constructor(stepName: string, timeoutMs: number) {
    super('STEP_TIMEOUT', `Step "${stepName}" did not finish within ${timeoutMs} ms.`);
  }
}

/** The workflow exhausted its recovery attempts and was moved to DEAD_LETTER. */
export class DeadLetterError extends BallastError {
  readonly workflowId: string;
  readonly recoveries: number;

  /** `reason`: what ended its last run, such as "executor pod-7 stopped renewing its lease while running it". */
  constructor(workflowId: string, recoveries: number, reason?: string) {
    super(
      'DEAD_LETTER',
      `Workflow ${workflowId} was recovered ${recoveries} times without finishing${reason ? ` (last: ${reason})` : ''} ` +
        'and was moved to DEAD_LETTER: it may be crashing every process that runs it. ' +
        'Inspect it with `ballast workflows steps`, fix the cause, then `ballast workflows resume` it.',
    );
    this.workflowId = workflowId;
    this.recoveries = recoveries;
  }
}

/** The workflow is not in a status the operation applies to (resume a running one, delete an active one, …). */
export class WorkflowStateError extends BallastError {
  readonly workflowId: string;
  readonly status: string;

  constructor(workflowId: string, status: string, operation: string, allowed: readonly string[], hint: string) {
    super(
      'INVALID_WORKFLOW_STATE',
      `Cannot ${operation} workflow ${workflowId}: it is ${status}, and only ${allowed.join(', ')} workflows can be. ${hint}`,
    );
    this.workflowId = workflowId;
    this.status = status;
  }
}

/** An application version that no executor of the application ever registered. */
export class UnknownVersionError extends BallastError {
  readonly version: string;

  constructor(appName: string, version: string) {
    super(
      'UNKNOWN_VERSION',
      `No executor of application "${appName}" has ever run version "${version}", so nothing would run work moved to it. ` +
        'Check the name with `ballast versions`, or launch an executor of that version first.',
    );
    this.version = version;
  }
}

export class WorkflowNotFoundError extends BallastError {
  constructor(workflowId: string) {
    super('WORKFLOW_NOT_FOUND', `No workflow with ID "${workflowId}" exists.`);
  }
}

/** A result or event wait ran past its timeout. */
export class WaitTimeoutError extends BallastError {
  constructor(what: string, timeoutMs: number) {
    super('WAIT_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for ${what}.`);
  }
}

/** A workflow wrote to a stream it had closed. */
export class StreamClosedError extends BallastError {
  readonly key: string;

  constructor(workflowId: string, key: string) {
    super('STREAM_CLOSED', `Workflow ${workflowId} closed its stream "${key}" with ctx.closeStream; a closed stream takes no more values.`);
    this.key = key;
  }
}

/** The instance is not in a state that allows the call (not launched, shutting down, …). */
/**
 * The testing kit's crashAfterStep: a run of the targeted workflow ended without recording the
 * step it was to crash after (no step of that name or position, or the workflow took another path).
 */
export class CrashPointMissedError extends BallastError {
  constructor(workflowId: string, step: string, end: string) {
    super(
      'CRASH_POINT_MISSED',
      `Workflow ${workflowId} ended (${end}) without recording step ${JSON.stringify(step)}, so it never crashed there. ` +
        'Name a step it records (see ballast.workflows.steps(id)) or its position in that list.',
    );
  }
}

export class LifecycleError extends BallastError {
  constructor(message: string) {
    super('INVALID_STATE', message);
  }
}

/** A migration's DDL could not take its table locks: a long transaction holds them. */
export class MigrationBlockedError extends BallastError {
  constructor(schema: string, attempts: number, holders: string[], cause: unknown) {
    super(
      'MIGRATION_BLOCKED',
      `Migrating schema "${schema}" gave up after ${attempts} attempts: other sessions kept locks on its tables ` +
        `(each attempt waited at most 2 s, so that the running fleet's writes were never held up longer). ` +
        `End or shorten the long transactions holding them, then launch again` +
        (holders.length > 0 ? `:\n${holders.join('\n')}` : '.'),
      { cause },
    );
  }
}

/** Two processes asked for the same embedded (PGlite) database directory. */
export class EmbeddedDatabaseBusyError extends BallastError {
  constructor(dataDir: string, pid: number) {
    super(
      'EMBEDDED_DATABASE_BUSY',
      `The embedded database in ${dataDir} is in use by process ${pid}. PGlite serves one process; ` +
        'to run several processes (replicas, workers), set BALLAST_DATABASE_URL to a Postgres server.',
    );
  }
}

/** Internal: this executor no longer owns the workflow (another executor took it over). */
export class OwnershipLostError extends BallastError {
  /** How this executor found out: which of its writes was refused, or the check after a lapsed lease. */
  readonly detail: string;

  constructor(workflowId: string, detail = 'a write was refused') {
    super('OWNERSHIP_LOST', `This executor no longer owns workflow ${workflowId} (${detail}); another executor took it over.`);
    this.detail = detail;
  }
}

/** A schedule declared with a cron expression or time zone that cannot work. */
export class InvalidScheduleError extends BallastError {
  readonly scheduleName: string;

  constructor(scheduleName: string, problem: string) {
    super('INVALID_SCHEDULE', `Schedule "${scheduleName}": ${problem}`);
    this.scheduleName = scheduleName;
  }
}

export class UnknownScheduleError extends BallastError {
  readonly scheduleName: string;

  constructor(appName: string, scheduleName: string, detail?: string) {
    super(
      'UNKNOWN_SCHEDULE',
      detail ??
        `Application "${appName}" has no schedule named "${scheduleName}". ` +
          'Schedules exist once a launched executor declares them with ballast.schedule(name, cron, workflow); `ballast schedules list` shows them.',
    );
    this.scheduleName = scheduleName;
  }
}

/**
 * The caller may not do this: an anonymous or viewer caller asked for an operator's action, or a
 * remote caller asked to change something while no token is configured (only loopback clients may).
 */
export class ForbiddenError extends BallastError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** An action switched off in the admin options (`readOnly`, or `actions: { delete: false, … }`). */
export class ActionDisabledError extends BallastError {
  readonly action: string;

  constructor(action: string, reason: string) {
    super('ACTION_DISABLED', `The "${action}" action is switched off on this server (${reason}). Ask whoever runs it to enable it in the admin options.`);
    this.action = action;
  }
}

/** A search over workflow payloads ran past its statement timeout. */
export class SearchTimeoutError extends BallastError {
  constructor(timeoutMs: number) {
    super(
      'SEARCH_TIMEOUT',
      `The search over inputs, outputs and errors did not finish within ${timeoutMs} ms. Narrow the time range, or add a name, queue or status filter.`,
    );
  }
}

const BALLAST_ERROR_CLASSES: ReadonlyMap<string, { prototype: BallastError }> = new Map(
  [
    BallastError,
    ValidationError,
    SerializationError,
    PayloadTooLargeError,
    DuplicateRegistrationError,
    UnknownWorkflowError,
    UnknownQueueError,
    UnknownDataSourceError,
    DuplicateWorkflowError,
    NotInWorkflowError,
    NonDeterminismError,
    WorkflowCancelledError,
    WorkflowTimeoutError,
    StepTimeoutError,
    DeadLetterError,
    UnknownVersionError,
    WorkflowStateError,
    WorkflowNotFoundError,
    WaitTimeoutError,
    StreamClosedError,
    LifecycleError,
    EmbeddedDatabaseBusyError,
    OwnershipLostError,
    InvalidScheduleError,
    UnknownScheduleError,
    ForbiddenError,
    ActionDisabledError,
    SearchTimeoutError,
  ].map((errorClass) => [errorClass.name, errorClass]),
);

/** The class a stored Ballast error is revived as, so `instanceof` holds after a round trip. */
export function ballastErrorPrototype(name: string): BallastError | undefined {
  return BALLAST_ERROR_CLASSES.get(name)?.prototype;
}
