/**
 * The database's clock in epoch milliseconds, as SQL. Leases, claims and rate windows are stamped
 * and judged with it, so executors whose own clocks disagree still agree on who is alive.
 */
export const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::int8`;
