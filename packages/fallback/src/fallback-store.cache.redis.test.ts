import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { SESSION_CHANNELS, generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileConflictEvent, RecoveredEvent } from './fallback-events.js';
import { FallbackStore } from './fallback-store.js';

/*
 * The instance cache carries sessions through a real outage: redis-server
 * SIGKILLed and restarted (with its data, or empty). No traffic after the
 * restart: recovery comes from the idle probe.
 */

const TTL_MS = 10 * 60_000;
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

/**
 * @param user the ACL rules of a user `app` (password `app-pw`) the store
 *   connects as; default: the default user
 * @param threshold consecutive failures that open the breaker
 */
async function rig(persistent: boolean, halfOpenAfterMs = 200, user?: string, threshold = 3) {
  const server: RedisServerHandle = await startRedisServer({
    args: [
      ...(persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []),
      // A config line, so the user survives restarts.
      ...(user === undefined ? [] : ['--user', 'app', 'on', '>app-pw', ...user.split(' ')]),
    ],
  });
  opened.push({ close: () => server.stop() });
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const redis = new RedisStore({
    connection: {
      url: user === undefined ? server.url : `redis://app:app-pw@127.0.0.1:${server.port}`,
    },
    prefix,
    commandTimeoutMs: 300,
    cache: {},
  });
  const store = new FallbackStore({
    primary: redis,
    secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
    breaker: { kind: 'consecutive', threshold, halfOpenAfterMs },
    timeoutMs: 300,
  });
  opened.push(store);
  const observer = (): RedisStore => {
    const o = new RedisStore({ connection: { url: server.url }, prefix, commandTimeoutMs: 2_000 });
    opened.push(o);
    return o;
  };
  const conflicts: ReconcileConflictEvent[] = [];
  store.on('reconcileConflict', (event) => conflicts.push(event));
  return { server, redis, store, observer, conflicts };
}

/** Poll `done` every 10 ms for up to 3 s (what it waits for arrives asynchronously; the test asserts after). */
async function settled(done: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !done(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Load `id` until the cache holds it current (tracking is confirmed
 * asynchronously; a copy set aside at creation does not count).
 */
async function cached(redis: RedisStore, id: string): Promise<void> {
  for (let i = 0; i < 100 && redis.loadCached(id) === undefined; i++) {
    await redis.load(id);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(redis.loadCached(id)).toBeDefined();
}

/** A new session of `r`'s store, held current by its instance cache. */
async function cachedSession(
  r: { store: FallbackStore; redis: RedisStore },
  data: Record<string, number>,
): Promise<SessionRecord> {
  const session = await r.store.create({
    id: generateSessionId(),
    data,
    expiresAt: Date.now() + TTL_MS,
  });
  await cached(r.redis, session.id);
  return session;
}

/**
 * The next call of `method` on `r.redis` runs in Redis, but its answer
 * comes after the fallback's 300 ms deadline: a write that landed
 * unanswered. It runs through a second connection: `r.redis` gets no reply
 * to refill its cache from, as when the answer is lost.
 */
function answerLate(
  r: { redis: RedisStore; observer(): RedisStore },
  method: 'create' | 'patch' | 'save',
): void {
  const own = r.redis as unknown as Record<string, unknown>;
  const connection = r.observer();
  own[method] = async (...args: unknown[]) => {
    // Once: the prototype's method again from the next call.
    Reflect.deleteProperty(own, method);
    const result: unknown = await (
      connection[method] as (...a: unknown[]) => Promise<unknown>
    ).apply(connection, args);
    await new Promise((resolve) => setTimeout(resolve, 400));
    return result;
  };
}

/**
 * The next `patch` of `r.redis` never runs: another instance's `write` (on
 * the returned store) runs instead, and the answer comes after the
 * fallback's 300 ms deadline, as if this instance's patch had timed out.
 */
function lostToAnotherWrite(
  r: { redis: RedisStore; observer(): RedisStore },
  write: (other: RedisStore) => Promise<number>,
): RedisStore {
  const own = r.redis as unknown as Record<string, unknown>;
  const other = r.observer();
  own['patch'] = async () => {
    // Once: the prototype's method again from the next call.
    Reflect.deleteProperty(own, 'patch');
    const version = await write(other);
    await new Promise((resolve) => setTimeout(resolve, 400));
    return version;
  };
  return other;
}

/**
 * Another instance writes `theirs`, later than this instance's last write;
 * then the recovery `recovered` waits for: its event, and what Redis holds.
 */
async function theirsWrittenLater(
  r: { observer(): RedisStore },
  id: string,
  recovered: Promise<[RecoveredEvent]>,
) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  await r.observer().patch(id, { set: { theirs: 2 } });
  const [event] = await recovered;
  return { event, data: (await r.observer().load(id))?.data };
}

/** Calls for other sessions reach the dead Redis and open the breaker. */
async function openBreaker(store: FallbackStore): Promise<void> {
  for (let i = 0; i < 5; i++) await store.load(generateSessionId());
  expect(store.degraded).toBe(true);
}

/**
 * Restart `r`'s redis-server and wait for its store's `recovered`, with no
 * call of the store's own (the idle probe finds Redis back); `meanwhile`
 * runs right after the restart, before recovery.
 */
async function restartAndRecover(
  r: { server: RedisServerHandle; store: FallbackStore },
  meanwhile?: () => Promise<void>,
): Promise<RecoveredEvent> {
  const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
  await r.server.restart();
  await meanwhile?.();
  const [event] = await recovered;
  return event;
}

describe('FallbackStore with the instance cache over a real redis-server', () => {
  it('a load the cache answers publishes the hit, then the route (the primary’s loadCached publishes nothing)', async () => {
    const r = await rig(false);
    const session = await cachedSession(r, { n: 1 });
    const events: unknown[] = [];
    const listener = (message: unknown): void => {
      events.push(message);
    };
    SESSION_CHANNELS.event.subscribe(listener);
    try {
      expect((await r.store.load(session.id))?.data).toEqual({ n: 1 });
      expect(r.store.loadCached(session.id)?.data).toEqual({ n: 1 });
    } finally {
      SESSION_CHANNELS.event.unsubscribe(listener);
    }
    expect(events).toEqual([
      { type: 'cache', hit: true },
      { type: 'route', route: 'primary', failure: undefined },
    ]);
  });

  it('serves a cached session through the outage and merges what was written into the restarted Redis', async () => {
    const r = await rig(true);
    const session = await r.store.create({
      id: generateSessionId(),
      userId: 'ada',
      data: { n: 1, cart: ['apple'] },
      expiresAt: Date.now() + TTL_MS,
    });
    await cached(r.redis, session.id);

    await r.server.kill();
    // The visitor keeps their data: not an empty session.
    expect((await r.store.load(session.id))?.data).toEqual({ n: 1, cart: ['apple'] });
    const before = await r.store.load(session.id);
    await r.store.save(
      session.id,
      { data: { ...before?.data, n: 2 }, expiresAt: session.expiresAt, userId: 'ada' },
      before?.version ?? 0,
    );
    await r.store.patch(session.id, { set: { theme: 'dark' } });
    // Calls for other sessions reach Redis and open the breaker.
    await openBreaker(r.store);
    expect((await r.store.load(session.id))?.data).toEqual({
      n: 2,
      cart: ['apple'],
      theme: 'dark',
    });

    // No call from here on: the idle probe finds Redis back.
    const event = await restartAndRecover(r);
    expect(event).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
    expect(r.conflicts).toEqual([]);
    const stored = await r.observer().load(session.id);
    expect(stored?.data).toEqual({ n: 2, cart: ['apple'], theme: 'dark' });
    expect(stored?.version).toBeGreaterThan(session.version);
  });

  it('an outage right after a burst of parallel writes: degraded reads show every write this instance acknowledged', async () => {
    const r = await rig(true);
    const session = await cachedSession(r, { n: 0 });
    const n = 30;
    await Promise.all(
      Array.from({ length: n }, (_, i) => r.store.patch(session.id, { set: { [`k${i}`]: i } })),
    );
    expect(r.store.degraded).toBe(false);

    await r.server.kill();
    await openBreaker(r.store);
    const keys = (data: Record<string, unknown> | undefined) =>
      Object.keys(data ?? {}).filter((key) => key.startsWith('k'));
    // Every acknowledged key, not the copy from before the burst.
    expect(keys((await r.store.load(session.id))?.data)).toHaveLength(n);
    await r.store.patch(session.id, { set: { during: 1 } });

    await restartAndRecover(r);
    const stored = await r.observer().load(session.id);
    expect(keys(stored?.data)).toHaveLength(n);
    expect(stored?.data).toMatchObject({ n: 0, during: 1 });
  });

  it('a session deleted (a logout) right before an outage is not served from the cache through it', async () => {
    const r = await rig(true);
    const session = await cachedSession(r, { n: 1 });
    expect(await r.store.delete(session.id)).toBe(true);
    await r.server.kill();
    await openBreaker(r.store);
    expect(await r.store.load(session.id)).toBeNull();
  });

  it('a session another instance deleted right before an outage is not carried through it either', async () => {
    const r = await rig(true);
    const session = await cachedSession(r, { n: 1 });
    const other = new RedisStore({ connection: { url: r.server.url }, prefix: r.redis.prefix });
    opened.push(other);
    expect(await other.delete(session.id)).toBe(true);
    // The announcement reaches this instance's cache.
    await settled(() => r.redis.peekCached(session.id) === undefined);
    await r.server.kill();
    await openBreaker(r.store);
    expect(await r.store.load(session.id)).toBeNull();
  });

  it('a logout this instance never heard announced is not carried through an outage once a read has seen it', async () => {
    // No rights on the revocation channel: only the invalidation arrives.
    const r = await rig(true, 200, '~* resetchannels &__redis__:invalidate +@all');
    const session = await cachedSession(r, { n: 1 });
    const other = new RedisStore({ connection: { url: r.server.url }, prefix: r.redis.prefix });
    opened.push(other);
    expect(await other.delete(session.id)).toBe(true);
    await settled(() => r.redis.loadCached(session.id) === undefined);
    // The next request's read finds the id retired.
    expect(await r.store.load(session.id)).toBeNull();
    await r.server.kill();
    await openBreaker(r.store);
    expect(await r.store.load(session.id)).toBeNull();
  });

  it('a cache that never comes up (a Redis user without CLIENT) still carries the last writes through an outage', async () => {
    // The cache cannot track, so it never serves; what this instance last
    // read and wrote is still what the outage fallback starts from, not the
    // copy it set aside when it created the session (every write since lost).
    const r = await rig(true, 200, '~* &* +@all -client');
    const session = await r.store.create({
      id: generateSessionId(),
      data: { n: 1 },
      expiresAt: Date.now() + TTL_MS,
    });
    for (let n = 2; n <= 4; n++) {
      const loaded = await r.store.load(session.id);
      await r.store.save(
        session.id,
        { data: { n }, expiresAt: session.expiresAt },
        loaded?.version ?? 0,
      );
    }
    expect(r.redis.cacheStats()?.state).toBe('down');
    expect(r.redis.loadCached(session.id)).toBeUndefined();

    await r.server.kill();
    const copy = await r.store.load(session.id);
    expect(copy?.data).toEqual({ n: 4 });
    await r.store.save(
      session.id,
      { data: { n: 5 }, expiresAt: session.expiresAt },
      copy?.version ?? 0,
    );
    await openBreaker(r.store);

    const event = await restartAndRecover(r);
    expect(event).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
    expect(r.conflicts).toEqual([]);
    expect((await r.observer().load(session.id))?.data).toEqual({ n: 5 });
    expect(r.redis.cacheStats()?.state).toBe('down');
  });

  it('carries the same session through a second outage after the first was written back', async () => {
    const r = await rig(true);
    const session = await r.store.create({
      id: generateSessionId(),
      data: { n: 1 },
      expiresAt: Date.now() + TTL_MS,
    });
    for (let round = 2; round <= 3; round++) {
      await cached(r.redis, session.id);
      await r.server.kill();
      const copy = await r.store.load(session.id);
      expect(copy?.data).toEqual({ n: round - 1 });
      await r.store.patch(session.id, { set: { n: round } });
      await openBreaker(r.store);
      await restartAndRecover(r);
      expect((await r.observer().load(session.id))?.data).toEqual({ n: round });
    }
  });

  it('a second outage right after a write-back starts from the merged session, though nothing read it since', async () => {
    const r = await rig(true);
    const session = await cachedSession(r, { n: 1 });
    await r.server.kill();
    await r.store.patch(session.id, { set: { n: 2 } });
    await openBreaker(r.store);
    await restartAndRecover(r);
    // No load of the session here: the write-back itself left the cache's copy.
    expect(r.redis.loadCached(session.id)?.data).toEqual({ n: 2 });
    await r.server.kill();
    expect((await r.store.load(session.id))?.data).toEqual({ n: 2 });
    await r.store.patch(session.id, { set: { m: 3 } });
    await openBreaker(r.store);
    const event = await restartAndRecover(r);
    expect(event).toMatchObject({ conflicts: 0, failed: 0 });
    expect((await r.observer().load(session.id))?.data).toEqual({ n: 2, m: 3 });
  });

  it('a second outage after a write-back that merged over another instance’s write starts from the merged session', async () => {
    const r = await rig(true);
    const session = await cachedSession(r, { mine: 1, theirs: 1 });
    await r.server.kill();
    await r.store.patch(session.id, { set: { mine: 2 } });
    await openBreaker(r.store);
    // Another instance writes before this one's write-back: the merge lands
    // on top of it (version 3), so its reply does not show what it left.
    const event = await restartAndRecover(r, async () => {
      await r.observer().patch(session.id, { set: { theirs: 2 } });
    });
    expect(event).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
    expect(await r.observer().load(session.id)).toMatchObject({
      version: 3,
      data: { mine: 2, theirs: 2 },
    });
    // Down again before anything read the session: the copy the outage
    // starts from holds this instance's own merged write, not the copy from
    // before it (mine: 1), which it would then write back over mine: 2.
    await r.server.kill();
    const copy = await r.store.load(session.id);
    expect(copy?.data).toEqual({ mine: 2, theirs: 2 });
    await r.store.patch(session.id, { set: { mine: Number(copy?.data['mine']) + 1 } });
    await openBreaker(r.store);
    const again = await restartAndRecover(r);
    expect(again).toMatchObject({ conflicts: 0, failed: 0 });
    expect((await r.observer().load(session.id))?.data).toEqual({ mine: 3, theirs: 2 });
  });

  it('a write that landed in Redis unanswered (and opened the breaker) is built on: another instance’s later write elsewhere does not undo the writes after it', async () => {
    const r = await rig(true, 600, undefined, 1);
    const session = await cachedSession(r, { mine: 1, theirs: 1 });
    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    answerLate(r, 'patch');
    // Redis runs it, the deadline passes, the breaker opens: the secondary
    // serves it from the cache's copy, and so the writes after it.
    await r.store.patch(session.id, { set: { mine: 2 } });
    expect(r.store.degraded).toBe(true);
    expect((await r.observer().load(session.id))?.data).toEqual({ mine: 2, theirs: 1 });
    await r.store.patch(session.id, { set: { mine: 3 } });
    const { event, data } = await theirsWrittenLater(r, session.id, recovered);
    // mine holds this instance's own unanswered write, so its later write
    // is kept; it is reported, as the value alone cannot tell whose it is
    // once the session moved on past that write.
    expect(r.conflicts.map((c) => c.keys)).toEqual([['mine']]);
    expect(event).toMatchObject({ written: 1, conflicts: 1, failed: 0 });
    expect(data).toEqual({ mine: 3, theirs: 2 });
  });

  it('a save that landed in Redis unanswered is built on, though the secondary refused its version and the caller saved again', async () => {
    const r = await rig(true, 600, undefined, 1);
    const session = await cachedSession(r, { mine: 1, theirs: 1 });
    await r.store.patch(session.id, { set: { mine: 2 } });
    await cached(r.redis, session.id);
    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    answerLate(r, 'save');
    // Redis runs it (version 3); the secondary's copy counts from 1, so it
    // refuses the primary's version, as an optimistic update then retries.
    await expect(
      r.store.save(session.id, { data: { mine: 3, theirs: 1 }, expiresAt: session.expiresAt }, 2),
    ).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(r.store.degraded).toBe(true);
    expect((await r.observer().load(session.id))?.data).toEqual({ mine: 3, theirs: 1 });
    const local = await r.store.load(session.id);
    expect(local?.data).toEqual({ mine: 2, theirs: 1 });
    await r.store.save(
      session.id,
      { data: { mine: 4, theirs: 1 }, expiresAt: session.expiresAt },
      local?.version ?? 0,
    );
    const { event, data } = await theirsWrittenLater(r, session.id, recovered);
    expect(r.conflicts.map((c) => c.keys)).toEqual([['mine']]);
    expect(event).toMatchObject({ written: 1, conflicts: 1, failed: 0 });
    expect(data).toEqual({ mine: 4, theirs: 2 });
  });

  it('a write that did not land, whose value another instance wrote from the same copy: its later change is applied and the key reported, never lost silently', async () => {
    const r = await rig(true, 600, undefined, 1);
    const session = await cachedSession(r, { counter: 1, mine: 0, theirs: 0 });
    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    // Another instance increments the same counter from the same copy, to the same value.
    const other = lostToAnotherWrite(r, (o) =>
      o.patch(session.id, { set: { counter: 2, theirs: 1 } }),
    );
    await r.store.patch(session.id, { set: { counter: 2, mine: 1 } });
    expect(r.store.degraded).toBe(true);
    await r.store.patch(session.id, { set: { counter: 3, mine: 2 } });
    const [event] = await recovered;
    // One of the two increments to 2 is lost, and that is reported.
    expect(r.conflicts.map((c) => c.keys)).toEqual([['counter']]);
    expect(event).toMatchObject({ written: 1, conflicts: 1, failed: 0 });
    expect((await other.load(session.id))?.data).toEqual({ counter: 3, mine: 2, theirs: 1 });
  });

  it('a one-key write that did not land, whose value and version another instance wrote with its own rolling expiry: reported, not taken as its own', async () => {
    const r = await rig(true, 600, undefined, 1);
    const session = await cachedSession(r, { counter: 1 });
    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    // Redis ends exactly one version on with this write's every key as
    // sent: only the expiry (the other instance's clock) tells them apart.
    const expiresAt = session.expiresAt + 1_000;
    const other = lostToAnotherWrite(r, (o) =>
      o.patch(session.id, { set: { counter: 2 } }, { expiresAt }),
    );
    await r.store.patch(session.id, { set: { counter: 2 } }, { expiresAt: session.expiresAt + 5 });
    expect(r.store.degraded).toBe(true);
    await r.store.patch(session.id, { set: { counter: 3 } });
    const [event] = await recovered;
    expect(r.conflicts.map((c) => c.keys)).toEqual([['counter']]);
    expect(event).toMatchObject({ written: 1, conflicts: 1, failed: 0 });
    expect((await other.load(session.id))?.data).toEqual({ counter: 3 });
  });

  it('a create that landed in Redis unanswered keeps the writes made on it while degraded', async () => {
    const r = await rig(true, 600, undefined, 1);
    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    answerLate(r, 'create');
    const session = await r.store.create({
      id: generateSessionId(),
      data: { n: 1 },
      expiresAt: Date.now() + TTL_MS,
    });
    expect(r.store.degraded).toBe(true);
    expect((await r.observer().load(session.id))?.data).toEqual({ n: 1 });
    await r.store.patch(session.id, { set: { n: 2 } });
    const [event] = await recovered;
    expect(r.conflicts).toEqual([]);
    expect(event).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
    expect((await r.observer().load(session.id))?.data).toEqual({ n: 2 });
  });

  it('a key changed on both sides is a reported conflict; keys changed on one side each survive', async () => {
    // The idle probe (after 2 s) comes well after the other instance's write.
    const r = await rig(true, 1_000);
    const session = await r.store.create({
      id: generateSessionId(),
      data: { counter: 1, mine: 0, theirs: 0 },
      expiresAt: Date.now() + TTL_MS,
    });
    await cached(r.redis, session.id);
    await r.server.kill();
    await r.store.patch(session.id, { set: { counter: 10, mine: 1 } });
    // Calls for other sessions reach Redis and open the breaker.
    await openBreaker(r.store);
    // Another instance writes while this one is still degraded (Redis is
    // back, this breaker still open): after this instance's write.
    const event = await restartAndRecover(r, async () => {
      await r.observer().patch(session.id, { set: { counter: 20, theirs: 1 } });
    });
    expect(event.conflicts).toBe(1);
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]).toMatchObject({ keys: ['counter'], deleted: false });
    // counter: the later writer (the other instance) wins; mine and theirs both survive.
    expect((await r.observer().load(session.id))?.data).toEqual({
      counter: 20,
      mine: 1,
      theirs: 1,
    });
  });

  it('a login (regenerate) during the outage retires the old id in Redis on recovery', async () => {
    const r = await rig(true);
    const old = await r.store.create({
      id: generateSessionId(),
      data: { cart: ['apple'] },
      expiresAt: Date.now() + TTL_MS,
    });
    await cached(r.redis, old.id);
    await r.server.kill();
    // What SessionManager.regenerate does: the data under a new id, the old id retired.
    const current = await r.store.load(old.id);
    expect(current?.data).toEqual({ cart: ['apple'] });
    const fresh = await r.store.create({
      id: generateSessionId(),
      userId: 'ada',
      data: { ...current?.data },
      expiresAt: Date.now() + TTL_MS,
    });
    await r.store.save(
      old.id,
      { data: current?.data ?? {}, expiresAt: Date.now() },
      current?.version ?? 0,
    );
    await openBreaker(r.store);

    const event = await restartAndRecover(r);
    expect(event).toMatchObject({ deleted: 1, failed: 0 });
    const observer = r.observer();
    expect(await observer.load(old.id)).toBeNull();
    await expect(
      observer.create({ id: old.id, data: {}, expiresAt: Date.now() + TTL_MS }),
    ).rejects.toMatchObject({ code: 'SESSION_ALREADY_EXISTS' });
    expect((await observer.load(fresh.id))?.data).toEqual({ cart: ['apple'] });
  });

  it('Redis restarted empty: every session the cache held is written back whole', async () => {
    const r = await rig(false);
    const sessions = [];
    for (let i = 0; i < 20; i++) {
      const session = await r.store.create({
        id: generateSessionId(),
        data: { i, cart: [i] },
        expiresAt: Date.now() + TTL_MS,
      });
      await cached(r.redis, session.id);
      sessions.push(session);
    }
    await r.server.kill();
    // Only a few are touched during the outage; all 20 must come back.
    for (const session of sessions.slice(0, 3)) await r.store.load(session.id);
    await openBreaker(r.store);
    const event = await restartAndRecover(r);
    expect(event).toMatchObject({ restored: 20, failed: 0 });
    const observer = r.observer();
    for (const session of sessions) {
      expect((await observer.load(session.id))?.data).toEqual(session.data);
    }
  });

  it('a stalled Redis: cached sessions are answered at once, uncached ones wait for it', async () => {
    const r = await rig(false);
    const session = await cachedSession(r, { n: 1 });
    const hits = r.redis.cacheStats()?.hits ?? 0;
    const admin = new Redis(r.server.port, '127.0.0.1');
    opened.push({ close: () => admin.quit().then(() => undefined) });
    // Every client's commands wait; connections (and tracking) stay up.
    await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      expect((await r.store.load(session.id))?.data).toEqual({ n: 1 });
    }
    // Twenty reads inside one 300 ms deadline: none waited on Redis.
    expect(performance.now() - started).toBeLessThan(250);
    expect(r.redis.cacheStats()?.hits).toBe(hits + 20);
    expect(r.redis.cacheStats()?.state).toBe('ready');
    expect(r.store.degraded).toBe(false);
    // A session the cache does not hold still goes to Redis, and waits.
    const missing = r.store.load(generateSessionId());
    await expect(missing).resolves.toBeDefined();
    expect(performance.now() - started).toBeGreaterThan(250);
  });

  it('with its breaker open, a session the cache holds is read where it is written: the secondary', async () => {
    const r = await rig(false);
    const session = await cachedSession(r, { n: 1 });
    expect(r.store.loadCached(session.id)).toBeDefined();
    const outage = r.store.isolate();
    try {
      // The cache is still current, but writes now go to memory.
      expect(r.store.loadCached(session.id)).toBeUndefined();
      const loaded = await r.store.load(session.id);
      const version = await r.store.save(
        session.id,
        { data: { n: 2 }, expiresAt: session.expiresAt },
        loaded?.version ?? 0,
      );
      const again = await r.store.load(session.id);
      expect(again).toMatchObject({ version, data: { n: 2 } });
    } finally {
      outage.dispose();
    }
  });
});
