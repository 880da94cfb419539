import { afterAll, beforeAll } from 'vitest';
import {
  startRedisServer,
  type RedisServerHandle,
  type RedisServerOptions,
} from './redis-server.js';

/**
 * One `redis-server` for the enclosing `describe` block (or file): started in
 * `beforeAll`, stopped in `afterAll`. The returned handle forwards to that
 * server, so it may be captured at collection time and used inside tests and
 * later hooks; touching it before `beforeAll` has run throws.
 *
 * @example
 * ```ts
 * describe('my store', () => {
 *   const redis = useRedisServer();
 *   it('answers', async () => {
 *     const client = new Redis(redis.port);
 *     // …
 *   });
 * });
 * ```
 */
export function useRedisServer(options?: RedisServerOptions): RedisServerHandle {
  let server: RedisServerHandle | undefined;
  beforeAll(async () => {
    server = await startRedisServer(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  const started = (): RedisServerHandle => {
    if (server === undefined) throw new Error('useRedisServer: the server starts in beforeAll');
    return server;
  };
  return {
    get host() {
      return started().host;
    },
    get port() {
      return started().port;
    },
    get url() {
      return started().url;
    },
    get pid() {
      return started().pid;
    },
    get running() {
      return started().running;
    },
    kill: (signal) => started().kill(signal),
    restart: () => started().restart(),
    pause: () => {
      started().pause();
    },
    resume: () => {
      started().resume();
    },
    stop: () => started().stop(),
  };
}
