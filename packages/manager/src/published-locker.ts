import { performance } from 'node:perf_hooks';
import type {
  LockOptions,
  SessionChannels,
  SessionLock,
  SessionLocker,
} from '@session-cluster/core';

/** The vote counts a held lock may expose (Redlock's do); `undefined` for a plain lock. */
function heldLockVotes(lock: SessionLock): unknown {
  return 'votes' in lock ? (lock as { votes?: unknown }).votes : undefined;
}

/**
 * The manager's view of its locker: while anyone listens, each acquisition
 * is published as a `lock_acquired` event (time waited, lease, the locker's
 * votes, the error when it was not had) and each release of a lock taken
 * through `using()` as `lock_released` (time held), inside the operation's
 * trace. It wraps `using()` without replacing it, so the locker's own
 * semantics (lease extension, loss signal, fallback routing) are untouched.
 */
export class PublishedLocker implements SessionLocker {
  public constructor(
    private readonly inner: SessionLocker,
    private readonly channels: SessionChannels,
  ) {}

  /** @inheritDoc */
  public async acquire(sessionId: string, options?: LockOptions): Promise<SessionLock> {
    if (!this.channels.event.hasSubscribers) return this.inner.acquire(sessionId, options);
    const started = performance.now();
    try {
      const lock = await this.inner.acquire(sessionId, options);
      this.acquired(started, options, heldLockVotes(lock), undefined);
      return lock;
    } catch (error) {
      this.acquired(started, options, undefined, error);
      throw error;
    }
  }

  /** @inheritDoc */
  public using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    if (!this.channels.event.hasSubscribers) return this.inner.using(sessionId, fn, options);
    return this.publishedUsing(sessionId, fn, options);
  }

  /** @inheritDoc */
  public close(): Promise<void> {
    return this.inner.close();
  }

  private async publishedUsing<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options: LockOptions | undefined,
  ): Promise<T> {
    const started = performance.now();
    // Written by the routine wrapper, read after using() settles.
    const progress = { acquiredAt: -1, heldMs: 0 };
    try {
      return await this.inner.using(
        sessionId,
        async (signal, lock) => {
          progress.acquiredAt = performance.now();
          this.acquired(started, options, heldLockVotes(lock), undefined);
          try {
            return await fn(signal, lock);
          } finally {
            progress.heldMs = performance.now() - progress.acquiredAt;
          }
        },
        options,
      );
    } catch (error) {
      if (progress.acquiredAt < 0) this.acquired(started, options, undefined, error);
      throw error;
    } finally {
      if (progress.acquiredAt >= 0 && this.channels.event.hasSubscribers) {
        this.channels.event.publish({ type: 'lock_released', heldMs: progress.heldMs });
      }
    }
  }

  private acquired(
    started: number,
    options: LockOptions | undefined,
    votes: unknown,
    error: unknown,
  ): void {
    if (!this.channels.event.hasSubscribers) return;
    this.channels.event.publish({
      type: 'lock_acquired',
      waitMs: performance.now() - started,
      ttlMs: options?.ttlMs,
      votes,
      error,
    });
  }
}
