import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import { startRedisSentinel, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.js';

/*
 * RedisStore through a real Sentinel: a master, its replica and one
 * Sentinel (quorum 1). The store is given only the Sentinel's address and
 * the master's name; after `SENTINEL FAILOVER` it must write to the
 * promoted replica, with the sessions written before still there.
 */

const NAME = 'sc-test-master';
let master: RedisServerHandle;
let replica: RedisServerHandle;
let sentinel: RedisServerHandle;

// Fresh servers per test: after one test's failover the demoted master
// resynchronises as a replica, and a later test's `WAIT` for replication
// could time out behind it (seen in CI).
beforeEach(async () => {
  // The replica's first sync starts at once: Redis 7 holds a diskless full
  // sync 5 s for more replicas by default, as long as the WAIT below gave it
  // (the test failed in CI when the Sentinel saw the replica early).
  master = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] });
  replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  sentinel = await startRedisSentinel({ name: NAME, master });
});

afterEach(async () => {
  await Promise.all([sentinel.stop(), replica.stop(), master.stop()]);
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(50);
  }
}

/**
 * `SENTINEL FAILOVER`, asked again while the Sentinel answers NOGOODSLAVE:
 * it judges a replica by the last INFO it read from it (every 10 s), which
 * may predate the replica's first sync even after WAIT saw the sync done.
 */
async function failover(admin: Redis): Promise<void> {
  await until('the Sentinel accepts the failover', async () => {
    try {
      return (await admin.call('SENTINEL', 'FAILOVER', NAME)) === 'OK';
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOGOODSLAVE')) return false;
      throw error;
    }
  });
}

describe('RedisStore through Sentinel', () => {
  it('finds the master by name and follows a failover to the promoted replica', async () => {
    const admin = new Redis(sentinel.port, '127.0.0.1');
    const onMaster = new Redis(master.port, '127.0.0.1');
    const store = new RedisStore({
      connection: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: NAME },
      prefix: 'sent',
    });
    try {
      // The Sentinel must know the replica before it can promote it.
      await until('sentinel sees the replica', async () => {
        const replicas = (await admin.call('SENTINEL', 'REPLICAS', NAME)) as unknown[];
        return replicas.length === 1;
      });
      const before = await store.create({
        id: generateSessionId(),
        userId: 'ana',
        data: { cart: [1] },
        expiresAt: Date.now() + 60_000,
      });
      // Replicated before the failover, so the promoted replica has it.
      expect(await onMaster.call('WAIT', '1', '5000')).toBe(1);

      // Writes keep going while the roles switch; transient refusals are
      // allowed (the store says STORAGE_UNAVAILABLE), lost writes are not.
      const stop = new AbortController();
      const written: string[] = [];
      const failures: string[] = [];
      const writer = (async () => {
        while (!stop.signal.aborted) {
          try {
            const s = await store.create({
              id: generateSessionId(),
              data: { n: written.length },
              expiresAt: Date.now() + 60_000,
            });
            written.push(s.id);
          } catch (error) {
            failures.push((error as { code?: string }).code ?? String(error));
          }
          await delay(5);
        }
      })();
      await delay(200);
      await failover(admin);
      await until('the replica is promoted', async () => {
        const address = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[];
        return address[1] === String(replica.port);
      });
      // Some writes after the switch must land on the new master.
      const switchedAt = written.length;
      await until('writes continue on the new master', () =>
        Promise.resolve(written.length >= switchedAt + 20),
      );
      stop.abort();
      await writer;

      expect(failures.every((code) => code === 'STORAGE_UNAVAILABLE')).toBe(true);
      expect(await store.load(before.id)).toEqual(before);
      expect((await store.listByUser('ana')).map((s) => s.id)).toEqual([before.id]);
      // Every write the store confirmed is on the promoted replica.
      const onReplica = new Redis(replica.port, '127.0.0.1');
      try {
        expect((await onReplica.role())[0]).toBe('master');
        for (const id of written.slice(switchedAt)) expect(await store.load(id)).not.toBeNull();
      } finally {
        onReplica.disconnect();
      }
    } finally {
      await store.close();
      admin.disconnect();
      onMaster.disconnect();
    }
  });

  it('sweeps an owned session in one sweep call, leaving its user index to its readers', async () => {
    const admin = new Redis(sentinel.port, '127.0.0.1');
    const store = new RedisStore({
      connection: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: NAME },
      prefix: 'sent2',
      buckets: 1,
    });
    const address = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[];
    const current = new Redis(Number(address[1]), '127.0.0.1');
    try {
      const session = await store.create({
        id: generateSessionId(),
        userId: 'bea',
        data: {},
        expiresAt: Date.now() + 1_000,
      });
      // Nothing due yet: this only loads the scripts (EVALSHA then counts alone).
      await store.sweepBucket(0, 0, 100);
      await current.config('RESETSTAT');
      const swept = await store.sweepBucket(0, session.expiresAt + 1, 100);
      expect(swept.expired.map((e) => e.id)).toEqual([session.id]);
      // One script call and nothing else: the sweep leaves the owner's index
      // (it expires with its sessions; its first reader drops the member).
      const stats = await current.info('commandstats');
      expect(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
      expect(await current.zcard('sent2:u:{YmVh}')).toBe(1);
      expect(await store.listByUser('bea')).toEqual([]);
      expect(await current.exists('sent2:u:{YmVh}')).toBe(0);
    } finally {
      await store.close();
      current.disconnect();
      admin.disconnect();
    }
  });
});

/*
 * The instance cache through the same Sentinel: after `SENTINEL FAILOVER`
 * the store's connection follows the new master, its invalidation companion
 * is replaced by one to that master, and the cache serves again, coherent.
 */

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
      // The earlier test may have switched roles already: ask who is master.
      const masterAddress = async (): Promise<string> =>
        ((await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1] ?? '';
      const before = await masterAddress();
      // Replicated before the failover (the demoted master of an earlier
      // failover may still be catching up).
      const onMaster = new Redis(Number(before), '127.0.0.1');
      await until('replicated', async () => (await onMaster.call('WAIT', '1', '1000')) === 1);
      onMaster.disconnect();

      await failover(admin);
      await until('the replica is promoted', async () => (await masterAddress()) !== before);
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
