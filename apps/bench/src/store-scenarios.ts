import { Redis } from 'ioredis';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import session, { type SessionData as ExpressSessionData } from 'express-session';
import { createClient } from 'redis';
import { generateSessionId, lockedUpdate, type SessionLocker } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { RedisStore, RedlockLocker } from '@session-cluster/store-redis';
import type { LoadOperation } from './load-runner.js';
import { sessionFixture } from './session-fixture.js';

/** One measured scenario: what it is and the operation under load. */
export interface Scenario {
  readonly name: string;
  readonly op: LoadOperation;
  /** Fewer operations for slow scenarios (locks). */
  readonly opsFactor?: number;
}

/** Everything the store scenarios need, built once and closed at the end. */
export interface StoreBench {
  readonly scenarios: readonly Scenario[];
  close(): Promise<void>;
}

const TTL_MS = 30 * 60_000;

/**
 * Build the side-by-side scenarios against the same redis-server: raw
 * ioredis GET/SET (auto-pipelined and not), connect-redis 11 on node-redis 5
 * (connect-redis 11 supports only node-redis), and ours.
 */
export async function createStoreBench(options: {
  readonly url: string;
  /** Extra independent nodes for the 3-node Redlock scenario (the first is `url`). */
  readonly lockUrls: readonly string[];
  readonly lanes: number;
}): Promise<StoreBench> {
  const { url, lanes } = options;
  const port = Number(new URL(url).port);
  const rawAuto = new Redis({ port, enableAutoPipelining: true, lazyConnect: true });
  const rawPlain = new Redis({ port, lazyConnect: true });
  await Promise.all([rawAuto.connect(), rawPlain.connect()]);
  const nodeRedis = createClient({ url });
  await nodeRedis.connect();
  const connectRedis = new ConnectRedisStore({ client: nodeRedis, prefix: 'bench:cr:' });

  const prefix = 'bench';
  const store = new RedisStore({ connection: { url }, prefix });
  // Another instance's view of the same Redis, with the instance cache.
  const cached = new RedisStore({ connection: { url }, prefix, cache: true });
  const locker1 = new RedlockLocker({ nodes: [url], prefix });
  const locker3 = new RedlockLocker({ nodes: [url, ...options.lockUrls], prefix });

  // One session per lane for every contender, so "distinct sessions" is literal.
  const value = JSON.stringify(sessionFixture(0));
  const rawKeys = Array.from({ length: lanes }, (_, i) => `bench:raw:${i}`);
  await Promise.all(rawKeys.map((k) => rawAuto.set(k, value, 'PX', TTL_MS)));
  const crIds = Array.from({ length: lanes }, (_, i) => `cr-${i}`);
  // What express-session hands its store: the session data plus a real Cookie.
  const crSession = (n: number): ExpressSessionData =>
    Object.assign(
      { cookie: Object.assign(new session.Cookie(), { maxAge: TTL_MS }) },
      sessionFixture(n),
    );
  await Promise.all(crIds.map((id, i) => connectRedis.set(id, crSession(i))));
  const ids = Array.from({ length: lanes }, () => generateSessionId());
  const versions = new Map<string, number>();
  await Promise.all(
    ids.map(async (id, i) => {
      const record = await store.create({
        id,
        data: sessionFixture(i),
        expiresAt: Date.now() + TTL_MS,
      });
      versions.set(id, record.version);
    }),
  );
  // manager.update in each lock mode, on a store and locker of its own (the
  // manager closes them), over the same sessions; telemetry as shipped (on,
  // no SDK registered: no-op API calls).
  const managers = {
    'on-conflict-cached': new SessionManager({
      store: new RedisStore({ connection: { url }, prefix, cache: true }),
      locker: new RedlockLocker({ nodes: [url], prefix }),
      update: { lock: 'on-conflict' },
    }),
    'on-conflict': new SessionManager({
      store: new RedisStore({ connection: { url }, prefix }),
      locker: new RedlockLocker({ nodes: [url], prefix }),
      update: { lock: 'on-conflict' },
    }),
    always: new SessionManager({
      store: new RedisStore({ connection: { url }, prefix }),
      locker: new RedlockLocker({ nodes: [url], prefix }),
      update: { lock: 'always' },
    }),
  } as const;
  const managerIncrement = (lock: keyof typeof managers, id: string) =>
    managers[lock].update(id, (data) => ({ ...data, visits: Number(data['visits'] ?? 0) + 1 }));
  // Sessions only the cached store touches: other scenarios' writes would
  // invalidate the copies it holds.
  const cachedIds = Array.from({ length: lanes }, () => generateSessionId());
  await Promise.all(
    cachedIds.map((id, i) =>
      cached.create({ id, data: sessionFixture(i), expiresAt: Date.now() + TTL_MS }),
    ),
  );
  for (let waited = 0; cached.cacheStats()?.state !== 'ready'; waited += 10) {
    if (waited > 5_000) throw new Error('bench: the instance cache did not get ready');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const updateIds = Array.from({ length: lanes }, () => generateSessionId());
  await Promise.all(
    updateIds.map((id, i) =>
      store.create({ id, data: sessionFixture(i), expiresAt: Date.now() + TTL_MS }),
    ),
  );
  // Owned sessions: a touch also extends the owner's index TTL (one more
  // round trip, PEXPIREAT … GT), since the sweep no longer trims indexes.
  const ownedIds = Array.from({ length: lanes }, () => generateSessionId());
  await Promise.all(
    ownedIds.map((id, i) =>
      store.create({
        id,
        userId: `bench-user-${i}`,
        data: sessionFixture(i),
        expiresAt: Date.now() + TTL_MS,
      }),
    ),
  );
  const hotId = generateSessionId();
  await store.create({ id: hotId, data: { counter: 0 }, expiresAt: Date.now() + TTL_MS });

  const lane = <T>(list: readonly T[], slot: number): T => {
    const item = list[slot % list.length];
    if (item === undefined) throw new Error('empty lane list');
    return item;
  };
  const increment = (locker: SessionLocker, id: string) =>
    lockedUpdate(store, locker, id, (data) => ({
      ...data,
      visits: Number(data['visits'] ?? 0) + 1,
    }));

  const scenarios: Scenario[] = [
    { name: 'raw ioredis GET (auto-pipelined)', op: (s) => rawAuto.get(lane(rawKeys, s)) },
    { name: 'raw ioredis GET (no pipelining)', op: (s) => rawPlain.get(lane(rawKeys, s)) },
    {
      name: 'raw ioredis SET PX (auto-pipelined)',
      op: (s, i) => rawAuto.set(lane(rawKeys, s), i % 2 === 0 ? value : `${value} `, 'PX', TTL_MS),
    },
    {
      name: 'raw ioredis SET PX (no pipelining)',
      op: (s) => rawPlain.set(lane(rawKeys, s), value, 'PX', TTL_MS),
    },
    {
      name: 'connect-redis get',
      op: (s) => connectRedis.get(lane(crIds, s)),
    },
    {
      name: 'connect-redis set',
      op: (s, i) => connectRedis.set(lane(crIds, s), crSession(i)),
    },
    { name: 'ours load', op: (s) => store.load(lane(ids, s)) },
    { name: 'ours load (cached)', op: (s) => cached.load(lane(cachedIds, s)) },
    {
      name: 'ours patch (1 field, cached store)',
      op: (s, i) => cached.patch(lane(cachedIds, s), { set: { lastPath: `/p/${i}` } }),
    },
    {
      name: 'ours save (CAS)',
      op: async (s, i) => {
        const id = lane(ids, s);
        const next = await store.save(
          id,
          { data: sessionFixture(i), expiresAt: Date.now() + TTL_MS },
          versions.get(id) ?? 1,
        );
        versions.set(id, next);
      },
    },
    {
      name: 'ours patch (1 field)',
      op: async (s, i) => {
        const id = lane(ids, s);
        versions.set(id, await store.patch(id, { set: { lastPath: `/p/${i}` } }));
      },
    },
    { name: 'ours touch', op: (s) => store.touch(lane(ids, s), Date.now() + TTL_MS) },
    {
      name: 'ours touch, owned session (extends the user index)',
      op: (s) => store.touch(lane(ownedIds, s), Date.now() + TTL_MS),
    },
    {
      name: 'ours locked update (1 lock node)',
      opsFactor: 0.25,
      op: async (s) => {
        const id = lane(ids, s);
        versions.set(id, (await increment(locker1, id)).version);
      },
    },
    {
      name: 'ours locked update (3 lock nodes)',
      opsFactor: 0.25,
      op: async (s) => {
        const id = lane(ids, s);
        versions.set(id, (await increment(locker3, id)).version);
      },
    },
    {
      // Sessions the other scenarios do not write (their writes would
      // invalidate the copies): every load after a lane's first is a hit.
      name: "ours manager.update (lock: 'on-conflict', uncontended, instance cache)",
      op: async (s) => {
        await managerIncrement('on-conflict-cached', lane(updateIds, s));
      },
    },
    {
      name: "ours manager.update (lock: 'on-conflict', uncontended)",
      op: async (s) => {
        const id = lane(ids, s);
        versions.set(id, (await managerIncrement('on-conflict', id)).version);
      },
    },
    {
      name: "ours manager.update (lock: 'always', 1 lock node)",
      opsFactor: 0.25,
      op: async (s) => {
        const id = lane(ids, s);
        versions.set(id, (await managerIncrement('always', id)).version);
      },
    },
    {
      name: 'ours locked update, one hot session',
      opsFactor: 0.05,
      op: () => increment(locker1, hotId),
    },
  ];

  return {
    scenarios,
    async close() {
      await Promise.all([
        store.close(),
        cached.close(),
        locker1.close(),
        locker3.close(),
        managers['on-conflict'].close(),
        managers['on-conflict-cached'].close(),
        managers.always.close(),
      ]);
      await Promise.all([rawAuto.quit(), rawPlain.quit(), nodeRedis.quit()]);
    },
  };
}
