import type { Instrumentation, RunDescription, RunEnd, RunProbe } from '../engine/instrumentation.js';
import type { BeginOptions, Driver, Transaction } from '../store/driver.js';

/** Event-loop turns in a row that an instance must be quiet for to count as idle. */
const QUIET_TURNS = 3;
/**
 * And real milliseconds on Postgres, where a notification arrives on its own connection a moment
 * after the commit it announces (PGlite delivers it with the statement's result).
 */
const NOTIFY_QUIET_MS = 2;

export interface RunEnded {
  id: string;
  name: string;
  end: RunEnd;
}

/**
 * Knows whether a test instance is busy: statements on the wire and step functions running. An
 * advance of the virtual clock waits for it to be idle after each due time it fires, so that what
 * woke up (a workflow, a dispatcher, the scheduler) has reacted, and armed its next timer, before
 * time moves on.
 */
export class Activity {
  private statements = 0;
  private steps = 0;
  private lastBusyAt = 0;
  private quietMs = 0;
  /** Told when a run of this process ends (the crash points look for runs that missed theirs). */
  onRunEnded: ((run: RunEnded) => void) | undefined;

  get busy(): boolean {
    return this.statements > 0 || this.steps > 0;
  }

  /** Resolves once the instance has been idle for a few turns of the event loop; gives up after `patienceMs`. */
  async idle(patienceMs: number): Promise<void> {
    const giveUpAt = Date.now() + patienceMs;
    let quietTurns = 0;
    while (Date.now() < giveUpAt) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.busy) {
        this.lastBusyAt = Date.now();
        quietTurns = 0;
        continue;
      }
      if (++quietTurns >= QUIET_TURNS && Date.now() - this.lastBusyAt >= this.quietMs) return;
    }
  }

  /** The instance's connection, counting its statements in flight. */
  wrapDriver(driver: Driver): Driver {
    this.quietMs = driver.kind === 'postgres' ? NOTIFY_QUIET_MS : 0;
    const count = <T>(work: () => Promise<T>): Promise<T> => {
      this.statements++;
      return work().finally(() => {
        this.statements--;
        this.lastBusyAt = Date.now();
      });
    };
    return {
      kind: driver.kind,
      query: (sql, params, prepare) => count(() => driver.query(sql, params, prepare)),
      exec: (sql) => count(() => driver.exec(sql)),
      pipelined: (sql, params, prepare) => count(() => driver.pipelined(sql, params, prepare)),
      transaction: <T>(fn: (tx: Transaction) => Promise<T>, options?: BeginOptions) => count(() => driver.transaction(fn, options)),
      session: (fn) => count(() => driver.session(fn)),
      listen: (channel, handlers) =>
        driver.listen(channel, {
          onNotification: (payload) => {
            this.lastBusyAt = Date.now();
            handlers.onNotification(payload);
          },
          onReconnect: handlers.onReconnect,
        }),
      close: () => driver.close(),
    };
  }

  /** The runtime's instrumentation, also counting the steps running and telling of runs that end. */
  wrapInstrumentation(inner: Instrumentation): Instrumentation {
    return {
      ...inner,
      currentTraceContext: () => inner.currentTraceContext(),
      flushed: (writes) => inner.flushed(writes),
      fenced: () => inner.fenced(),
      runStarted: (run: RunDescription): RunProbe => {
        const probe = inner.runStarted(run);
        return {
          within: probe.within,
          step: (name, attempt) => {
            const step = probe.step(name, attempt);
            this.steps++;
            let ended = false;
            return {
              within: step.within,
              ended: (error) => {
                if (!ended) {
                  ended = true;
                  this.steps--;
                  this.lastBusyAt = Date.now();
                }
                step.ended(error);
              },
            };
          },
          ended: (end, error) => {
            probe.ended(end, error);
            this.onRunEnded?.({ id: run.id, name: run.name, end });
          },
        };
      },
    };
  }
}
