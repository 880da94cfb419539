import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Anything that listens like an Express app or `http.Server`. */
export interface Listenable {
  listen(port: number, host: string): Server;
}

/** A server a test started on 127.0.0.1, and how to reach and stop it. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly server: Server;
  /** Drop open (keep-alive) connections and close; resolves once closed. */
  readonly close: () => Promise<void>;
}

/**
 * Listen on a free port of 127.0.0.1; resolves once listening.
 *
 * @example
 * ```ts
 * const { url, close } = await listenOnLoopback(app);
 * await fetch(`${url}/page`);
 * await close();
 * ```
 */
export async function listenOnLoopback(app: Listenable): Promise<LoopbackServer> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
