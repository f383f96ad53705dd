// Live updates over Server-Sent Events, at a cost that follows the pages watched, not the tabs open.
// Tabs that watch the same page with the same rights share one subscription: once per tick (the
// configured interval, also the most often one tab is refreshed) its fragment is rendered once, by
// one set of queries, and sent to every tab whose copy differs. A tick renders at most
// MAX_RENDERS_PER_TICK pages, taking turns, so many different pages are refreshed less often rather
// than the database being asked more. A failed render is reported to the tabs as an event and tried
// again at the next turn; the stream stays open.

export interface LiveClient {
  /** Sends the page's new fragment. */
  update(html: string): Promise<void>;
  /** Tells the tab the last render failed (it keeps the copy it has). */
  failure(message: string): Promise<void>;
  /** A comment that keeps proxies from closing an idle stream. */
  keepAlive(): Promise<void>;
}

interface Subscription {
  render: () => Promise<string>;
  clients: Map<LiveClient, string | undefined>;
  /** A render that outlived its tick (the database is slow or away): no other starts until it settles. */
  pending: Promise<unknown> | undefined;
}

const KEEP_ALIVE_MS = 15_000;
/** Pages rendered per tick at most, whatever the number of distinct pages watched. */
export const MAX_RENDERS_PER_TICK = 10;
/** How long a tick waits for a render before telling the tabs and moving on. */
const RENDER_PATIENCE_MS = 5_000;

export class LiveHub {
  private readonly subscriptions = new Map<string, Subscription>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastKeepAlive = Date.now();
  /** Renders since the hub started (what the database load follows). */
  renders = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly maxClients: number,
  ) {}

  get clientCount(): number {
    let n = 0;
    for (const subscription of this.subscriptions.values()) n += subscription.clients.size;
    return n;
  }

  /**
   * Adds a tab watching `key` (the page and the rights it is rendered with); `render` makes the
   * fragment. Returns the function that removes the tab, or undefined when the hub is full.
   */
  subscribe(key: string, render: () => Promise<string>, client: LiveClient): (() => void) | undefined {
    if (this.clientCount >= this.maxClients) return undefined;
    let subscription = this.subscriptions.get(key);
    if (!subscription) {
      subscription = { render, clients: new Map(), pending: undefined };
      this.subscriptions.set(key, subscription);
    }
    subscription.clients.set(client, undefined);
    this.schedule();
    const owned = subscription;
    return () => {
      owned.clients.delete(client);
      if (owned.clients.size === 0 && this.subscriptions.get(key) === owned) this.subscriptions.delete(key);
      if (this.subscriptions.size === 0) this.stop();
    };
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.ticking) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** The subscription's fragment, or an error once RENDER_PATIENCE_MS passed (the render goes on; the next waits for it). */
  private renderWithin(subscription: Subscription): Promise<string> {
    this.renders++;
    const rendering = subscription.render();
    subscription.pending = rendering;
    const settled = rendering.finally(() => {
      if (subscription.pending === rendering) subscription.pending = undefined;
    });
    settled.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the page took longer than ${RENDER_PATIENCE_MS / 1000} s to render (is the database away?); retrying`)), RENDER_PATIENCE_MS);
      timer.unref();
    });
    return Promise.race([settled, patience]).finally(() => clearTimeout(timer));
  }

  /** One render per subscription, one after another (a tick never overlaps the next), then the fan-out. */
  private async tick(): Promise<void> {
    this.ticking = true;
    try {
      // Taking turns: the pages rendered last go to the back of the line.
      const due = [...this.subscriptions.entries()].filter(([, subscription]) => subscription.clients.size > 0 && !subscription.pending).slice(0, MAX_RENDERS_PER_TICK);
      for (const [key, subscription] of due) {
        this.subscriptions.delete(key);
        this.subscriptions.set(key, subscription);
        let html: string;
        try {
          html = await this.renderWithin(subscription);
        } catch (error) {
          const message = `Live updates are waiting: ${(error as Error).message}`;
          await Promise.all([...subscription.clients.keys()].map((client) => client.failure(message).catch(() => undefined)));
          continue;
        }
        await Promise.all(
          [...subscription.clients].map(async ([client, seen]) => {
            if (seen === html) return;
            subscription.clients.set(client, html);
            await client.update(html).catch(() => undefined);
          }),
        );
      }
      if (Date.now() - this.lastKeepAlive >= KEEP_ALIVE_MS) {
        this.lastKeepAlive = Date.now();
        for (const subscription of this.subscriptions.values()) {
          for (const client of subscription.clients.keys()) void client.keepAlive().catch(() => undefined);
        }
      }
    } finally {
      this.ticking = false;
      if (this.subscriptions.size > 0) this.schedule();
    }
  }
}
