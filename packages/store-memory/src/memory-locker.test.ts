import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConcurrentAccessError,
  SessionValidationError,
  generateSessionId,
} from '@session-cluster/core';
import type { SessionLock } from '@session-cluster/core';
import { expectSessionError } from '@session-cluster/testkit';
import { MemoryLocker } from './memory-locker.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('MemoryLocker', () => {
  const id = generateSessionId();
  let locker: MemoryLocker;

  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(async () => {
    await locker.close();
    vi.useRealTimers();
  });

  /** Nothing left behind: no map entries, no timers. */
  function expectIdle(): void {
    expect(locker.pendingKeys()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  }

  it('serves 50 contenders one at a time, in arrival order', async () => {
    locker = new MemoryLocker({ acquireTimeoutMs: 60_000 });
    const log: string[] = [];
    const tasks = Array.from({ length: 50 }, (_, i) =>
      locker.using(id, async () => {
        log.push(`start ${i}`);
        await sleep(10);
        log.push(`end ${i}`);
        return i;
      }),
    );

    await vi.advanceTimersByTimeAsync(50 * 10);
    expect(await Promise.all(tasks)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(log).toEqual(Array.from({ length: 50 }, (_, i) => [`start ${i}`, `end ${i}`]).flat());
    expectIdle();
  });

  it('locks of different sessions do not wait for each other', async () => {
    locker = new MemoryLocker();
    const a = await locker.acquire(generateSessionId());
    const b = await locker.acquire(generateSessionId());
    expect(locker.pendingKeys()).toBe(2);
    await a.release();
    await b.release();
    expectIdle();
  });

  it('hands the lock to the next waiter when the lease runs out; the old holder is fenced off', async () => {
    locker = new MemoryLocker({ defaultTtlMs: 1_000, acquireTimeoutMs: 5_000 });
    const first = await locker.acquire(id);
    expect(first.sessionId).toBe(id);
    expect(first.expiresAt).toBe(Date.now() + 1_000);
    let second: SessionLock | undefined;
    const secondGranted = locker.acquire(id).then((lock) => (second = lock));

    await vi.advanceTimersByTimeAsync(999);
    expect(second).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await secondGranted;
    expect(second).toBeDefined();

    // The old holder's release is a no-op: it must not free the new holder's lock.
    await first.release();
    let third: SessionLock | undefined;
    const thirdGranted = locker.acquire(id).then((lock) => (third = lock));
    await vi.advanceTimersByTimeAsync(0);
    expect(third).toBeUndefined();
    await expectSessionError(first.extend(1_000), ConcurrentAccessError, 'LOCK_LOST');

    await second!.release();
    await thirdGranted;
    expect(third).toBeDefined();
    await third!.release();
    expectIdle();
  });

  it('extend moves the lease; extend after a stall past the lease throws LOCK_LOST', async () => {
    locker = new MemoryLocker({ defaultTtlMs: 1_000 });
    const lock = await locker.acquire(id);
    await vi.advanceTimersByTimeAsync(800);
    await lock.extend(1_000);
    expect(lock.expiresAt).toBe(Date.now() + 1_000);
    await vi.advanceTimersByTimeAsync(800); // past the original lease
    let waiter: SessionLock | undefined;
    const waiterGranted = locker.acquire(id).then((l) => (waiter = l));
    await vi.advanceTimersByTimeAsync(0);
    expect(waiter).toBeUndefined();

    // The event loop stalls (GC pause): wall time passes, no timer runs.
    vi.setSystemTime(Date.now() + 5_000);
    await expectSessionError(lock.extend(1_000), ConcurrentAccessError, 'LOCK_LOST');
    await waiterGranted;
    expect(waiter).toBeDefined();
    await waiter!.release();
    await lock.release(); // no-op, never throws
    expectIdle();
  });

  it('rejects a waiter with LOCK_NOT_ACQUIRED after acquireTimeoutMs; later waiters still get their turn', async () => {
    locker = new MemoryLocker({ defaultTtlMs: 60_000, acquireTimeoutMs: 100 });
    const holder = await locker.acquire(id);
    const timedOut = expectSessionError(
      locker.acquire(id),
      ConcurrentAccessError,
      'LOCK_NOT_ACQUIRED',
    );
    await vi.advanceTimersByTimeAsync(50);
    const patient = locker.acquire(id);
    await vi.advanceTimersByTimeAsync(50);
    const error = await timedOut;
    expect(error.retryable).toBe(true);

    await holder.release();
    const next = await patient;
    await next.release();
    expectIdle();
  });

  it('rejects with LOCK_NOT_ACQUIRED when the signal aborts, before or while waiting', async () => {
    locker = new MemoryLocker({ acquireTimeoutMs: 60_000 });
    const aborted = AbortSignal.abort(new Error('gone'));
    const early = await expectSessionError(
      locker.acquire(id, { signal: aborted }),
      ConcurrentAccessError,
      'LOCK_NOT_ACQUIRED',
    );
    expect(early.cause?.message).toBe('gone');
    expectIdle();

    const holder = await locker.acquire(id);
    const controller = new AbortController();
    const waiting = expectSessionError(
      locker.acquire(id, { signal: controller.signal }),
      ConcurrentAccessError,
      'LOCK_NOT_ACQUIRED',
    );
    controller.abort(new Error('client went away'));
    expect((await waiting).cause?.message).toBe('client went away');
    await holder.release();
    expectIdle();
  });

  it('using() extends the lease through a long critical section', async () => {
    locker = new MemoryLocker({ defaultTtlMs: 1_000, acquireTimeoutMs: 60_000 });
    const log: string[] = [];
    let signalSeen: AbortSignal | undefined;
    const long = locker.using(id, async (signal, lock) => {
      signalSeen = signal;
      log.push('long start');
      await sleep(10_000);
      log.push(`long end, lease until +${lock.expiresAt - Date.now()}`);
      return 'long';
    });
    await vi.advanceTimersByTimeAsync(0);
    const other = locker.using(id, () => {
      log.push('other');
      return Promise.resolve('other');
    });

    await vi.advanceTimersByTimeAsync(10_000);
    expect(await long).toBe('long');
    expect(await other).toBe('other');
    expect(signalSeen?.aborted).toBe(false);
    expect(log[0]).toBe('long start');
    expect(log[1]).toMatch(/^long end, lease until \+[1-9]/);
    expect(log[2]).toBe('other');
    expectIdle();
  });

  it('using() aborts its signal when the lease is lost, still returns fn’s result, and hands over', async () => {
    locker = new MemoryLocker({ defaultTtlMs: 1_000, acquireTimeoutMs: 60_000 });
    let signalSeen: AbortSignal | undefined;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stalled = locker.using(id, async (signal) => {
      signalSeen = signal;
      await gate;
      return 'stale result';
    });
    await vi.advanceTimersByTimeAsync(0);
    let successor: SessionLock | undefined;
    const successorGranted = locker.acquire(id).then((lock) => (successor = lock));

    vi.setSystemTime(Date.now() + 5_000); // the holder's process stalls
    await vi.advanceTimersByTimeAsync(500); // the auto-extension finds the lease gone
    expect(signalSeen?.aborted).toBe(true);
    expect(signalSeen?.reason).toBeInstanceOf(ConcurrentAccessError);
    expect((signalSeen?.reason as ConcurrentAccessError).code).toBe('LOCK_LOST');
    await successorGranted;
    expect(successor).toBeDefined();

    release();
    expect(await stalled).toBe('stale result');
    await successor!.release();
    expectIdle();
  });

  it('using() releases the lock and rethrows when fn throws', async () => {
    locker = new MemoryLocker();
    const failure = new Error('boom');
    await expect(locker.using(id, () => Promise.reject(failure))).rejects.toBe(failure);
    expectIdle();
    expect(await locker.using(id, () => Promise.resolve(42))).toBe(42);
    expectIdle();
  });

  it('close rejects waiters, aborts holders and refuses new acquires', async () => {
    locker = new MemoryLocker({ acquireTimeoutMs: 60_000 });
    let signalSeen: AbortSignal | undefined;
    const holding = locker.using(id, async (signal) => {
      signalSeen = signal;
      await sleep(1_000);
      return 'done';
    });
    await vi.advanceTimersByTimeAsync(0);
    const waiting = expectSessionError(
      locker.acquire(id),
      ConcurrentAccessError,
      'LOCK_NOT_ACQUIRED',
    );
    await locker.close();
    await waiting;
    expect(signalSeen?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await holding).toBe('done');
    await expectSessionError(locker.acquire(id), ConcurrentAccessError, 'LOCK_NOT_ACQUIRED');
    expectIdle();
  });

  it('validates ids, ttl and options', async () => {
    locker = new MemoryLocker();
    for (const bad of ['', '*', 'x:y', `${id}A`, 42, null]) {
      await expectSessionError(
        locker.acquire(bad as string),
        SessionValidationError,
        'INVALID_SESSION_ID',
      );
    }
    for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
      await expectSessionError(
        locker.acquire(id, { ttlMs }),
        SessionValidationError,
        'INVALID_ARGUMENT',
      );
    }
    const lock = await locker.acquire(id);
    await expectSessionError(lock.extend(0), SessionValidationError, 'INVALID_ARGUMENT');
    await lock.release();
    expectIdle();

    for (const options of [{ defaultTtlMs: 0 }, { acquireTimeoutMs: -5 }, { defaultTtlMs: 1.5 }]) {
      expect(() => new MemoryLocker(options)).toThrow(SessionValidationError);
    }
  });
});
