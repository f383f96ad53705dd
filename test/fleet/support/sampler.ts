// Continuously samples which workflows are running (status PENDING) straight from the database, so
// multi-process tests can assert that a limit was never exceeded — and that it was reached, so the
// assertion could fail. Every sample is one statement, hence one consistent snapshot.
import pg from 'pg';

export interface RunningRow {
  queue: string | null;
  owner: string | null;
  partition_key: string | null;
}

/** Maxima over the samples taken while the window was open. */
export class SampleWindow {
  samples = 0;
  readonly byQueue = new Map<string, number>();
  /** `queue owner` → most running at once in that executor. */
  readonly byOwner = new Map<string, number>();
  /** `queue partition` → most running at once under that partition key. */
  readonly byPartition = new Map<string, number>();
  /** Per sample: epoch ms (this process's clock, just after the snapshot) and running count per queue. */
  readonly timeline: Array<{ at: number; running: Map<string, number> }> = [];

  constructor(private readonly keepTimeline: boolean) {}

  add(rows: RunningRow[], at: number): void {
    this.samples++;
    const queue = new Map<string, number>();
    const owner = new Map<string, number>();
    const partition = new Map<string, number>();
    for (const row of rows) {
      if (row.queue === null) continue;
      bump(queue, row.queue);
      bump(owner, `${row.queue} ${row.owner}`);
      if (row.partition_key !== null) bump(partition, `${row.queue} ${row.partition_key}`);
    }
    raise(this.byQueue, queue);
    raise(this.byOwner, owner);
    raise(this.byPartition, partition);
    if (this.keepTimeline) this.timeline.push({ at, running: queue });
  }

  maxRunning(queue: string): number {
    return this.byQueue.get(queue) ?? 0;
  }

  /** Most running at once in one executor, per executor, for `queue`. */
  perOwner(queue: string): Map<string, number> {
    return submap(this.byOwner, queue);
  }

  /** Most running at once under one partition key, per key, for `queue`. */
  perPartition(queue: string): Map<string, number> {
    return submap(this.byPartition, queue);
  }
}

export class RunningSampler {
  private client: pg.Client;
  private readonly windows = new Set<SampleWindow>();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private failure: unknown;
  samples = 0;
  /** Samples that failed and were taken again on a new connection (with `reconnect`). */
  reconnects = 0;
  private busyMs = 0;

  constructor(
    private readonly url: string,
    private readonly schema = 'ballast',
    private readonly intervalMs = 5,
    /** Ride out database outages (the chaos suite restarts Postgres) instead of failing. */
    private readonly reconnect = false,
  ) {
    this.client = this.newClient();
  }

  private newClient(): pg.Client {
    const client = new pg.Client({ connectionString: this.url, application_name: 'fleet-sampler' });
    client.on('error', () => undefined); // surfaces through the sample query
    return client;
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.loop = this.run();
  }

  /** Starts collecting maxima from the next sample on. */
  open(options: { timeline?: boolean } = {}): SampleWindow {
    this.throwIfFailed();
    const window = new SampleWindow(options.timeline ?? false);
    this.windows.add(window);
    return window;
  }

  close(window: SampleWindow): SampleWindow {
    this.windows.delete(window);
    this.throwIfFailed();
    return window;
  }

  /** Resolves after at least one complete sample taken from now on (so a window sees the present). */
  async settle(): Promise<void> {
    const target = this.samples + 2;
    while (this.samples < target) {
      this.throwIfFailed();
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  /** Average milliseconds per sample query. */
  get averageQueryMs(): number {
    return this.samples === 0 ? 0 : this.busyMs / this.samples;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client.end().catch(() => undefined);
    this.throwIfFailed();
  }

  private async run(): Promise<void> {
    const text = `SELECT queue, owner, partition_key FROM ${this.schema}.workflows WHERE status = 'PENDING'`;
    while (!this.stopped) {
      try {
        const began = performance.now();
        const { rows } = await this.client.query<RunningRow>({ name: 'fleet_sample_running', text });
        const at = Date.now();
        this.busyMs += performance.now() - began;
        this.samples++;
        for (const window of this.windows) window.add(rows, at);
      } catch (error) {
        if (!this.reconnect) {
          this.failure = error;
          return;
        }
        this.reconnects++;
        await this.client.end().catch(() => undefined);
        // A pg client whose connect failed never answers a query: only a connected one is kept.
        const client = this.newClient();
        if (await client.connect().then(() => true, () => false)) this.client = client;
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw new Error(`the running-set sampler failed: ${String(this.failure)}`);
  }
}

/**
 * Most intervals [start, end) that overlap at any instant. Ends sort before starts at the same
 * instant: a slot freed and re-taken in the same millisecond is not an overlap.
 */
export function maxOverlap(intervals: Array<[number, number]>): number {
  const events: Array<[number, number]> = [];
  for (const [start, end] of intervals) events.push([start, 1], [end, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let max = 0;
  for (const [, delta] of events) {
    current += delta;
    max = Math.max(max, current);
  }
  return max;
}

/** Most start times inside any half-open window [t, t + periodMs). */
export function maxStartsInWindow(starts: number[], periodMs: number): number {
  const sorted = [...starts].sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] as number) - (sorted[first] as number) >= periodMs) first++;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function raise(into: Map<string, number>, from: Map<string, number>): void {
  for (const [key, value] of from) if (value > (into.get(key) ?? 0)) into.set(key, value);
}

function submap(map: Map<string, number>, queue: string): Map<string, number> {
  const prefix = `${queue} `;
  const out = new Map<string, number>();
  for (const [key, value] of map) if (key.startsWith(prefix)) out.set(key.slice(prefix.length), value);
  return out;
}
