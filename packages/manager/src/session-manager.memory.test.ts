import { ManualClock } from '@session-cluster/core';
import type { LockOptions, SessionLock, SessionLocker } from '@session-cluster/core';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { HookedStore } from '@session-cluster/testkit';
import { describeManagerSuite } from './manager-suite.test-helpers.js';

/**
 * One instance's handle on a locker all "instances" of the test share (one
 * process has one MemoryLocker): its own acquisition bound, and a `close`
 * that leaves the shared locker to the backend.
 */
class SharedLocker implements SessionLocker {
  public constructor(
    private readonly inner: MemoryLocker,
    private readonly acquireTimeoutMs: number | undefined,
  ) {}

  public acquire(sessionId: string, options: LockOptions = {}): Promise<SessionLock> {
    return this.inner.acquire(sessionId, this.bounded(options));
  }

  public using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T> {
    return this.inner.using(sessionId, fn, this.bounded(options));
  }

  public close(): Promise<void> {
    return Promise.resolve();
  }

  private bounded(options: LockOptions): LockOptions {
    if (this.acquireTimeoutMs === undefined) return options;
    return { ...options, signal: AbortSignal.timeout(this.acquireTimeoutMs) };
  }
}

describeManagerSuite('MemoryStore + MemoryLocker', () => {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock, cleanupIntervalMs: 0 });
  const locker = new MemoryLocker({ acquireTimeoutMs: 30_000 });
  return Promise.resolve({
    clock,
    connect: (options = {}) => ({
      store: new HookedStore(store, false),
      locker: new SharedLocker(locker, options.lockAcquireTimeoutMs),
    }),
    teardown: async () => {
      await Promise.all([store.close(), locker.close()]);
    },
  });
});
