import { createServer } from 'node:net';

function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => {
      resolve(null);
    });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => {
        resolve(bound);
      });
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. With `busOffset`, the
 * port + offset must be free too (a Redis Cluster node also listens on
 * port + 10000 for its bus). Ports are drawn from 20000–50000 so port + 10000
 * stays valid; there is an unavoidable race with other processes between this
 * check and the server's bind, which the launcher absorbs by retrying.
 */
export async function findFreePort(options: { busOffset?: number } = {}): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const candidate = 20_000 + Math.floor(Math.random() * 30_000);
    const port = await tryListen(candidate);
    if (port === null) continue;
    if (options.busOffset !== undefined && (await tryListen(port + options.busOffset)) === null) {
      continue;
    }
    return port;
  }
  throw new Error('findFreePort: no free port found after 200 attempts');
}
