import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ConcurrentAccessError,
  SESSION_CHANNELS,
  SessionNotFoundError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import type { SessionData, SessionPatch, SessionRecord } from '@session-cluster/core';
import {
  describeStoreContract,
  expectSessionError,
  startRedisServer,
} from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  onTestFinished,
} from 'vitest';
import { deleteKeys, freshPrefix, redisHarness } from './redis-harness.test-helpers.js';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';
import type { RedisStoreOptions } from './redis-store-options.js';
import { REPLACING_PATCH_MAX_BYTES } from './replacing-patch.js';
import { ENTRY_SEPARATOR, FIELD_SEPARATOR, FRAME_MAGIC } from './session-frame.js';

/*
 * The instance cache against a real redis-server: two stores stand for two
 * instances (each its own connections, so each is tracked by Redis on its
 * own). Coherence is asserted by what each store's load answers and by
 * counting the GETs Redis served (INFO commandstats).
 */

let server: RedisServerHandle;
let admin: Redis;
let callerClient: Redis;
let prefix: string;
const stores: RedisStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, '127.0.0.1', { commandTimeout: 2_000 });
  // ioredis 6's default protocol (RESP3): tracking must work for it too.
  callerClient = new Redis(server.port, '127.0.0.1', {
    commandTimeout: 2_000,
    enableAutoPipelining: true,
  });
});

afterAll(async () => {
  await callerClient.quit();
  await admin.quit();
  await server.stop();
});

beforeEach(() => {
  prefix = freshPrefix();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await deleteKeys(admin, prefix);
});

describeStoreContract('RedisStore with the instance cache (caller-owned RESP3 client)', (ctx) =>
  Promise.resolve(redisHarness(ctx, { client: callerClient, cache: true })),
);

/** A store-owned (RESP2) store with the cache, once the cache is ready. */
async function openStore(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix,
    cache: true,
    ...options,
  });
  stores.push(store);
  if (store.cacheStats() !== undefined) {
    await until('cache ready', () => store.cacheStats()?.state === 'ready');
  }
  return store;
}

/** Poll (5 ms steps) until `check` holds; fail after 3 s. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 3 s`);
    await delay(5);
  }
}

/** A store whose Redis user may use `__redis__:invalidate` but not the revocation channel. */
async function openStoreWithoutRevocations(user: string): Promise<RedisStore> {
  await admin.call(
    'ACL',
    'SETUSER',
    user,
    'on',
    '>pw',
    '~*',
    'resetchannels',
    '&__redis__:invalidate',
    '+@all',
  );
  return openStore({ connection: { url: `redis://${user}:pw@127.0.0.1:${server.port}` } });
}

/** Load each of `ids` through `store` until its cache holds it current (tracking is confirmed asynchronously). */
async function cachedIn(store: RedisStore, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    await until('cached', async () => {
      await store.load(id);
      return store.loadCached(id) !== undefined;
    });
  }
}

/** The messages of the process warnings with `code` emitted from now to the end of the test. */
function warningsWith(code: string): string[] {
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }): void => {
    if (warning.code === code) warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  onTestFinished(() => {
    process.off('warning', onWarning);
  });
  return warnings;
}

/** GETs the server has served so far. */
async function getCalls(): Promise<number> {
  const info = await admin.info('commandstats');
  const match = /cmdstat_get:calls=(\d+)/.exec(info);
  return match === null ? 0 : Number(match[1]);
}

async function createSession(
  store: RedisStore,
  data: SessionData = { n: 0 },
): Promise<SessionRecord> {
  return store.create({ id: generateSessionId(), data, expiresAt: Date.now() + 60_000 });
}

/**
 * Stop `store`'s invalidation companions from reading their sockets (the
 * messages wait in the kernel) until the returned function is called: an
 * invalidation still on its way. Reaches into the store's private tracker.
 */
function holdInvalidations(store: RedisStore): () => void {
  const tracker = (store as unknown as { tracker: { tracked: Map<unknown, unknown> } }).tracker;
  const streams = [...tracker.tracked.values()].map(
    (connection) =>
      (connection as { companion: { stream: NodeJS.ReadableStream } }).companion.stream,
  );
  for (const stream of streams) stream.pause();
  return () => {
    for (const stream of streams) stream.resume();
  };
}

/** The id of the store's companion connection (CLIENT LIST name). */
async function clientIds(name: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /id=(\d+)/.exec(line)?.[1] ?? '');
}

describe('RedisStore instance cache: standalone', () => {
  it('answers a load of a cached, unchanged session without a round trip', async () => {
    const store = await openStore();
    const session = await createSession(store);
    const first = await store.load(session.id);
    const before = await getCalls();
    for (let i = 0; i < 50; i++) expect(await store.load(session.id)).toBe(first);
    expect(await getCalls()).toBe(before);
    expect(store.cacheStats()).toMatchObject({ state: 'ready', entries: 1, hits: 50 });
  });

  it("another instance's write invalidates the cached copy", async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    expect((await a.load(session.id))?.version).toBe(1);
    await b.patch(session.id, { set: { n: 1 } });
    await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > 0);
    expect(await a.load(session.id)).toMatchObject({ version: 2, data: { n: 1 } });
    // Tracked again by that load: the next write is seen too.
    await b.save(session.id, { data: { n: 2 }, expiresAt: Date.now() + 60_000 }, 2);
    await until('invalidated twice', () => (a.cacheStats()?.invalidations ?? 0) > 1);
    expect(await a.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
  });

  it("an instance's own writes are in its cache at once, and still tracked", async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    const version = await a.patch(session.id, { set: { n: 5 } });
    // Every load below is a hit (Lua's own GETs count in commandstats, so
    // the cache's miss counter says it here).
    const misses = a.cacheStats()?.misses;
    expect(await a.load(session.id)).toMatchObject({ version, data: { n: 5 } });

    await a.save(session.id, { data: { n: 6 }, expiresAt: Date.now() + 60_000 }, version);
    expect(await a.load(session.id)).toMatchObject({ version: version + 1, data: { n: 6 } });
    const later = Date.now() + 120_000;
    expect(await a.touch(session.id, later)).toBe(true);
    expect((await a.load(session.id))?.expiresAt).toBe(later);
    expect(a.cacheStats()?.misses).toBe(misses);

    // The refill re-registered the key: another instance's write reaches a.
    await b.patch(session.id, { set: { n: 7 } });
    await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > 0);
    expect((await a.load(session.id))?.data).toEqual({ n: 7 });

    expect(await a.delete(session.id)).toBe(true);
    expect(await a.load(session.id)).toBeNull();
  });

  it('a version conflict leaves no stale copy cached (a stale copy costs one retry)', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    await b.patch(session.id, { set: { n: 1 } });
    await expect(
      a.save(session.id, { data: { n: 9 }, expiresAt: Date.now() + 60_000 }, 1),
    ).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    const misses = a.cacheStats()?.misses ?? 0;
    expect(await a.load(session.id)).toMatchObject({ version: 2, data: { n: 1 } });
    expect(a.cacheStats()?.misses).toBe(misses + 1);
  });

  it('refills after its own writes without reading the session back, with what a read would decode', async () => {
    const sealed = createSessionCodec({
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    for (const codec of [undefined, sealed]) {
      const store = await openStore(codec === undefined ? {} : { codec });
      // What a reader without the cache decodes from Redis.
      const reader = await openStore({ cache: false, ...(codec === undefined ? {} : { codec }) });
      const session = await store.create({
        id: generateSessionId(),
        userId: 'owner-1',
        data: { keep: { deep: [1, 'two', null] }, drop: true, n: 0 },
        expiresAt: Date.now() + 60_000,
      });
      await store.load(session.id);
      // Lua's own GETs count in commandstats: the cache's miss counter tells.
      const misses = store.cacheStats()?.misses;
      const patched = await store.patch(session.id, {
        set: { n: 1, added: { at: '2026-12-04' }, '10': 'numeric key' },
        unset: ['drop'],
      });
      const afterPatch = await store.load(session.id);
      expect(afterPatch).toEqual(await reader.load(session.id));
      expect(afterPatch).toMatchObject({ version: patched, userId: 'owner-1' });
      expect(Object.isFrozen(afterPatch?.data)).toBe(true);

      // A save that keeps the owner ('' to the script): the record still names it.
      // The caller changes its object while the write is in flight: the
      // cached copy is what was sent (and -0 is 0, as JSON stores it).
      const data = { only: ['x'], zero: -0, nested: { a: 1 } };
      const saving = store.save(session.id, { data, expiresAt: Date.now() + 90_000 }, patched);
      data.only.push('y');
      data.nested.a = 2;
      const saved = await saving;
      const afterSave = await store.load(session.id);
      expect(afterSave?.data).toEqual({ only: ['x'], zero: 0, nested: { a: 1 } });
      expect(afterSave).toEqual(await reader.load(session.id));
      expect(afterSave).toMatchObject({ version: saved, userId: 'owner-1' });

      expect(await store.touch(session.id, Date.now() + 120_000)).toBe(true);
      expect(await store.load(session.id)).toEqual(await reader.load(session.id));
      // Three writes, three refills: every load above was a hit.
      expect(store.cacheStats()?.misses).toBe(misses);
    }
  });

  it('a patch of a session it never read leaves it out of the cache', async () => {
    const a = await openStore();
    const session = await createSession(a);
    await a.patch(session.id, { set: { n: 1 } });
    const misses = a.cacheStats()?.misses ?? 0;
    expect(await a.load(session.id)).toMatchObject({ version: 2, data: { n: 1 } });
    expect(a.cacheStats()?.misses).toBe(misses + 1);
    // That load filled it: the next patch refills it in place.
    await a.patch(session.id, { set: { n: 2 } });
    expect(await a.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
    expect(a.cacheStats()?.misses).toBe(misses + 1);
  });

  it('sets aside what its own write left when another write beats the refill: an outage fallback never gets the copy from before it', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    // b's write lands between a's write and the head read a queues behind it.
    const client = a.client as Redis;
    const getrange = client.getrange.bind(client);
    let raced = false;
    client.getrange = (key: string, start: number, end: number) => {
      if (raced) return getrange(key, start, end);
      raced = true;
      return b.patch(session.id, { set: { b: 1 } }).then(() => getrange(key, start, end));
    };
    expect(await a.patch(session.id, { set: { a: 1 } })).toBe(2);
    expect(raced).toBe(true);
    // Not cached (b's write followed), but a's last sight holds a's own write.
    expect(a.cacheStats()?.entries).toBe(0);
    expect(a.peekCached(session.id)).toMatchObject({ version: 2, data: { n: 0, a: 1 } });
    raced = false;
    const saved = await a.save(session.id, { data: { n: 5 }, expiresAt: Date.now() + 60_000 }, 3);
    expect(saved).toBe(4);
    expect(a.peekCached(session.id)).toMatchObject({ version: 4, data: { n: 5 } });
  });

  it('notes what its own write left when the head read behind it fails (the connection went): an outage fallback never gets the copy from before it', async () => {
    const a = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    const client = a.client as Redis;
    const getrange = client.getrange.bind(client);
    client.getrange = () => Promise.reject(new Error('Connection is closed.'));
    try {
      expect(await a.patch(session.id, { set: { n: 1 } })).toBe(2);
    } finally {
      client.getrange = getrange;
    }
    // Not cached (nothing read it back), but a's last sight holds its own write.
    expect(a.loadCached(session.id)).toBeUndefined();
    expect(a.peekCached(session.id)).toMatchObject({ version: 2, data: { n: 1 } });
  });

  it('parallel writes leaving in separate batches never leave the cache an older version than its own later write', async () => {
    const a = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    // The first is sent whole (replaceSession) with a read behind it; the
    // others (patchSession, no copy left to build on) leave after that read.
    const versions = await Promise.all(
      Array.from({ length: 5 }, (_, i) => a.patch(session.id, { set: { [`k${i}`]: i } })),
    );
    expect(versions.sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6]);
    // Not the version the first write's read saw: what Redis holds.
    expect(a.loadCached(session.id)?.version ?? 6).toBe(6);
    expect(await a.load(session.id)).toMatchObject({
      version: 6,
      data: { n: 0, k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 },
    });
  });

  it('a touch and a patch made together (two scripts, two batches): the cache never keeps the touch without the patch', async () => {
    const a = await openStore({ frameFormat: 1 });
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    const later = session.expiresAt + 60_000;
    const [touched, version] = await Promise.all([
      a.touch(session.id, later),
      a.patch(session.id, { set: { n: 1 } }),
    ]);
    expect([touched, version]).toEqual([true, 2]);
    expect(a.loadCached(session.id)?.version ?? 2).toBe(2);
    expect(await a.load(session.id)).toMatchObject({
      version: 2,
      expiresAt: later,
      data: { n: 1 },
    });
  });

  it('a patch and a delete made together (a write racing a logout): the cache never serves the deleted session', async () => {
    const a = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    const [version, deleted] = await Promise.all([
      a.patch(session.id, { set: { n: 1 } }),
      a.delete(session.id),
    ]);
    expect([version, deleted]).toEqual([2, true]);
    expect(a.loadCached(session.id)).toBeUndefined();
    expect(await a.load(session.id)).toBeNull();
  });

  it("another instance's delete is announced: no copy of the deleted session is kept for an outage", async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a, { n: 0 });
    await until(
      'cached by b',
      async () => (await b.load(session.id)) !== null && b.loadCached(session.id) !== undefined,
    );
    const kept = await createSession(a, { n: 1 });
    await b.load(kept.id);
    expect(await a.delete(session.id)).toBe(true);
    // The invalidation alone would set b's copy aside (it does not say the key was deleted).
    await until('revoked in b', () => b.peekCached(session.id) === undefined);
    // A session another instance wrote (not deleted) is still kept.
    await b.patch(kept.id, { set: { n: 2 } });
    await a.patch(kept.id, { set: { n: 3 } });
    await until('invalidated in b', () => b.loadCached(kept.id) === undefined);
    expect(b.peekCached(kept.id)).toBeDefined();
  });

  it('a burst of parallel patches: the copy it leaves is what Redis holds (each patch it could not see replayed in version order)', async () => {
    const a = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(a, { n: 0, gone: true });
    await a.load(session.id);
    const expiresAt = Date.now() + 120_000;
    const n = 40;
    const versions = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        a.patch(
          session.id,
          { set: { [`k${i}`]: i, n: i }, ...(i === 7 ? { unset: ['gone'] } : {}) },
          i % 2 === 0 ? { expiresAt: expiresAt + i } : undefined,
        ),
      ),
    );
    expect(new Set(versions).size).toBe(n);
    const stored = await reader.load(session.id);
    expect(stored?.version).toBe(n + 1);
    // Each patch ran on a version its copy did not hold; the copy an outage
    // fallback would seed the session with is still exactly Redis's.
    const copy = a.peekCached(session.id);
    expect(copy).toEqual(stored);
    expect(Object.keys(copy?.data ?? {})).toEqual(Object.keys(stored?.data ?? {}));
    // And a patch base again: the next patch is sent whole, and stored.
    expect(await sentWhole(() => a.patch(session.id, { set: { after: 1 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({
      version: n + 2,
      data: { ...stored?.data, after: 1 },
    });
  });

  it("a burst around another instance's write: the copy is replayed up to that write, never past it", async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    const wave = (from: number) =>
      Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          a.patch(session.id, { set: { [`k${from + i}`]: from + i } }),
        ),
      );
    await wave(0);
    expect(a.peekCached(session.id)?.version).toBe(6);
    await b.patch(session.id, { set: { b: 1 } });
    await wave(5);
    const stored = await reader.load(session.id);
    expect(stored?.version).toBe(12);
    expect(Object.keys(stored?.data ?? {}).filter((key) => key.startsWith('k'))).toHaveLength(10);
    expect(stored?.data).toMatchObject({ n: 0, b: 1 });
    // Version 7 is b's: a's steps after it wait for a copy past it.
    expect(a.peekCached(session.id)?.version).toBe(6);
    expect(a.peekCached(session.id)?.data).not.toHaveProperty('b');
    // No base past b's write: a's next patch sends its keys alone, and nothing is lost.
    expect(await sentWhole(() => a.patch(session.id, { set: { last: 1 } }))).toBe(false);
    expect(await reader.load(session.id)).toMatchObject({
      version: 13,
      data: { ...stored?.data, last: 1 },
    });
  });

  it("never refills from a copy another instance's write made stale", async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(a);
    await a.load(session.id);
    // b's invalidation is held on its way to a (a's companion stops reading
    // its socket), so a still holds version 1 when it patches version 2.
    const resume = holdInvalidations(a);
    await b.patch(session.id, { set: { b: 1 } });
    await a.patch(session.id, { set: { a: 1 } });
    const fresh = await reader.load(session.id);
    expect(fresh).toMatchObject({ version: 3, data: { n: 0, a: 1, b: 1 } });
    expect(await a.load(session.id)).toEqual(fresh);
    resume();
  });

  it('loadCached answers a current copy synchronously and counts a miss only through load', async () => {
    const a = await openStore();
    const session = await createSession(a);
    const before = a.cacheStats();
    expect(a.loadCached(session.id)).toBeUndefined();
    expect(a.cacheStats()?.misses).toBe(before?.misses);
    await a.load(session.id);
    expect(a.cacheStats()?.misses).toBe((before?.misses ?? 0) + 1);
    expect(a.loadCached(session.id)).toMatchObject({ version: 1, data: { n: 0 } });
    expect(a.loadCached(session.id, { minVersion: 2 })).toBeUndefined();
    expect(a.cacheStats()?.hits).toBe((before?.hits ?? 0) + 1);
    expect(a.loadCached('not a session id')).toBeUndefined();
  });

  it('publishes its cache hits and misses on the session channels, unless telemetry is false', async () => {
    const events: unknown[] = [];
    const listener = (message: unknown): void => {
      events.push(message);
    };
    SESSION_CHANNELS.event.subscribe(listener);
    try {
      for (const telemetry of [true, false]) {
        const store = await openStore({ telemetry });
        const session = await createSession(store);
        events.length = 0;
        await store.load(session.id);
        await store.load(session.id);
        // loadCached answers without publishing: whoever answers a load
        // with it publishes the hit (the manager's getCached: a cachedRead).
        expect(store.loadCached(session.id)?.id).toBe(session.id);
        expect(events).toEqual(
          telemetry
            ? [
                { type: 'cache', hit: false },
                { type: 'cache', hit: true },
              ]
            : [],
        );
      }
    } finally {
      SESSION_CHANNELS.event.unsubscribe(listener);
    }
  });

  it('minVersion bypasses a cached copy older than it', async () => {
    const a = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    // Written behind the cache's back by a connection Redis does not track
    // for a: stands for an invalidation still on its way.
    const key = (await admin.keys(`${prefix}:s:*`))[0] ?? '';
    const frame = (await admin.get(key)) ?? '';
    await a.patch(session.id, { set: { n: 1 } });
    expect((await a.load(session.id))?.version).toBe(2);
    await admin.set(key, frame, 'KEEPTTL');
    await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > 0);
    expect((await a.load(session.id))?.version).toBe(1);
    const before = await getCalls();
    expect((await a.load(session.id, { minVersion: 1 }))?.version).toBe(1);
    expect(await getCalls()).toBe(before);
    expect((await a.load(session.id, { minVersion: 2 }))?.version).toBe(1);
    expect(await getCalls()).toBe(before + 1);
  });

  it('a copy read after a token was issued answers it though older; never one read before', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    // The browser's token: version 3, issued 5 s ago. Redis holds version 1
    // (a failover lost versions 2 and 3).
    const lost = { minVersion: 3, minVersionSince: Date.now() - 5_000 };
    expect((await a.load(session.id, lost))?.version).toBe(1);
    let before = await getCalls();
    expect(a.loadCached(session.id, lost)?.version).toBe(1);
    expect((await a.load(session.id, lost))?.version).toBe(1);
    expect(await getCalls()).toBe(before);
    // Without the token's time, or for a token issued after every read here, Redis is asked.
    for (const options of [{ minVersion: 3 }, { minVersion: 3, minVersionSince: Date.now() }]) {
      before = await getCalls();
      expect((await a.load(session.id, options))?.version).toBe(1);
      expect((await a.load(session.id, options))?.version).toBe(1);
      expect(await getCalls()).toBe(before + 2);
    }
    // The visitor writes again on another instance: version 2 (a number the
    // lost token held once), while a's invalidation is still on its way. The
    // new token was issued after a's copy was read: a must not answer it.
    const resume = holdInvalidations(a);
    try {
      await b.patch(session.id, { set: { n: 2 } });
      const written = { minVersion: 2, minVersionSince: Date.now() };
      expect(a.loadCached(session.id, written)).toBeUndefined();
      expect(await a.load(session.id, written)).toMatchObject({ version: 2, data: { n: 2 } });
    } finally {
      resume();
    }
  });

  it("a token's time is compared with the wall clock, not with the store's clock", async () => {
    // A store whose clock runs 10 s ahead (a test clock, a skewed option):
    // a copy it reads now was still read before a token issued now.
    const a = await openStore({ clock: { now: () => Date.now() + 10_000 } });
    const session = await createSession(a);
    const fresh = { minVersion: 3, minVersionSince: Date.now() };
    const before = await getCalls();
    expect((await a.load(session.id, fresh))?.version).toBe(1);
    expect(a.loadCached(session.id, fresh)).toBeUndefined();
    expect((await a.load(session.id, fresh))?.version).toBe(1);
    expect(await getCalls()).toBe(before + 2);
  });

  it('FLUSHDB (a null invalidation) empties the cache', async () => {
    const a = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    const flushes = a.cacheStats()?.flushes ?? 0;
    await admin.flushdb();
    await until('flushed', () => (a.cacheStats()?.flushes ?? 0) > flushes);
    expect(a.cacheStats()?.entries).toBe(0);
    expect(await a.load(session.id)).toBeNull();
  });

  it('never serves while its invalidation connection is down; tracks again once it is back', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    const [companion] = await clientIds('session-cluster:invalidations');
    expect(companion).toBeDefined();
    // Kill every companion: a's and b's.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until('down', () => a.cacheStats()?.state === 'down');
    await b.patch(session.id, { set: { n: 1 } });
    expect((await a.load(session.id))?.version).toBe(2);
    await until('ready again', () => a.cacheStats()?.state === 'ready');
    expect(a.cacheStats()?.entries).toBe(0);
    expect((await a.load(session.id))?.version).toBe(2);
    await b.patch(session.id, { set: { n: 2 } });
    await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > 0);
    expect((await a.load(session.id))?.version).toBe(3);
  });

  it('a delete announced while its invalidation connection was down: once back, no copy of the deleted session is kept for an outage', async () => {
    const a = await openStore();
    const b = await openStore();
    const deleted = await createSession(b, { n: 1 });
    const kept = await createSession(b, { n: 2 });
    await cachedIn(a, deleted.id, kept.id);
    // Every companion killed: b's announcement reaches no subscriber of a's.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(await b.delete(deleted.id)).toBe(true);
    await until('ready again', () => a.cacheStats()?.state === 'ready');
    // Nothing loads the deleted id: only the look-up on return can tell.
    await until(
      'copy of the deleted session dropped',
      () => a.peekCached(deleted.id) === undefined,
    );
    expect(a.peekCached(kept.id)).toMatchObject({ data: { n: 2 } });
  });

  it('a step of turning tracking on that times out is tried again: the cache does not stay down', async () => {
    // The companion's CLIENT ID really times out: the server is paused when
    // it arrives. Nothing reconnects by itself (both connections stay up),
    // so without a retry the cache would stay down for good.
    const prototype = Redis.prototype as unknown as {
      client: (this: Redis, ...args: unknown[]) => Promise<unknown>;
    };
    const clientCommand = prototype.client;
    let paused = 0;
    prototype.client = async function (this: Redis, ...args: unknown[]) {
      if (args[0] === 'ID' && paused === 0) {
        paused += 1;
        await admin.call('CLIENT', 'PAUSE', '400', 'ALL');
      }
      return clientCommand.apply(this, args);
    };
    let store: RedisStore;
    try {
      store = await openStore({ commandTimeoutMs: 150 });
    } finally {
      prototype.client = clientCommand;
    }
    expect(paused).toBe(1);
    const session = await createSession(store);
    await store.load(session.id);
    const gets = await getCalls();
    expect((await store.load(session.id))?.version).toBe(1);
    expect(await getCalls()).toBe(gets);
  });

  it('a Redis user without rights on the revocation channel keeps its cache, with a warning', async () => {
    const warnings = warningsWith('SESSION_CLUSTER_REVOCATIONS_REFUSED');
    const a = await openStoreWithoutRevocations('no-revocations');
    const session = await createSession(a);
    await a.load(session.id);
    const gets = await getCalls();
    expect((await a.load(session.id))?.version).toBe(1);
    expect(await getCalls()).toBe(gets);
    await until('warned', () => warnings.length > 0);
    expect(warnings[0]).toContain(`${prefix}:revoked`);
    // Its own delete still works (its PUBLISH is refused and ignored).
    expect(await a.delete(session.id)).toBe(true);
    expect(await a.load(session.id)).toBeNull();
  });

  it("another instance's delete it never heard of: its next read finds the tombstone and keeps no copy for an outage", async () => {
    // Deaf to revocations (no rights on the channel), so only the
    // invalidation arrives, and it sets the copy aside as a stale one.
    const a = await openStoreWithoutRevocations('deaf');
    const b = await openStore();
    const deleted = await createSession(b, { n: 1 });
    const lost = await createSession(b, { n: 2 });
    await cachedIn(a, deleted.id, lost.id);
    expect(await b.delete(deleted.id)).toBe(true);
    await until('invalidated in a', () => a.loadCached(deleted.id) === undefined);
    expect(a.peekCached(deleted.id)).toMatchObject({ data: { n: 1 } });
    expect(await a.load(deleted.id)).toBeNull();
    expect(a.peekCached(deleted.id)).toBeUndefined();
    // A key that is merely missing (Redis lost it, not a delete) keeps its
    // copy: an outage fallback's write-back needs it.
    await admin.del(new RedisKeys(prefix, b.bucketCount).session(lost.id));
    await until('invalidated in a', () => a.loadCached(lost.id) === undefined);
    expect(await a.load(lost.id)).toBeNull();
    expect(a.peekCached(lost.id)).toMatchObject({ data: { n: 2 } });
  });

  it('while its cache is down, an outage fallback gets what it last read or wrote, not an older copy', async () => {
    // A Redis user without CLIENT: tracking is refused, the cache never serves.
    await admin.call('ACL', 'SETUSER', 'no-client', 'on', '>pw', '~*', '&*', '+@all', '-client');
    const warnings = warningsWith('SESSION_CLUSTER_TRACKING_REFUSED');
    const a = new RedisStore({
      connection: { url: `redis://no-client:pw@127.0.0.1:${server.port}` },
      prefix,
      cache: true,
    });
    stores.push(a);
    const b = await openStore();
    const session = await createSession(a);
    await a.patch(session.id, { set: { n: 1 } });
    await a.patch(session.id, { set: { theme: 'dark' } }, { expectedVersion: 2 });
    expect(a.cacheStats()?.state).toBe('down');
    expect(a.loadCached(session.id)).toBeUndefined();
    expect(a.peekCached(session.id)).toMatchObject({
      version: 3,
      data: { ...session.data, n: 1, theme: 'dark' },
    });
    // Another instance's write, then a read: the copy follows the read.
    await b.patch(session.id, { set: { n: 2 } });
    expect((await a.load(session.id))?.version).toBe(4);
    expect(a.peekCached(session.id)).toMatchObject({ version: 4, data: { n: 2 } });
    const loaded = await a.load(session.id);
    if (loaded === null) throw new Error('missing');
    await a.save(session.id, { data: { n: 3 }, expiresAt: loaded.expiresAt }, 4);
    expect(a.peekCached(session.id)).toMatchObject({ version: 5, data: { n: 3 } });
    expect(a.cacheStats()?.state).toBe('down');
    // Said once, with the reason, however often the companion reconnects.
    await until('warned', () => warnings.length > 0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/refused client tracking \(NOPERM.*CLIENT/);
  });

  it('a merge on the version of its copy refills the cache with the merged session; one after another write reads it back', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a, { n: 0, keep: 1, gone: 2 });
    await a.load(session.id);
    const getsBefore = await getCalls();
    const merged = await a.merge(session.id, {
      baseVersion: 1,
      expiresAt: session.expiresAt,
      changes: [
        { key: 'n', value: 5, base: 0, at: Date.now() },
        { key: 'gone', value: undefined, base: 2, at: Date.now() },
        { key: 'added', value: { deep: [1] }, base: undefined, at: Date.now() },
      ],
    });
    expect(merged).toEqual({ kind: 'merged', version: 2, conflicts: [] });
    // Refilled from the reply and the head read: no read back.
    expect(await getCalls()).toBe(getsBefore);
    const gets = await getCalls();
    const copy = a.loadCached(session.id);
    expect(await getCalls()).toBe(gets);
    const stored = await b.load(session.id);
    expect(copy).toEqual(stored);
    expect(Object.keys(copy?.data ?? {})).toEqual(Object.keys(stored?.data ?? {}));

    // Redis moved on (b's write): the merge conflicts, and the reply cannot
    // show what it left. The copy a set aside before b's write predates the
    // merge: an outage fallback seeded with it would serve n: 5 and later
    // undo the merge. So the merge reads the session back (one GET).
    await b.patch(session.id, { set: { n: 6 } });
    await until('invalidated', () => a.loadCached(session.id) === undefined);
    expect(a.peekCached(session.id)?.data['n']).toBe(5);
    const before = await getCalls();
    const again = await a.merge(session.id, {
      baseVersion: 2,
      expiresAt: session.expiresAt,
      changes: [{ key: 'n', value: 7, base: 5, at: Date.now() + 1_000 }],
    });
    expect(again).toMatchObject({ kind: 'merged', version: 4, conflicts: ['n'] });
    expect(await getCalls()).toBe(before + 1);
    expect(a.loadCached(session.id)).toMatchObject({ version: 4, data: { n: 7, keep: 1 } });
    expect(a.peekCached(session.id)).toMatchObject({ version: 4, data: { n: 7 } });

    // A merge with nothing left to change (an earlier one, whose answer a
    // timeout lost, wrote it): the copy set aside before that one is older
    // than Redis, so it is read back too.
    const written = await b.load(session.id);
    await b.patch(session.id, { set: { n: 8 } });
    await until('invalidated again', () => a.loadCached(session.id) === undefined);
    expect(a.peekCached(session.id)?.version).toBe(4);
    const reads = await getCalls();
    const nothingLeft = await a.merge(session.id, {
      baseVersion: 5,
      expiresAt: written?.expiresAt ?? 0,
      changes: [],
    });
    expect(nothingLeft).toEqual({ kind: 'merged', version: 5, conflicts: [] });
    expect(await getCalls()).toBe(reads + 1);
    expect(a.peekCached(session.id)).toMatchObject({ version: 5, data: { n: 8 } });
  });

  it('while its cache is down, a merge on top of another write leaves its result as the copy an outage fallback gets', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    await b.patch(session.id, { set: { other: 1 } });
    await until('invalidated', () => a.loadCached(session.id) === undefined);
    // The tracking connection goes away (as when Redis does): the cache is down.
    const tracker = (a as unknown as { cache: { setReady(ready: boolean): void } }).cache;
    tracker.setReady(false);
    expect(a.cacheStats()?.state).toBe('down');
    const merged = await a.merge(session.id, {
      baseVersion: 1,
      expiresAt: session.expiresAt,
      changes: [{ key: 'n', value: 44, base: 0, at: Date.now() }],
    });
    expect(merged).toMatchObject({ kind: 'merged', version: 3, conflicts: [] });
    // Without the read back this was the copy from before b's write (n: 0):
    // a fallback seeded with it would serve n: 0 and write it back over 44.
    expect(a.peekCached(session.id)).toMatchObject({ version: 3, data: { n: 44, other: 1 } });
  });

  it('a reconnected data connection flushes and turns tracking on again', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    await a.load(session.id);
    const flushes = a.cacheStats()?.flushes ?? 0;
    // Kill the store connections (normal clients) but not the companions.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await until('flushed', () => (a.cacheStats()?.flushes ?? 0) > flushes);
    await until('ready again', () => a.cacheStats()?.state === 'ready');
    await until('b ready again', () => b.cacheStats()?.state === 'ready');
    expect((await a.load(session.id))?.version).toBe(1);
    await b.patch(session.id, { set: { n: 1 } });
    await until('invalidated', () => (a.cacheStats()?.invalidations ?? 0) > 0);
    expect((await a.load(session.id))?.version).toBe(2);
  });

  it('an invalidation racing the filling read wins (many rounds)', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    let version = 1;
    for (let round = 0; round < 200; round++) {
      // a's GET and b's write in flight together; whichever order Redis runs
      // them in, a must end up serving the latest version.
      const [, written] = await Promise.all([
        a.load(session.id),
        b.patch(session.id, { set: { n: round } }),
      ]);
      version = written;
      await until('a current', async () => (await a.load(session.id))?.version === version);
    }
    const stats = a.cacheStats();
    expect(stats?.invalidations).toBeGreaterThan(0);
  });

  it('stays within maxEntries', async () => {
    const a = await openStore({ cache: { maxEntries: 3 } });
    const sessions = await Promise.all([1, 2, 3, 4, 5].map(() => createSession(a)));
    for (const session of sessions) await a.load(session.id);
    expect(a.cacheStats()).toMatchObject({ entries: 3, evictions: 2 });
  });
});

/*
 * A patch on this instance's copy of the session sends the whole merged
 * frame, which Redis stores as sent while it still holds that copy
 * (lua/replaceSession-2.lua); otherwise the keys follow alone. What Redis was sent
 * is watched with MONITOR; what it holds is read by a store without the
 * cache, which checks every frame it loads.
 */

/** MONITOR's rendering of an argument, back to its bytes (it writes non-printables as \xNN). */
function unescaped(arg: string): string {
  return arg.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * Run `write` and say whether a session frame went to Redis whole: a
 * script argument that is a frame's lead or a frame (a replacing patch's
 * ARGV[2] and ARGV[3]; a batch packs each call's arguments with NULs).
 */
/**
 * A MONITOR connection from admin, opened again when ioredis fails to set it
 * up. ioredis (6.1) switches a connection to monitoring in a promise
 * continuation after MONITOR's `OK`: when the first monitored command (any
 * client's: a ready check's INFO) arrives in the same read as that `OK`, it
 * is taken for a reply nothing waits for ("Command queue state error"),
 * `monitor()` rejects and the connection is dropped. That says nothing about
 * what the store sends; it failed CI runs on Node 22, 26 and 24.
 */
async function openMonitor(): Promise<Redis> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await admin.monitor();
    } catch (error) {
      if (attempt >= 5 || !String(error).includes('Command queue state error')) throw error;
    }
  }
}

async function sentWhole(write: () => Promise<unknown>): Promise<boolean> {
  // Straight from admin: `monitor()` opens a connection of its own. (Through
  // `duplicate()` a second, unused client was opened and never closed, and
  // its ready check's INFO, shown by MONITOR while ioredis was still setting
  // the monitor up, failed a CI run with "Command queue state error".)
  const monitor = await openMonitor();
  // ioredis can misread a MONITOR line that arrives as the connection is
  // set up or torn down ("Command queue state error", emitted as 'error'):
  // that says nothing about what the store sent, and must not crash the test.
  monitor.on('error', () => undefined);
  const args: string[] = [];
  monitor.on('monitor', (_time: string, command: string[]) => {
    // EVAL the first time a script runs on this server, EVALSHA after.
    if (/^eval/i.test(command[0] ?? '')) args.push(...command.map(unescaped));
  });
  try {
    // MONITOR answers OK before it starts forwarding: a PING it shows marks the start.
    const seen = { ping: false };
    monitor.on('monitor', (_time: string, command: string[]) => {
      if (command[0]?.toLowerCase() === 'ping') seen.ping = true;
    });
    while (!seen.ping) {
      await admin.ping();
      await delay(2);
    }
    await write();
    // The write's own command is shown before its reply is sent; one more
    // round trip makes sure it was read.
    await admin.ping();
    await delay(20);
  } finally {
    monitor.disconnect();
  }
  // A script call's arguments, or a batch's per call, packed with NULs.
  const lead = FRAME_MAGIC + FIELD_SEPARATOR;
  return args.some((arg) => arg.split('\0').some((piece) => piece.startsWith(lead)));
}

/** The data keys of the frame Redis holds for `id`, in the order it stores them. */
async function frameKeys(store: RedisStore, id: string): Promise<string[]> {
  const frame = await admin.get(new RedisKeys(prefix, store.bucketCount).session(id));
  return (frame ?? '')
    .split(ENTRY_SEPARATOR)
    .slice(1)
    .map((entry) => JSON.parse(entry.split(FIELD_SEPARATOR)[0] ?? '') as string);
}

describe('RedisStore patch on a copy this instance holds', () => {
  it('sends the whole frame, which Redis stores as sent: what a store without the cache loads', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await store.create({
      id: generateSessionId(),
      userId: 'owner-1',
      data: { keep: { deep: [1, 'ü', null] }, drop: true, n: 0 },
      expiresAt: Date.now() + 60_000,
    });
    // The copy set aside by create is the base: no read needed.
    let version = 0;
    expect(
      await sentWhole(async () => {
        version = await store.patch(session.id, {
          set: { n: 1, added: { at: '2026-12-06' }, '10': 'numeric key' },
          unset: ['drop'],
        });
      }),
    ).toBe(true);
    expect(version).toBe(2);
    const stored = await reader.load(session.id);
    expect(stored).toMatchObject({
      version: 2,
      userId: 'owner-1',
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
      data: {
        keep: { deep: [1, 'ü', null] },
        n: 1,
        added: { at: '2026-12-06' },
        '10': 'numeric key',
      },
    });
    // Kept keys in place, new ones appended, as the merge orders them.
    expect(Object.keys(stored?.data ?? {})).toEqual(['10', 'keep', 'n', 'added']);
    // Its own write is its next base: a second patch goes whole too.
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 2 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
  });

  it('its next patches splice their keys into the frame its last one stored', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(store, { a: 1, b: { c: [1, 2] }, gone: 'x' });
    const keysOfFrame = () => frameKeys(store, session.id);
    expect(await sentWhole(() => store.patch(session.id, { set: { a: 2 } }))).toBe(true);
    // Each splices into what the last stored: a new key is appended even
    // where an object would order it first (an integer key), as the merge
    // script appends it; written out from the data, it would come first.
    const patches: SessionPatch[] = [
      { set: { '7': 'seven' } },
      { set: { b: { c: [3] } }, unset: ['gone'] },
      { set: { a: 3, z: null } },
    ];
    for (const [i, changes] of patches.entries()) {
      expect(await sentWhole(() => store.patch(session.id, changes))).toBe(true);
      expect((await reader.load(session.id))?.version).toBe(i + 3);
    }
    expect(await keysOfFrame()).toEqual(['a', 'b', '7', 'z']);
    const stored = await reader.load(session.id);
    expect(stored?.data).toEqual({ a: 3, b: { c: [3] }, '7': 'seven', z: null });
    expect(store.peekCached(session.id)?.data).toEqual(stored?.data);
  });

  it('a patch splices into the frame the copy was loaded from, or saved with', async () => {
    const store = await openStore();
    const other = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(other, { b: 1, a: 2 });
    const keysOfFrame = () => frameKeys(store, session.id);
    const loaded = await store.load(session.id);
    expect(loaded?.data).toEqual({ b: 1, a: 2 });
    expect(await sentWhole(() => store.patch(session.id, { set: { '7': 'x' } }))).toBe(true);
    expect(await keysOfFrame()).toEqual(['b', 'a', '7']);
    const saved = await store.save(
      session.id,
      { data: { y: 1, x: 2 }, expiresAt: session.expiresAt },
      2,
    );
    expect(await sentWhole(() => store.patch(session.id, { set: { '5': 'v' } }))).toBe(true);
    expect(await keysOfFrame()).toEqual(['y', 'x', '5']);
    expect(await reader.load(session.id)).toMatchObject({
      version: saved + 1,
      data: { y: 1, x: 2, '5': 'v' },
    });
  });

  it('a copy another instance wrote past is refused: its keys follow alone, none lost', async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(a, { n: 0 });
    // a's own write leaves its base, which Redis does not track for a: b's
    // write below sends a no invalidation.
    expect(await sentWhole(() => a.patch(session.id, { set: { n: 1 } }))).toBe(true);
    await b.patch(session.id, { set: { b: 1 } });
    // a's copy is version 2, Redis holds 3: a's frame is refused, its key merged after.
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 1 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({
      version: 4,
      data: { n: 1, b: 1, a: 1 },
    });
    // Refused once, the copy is no base any more: the next patch sends its keys alone.
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 2 } }))).toBe(false);
    expect(await a.load(session.id)).toMatchObject({ version: 5, data: { n: 1, b: 1, a: 2 } });
  });

  it('a copy Redis says another instance changed is no base: its keys go alone', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a, { n: 0 });
    await a.load(session.id);
    await b.patch(session.id, { set: { b: 1 } });
    // The invalidation reaches a (its load tracked the key).
    await until('invalidated', () => a.loadCached(session.id) === undefined);
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 1 } }))).toBe(false);
    expect(await b.load(session.id)).toMatchObject({ version: 3, data: { n: 0, b: 1, a: 1 } });
  });

  it("never undoes another instance's touch: the moved expiry refuses the frame", async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(a);
    const later = session.expiresAt + 60_000;
    expect(await b.touch(session.id, later)).toBe(true);
    await a.patch(session.id, { set: { n: 1 } });
    expect(await reader.load(session.id)).toMatchObject({
      version: 2,
      expiresAt: later,
      data: { n: 1 },
    });
  });

  it('moves the expiry and keeps the owner and its index entry, as the merge does', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await store.create({
      id: generateSessionId(),
      userId: 'owner-2',
      data: { n: 0 },
      expiresAt: Date.now() + 60_000,
    });
    const expiresAt = Date.now() + 600_000;
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 1 } }, { expiresAt }))).toBe(
      true,
    );
    expect(await reader.load(session.id)).toMatchObject({ expiresAt, userId: 'owner-2' });
    expect((await reader.listByUser('owner-2')).map((s) => s.id)).toEqual([session.id]);
    const key = new RedisKeys(prefix, store.bucketCount).session(session.id);
    // The physical TTL follows the new expiry (plus grace), as the merge's PXAT.
    expect(await admin.pexpiretime(key)).toBeGreaterThanOrEqual(expiresAt);
  });

  it('a retired id stays retired: the tombstone refuses the frame', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await createSession(a);
    expect(await b.delete(session.id)).toBe(true);
    await expectSessionError(
      a.patch(session.id, { set: { n: 1 } }),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
  });

  it('an expected version other than the copy’s is a conflict, never a write', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(store);
    const conflict = await expectSessionError(
      store.patch(session.id, { set: { n: 9 } }, { expectedVersion: 5 }),
      ConcurrentAccessError,
      'VERSION_CONFLICT',
    );
    expect(conflict.details).toMatchObject({ expectedVersion: 5, currentVersion: 1 });
    expect(await reader.load(session.id)).toMatchObject({ version: 1, data: { n: 0 } });
  });

  it('sends only the keys for a session above the size limit, for a store that encrypts, or one writing format 1', async () => {
    const big = await openStore();
    const large = await createSession(big, { blob: 'x'.repeat(REPLACING_PATCH_MAX_BYTES) });
    expect(await sentWhole(() => big.patch(large.id, { set: { n: 1 } }))).toBe(false);

    const sealed = createSessionCodec({
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    const encrypting = await openStore({ codec: sealed });
    const secret = await createSession(encrypting);
    expect(await sentWhole(() => encrypting.patch(secret.id, { set: { n: 1 } }))).toBe(false);
    expect(await encrypting.load(secret.id)).toMatchObject({ version: 2, data: { n: 1 } });

    const legacy = await openStore({ frameFormat: 1 });
    const old = await createSession(legacy);
    expect(await sentWhole(() => legacy.patch(old.id, { set: { n: 1 } }))).toBe(false);
    expect(await legacy.load(old.id)).toMatchObject({ version: 2, data: { n: 1 } });
  });

  it('a frame in the legacy format is upgraded by the merge, then patched whole', async () => {
    const legacy = await openStore({ frameFormat: 1, cache: false });
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await createSession(legacy, { n: 0 });
    await store.load(session.id);
    // store's copy is live, but Redis holds SC1: the lead does not match.
    await store.patch(session.id, { set: { n: 1 } });
    const key = new RedisKeys(prefix, store.bucketCount).session(session.id);
    expect((await admin.get(key))?.startsWith(FRAME_MAGIC)).toBe(true);
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 2 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
  });
});
