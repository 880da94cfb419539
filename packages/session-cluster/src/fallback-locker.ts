import { SESSION_CHANNELS, isSessionError, publishSessionEvent } from '@session-cluster/core';
import type { LockOptions, SessionError, SessionLock, SessionLocker } from '@session-cluster/core';

/** Options of {@link FallbackLocker}. */
export interface FallbackLockerOptions {
  /** The locker of record (Redlock over the Redis nodes). */
  readonly primary: SessionLocker;
  /** The locker used while the lock nodes are out of reach (an in-process `MemoryLocker`). */
  readonly secondary: SessionLocker;
  /** True while the session store serves from its fallback (`FallbackStore.degraded`). */
  readonly degraded: () => boolean;
  /**
   * Called each time the lock nodes could not be reached while the store
   * could (separate lock servers down): the lock came from the secondary.
   * Log or count it; it must not throw.
   */
  readonly onLockServiceDown?: ((error: SessionError) => void) | undefined;
}

/**
 * True for a failure that means "the lock service cannot be reached", as
 * opposed to "the lock is held": a storage outage, or Redlock giving up
 * because too many nodes failed for a quorum (`details.outcome` of
 * `LOCK_NOT_ACQUIRED` is `quorum_unreachable`).
 */
export function isLockServiceDown(error: unknown): error is SessionError {
  if (!isSessionError(error)) return false;
  if (error.category === 'storage') return error.retryable;
  return error.code === 'LOCK_NOT_ACQUIRED' && error.details?.['outcome'] === 'quorum_unreachable';
}

/**
 * A {@link SessionLocker} that keeps `update` and `regenerate` working when
 * the Redlock nodes are down, as the fallback store keeps reads and writes
 * working: while the store is degraded, or when the primary locker reports
 * the lock service unreachable, the lock is taken from the in-process
 * secondary instead.
 *
 * **Why that is safe.** Locks serialise; versions fence. While degraded,
 * the sessions being locked live in this instance's memory (the fallback
 * store serves instance-local sessions), so an in-process lock is all the
 * exclusion there is to have. If the lock nodes fail while the store is
 * still reachable (separate lock servers), two instances may both run a
 * critical section for one session; the store's compare-and-set save lets
 * exactly one of them write and the other gets `VERSION_CONFLICT` and is
 * retried by the manager: more retries, never a lost update.
 *
 * Contention (`LOCK_NOT_ACQUIRED` because another holder has the lock),
 * validation errors and everything thrown by the routine pass through.
 */
export class FallbackLocker implements SessionLocker {
  private readonly primary: SessionLocker;
  private readonly secondary: SessionLocker;
  private readonly degraded: () => boolean;
  private readonly onLockServiceDown: ((error: SessionError) => void) | undefined;
  private fallbacks = 0;

  public constructor(options: FallbackLockerOptions) {
    this.primary = options.primary;
    this.secondary = options.secondary;
    this.degraded = options.degraded;
    this.onLockServiceDown = options.onLockServiceDown;
  }

  /**
   * Locks taken from the secondary because the lock nodes were out of reach
   * while the store was not degraded (since construction). While that
   * happens, instances exclude each other only through the version check.
   */
  public get lockServiceFallbacks(): number {
    return this.fallbacks;
  }

  /** @inheritDoc */
  public async acquire(sessionId: string, options?: LockOptions): Promise<SessionLock> {
    if (this.degraded()) return this.secondary.acquire(sessionId, options);
    try {
      return await this.primary.acquire(sessionId, options);
    } catch (error) {
      if (!isLockServiceDown(error)) throw error;
      this.noteFallback(error);
      return this.secondary.acquire(sessionId, options);
    }
  }

  /** @inheritDoc */
  public async using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    if (this.degraded()) return this.secondary.using(sessionId, fn, options);
    const routine = { started: false };
    try {
      return await this.primary.using(
        sessionId,
        (signal, lock) => {
          routine.started = true;
          return fn(signal, lock);
        },
        options,
      );
    } catch (error) {
      // Once `fn` ran, its outcome stands: running it again here could apply it twice.
      if (routine.started || !isLockServiceDown(error)) throw error;
      this.noteFallback(error);
      return this.secondary.using(sessionId, fn, options);
    }
  }

  /**
   * Make the switch visible: a counter, the caller's hook, a published
   * `lock_fallback` event (an event on the operation's span).
   */
  private noteFallback(error: SessionError): void {
    this.fallbacks += 1;
    publishSessionEvent(SESSION_CHANNELS, { type: 'lock_fallback', code: error.code });
    try {
      this.onLockServiceDown?.(error);
    } catch {
      // A listener's failure must not fail the caller's update.
    }
  }

  /** Close both lockers. */
  public async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.secondary.close()]);
  }
}
