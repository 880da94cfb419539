import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import { startRedisSentinel, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.js';

/*
 * The instance cache through a real Sentinel: after `SENTINEL FAILOVER` the
 * store's connection follows the new master, its invalidation companion is
 * replaced by one to that master, and the cache serves again, coherent.
 */

const NAME = 'sc-cache-master';
let master: RedisServerHandle;
let replica: RedisServerHandle;
let sentinel: RedisServerHandle;

beforeAll(async () => {
  master = await startRedisServer();
  replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  sentinel = await startRedisSentinel({ name: NAME, master });
});

afterAll(async () => {
  await Promise.all([sentinel.stop(), replica.stop(), master.stop()]);
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(20);
  }
}

function openStore(): RedisStore {
  return new RedisStore({
    connection: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: NAME },
    prefix: 'cache-sent',
    cache: true,
  });
}

describe('RedisStore instance cache through Sentinel', () => {
  it('stays coherent across a failover and tracks again afterwards', async () => {
    const admin = new Redis(sentinel.port, '127.0.0.1');
    const a = openStore();
    const b = openStore();
    try {
      await until('sentinel sees the replica', async () => {
        const replicas = (await admin.call('SENTINEL', 'REPLICAS', NAME)) as unknown[];
        return replicas.length === 1;
      });
      await until('caches ready', () =>
        [a, b].every((store) => store.cacheStats()?.state === 'ready'),
      );
      const session = await a.create({
        id: generateSessionId(),
        data: { n: 0 },
        expiresAt: Date.now() + 60_000,
      });
      expect((await a.load(session.id))?.version).toBe(1);
      const onMaster = new Redis(master.port, '127.0.0.1');
      expect(await onMaster.call('WAIT', '1', '5000')).toBe(1);
      onMaster.disconnect();

      expect(await admin.call('SENTINEL', 'FAILOVER', NAME)).toBe('OK');
      await until('the replica is promoted', async () => {
        const address = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[];
        return address[1] === String(replica.port);
      });
      // b writes on the new master as soon as it can.
      await until('b writes on the new master', async () => {
        try {
          await b.patch(session.id, { set: { n: 1 } });
          return true;
        } catch {
          return false;
        }
      });
      const written = (await b.load(session.id))?.version ?? 0;
      expect(written).toBeGreaterThanOrEqual(2);
      // a never answers the pre-failover copy once b's write is acknowledged.
      await until('a answers', async () => {
        try {
          return (await a.load(session.id))?.version === written;
        } catch {
          return false;
        }
      });
      await until('a cache ready again', () => a.cacheStats()?.state === 'ready');
      expect((await a.load(session.id))?.version).toBe(written);
      // a's cached copy is tracked where its connection went (the new master,
      // or the demoted one if a reconnected before Sentinel switched: a
      // replica tracks too, invalidating on what replication changes): b's
      // next write reaches it.
      const invalidations = a.cacheStats()?.invalidations ?? 0;
      await b.patch(session.id, { set: { n: 2 } });
      await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > invalidations);
      expect((await a.load(session.id))?.version).toBe(written + 1);
      await a.delete(session.id);
    } finally {
      await Promise.all([a.close(), b.close()]);
      admin.disconnect();
    }
  });
});
