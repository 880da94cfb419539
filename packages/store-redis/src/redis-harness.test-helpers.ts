import { randomUUID } from 'node:crypto';
import { startRedisServer } from '@session-cluster/testkit';
import type {
  RedisServerHandle,
  StoreContractContext,
  StoreContractHarness,
} from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
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

/** What {@link useStorePerTest} gives a test file; fields are set by its hooks. */
export interface StorePerTest {
  /** One redis-server for the whole file. */
  server: RedisServerHandle;
  /** A plain client on it, for looking at and damaging keys. */
  admin: Redis;
  /** A store of the current test, under {@link prefix}. */
  store: RedisStore;
  /** The current test's prefix (its keys are deleted after it). */
  prefix: string;
}

/**
 * Hooks for a test file on one redis-server: the server and an admin client
 * for the whole file, a fresh `RedisStore` (default options but the prefix)
 * per test, its keys deleted and the store closed after it.
 */
export function useStorePerTest(): StorePerTest {
  const rig = {} as StorePerTest;
  beforeAll(async () => {
    rig.server = await startRedisServer();
    rig.admin = new Redis(rig.server.port, '127.0.0.1', { commandTimeout: 2_000 });
  });
  afterAll(async () => {
    await rig.admin.quit();
    await rig.server.stop();
  });
  beforeEach(() => {
    rig.prefix = freshPrefix();
    rig.store = new RedisStore({ connection: { port: rig.server.port }, prefix: rig.prefix });
  });
  afterEach(async () => {
    await deleteKeys(rig.admin, rig.prefix);
    await rig.store.close();
  });
  return rig;
}
