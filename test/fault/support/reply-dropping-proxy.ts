// A TCP proxy in front of Postgres that can lose one reply: the statement reaches the server and
// commits, then the connection dies before the client hears back. This is what a server crash or
// network cut right after a commit looks like to the client, made deterministic.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface ReplyDroppingProxy {
  /** postgresql URL through the proxy, to the given database URL's database. */
  urlFor(databaseUrl: string): string;
  /**
   * Arms a one-shot fault: the next statement that names the prepared statement `name` (in its
   * Parse or Bind message) runs on the server, and its connection is cut before the reply is
   * delivered. Resolves once that happened; rejects if no such statement is sent in `timeoutMs`.
   */
  dropNextReply(name: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

// ReadyForQuery: 'Z', length 5, transaction status. Sent after the implicit commit of a Sync.
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

export async function startReplyDroppingProxy(target: { host: string; port: number }): Promise<ReplyDroppingProxy> {
  interface Armed {
    marker: Buffer;
    resolve: () => void;
  }
  let armed: Armed | undefined;
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', closeBoth).on('close', closeBoth);
    upstream.on('error', closeBoth).on('close', closeBoth);

    let tail = Buffer.alloc(0); // end of the previous chunk, for markers split across chunks
    let doomed: Armed | undefined; // this connection's request carried the marker
    let held = Buffer.alloc(0);

    client.on('data', (chunk: Buffer) => {
      if (armed && !doomed) {
        const window = Buffer.concat([tail, chunk]);
        if (window.includes(armed.marker)) {
          doomed = armed;
          armed = undefined;
        }
        tail = window.subarray(Math.max(0, window.length - 64));
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!doomed) {
        client.write(chunk);
        return;
      }
      // Swallow the reply; once the server said ReadyForQuery, the statement has committed.
      held = Buffer.concat([held, chunk]);
      const end = held.length - READY_FOR_QUERY.length - 1;
      if (end >= 0 && held.subarray(end, end + READY_FOR_QUERY.length).equals(READY_FOR_QUERY)) {
        const fired = doomed;
        closeBoth();
        fired.resolve();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');

  return {
    urlFor(databaseUrl: string) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString();
    },
    dropNextReply(name: string, timeoutMs = 10_000) {
      if (armed) throw new Error('a reply is already armed to be dropped');
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          armed = undefined;
          reject(new Error(`no statement named ${name} was sent within ${timeoutMs} ms (were Ballast's prepared statements renamed?)`));
        }, timeoutMs);
        armed = {
          marker: Buffer.from(`${name}\0`),
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
