/**
 * Whether this executor still holds its lease, asked before a step's effects begin. While the lease
 * is surely current the answer costs a clock read; once it may have run out (the process was
 * paused, or cut off from the database, past the lease), `confirm` renews it and stops the runs of
 * workflows the fleet took over meanwhile before any of them runs another step.
 */
export interface LeaseGate {
  /** undefined when the lease is current; else settles once it is renewed and lost runs are stopped. */
  confirm(): Promise<void> | undefined;
}

/** For a runtime with no lease to lose. */
export const UNLEASED: LeaseGate = { confirm: () => undefined };
