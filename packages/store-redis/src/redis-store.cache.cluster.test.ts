import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { describeStoreContract, startRedisCluster } from '@session-cluster/testkit';
import type { RedisClusterHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, freshPrefix, redisHarness } from './redis-harness.test-helpers.js';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';

/*
 * The instance cache on a real 3-master Cluster with a replica each:
 * tracking on every node connection of the pool, invalidations from every
 * master, and coherence after a master is killed and its replica promoted.
 */

let cluster: RedisClusterHandle;
const stores: RedisStore[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 });
});

afterAll(async () => {
  await cluster.stop();
});

afterEach(async () => {
  const open = stores.splice(0);
  await Promise.all(open.map((store) => deleteKeys(store.client, store.prefix).catch(() => {})));
  await Promise.all(open.map((store) => store.close()));
});

describeStoreContract('RedisStore with the instance cache on a Cluster', (ctx) =>
  Promise.resolve(
    redisHarness(ctx, {
      connection: { cluster: { nodes: [...cluster.startupNodes] } },
      cache: true,
    }),
  ),
);

async function openStore(prefix: string): Promise<RedisStore> {
  const store = new RedisStore({
    connection: { cluster: { nodes: [...cluster.startupNodes] } },
    prefix,
    cache: true,
  });
  stores.push(store);
  await until('cache ready', () => store.cacheStats()?.state === 'ready', 10_000);
  return store;
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(10);
  }
}

async function createSessions(store: RedisStore, count: number): Promise<SessionRecord[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      store.create({ id: generateSessionId(), data: { n: 0 }, expiresAt: Date.now() + 60_000 }),
    ),
  );
}

/** Every session's load answers `version` (retrying while invalidations are on their way). */
async function allAt(store: RedisStore, sessions: readonly SessionRecord[], version: number) {
  await until(`every session at version ${version}`, async () => {
    const loaded = await Promise.all(sessions.map((s) => store.load(s.id)));
    return loaded.every((record) => record?.version === version);
  });
}

describe('RedisStore instance cache: Cluster', () => {
  it('serves hits and is invalidated by writes on every master', async () => {
    const prefix = freshPrefix();
    const a = await openStore(prefix);
    const b = await openStore(prefix);
    // 30 sessions over 64 buckets land on all three masters.
    const sessions = await createSessions(a, 30);
    for (const s of sessions) await a.load(s.id);
    const misses = a.cacheStats()?.misses ?? 0;
    for (const s of sessions) expect((await a.load(s.id))?.version).toBe(1);
    expect(a.cacheStats()?.misses).toBe(misses);

    await Promise.all(sessions.map((s) => b.patch(s.id, { set: { n: 1 } })));
    await allAt(a, sessions, 2);
    expect(a.cacheStats()?.invalidations).toBeGreaterThanOrEqual(30);

    // Deletes on every master are announced cluster-wide: a keeps no copy for an outage.
    await Promise.all(sessions.map((s) => b.delete(s.id)));
    await until('every deleted session revoked in a', () =>
      sessions.every((s) => a.peekCached(s.id) === undefined),
    );
  });

  it('deletes announced while its companions were down: once back, no copy of them is kept for an outage', async () => {
    const prefix = freshPrefix();
    const a = await openStore(prefix);
    const b = await openStore(prefix);
    const sessions = await createSessions(b, 30);
    for (const s of sessions) {
      await until('cached by a', async () => {
        await a.load(s.id);
        return a.loadCached(s.id) !== undefined;
      });
    }
    // Every companion on every node killed: b's announcements reach none of a's.
    await Promise.all(
      cluster.nodes.map(async (node) => {
        const admin = new Redis(node.port, { lazyConnect: true });
        try {
          await admin.connect();
          await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        } finally {
          admin.disconnect();
        }
      }),
    );
    const deleted = sessions.slice(0, 15);
    const kept = sessions.slice(15);
    await Promise.all(deleted.map((s) => b.delete(s.id)));
    await until('ready again', () => a.cacheStats()?.state === 'ready', 10_000);
    // Nothing loads them: the look-up on return finds their tombstones, on every master.
    await until('every deleted session dropped in a', () =>
      deleted.every((s) => a.peekCached(s.id) === undefined),
    );
    expect(kept.every((s) => a.peekCached(s.id) !== undefined)).toBe(true);
  });

  it('stays coherent when a master dies and its replica takes over', async () => {
    const prefix = freshPrefix();
    const a = await openStore(prefix);
    const b = await openStore(prefix);
    const sessions = await createSessions(a, 30);
    for (const s of sessions) await a.load(s.id);

    // Kill the master that holds the first session.
    const keys = new RedisKeys(prefix, a.bucketCount);
    const client = a.client as Cluster;
    const slot = await client.cluster('KEYSLOT', keys.session(sessions[0]?.id ?? ''));
    const ranges = (await client.cluster('SLOTS')) as unknown as [
      number,
      number,
      [string, number],
    ][];
    const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
    const victim = (await cluster.masters()).find((master) => master.port === owner);
    expect(victim).toBeDefined();
    await victim?.kill();
    await until('cache down', () => a.cacheStats()?.state === 'down');
    await cluster.waitUntilHealthy(15_000);
    // Writes reach the promoted replica again, through b.
    await until(
      'writes resume',
      async () => {
        const outcomes = await Promise.allSettled(
          sessions.map((s) => b.patch(s.id, { set: { n: 1 } })),
        );
        return outcomes.every((outcome) => outcome.status === 'fulfilled');
      },
      15_000,
    );
    await until('cache ready again', () => a.cacheStats()?.state === 'ready', 15_000);
    // Nothing stale: every load answers what b wrote last…
    const versions = await Promise.all(sessions.map(async (s) => (await b.load(s.id))?.version));
    for (const [i, s] of sessions.entries()) {
      expect((await a.load(s.id))?.version).toBe(versions[i]);
    }
    // …and the copies a cached now are tracked on the new master too.
    await Promise.all(sessions.map((s) => b.patch(s.id, { set: { n: 2 } })));
    await until('a sees the next write', async () => {
      const loaded = await Promise.all(sessions.map((s) => a.load(s.id)));
      return loaded.every((record, i) => record?.version === (versions[i] ?? 0) + 1);
    });
  });
});
