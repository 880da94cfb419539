import { describeStoreContract, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { redisHarness } from './redis-harness.test-helpers.js';

// One redis-server for the file. The store gets a caller-owned client left at
// ioredis 6's default protocol (RESP3), so the store's RESP3 handling is
// exercised here; the Cluster suite uses store-owned (RESP2) clients.
let server: RedisServerHandle;
let client: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  client = new Redis(server.port, '127.0.0.1', {
    commandTimeout: 2_000,
    enableAutoPipelining: true,
  });
});

afterAll(async () => {
  await client.quit();
  await server.stop();
});

describeStoreContract('RedisStore standalone', (ctx) =>
  Promise.resolve(redisHarness(ctx, { client })),
);
