/**
 * The database's clock in epoch milliseconds, as SQL. Leases, claims and rate windows are stamped
 * and judged with it, so executors whose own clocks disagree still agree on who is alive.
 */
export const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::int8`;

/**
 * Now for a statement that judges due times: the database's clock, or — on an instance with a
 * virtual clock (the testing kit), whose `sqlNow` is a number — that clock's now, pushed as a
 * parameter. Production statements keep their text (and their prepared plans) unchanged.
 */
export function nowFor(params: unknown[], virtualNow: number | null): string {
  return virtualNow === null ? DB_NOW : `$${params.push(virtualNow)}::int8`;
}
