import { randomUUID } from 'node:crypto';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisKeys, RedisStore, replaceFrameEntry } from '@session-cluster/store-redis';
import { describeStoreContract, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { CorruptibleCodec } from './corruptible-codec.test-helpers.js';
import { FallbackStore } from './fallback-store.js';

// With a healthy primary every call goes through the breaker and the timeout
// to the primary: the suite shows the wrapper changes no observable behaviour.

describeStoreContract('FallbackStore (MemoryStore primary, MemoryStore secondary)', (ctx) => {
  const codec = new CorruptibleCodec(ctx.codec);
  const primary = new MemoryStore({ clock: ctx.clock, codec, cleanupIntervalMs: 0 });
  const secondary = new MemoryStore({ clock: ctx.clock, codec: ctx.codec, cleanupIntervalMs: 0 });
  const store = new FallbackStore({ primary, secondary, clock: ctx.clock });
  return Promise.resolve({
    store,
    // Stored sessions (expired-but-present included) in both stores.
    countEntries: () => Promise.resolve(primary.stats().total + secondary.stats().total),
    // MemoryStore offers no way to drop a payload but keep its index entry
    // from outside its package; deleting the session is the closest stand-in.
    dropPayload: async (id) => {
      await primary.delete(id);
    },
    corruptField: (id, key, raw) => {
      codec.corrupt(id, key, raw);
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});

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

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

describeStoreContract('FallbackStore (RedisStore primary, MemoryStore secondary)', (ctx) => {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const primary = new RedisStore({ client, prefix, clock: ctx.clock, codec: ctx.codec });
  const keys = new RedisKeys(prefix, primary.bucketCount);
  const secondary = new MemoryStore({ clock: ctx.clock, codec: ctx.codec, cleanupIntervalMs: 0 });
  const store = new FallbackStore({ primary, secondary, clock: ctx.clock });
  return Promise.resolve({
    store,
    countEntries: async () => (await keysUnder(prefix)).length + secondary.stats().total,
    dropPayload: async (id) => {
      await client.del(keys.session(id));
    },
    corruptField: async (id, key, raw) => {
      const frame = await client.get(keys.session(id));
      if (frame === null) throw new Error('corruptField: no such session');
      await client.set(keys.session(id), replaceFrameEntry(frame, key, raw), 'KEEPTTL');
    },
    close: async () => {
      await store.close();
      const leftovers = await keysUnder(prefix);
      if (leftovers.length > 0) await client.del(...leftovers);
    },
  });
});
