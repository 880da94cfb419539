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

describe('RedisStore on a Cluster: user indexes', () => {
  it('sweeps owned sessions in one call per batch and leaves their indexes (in other slots) to expire or to their readers', async () => {
    const store = new RedisStore({
      connection: { cluster: { nodes: [...cluster.startupNodes] } },
      prefix: `uix${Date.now() % 100_000}`,
      buckets: 1,
    });
    try {
      const client = store.client as Cluster;
      const keys = new RedisKeys(store.prefix, store.bucketCount);
      const owners = ['ann', 'bob', 'cy', 'dee'];
      const sessions = await Promise.all(
        owners.map((userId, i) =>
          store.create({
            id: generateSessionId(),
            userId,
            data: {},
            expiresAt: Date.now() + 1_000 + i,
          }),
        ),
      );
      const keeper = await store.create({
        id: generateSessionId(),
        userId: 'bob',
        data: {},
        expiresAt: Date.now() + 60_000,
      });
      // Each index lives until its latest session's physical expiry (grace: 1 h).
      for (const [i, userId] of owners.entries()) {
        const latest = userId === 'bob' ? keeper.expiresAt : sessions[i]!.expiresAt;
        expect(await client.call('PEXPIRETIME', keys.userIndex(userId))).toBe(latest + 3_600_000);
      }
      // Nothing due yet: this only loads the script (EVALSHA then counts alone).
      await store.sweepBucket(0, 0, 100);
      const masters = client.nodes('master');
      await Promise.all(masters.map((node) => node.config('RESETSTAT')));
      const swept = await store.sweepBucket(0, Date.now() + 5_000, 100);
      expect(swept.expired.map((e) => e.id).sort()).toEqual(sessions.map((s) => s.id).sort());
      // One script call on the bucket's master and nothing on the others:
      // no second round to the indexes' slots.
      const stats = await Promise.all(masters.map((node) => node.info('commandstats')));
      const calls = stats.map((text) => Number(/cmdstat_evalsha:calls=(\d+)/.exec(text)?.[1] ?? 0));
      expect(calls.reduce((a, b) => a + b, 0)).toBe(1);
      // The other masters saw nothing at all (the indexes' slots included).
      const others = stats
        .filter((_, i) => calls[i] === 0)
        .map((text) => text.match(/^cmdstat_[^:]+/gm));
      expect(others).toEqual([['cmdstat_config|resetstat'], ['cmdstat_config|resetstat']]);
      for (const userId of owners) {
        expect(await client.zcard(keys.userIndex(userId))).toBe(userId === 'bob' ? 2 : 1);
      }
      // Readers drop what the sweep left: listByUser, then the index is exact.
      expect((await store.listByUser('bob')).map((r) => r.id)).toEqual([keeper.id]);
      expect(await client.zrange(keys.userIndex('bob'), '0', '-1')).toEqual([keeper.id]);
      expect(await store.listByUser('ann')).toEqual([]);
      expect(await client.exists(keys.userIndex('ann'))).toBe(0);
    } finally {
      await store.close();
    }
  });
});
