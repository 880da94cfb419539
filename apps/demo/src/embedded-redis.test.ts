import { createServer } from 'node:net';
import { findFreePort } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { startEmbeddedRedis } from './embedded-redis.js';
import { pingRedis } from './redis-ping.js';

describe('the demo’s embedded redis-server', () => {
  it('listens on the preferred port when it is free', async () => {
    const port = await findFreePort();
    const redis = await startEmbeddedRedis(port);
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
      expect(await pingRedis(redis.url)).toBe(true);
    } finally {
      await redis.stop();
    }
    expect(await pingRedis(redis.url, 300)).toBe(false);
  });

  it('takes any free port when the preferred one is taken', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as { port: number }).port;
    try {
      const redis = await startEmbeddedRedis(taken);
      try {
        expect(redis.url).not.toBe(`redis://127.0.0.1:${taken}`);
        expect(await pingRedis(redis.url)).toBe(true);
      } finally {
        await redis.stop();
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
