// A TCP proxy in front of Postgres that a test can break the way networks break: freeze it (every
// connection stays open and nothing moves, in either direction, as behind a dead switch; new
// connections hang), thaw it, reset every connection (RST), or strand the open connections (they
// never move again while new ones pass, as after a NAT or load balancer forgot them). One proxy per
// worker process, so one worker can be cut off alone.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface FaultProxy {
  readonly port: number;
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  /** Nothing moves on any connection, and new connections get no answer, until thaw(). */
  freeze(): void;
  thaw(): void;
  readonly frozen: boolean;
  /** Resets (RST) every open connection; returns how many client connections were cut. */
  reset(): number;
  /** Freezes the open connections for good; new connections work. Returns how many were stranded. */
  strand(): number;
  /** Client connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
  stranded: boolean;
  /** A side failed while nothing moved: the other side learns it once the link moves again. */
  failedWhileFrozen: boolean;
}

/** After a thaw, how long a link whose side failed meanwhile delivers what it had buffered before it is cut. */
const FLUSH_BEFORE_CUT_MS = 100;

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const links = new Set<Link>();
  let frozen = false;

  const moving = (link: Link) => !frozen && !link.stranded;

  const cut = (link: Link, reset: boolean) => {
    links.delete(link);
    for (const socket of [link.client, link.upstream]) {
      if (!socket || socket.destroyed) continue;
      // A socket still connecting cannot send an RST (resetAndDestroy would wait for the connection).
      if (reset && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  /**
   * A side failed or closed: the link is cut at once if it moves, else when it moves again. The
   * other side is closed, not reset: resetAndDestroy() on a socket whose peer is going away at the
   * same moment (a server killed in immediate mode) can leave a handle that keeps the process from
   * ever exiting.
   */
  const failed = (link: Link) => {
    if (moving(link)) cut(link, false);
    else link.failedWhileFrozen = true;
  };

  const connectUpstream = (link: Link) => {
    const upstream = connect(target.port, target.host);
    link.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => link.client.write(chunk));
    link.client.on('data', (chunk: Buffer) => upstream.write(chunk));
    // The server closing (or failing) closes the client's side the same way.
    upstream.on('end', () => link.client.end());
    link.client.on('end', () => upstream.end());
    upstream.on('error', () => failed(link));
    upstream.on('close', () => failed(link));
    if (!moving(link)) upstream.pause();
    link.client.resume();
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const link: Link = { client, upstream: undefined, stranded: false, failedWhileFrozen: false };
    links.add(link);
    client.on('error', () => failed(link));
    client.on('close', () => failed(link));
    // Behind a frozen proxy a new connection hangs; it goes through once thawed.
    if (!frozen) connectUpstream(link);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address');

  const pause = (link: Link) => {
    link.client.pause();
    link.upstream?.pause();
  };

  return {
    port: address.port,
    urlFor(databaseUrl: string) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString();
    },
    freeze() {
      frozen = true;
      for (const link of links) pause(link);
    },
    thaw() {
      frozen = false;
      for (const link of links) {
        if (link.stranded) continue;
        if (!link.upstream) connectUpstream(link);
        else {
          link.client.resume();
          link.upstream.resume();
        }
        if (link.failedWhileFrozen) setTimeout(() => cut(link, false), FLUSH_BEFORE_CUT_MS);
      }
    },
    get frozen() {
      return frozen;
    },
    reset() {
      const open = [...links];
      for (const link of open) cut(link, true);
      return open.length;
    },
    strand() {
      let stranded = 0;
      for (const link of links) {
        if (link.stranded) continue;
        link.stranded = true;
        pause(link);
        stranded++;
      }
      return stranded;
    },
    get connections() {
      return links.size;
    },
    async close() {
      for (const link of [...links]) cut(link, false);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
