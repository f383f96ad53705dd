import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminRequestHandler } from './handler.js';

/**
 * The standalone admin server that launch() starts when configured (`admin: { port }` or
 * BALLAST_ADMIN_PORT). It listens before anything else happens, so /healthz answers and /readyz
 * says 503 while the instance migrates and recovers.
 */
export class AdminServer {
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async listen(handler: AdminRequestHandler, port: number, host: string | undefined): Promise<AdminServer> {
    const server = createServer((request, response) => handler(request, response));
    // Probes and scrapes keep connections alive; a shutdown must not wait for them.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new AdminServer(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
    clearTimeout(timer);
    this.server.closeAllConnections();
  }
}
