import {
  ConcurrentAccessError,
  assertObjectArgument,
  assertPositiveInteger,
  assertValidSessionId,
  createOptionChecks,
  hashSessionId,
  toSessionError,
} from '@session-cluster/core';
import type { LockOptions, SessionLock, SessionLocker } from '@session-cluster/core';

/** Options of {@link MemoryLocker}. */
export interface MemoryLockerOptions {
  /** Lease length when a call passes no `ttlMs`. Default 10 000 ms. */
  readonly defaultTtlMs?: number | undefined;
  /** How long a waiter queues before it gives up with `LOCK_NOT_ACQUIRED`. Default 5 000 ms. */
  readonly acquireTimeoutMs?: number | undefined;
}

/** Defaults of {@link MemoryLockerOptions}. */
export const MEMORY_LOCKER_DEFAULTS = Object.freeze({
  defaultTtlMs: 10_000,
  acquireTimeoutMs: 5_000,
});

/** One grant of a lock. A new grant is a new lease, so an old holder can never act on a new one. */
interface Lease {
  readonly sessionId: string;
  expiresAt: number;
  state: 'held' | 'released' | 'lost';
  timer: NodeJS.Timeout | undefined;
  /** Set by `using()` to abort its signal the moment the lease is lost. */
  onLost: ((error: ConcurrentAccessError) => void) | undefined;
}

interface Waiter {
  readonly ttlMs: number;
  readonly resolve: (lock: MemoryLock) => void;
  readonly reject: (error: ConcurrentAccessError) => void;
  /** Clears the waiter's timeout and abort listener. */
  readonly dispose: () => void;
}

/**
 * Per-session state. Invariant: `waiters` is non-empty only while `holder`
 * is set, and the entry is deleted as soon as both are empty, so an idle
 * locker holds nothing ({@link MemoryLocker.pendingKeys} is 0).
 */
interface LockQueue {
  holder: Lease | undefined;
  readonly waiters: Waiter[];
}

/**
 * A {@link SessionLocker} for one process: a FIFO mutex per session with a
 * lease. The degraded-mode locker of the fallback, and the test double of
 * record for anything that takes a `SessionLocker`.
 *
 * - Waiters are served strictly in arrival order.
 * - When a holder's lease runs out without a release, the next waiter gets
 *   the lock; the old holder's `release()` becomes a no-op and its `extend()`
 *   throws `LOCK_LOST`. A lease is judged by time (`Date.now()`), not only
 *   by its timer firing: a holder whose process stalled past its lease cannot
 *   extend it afterwards, exactly as with Redis.
 * - A waiter not served within `acquireTimeoutMs`, or whose `signal` aborts,
 *   rejects with `LOCK_NOT_ACQUIRED`.
 *
 * All timers are `unref`'d `setTimeout`s (fake timers drive them in tests).
 * Locks serialise; they do not fence: pair them with the store's version
 * check (see `lockedUpdate` in core).
 */
export class MemoryLocker implements SessionLocker {
  private readonly defaultTtlMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly queues = new Map<string, LockQueue>();
  private closed = false;

  /** @throws SessionValidationError `INVALID_CONFIG` naming a bad option */
  public constructor(options: MemoryLockerOptions = {}) {
    const check = createOptionChecks('MemoryLocker');
    this.defaultTtlMs =
      check.integer(options.defaultTtlMs, 'defaultTtlMs', 1) ?? MEMORY_LOCKER_DEFAULTS.defaultTtlMs;
    this.acquireTimeoutMs =
      check.integer(options.acquireTimeoutMs, 'acquireTimeoutMs', 1) ??
      MEMORY_LOCKER_DEFAULTS.acquireTimeoutMs;
  }

  /**
   * Sessions with a holder or waiters. Leak diagnostic: 0 whenever every
   * lock has been released (or lost) and no one is waiting.
   */
  public pendingKeys(): number {
    return this.queues.size;
  }

  public acquire(sessionId: string, options?: LockOptions): Promise<SessionLock> {
    return this.acquireLock(sessionId, options);
  }

  public async using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    const lock = await this.acquireLock(sessionId, options);
    const ttlMs = lock.ttlMs;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const stopExtending = (): void => {
      clearTimeout(timer);
      timer = undefined;
    };
    lock.lease.onLost = (error) => {
      stopExtending();
      controller.abort(error);
    };
    // Extend at half the lease, so one late timer tick never costs the lock.
    const scheduleExtension = (): void => {
      timer = setTimeout(
        () => {
          try {
            lock.extendNow(ttlMs);
            scheduleExtension();
          } catch (error) {
            // Only LOCK_LOST is possible here, and onLost has already aborted.
            stopExtending();
            controller.abort(error);
          }
        },
        Math.max(1, Math.floor(ttlMs / 2)),
      );
      timer.unref();
    };
    scheduleExtension();
    try {
      // fn's result counts even if the lease was lost meanwhile: the store's
      // version check, not the lock, decides whether its write landed.
      return await fn(controller.signal, lock);
    } finally {
      stopExtending();
      lock.lease.onLost = undefined;
      lock.releaseNow();
    }
  }

  /**
   * Reject every waiter with `LOCK_NOT_ACQUIRED`, mark every held lock lost
   * (aborting `using()` signals) and clear all timers. Later acquires reject.
   */
  public close(): Promise<void> {
    this.closed = true;
    const queues = [...this.queues.values()];
    this.queues.clear();
    for (const queue of queues) {
      for (const waiter of queue.waiters.splice(0)) {
        waiter.dispose();
        waiter.reject(notAcquired('The locker was closed', 'lock.acquire'));
      }
      if (queue.holder !== undefined) this.loseLease(queue.holder);
    }
    return Promise.resolve();
  }

  private acquireLock(sessionId: string, options: LockOptions | undefined): Promise<MemoryLock> {
    try {
      assertValidSessionId(sessionId, 'lock.acquire');
      if (options !== undefined) assertObjectArgument(options, 'options', 'lock.acquire');
      const ttlMs = options?.ttlMs ?? this.defaultTtlMs;
      assertPositiveInteger(ttlMs, 'ttlMs', 'lock.acquire');
      const signal = options?.signal;
      if (this.closed) throw notAcquired('The locker is closed', 'lock.acquire', sessionId);
      if (signal?.aborted === true) {
        throw notAcquired('Aborted before the lock was acquired', 'lock.acquire', sessionId, {
          cause: signal.reason,
        });
      }

      const current = this.queues.get(sessionId)?.holder;
      // A lease that ran out while the event loop was busy has not fired its
      // timer yet; judge it by time, serving earlier waiters first.
      if (current !== undefined && Date.now() >= current.expiresAt) this.loseLease(current);

      let queue = this.queues.get(sessionId);
      if (queue === undefined) {
        queue = { holder: undefined, waiters: [] };
        this.queues.set(sessionId, queue);
      }
      if (queue.holder === undefined) return Promise.resolve(this.grant(sessionId, queue, ttlMs));
      return this.enqueue(sessionId, queue, ttlMs, signal);
    } catch (error) {
      return Promise.reject(toSessionError(error, { operation: 'lock.acquire' }));
    }
  }

  private enqueue(
    sessionId: string,
    queue: LockQueue,
    ttlMs: number,
    signal: AbortSignal | undefined,
  ): Promise<MemoryLock> {
    return new Promise<MemoryLock>((resolve, reject) => {
      const giveUp = (message: string, cause?: unknown): void => {
        const index = queue.waiters.indexOf(waiter);
        if (index < 0) return; // already served or rejected
        queue.waiters.splice(index, 1);
        waiter.dispose();
        reject(notAcquired(message, 'lock.acquire', sessionId, { cause }));
      };
      const timer = setTimeout(() => {
        giveUp(`Lock not acquired within ${this.acquireTimeoutMs} ms`);
      }, this.acquireTimeoutMs);
      timer.unref();
      const onAbort = (): void => {
        giveUp('Aborted while waiting for the lock', signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter: Waiter = {
        ttlMs,
        resolve,
        reject,
        dispose: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      queue.waiters.push(waiter);
    });
  }

  private grant(sessionId: string, queue: LockQueue, ttlMs: number): MemoryLock {
    const lease: Lease = {
      sessionId,
      expiresAt: Date.now() + ttlMs,
      state: 'held',
      timer: undefined,
      onLost: undefined,
    };
    queue.holder = lease;
    this.armLease(lease, ttlMs);
    return new MemoryLock(lease, ttlMs, {
      extend: (ms) => {
        this.extendLease(lease, ms);
      },
      release: () => {
        this.releaseLease(lease);
      },
    });
  }

  private armLease(lease: Lease, ttlMs: number): void {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => {
      this.loseLease(lease);
    }, ttlMs);
    lease.timer.unref();
  }

  /** Extend a held lease, or throw `LOCK_LOST`. */
  private extendLease(lease: Lease, ttlMs: number): void {
    assertPositiveInteger(ttlMs, 'ttlMs', 'lock.extend');
    if (lease.state === 'held' && Date.now() >= lease.expiresAt) this.loseLease(lease);
    if (lease.state !== 'held') {
      throw new ConcurrentAccessError('lock_lost', 'The lock was lost before it was extended', {
        operation: 'lock.extend',
        sessionIdHash: hashSessionId(lease.sessionId),
      });
    }
    lease.expiresAt = Date.now() + ttlMs;
    this.armLease(lease, ttlMs);
  }

  /** Give a lease up; a no-op once it was released or lost. */
  private releaseLease(lease: Lease): void {
    if (lease.state !== 'held') return;
    lease.state = 'released';
    clearTimeout(lease.timer);
    lease.timer = undefined;
    this.handOver(lease);
  }

  private loseLease(lease: Lease): void {
    if (lease.state !== 'held') return;
    lease.state = 'lost';
    clearTimeout(lease.timer);
    lease.timer = undefined;
    this.handOver(lease);
    lease.onLost?.(
      new ConcurrentAccessError('lock_lost', 'The lock lease ran out', {
        operation: 'lock.using',
        sessionIdHash: hashSessionId(lease.sessionId),
      }),
    );
  }

  /** Pass the lock from `lease` to the first waiter, or forget the session when nobody waits. */
  private handOver(lease: Lease): void {
    const queue = this.queues.get(lease.sessionId);
    if (queue?.holder !== lease) return;
    queue.holder = undefined;
    const next = queue.waiters.shift();
    if (next === undefined) {
      this.queues.delete(lease.sessionId);
      return;
    }
    next.dispose();
    next.resolve(this.grant(lease.sessionId, queue, next.ttlMs));
  }
}

/** What a {@link MemoryLock} may do to its lease, bound by the locker that granted it. */
interface LeaseOperations {
  extend(ttlMs: number): void;
  release(): void;
}

/** The {@link SessionLock} handed out by {@link MemoryLocker}. */
class MemoryLock implements SessionLock {
  public constructor(
    public readonly lease: Lease,
    /** The lease length this lock was granted with (what `using()` re-extends by). */
    public readonly ttlMs: number,
    private readonly operations: LeaseOperations,
  ) {}

  public get sessionId(): string {
    return this.lease.sessionId;
  }

  public get expiresAt(): number {
    return this.lease.expiresAt;
  }

  public extend(ttlMs: number): Promise<void> {
    try {
      this.extendNow(ttlMs);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(toSessionError(error, { operation: 'lock.extend' }));
    }
  }

  public release(): Promise<void> {
    this.releaseNow();
    return Promise.resolve();
  }

  /** Synchronous {@link extend}: throws `LOCK_LOST` instead of rejecting. */
  public extendNow(ttlMs: number): void {
    this.operations.extend(ttlMs);
  }

  /** Synchronous {@link release}. */
  public releaseNow(): void {
    this.operations.release();
  }
}

function notAcquired(
  message: string,
  operation: string,
  sessionId?: string,
  options: { readonly cause?: unknown } = {},
): ConcurrentAccessError {
  return new ConcurrentAccessError('lock_not_acquired', message, {
    operation,
    ...(sessionId === undefined ? {} : { sessionIdHash: hashSessionId(sessionId) }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}
