import { describeStoreContract, startRedisCluster } from '@session-cluster/testkit';
import type { RedisClusterHandle } from '@session-cluster/testkit';
import { generateSessionId } from '@session-cluster/core';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';
import { redisHarness } from './redis-harness.test-helpers.js';

// One 3-master Cluster for the file (~2 s to start). Every test gets a fresh
// prefix and a store-owned Cluster client (RESP2, fast-failure settings).
let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});

afterAll(async () => {
  await cluster.stop();
});

describeStoreContract('RedisStore on a 3-master Cluster', (ctx) =>
  Promise.resolve(
    redisHarness(ctx, { connection: { cluster: { nodes: [...cluster.startupNodes] } } }),
  ),
);

describe('RedisStore on a Cluster: key layout', () => {
  it('keeps each session in its expiry bucket slot, and spreads buckets over every master', async () => {
    const store = new RedisStore({
      connection: { cluster: { nodes: [...cluster.startupNodes] } },
      prefix: 'layout',
    });
    try {
      const client = store.client as Cluster;
      const keys = new RedisKeys(store.prefix, store.bucketCount);
      const slotOf = (key: string): Promise<number> => client.cluster('KEYSLOT', key);
      for (let i = 0; i < 20; i++) {
        const id = generateSessionId();
        const slot = await slotOf(keys.session(id));
        expect(await slotOf(keys.expiryBucketOf(id))).toBe(slot);
      }
      const slots = new Set<number>();
      for (let bucket = 0; bucket < store.bucketCount; bucket++) {
        slots.add(await slotOf(keys.expiryBucket(bucket)));
      }
      expect(slots.size).toBe(store.bucketCount);
      // Three masters own a third of the slot range each: buckets land on all of them.
      const thirds = new Set([...slots].map((slot) => Math.floor((slot * 3) / 16_384)));
      expect(thirds).toEqual(new Set([0, 1, 2]));
    } finally {
      await store.close();
    }
  });
});
