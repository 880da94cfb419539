import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConcurrentAccessError,
  ManualClock,
  SessionNotFoundError,
  SessionValidationError,
  generateSessionId,
  lockedUpdate,
} from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';
import { expectSessionError } from '@session-cluster/testkit';
import { MemoryLocker } from './memory-locker.js';
import { MemoryStore } from './memory-store.js';

describe('lockedUpdate (MemoryStore + MemoryLocker)', () => {
  const clock = new ManualClock();
  let store: MemoryStore;
  let locker: MemoryLocker;

  function setUp(lockerOptions: ConstructorParameters<typeof MemoryLocker>[0] = {}): void {
    store = new MemoryStore({ clock, cleanupIntervalMs: 0 });
    locker = new MemoryLocker(lockerOptions);
  }

  afterEach(async () => {
    await Promise.all([store.close(), locker.close()]);
    vi.useRealTimers();
  });

  async function newSession(data: SessionData = {}): Promise<string> {
    const id = generateSessionId();
    await store.create({ id, data, expiresAt: clock.now() + 60_000 });
    return id;
  }

  it('500 parallel increments lose none', async () => {
    setUp({ acquireTimeoutMs: 60_000 });
    const id = await newSession({ count: 0 });
    const increment = (data: SessionData): Promise<SessionData> =>
      // Yield between read and write, as real app code would.
      Promise.resolve().then(() => ({ ...data, count: (data['count'] as number) + 1 }));

    const records = await Promise.all(
      Array.from({ length: 500 }, () => lockedUpdate(store, locker, id, increment)),
    );

    const loaded = await store.load(id);
    expect(loaded?.data).toEqual({ count: 500 });
    expect(loaded?.version).toBe(501);
    expect(records.map((r) => r.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 500 }, (_, i) => i + 2),
    );
    expect(locker.pendingKeys()).toBe(0);
  });

  it('returns the record as written and can move the expiry', async () => {
    setUp();
    const id = await newSession({ a: 1 });
    clock.advance(100);
    const record = await lockedUpdate(
      store,
      locker,
      id,
      (data, loaded) => {
        expect(loaded.version).toBe(1);
        data['b'] = 2;
        return data;
      },
      { clock, expiresAt: (loaded) => loaded.expiresAt + 1_000 },
    );
    expect(record).toEqual(await store.load(id));
    expect(record.data).toEqual({ a: 1, b: 2 });
    expect(record.version).toBe(2);
  });

  it('a holder whose lease ran out mid-mutate is fenced off by VERSION_CONFLICT', async () => {
    vi.useFakeTimers();
    setUp({ defaultTtlMs: 1_000, acquireTimeoutMs: 60_000 });
    const id = await newSession({ writer: 'nobody' });

    let resumeFirst!: () => void;
    const firstResumed = new Promise<void>((resolve) => (resumeFirst = resolve));
    let firstLoaded!: () => void;
    const firstInMutate = new Promise<void>((resolve) => (firstLoaded = resolve));
    const first = lockedUpdate(store, locker, id, async (data) => {
      firstLoaded();
      await firstResumed; // stalls here while its lease runs out
      return { ...data, writer: 'first' };
    });
    await firstInMutate;

    const second = lockedUpdate(store, locker, id, (data) => ({ ...data, writer: 'second' }));
    await vi.advanceTimersByTimeAsync(0);
    expect((await store.load(id))?.version).toBe(1); // second is still waiting

    // The first holder's process stalls past its lease (no timer runs), then
    // its lease extension finds the lease gone and the lock passes on.
    vi.setSystemTime(Date.now() + 5_000);
    await vi.advanceTimersByTimeAsync(500);
    const secondRecord = await second;
    expect(secondRecord.version).toBe(2);

    resumeFirst();
    const error = await expectSessionError(first, ConcurrentAccessError, 'VERSION_CONFLICT');
    expect(error.retryable).toBe(true);
    const stored = await store.load(id);
    expect(stored?.data).toEqual({ writer: 'second' });
    expect(stored?.version).toBe(2);
    expect(locker.pendingKeys()).toBe(0);
  });

  it('throws SessionNotFoundError for a missing session and releases the lock', async () => {
    setUp();
    const mutate = vi.fn((data: SessionData) => data);
    await expectSessionError(
      lockedUpdate(store, locker, generateSessionId(), mutate),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
    expect(mutate).not.toHaveBeenCalled();
    expect(locker.pendingKeys()).toBe(0);
  });

  it('rejects a malformed id before locking anything', async () => {
    setUp();
    await expectSessionError(
      lockedUpdate(store, locker, 'x:y', (data) => data),
      SessionValidationError,
      'INVALID_SESSION_ID',
    );
    expect(locker.pendingKeys()).toBe(0);
  });

  it('a mutator that throws changes nothing, even what it mutated in place', async () => {
    setUp();
    const id = await newSession({ items: [1] });
    const failure = new Error('mutator failed');
    await expect(
      lockedUpdate(store, locker, id, (data) => {
        (data['items'] as number[]).push(2);
        throw failure;
      }),
    ).rejects.toBe(failure);
    const stored = await store.load(id);
    expect(stored?.data).toEqual({ items: [1] });
    expect(stored?.version).toBe(1);
    expect(locker.pendingKeys()).toBe(0);
  });
});
