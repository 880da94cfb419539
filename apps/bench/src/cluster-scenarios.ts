import { Cluster } from 'ioredis';
import { generateSessionId } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import type { Bar } from './ratios.js';
import { sessionFixture } from './session-fixture.js';
import type { Scenario, StoreBench } from './store-scenarios.js';

const TTL_MS = 30 * 60_000;

/**
 * What the `cluster` suite reports: the instance cache and the write path
 * on a Redis Cluster beside raw ioredis on the same Cluster. No bars: the
 * issues set theirs on one server; these show what Cluster changes (no
 * batching across slots, one tracking connection per master).
 */
export const CLUSTER_RATIOS: readonly Bar[] = (
  [
    ['ours load', 'raw ioredis GET (auto-pipelined)'],
    ['ours load (cached)', 'raw ioredis GET (auto-pipelined)'],
    ['ours load (cached)', 'ours load'],
    ['ours patch (1 field)', 'raw ioredis SET PX (auto-pipelined)'],
    ['ours patch (1 field, cached store)', 'ours patch (1 field)'],
  ] as const
).map(([ours, baseline]) => ({ ours, baseline, min: 0 }));

/**
 * The store suite's cache and write scenarios against a Redis Cluster
 * (`startupNodes`): raw ioredis `Cluster` GET and SET PX with
 * auto-pipelining, and `RedisStore` on the same Cluster without and with
 * the instance cache. Names match the store suite's, so the figures read
 * side by side. Each contender has its own sessions, one per lane: a write
 * by one would invalidate another's cached copies.
 */
export async function createClusterStoreBench(options: {
  readonly startupNodes: readonly { readonly host: string; readonly port: number }[];
  readonly lanes: number;
}): Promise<StoreBench> {
  const nodes = options.startupNodes.map(({ host, port }) => ({ host, port }));
  const raw = new Cluster(nodes, { enableAutoPipelining: true });
  const prefix = 'bench';
  const store = new RedisStore({ connection: { cluster: { nodes } }, prefix });
  const cached = new RedisStore({ connection: { cluster: { nodes } }, prefix, cache: true });

  const value = JSON.stringify(sessionFixture(0));
  const rawKeys = Array.from({ length: options.lanes }, (_, i) => `bench:raw:${i}`);
  await Promise.all(rawKeys.map((key) => raw.set(key, value, 'PX', TTL_MS)));
  const created = async (on: RedisStore): Promise<string[]> => {
    const ids = Array.from({ length: options.lanes }, () => generateSessionId());
    await Promise.all(
      ids.map((id, i) =>
        on.create({ id, data: sessionFixture(i), expiresAt: Date.now() + TTL_MS }),
      ),
    );
    return ids;
  };
  const ids = await created(store);
  const loadIds = await created(cached);
  const patchIds = await created(cached);
  for (let waited = 0; cached.cacheStats()?.state !== 'ready'; waited += 10) {
    if (waited > 10_000) throw new Error('bench: the instance cache did not get ready on Cluster');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Read once, as a request would before it writes: the cached store's
  // patches then start from a live entry (refilled after each write).
  await Promise.all(patchIds.map((id) => cached.load(id)));

  const lane = (list: readonly string[], slot: number): string => {
    const item = list[slot % list.length];
    if (item === undefined) throw new Error('empty lane list');
    return item;
  };
  const scenarios: Scenario[] = [
    { name: 'raw ioredis GET (auto-pipelined)', op: (s) => raw.get(lane(rawKeys, s)) },
    {
      name: 'raw ioredis SET PX (auto-pipelined)',
      op: (s, i) => raw.set(lane(rawKeys, s), i % 2 === 0 ? value : `${value} `, 'PX', TTL_MS),
    },
    { name: 'ours load', op: (s) => store.load(lane(ids, s)) },
    { name: 'ours load (cached)', op: (s) => cached.load(lane(loadIds, s)) },
    {
      name: 'ours patch (1 field)',
      op: (s, i) => store.patch(lane(ids, s), { set: { lastPath: `/p/${i}` } }),
    },
    {
      name: 'ours patch (1 field, cached store)',
      op: (s, i) => cached.patch(lane(patchIds, s), { set: { lastPath: `/p/${i}` } }),
    },
  ];
  return {
    scenarios,
    async close() {
      await Promise.all([store.close(), cached.close()]);
      await raw.quit();
    },
  };
}
