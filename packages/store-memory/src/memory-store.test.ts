import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ManualClock,
  SessionValidationError,
  StorageUnavailableError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import { describeStoreContract, expectSessionError } from '@session-cluster/testkit';
import { MemoryStore, memoryStoreTestHooks } from './memory-store.js';

describeStoreContract('MemoryStore', ({ clock, codec }) => {
  const store = new MemoryStore({ clock, codec, cleanupIntervalMs: 0 });
  const hooks = memoryStoreTestHooks(store);
  return Promise.resolve({
    store,
    countEntries: () => Promise.resolve(hooks.countEntries()),
    dropPayload: (id) => {
      hooks.dropPayload(id);
      return Promise.resolve();
    },
    corruptField: (id, key, raw) => {
      hooks.corruptField(id, key, raw);
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});

describe('MemoryStore', () => {
  const stores: MemoryStore[] = [];
  function newStore(options: ConstructorParameters<typeof MemoryStore>[0] = {}): {
    store: MemoryStore;
    clock: ManualClock;
  } {
    const clock = new ManualClock(1_700_000_000_000);
    const store = new MemoryStore({ clock, cleanupIntervalMs: 0, ...options });
    stores.push(store);
    return { store, clock };
  }

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    vi.useRealTimers();
  });

  describe('capacity (LRU)', () => {
    it('evicts the least recently used session at maxSessions; load, patch and touch refresh recency', async () => {
      const { store, clock } = newStore({ maxSessions: 3 });
      const expiresAt = clock.now() + 60_000;
      const [a, b, c, d, e] = Array.from({ length: 5 }, () => generateSessionId());
      await store.create({ id: a!, userId: 'u', data: {}, expiresAt });
      await store.create({ id: b!, userId: 'u', data: {}, expiresAt });
      await store.create({ id: c!, data: {}, expiresAt });

      await store.load(a!); // order now b, c, a
      await store.create({ id: d!, data: {}, expiresAt }); // evicts b
      expect(await store.load(b!)).toBeNull();
      expect((await store.listByUser('u')).map((r) => r.id)).toEqual([a]);

      await store.touch(c!, expiresAt + 1); // order a, d, c
      await store.patch(a!, { set: { x: 1 } }); // order d, c, a
      await store.create({ id: e!, data: {}, expiresAt }); // evicts d
      expect(await store.load(d!)).toBeNull();
      for (const id of [a!, c!, e!]) expect(await store.load(id)).not.toBeNull();
      expect(store.stats().total).toBe(3);
    });

    it('drops expired sessions before evicting a live one', async () => {
      const { store, clock } = newStore({ maxSessions: 2 });
      const stale = generateSessionId();
      const live = generateSessionId();
      await store.create({ id: stale, data: {}, expiresAt: clock.now() + 1_000 });
      await store.create({ id: live, data: {}, expiresAt: clock.now() + 60_000 });
      clock.advance(2_000);

      await store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() + 60_000 });
      expect(await store.load(live)).not.toBeNull();
      expect(store.stats()).toMatchObject({ total: 2, valid: 2, expired: 0 });
    });
  });

  describe('stats', () => {
    it('counts valid and expired sessions and tracks encoded bytes through every write', async () => {
      const codec = createSessionCodec();
      const { store, clock } = newStore({ codec });
      expect(store.stats()).toEqual({ total: 0, valid: 0, expired: 0, approxBytes: 0 });

      const shortId = generateSessionId();
      const longId = generateSessionId();
      await store.create({ id: shortId, data: { a: 1 }, expiresAt: clock.now() + 1_000 });
      await store.create({
        id: longId,
        userId: 'üser',
        data: { b: 'two' },
        expiresAt: clock.now() + 60_000,
      });
      const bytesOf = (id: string, data: Record<string, number | string>): number =>
        codec.encodeData(id, data).bytes;
      const userBytes = Buffer.byteLength('üser');
      let expected =
        bytesOf(shortId, { a: 1 }) + 43 + bytesOf(longId, { b: 'two' }) + 43 + userBytes;
      expect(store.stats()).toEqual({ total: 2, valid: 2, expired: 0, approxBytes: expected });

      await store.patch(longId, { set: { c: 'x'.repeat(100) } });
      expected += bytesOf(longId, { c: 'x'.repeat(100) });
      expect(store.stats().approxBytes).toBe(expected);

      await store.save(longId, { data: { d: 4 }, expiresAt: clock.now() + 60_000 }, 2);
      expected = bytesOf(shortId, { a: 1 }) + 43 + bytesOf(longId, { d: 4 }) + 43 + userBytes;
      expect(store.stats().approxBytes).toBe(expected);

      clock.advance(1_000);
      expect(store.stats()).toEqual({ total: 2, valid: 1, expired: 1, approxBytes: expected });

      expect(store.cleanupExpired()).toBe(1);
      await store.delete(longId);
      expect(store.stats()).toEqual({ total: 0, valid: 0, expired: 0, approxBytes: 0 });
    });
  });

  describe('cleanup timer', () => {
    it('cleanupExpired runs on the interval and removes only expired sessions', async () => {
      vi.useFakeTimers();
      const { store, clock } = newStore({ cleanupIntervalMs: 1_000 });
      const expiring = generateSessionId();
      const lasting = generateSessionId();
      await store.create({ id: expiring, userId: 'u', data: {}, expiresAt: clock.now() + 500 });
      await store.create({ id: lasting, userId: 'u', data: {}, expiresAt: clock.now() + 5_000 });

      clock.advance(600);
      expect(store.stats()).toMatchObject({ total: 2, expired: 1 });
      vi.advanceTimersByTime(999);
      expect(store.stats().total).toBe(2);
      vi.advanceTimersByTime(1);
      expect(store.stats()).toMatchObject({ total: 1, valid: 1, expired: 0 });
      expect((await store.listByUser('u')).map((r) => r.id)).toEqual([lasting]);
      // Reported by nobody: cleanup is the silent path (sweepExpired reports).
      expect(await store.sweepExpired(clock.now(), 10)).toEqual({ expired: [], more: false });
    });

    it('close stops the timer, and the closed store rejects calls', async () => {
      vi.useFakeTimers();
      const { store, clock } = newStore({ cleanupIntervalMs: 1_000 });
      const id = generateSessionId();
      await store.create({ id, data: {}, expiresAt: clock.now() + 500 });
      expect(vi.getTimerCount()).toBe(1);

      await store.close();
      expect(vi.getTimerCount()).toBe(0);
      clock.advance(600);
      vi.advanceTimersByTime(5_000);
      expect(store.stats().total).toBe(1);
      await expectSessionError(store.load(id), StorageUnavailableError, 'STORAGE_UNAVAILABLE');
      await expectSessionError(store.ping(), StorageUnavailableError, 'STORAGE_UNAVAILABLE');
      await store.close(); // idempotent
    });

    it('cleanupIntervalMs 0 starts no timer', () => {
      vi.useFakeTimers();
      newStore({ cleanupIntervalMs: 0 });
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  it('rejects bad options with INVALID_CONFIG naming the option', () => {
    for (const [options, field] of [
      [{ maxSessions: 0 }, 'maxSessions'],
      [{ maxSessions: 1.5 }, 'maxSessions'],
      [{ cleanupIntervalMs: -1 }, 'cleanupIntervalMs'],
      [{ cleanupIntervalMs: Number.NaN }, 'cleanupIntervalMs'],
    ] as const) {
      let caught: unknown;
      try {
        new MemoryStore(options);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SessionValidationError);
      expect((caught as SessionValidationError).code).toBe('INVALID_CONFIG');
      expect((caught as SessionValidationError).field).toBe(field);
    }
  });

  it('keeps the expiry queue compact under many touches of one session', async () => {
    const { store, clock } = newStore();
    const id = generateSessionId();
    await store.create({ id, data: {}, expiresAt: clock.now() + 1_000 });
    for (let i = 1; i <= 10_000; i++) await store.touch(id, clock.now() + 1_000 + i);
    clock.advance(20_000);
    const result = await store.sweepExpired(clock.now(), 10);
    expect(result.expired.map((e) => e.id)).toEqual([id]);
    expect(result.expired[0]?.expiresAt).toBe(clock.now() - 20_000 + 11_000);
    expect(result.more).toBe(false);
  });
});

describe('MemoryStore.forget (an outage fallback’s scratch copies)', () => {
  it('removes the session and its tombstone, so the same id can be stored again', async () => {
    const store = new MemoryStore({ cleanupIntervalMs: 0 });
    const input = { id: generateSessionId(), data: { n: 1 }, expiresAt: Date.now() + 60_000 };
    await store.create(input);
    await store.delete(input.id);
    await expect(store.create(input)).rejects.toMatchObject({ code: 'SESSION_ALREADY_EXISTS' });
    await store.forget(input.id);
    expect((await store.create(input)).version).toBe(1);
    await store.forget(input.id);
    expect(await store.load(input.id)).toBeNull();
    await expectSessionError(
      store.forget('not an id'),
      SessionValidationError,
      'INVALID_SESSION_ID',
    );
    await store.close();
  });
});
