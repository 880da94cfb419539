import { randomUUID } from 'node:crypto';
import type { StoreContractContext, StoreContractHarness } from '@session-cluster/testkit';
import type { Cluster, Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';
import { replaceFrameEntry } from './session-frame.js';
import type { RedisStoreOptions } from './redis-store-options.js';

/** A prefix no other test uses, so tests never see each other's keys. */
export function freshPrefix(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

/** Every node that holds keys: the masters of a Cluster, or the client itself. */
function keyHolders(client: Redis | Cluster): Redis[] {
  return client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
}

/** Keys under `prefix:` on every master (SCAN, never KEYS). */
export async function listKeys(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const all: string[] = [];
  for (const node of keyHolders(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      all.push(...keys);
    } while (cursor !== '0');
  }
  return all;
}

/** Delete every key under `prefix:` (per key: on a Cluster they live in many slots). */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  await Promise.all((await listKeys(client, prefix)).map((key) => client.del(key)));
}

/**
 * The contract harness for a {@link RedisStore} under a fresh prefix.
 * `options` supplies the connection (a caller-owned client or connection options).
 */
export function redisHarness(
  ctx: StoreContractContext,
  options: RedisStoreOptions,
): StoreContractHarness & { readonly store: RedisStore } {
  const prefix = freshPrefix();
  const store = new RedisStore({ ...options, prefix, clock: ctx.clock, codec: ctx.codec });
  const keys = new RedisKeys(prefix, store.bucketCount);
  const client = store.client;
  return {
    store,
    countEntries: async () => (await listKeys(client, prefix)).length,
    dropPayload: async (id) => {
      await client.del(keys.session(id));
    },
    corruptField: async (id, key, raw) => {
      const frame = await client.get(keys.session(id));
      if (frame === null) throw new Error('corruptField: no such session');
      await client.set(keys.session(id), replaceFrameEntry(frame, key, raw), 'KEEPTTL');
    },
    close: async () => {
      await deleteKeys(client, prefix);
      await store.close();
    },
  };
}

export { replaceFrameEntry };
