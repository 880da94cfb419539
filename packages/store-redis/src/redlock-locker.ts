import { setMaxListeners } from 'node:events';
import {
  MAX_TIMER_MS,
  ConcurrentAccessError,
  SessionValidationError,
  assertValidSessionId,
  createRetryPolicy,
  hashSessionId,
  isSessionError,
  toSessionError,
} from '@session-cluster/core';
import type { LockOptions, SessionError, SessionLock, SessionLocker } from '@session-cluster/core';
import { safeCause } from './redis-errors.js';
import type { Redis } from 'ioredis';
import Redlock, { ExecutionError } from 'redlock';
import type { Lock } from 'redlock';
import {
  awaitFirstConnection,
  closeOwnedClients,
  createRedlockClients,
} from './redlock-clients.js';
import { LocalLockQueue } from './redlock-local-queue.js';
import type { LocalTurn } from './redlock-local-queue.js';
import { MIN_LOCK_TTL_MS, isValidLockTtl, resolveRedlockOptions } from './redlock-options.js';
import type { RedlockLockerOptions } from './redlock-options.js';
import { RedlockSessionLock } from './redlock-session-lock.js';
import { quorumUnreachable, unknownVotes } from './redlock-vote-summary.js';
import type { VoteSummary } from './redlock-vote-summary.js';
import { lastRoundVotes } from './redlock-votes.js';

/** Why an acquisition gave up (in `details.outcome` of `LOCK_NOT_ACQUIRED`). */
type GiveUpOutcome =
  'contended' | 'quorum_unreachable' | 'timeout' | 'aborted' | 'closed' | 'lease_elapsed';

/**
 * Carries an acquisition failure past the retry policy: the policy retries
 * every retryable session error, and these must end the acquisition at once.
 */
class AcquisitionStopped extends Error {
  public constructor(public readonly error: ConcurrentAccessError) {
    super(error.message);
  }
}

/**
 * The locker's close signal: every pending acquisition listens to it, so it
 * may have any number of listeners (each removed when its acquisition ends).
 */
function closingController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Per-acquisition state shared by its attempts. */
interface Acquisition {
  readonly sessionId: string;
  readonly key: string;
  readonly ttlMs: number;
  readonly signal: AbortSignal;
  readonly startedAt: number;
  attempts: number;
  lastVotes: VoteSummary;
}

/**
 * {@link SessionLocker} over Redlock: one lock per session on N independent
 * Redis nodes, granted when a quorum (`floor(N/2)+1`) agrees.
 *
 * Locks serialise; versions fence. A lease can run out under a holder (GC
 * pause, stalled node), so the lock alone never makes a write safe: the
 * store's compare-and-set on the session version does.
 *
 * Around redlock 5.0.0-beta.2 it adds: an in-process FIFO queue per session
 * (one Redis poller per session per process), an overall acquisition bound
 * (`acquireTimeoutMs`, abort signals), fail-fast when failed nodes make a
 * quorum impossible, typed errors with vote counts, a `release()` that never
 * throws for an expired lease, and its own `using` (redlock's drops the
 * routine's result on lock loss and never cancels the routine).
 *
 * @example
 * ```ts
 * const locker = new RedlockLocker({ nodes: ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'] });
 * const total = await locker.using(sid, async (signal) => {
 *   const record = await store.load(sid);
 *   // … a save with record.version is fenced even if `signal` aborted meanwhile
 *   return record;
 * });
 * await locker.close();
 * ```
 */
export class RedlockLocker implements SessionLocker {
  private readonly options: ReturnType<typeof resolveRedlockOptions>;
  private readonly clients: readonly Redis[];
  private readonly owned: readonly Redis[];
  private readonly redlock: Redlock;
  private readonly queue = new LocalLockQueue();
  private readonly closing = closingController();
  private connected: Promise<void> | undefined;
  private readonly retryPolicy;

  /**
   * @throws SessionValidationError `INVALID_CONFIG` naming the offending option
   *   (a Redis Cluster client among `nodes` included)
   */
  public constructor(options: RedlockLockerOptions) {
    this.options = resolveRedlockOptions(options);
    const { all, owned } = createRedlockClients(this.options.nodes, this.options.commandTimeoutMs);
    this.clients = all;
    this.owned = owned;
    this.redlock = new Redlock(all, {
      driftFactor: this.options.driftFactor,
      // One round per redlock call: retries are ours (see retryPolicy), and
      // an extension or release is asked once (a refused one is final).
      retryCount: 0,
      retryDelay: this.options.retryDelayMs,
      retryJitter: this.options.retryJitterMs,
    });
    const { retryCount, retryDelayMs, retryJitterMs } = this.options;
    // Redlock's "delay ± jitter" as a cockatiel policy with a constant delay.
    this.retryPolicy = createRetryPolicy({
      maxAttempts: retryCount === -1 ? Number.MAX_SAFE_INTEGER : retryCount + 1,
      baseDelayMs: retryDelayMs,
      multiplier: 1,
      jitter: retryDelayMs === 0 ? 0 : retryJitterMs / retryDelayMs,
      maxDelayMs: retryDelayMs + retryJitterMs,
      operation: 'lock.acquire',
    });
  }

  /** Lease and wait a call gets when it names none (options `ttlMs`, `acquireTimeoutMs`), ms. */
  public get defaults(): { readonly ttlMs: number; readonly acquireTimeoutMs: number } {
    return { ttlMs: this.options.ttlMs, acquireTimeoutMs: this.options.acquireTimeoutMs };
  }

  /** The lock key of a session: `<prefix>:lock:{<sid>}` (validated id). */
  public lockKey(sessionId: string): string {
    assertValidSessionId(sessionId, 'lock');
    return `${this.options.prefix}:lock:{${sessionId}}`;
  }

  /**
   * Take the session's lock, waiting up to `acquireTimeoutMs` (behind
   * earlier waiters of this process first, then polling the nodes).
   *
   * @throws SessionValidationError `INVALID_SESSION_ID` (nothing reaches Redis),
   *   `INVALID_ARGUMENT` for a bad `ttlMs`
   * @throws ConcurrentAccessError `LOCK_NOT_ACQUIRED`; `details` carry the last
   *   round's vote counts (`membershipSize`, `quorumSize`, `votesFor`,
   *   `votesAgainst`, `nodesLocked`, `nodesFailed`, `votesPending`), `attempts`,
   *   `waitedMs` and `outcome` (`contended`, `quorum_unreachable`, `timeout`,
   *   `aborted`, `closed`)
   */
  public async acquire(sessionId: string, options: LockOptions = {}): Promise<SessionLock> {
    return this.acquireLock(sessionId, options);
  }

  /**
   * Run `fn` holding the session's lock. The lease is extended every half
   * lease while `fn` runs (unless `autoExtend` is off); `fn`'s signal aborts
   * when an extension fails or the lease runs out. `fn`'s result is returned
   * even then (the store's version check decides whether its write counted),
   * `fn`'s error is rethrown, and the lock is released in every case.
   *
   * @throws whatever {@link acquire} throws, or `fn` throws
   */
  public async using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T> {
    const lock = await this.acquireLock(sessionId, options);
    const ttlMs = options.ttlMs ?? this.options.ttlMs;
    const stopExtending = this.options.autoExtend
      ? this.keepExtended(lock, ttlMs)
      : () => undefined;
    try {
      return await fn(lock.lost, lock);
    } finally {
      stopExtending();
      await lock.release();
    }
  }

  /**
   * Stop: pending acquisitions fail with `LOCK_NOT_ACQUIRED` (`closed`), and
   * the clients the locker created are closed (caller-owned ones are not).
   * Held locks are not released; their leases run out. Idempotent.
   */
  public async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(this.giveUp('closed', 'The locker was closed'));
    await closeOwnedClients(this.owned);
  }

  private async acquireLock(sessionId: string, options: LockOptions): Promise<RedlockSessionLock> {
    const key = this.lockKey(sessionId);
    const ttlMs = options.ttlMs ?? this.options.ttlMs;
    if (!isValidLockTtl(ttlMs)) {
      throw new SessionValidationError(
        `ttlMs: expected an integer in [${MIN_LOCK_TTL_MS}, ${MAX_TIMER_MS}]`,
        { code: 'INVALID_ARGUMENT', field: 'ttlMs', operation: 'lock.acquire' },
      );
    }
    const { signal, dispose } = this.acquisitionSignal(options.signal);
    const acquisition: Acquisition = {
      sessionId,
      key,
      ttlMs,
      signal,
      startedAt: Date.now(),
      attempts: 0,
      lastVotes: unknownVotes(this.clients.length),
    };
    let turn: LocalTurn | undefined;
    try {
      if (this.options.localQueue) turn = await this.queue.enter(key, acquisition.signal);
      const lock = await this.pollNodes(acquisition);
      return new RedlockSessionLock(sessionId, lock, turn, {
        redlock: this.redlock,
        membershipSize: this.clients.length,
        voteWaitMs: this.options.commandTimeoutMs,
        sessionIdHash: hashSessionId(sessionId),
        onError: this.options.onError,
      });
    } catch (error) {
      turn?.leave();
      throw this.acquisitionError(acquisition, error);
    } finally {
      dispose();
    }
  }

  /**
   * Poll the nodes until a quorum grants the lock, bounded by the
   * acquisition's signal. The retry policy's delay cannot be interrupted,
   * so the polling races the signal; a lock granted to a poll that lost the
   * race is released at once.
   */
  private async pollNodes(acquisition: Acquisition): Promise<Lock> {
    const { signal } = acquisition;
    const polling = (async () => {
      this.connected ??= awaitFirstConnection(
        this.clients,
        AbortSignal.timeout(this.options.commandTimeoutMs),
      );
      await this.connected;
      return this.retryPolicy.execute(() => this.attempt(acquisition), signal);
    })();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        reject(signal.reason as Error);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([polling, aborted]);
    } catch (error) {
      polling.then(
        (late) => this.redlock.release(late).catch(() => undefined),
        () => undefined,
      );
      throw error;
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      aborted.catch(() => undefined);
    }
  }

  /** One Redlock round. Retryable failures (contention) go back to the policy. */
  private async attempt(acquisition: Acquisition): Promise<Lock> {
    if (acquisition.signal.aborted) {
      throw new AcquisitionStopped(acquisition.signal.reason as ConcurrentAccessError);
    }
    acquisition.attempts += 1;
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([acquisition.key], acquisition.ttlMs);
    } catch (error) {
      if (!(error instanceof ExecutionError)) throw error;
      acquisition.lastVotes = await lastRoundVotes(
        error.attempts,
        this.clients.length,
        this.options.commandTimeoutMs,
      );
      if (quorumUnreachable(acquisition.lastVotes)) {
        throw new AcquisitionStopped(
          this.giveUp('quorum_unreachable', 'Too many lock nodes failed to reach a quorum', error),
        );
      }
      throw this.giveUp('contended', 'The session is locked by another holder', error);
    }
    // Redlock does not check that the lease outlived the round (a slow node
    // can take longer than the lease): such a lock is no lock.
    if (lock.expiration <= Date.now()) {
      await this.redlock.release(lock).catch(() => undefined);
      throw this.giveUp('lease_elapsed', 'The lease ran out while it was being acquired');
    }
    // Re-read after the await (a plain `.aborted` check stays narrowed to false).
    if (isAborted(acquisition.signal)) {
      await this.redlock.release(lock).catch(() => undefined);
      throw new AcquisitionStopped(acquisition.signal.reason as ConcurrentAccessError);
    }
    return lock;
  }

  /**
   * The caller's signal, the overall timeout and `close()`, in one signal,
   * each aborting with its own `LOCK_NOT_ACQUIRED`. `dispose` drops the
   * timer and the listener on the caller's signal.
   */
  private acquisitionSignal(callerSignal: AbortSignal | undefined): {
    readonly signal: AbortSignal;
    readonly dispose: () => void;
  } {
    // One controller that every source aborts (cheaper than AbortSignal.any,
    // which costs a weak-ref registration per acquisition on Node 20); the
    // first reason wins, and dispose() unhooks the long-lived signals.
    const combined = new AbortController();
    const timer = setTimeout(() => {
      combined.abort(this.giveUp('timeout', 'Timed out waiting for the session lock'));
    }, this.options.acquireTimeoutMs);
    const forward = (): void => {
      combined.abort(
        this.giveUp('aborted', 'Stopped waiting for the session lock', callerSignal?.reason),
      );
    };
    const onClose = (): void => {
      combined.abort(this.closing.signal.reason);
    };
    if (this.closing.signal.aborted) onClose();
    else this.closing.signal.addEventListener('abort', onClose, { once: true });
    if (callerSignal?.aborted === true) forward();
    else callerSignal?.addEventListener('abort', forward, { once: true });
    return {
      signal: combined.signal,
      dispose: () => {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', forward);
        this.closing.signal.removeEventListener('abort', onClose);
      },
    };
  }

  /** A `LOCK_NOT_ACQUIRED` without session context (added by {@link acquisitionError}). */
  private giveUp(outcome: GiveUpOutcome, message: string, cause?: unknown): ConcurrentAccessError {
    return new ConcurrentAccessError('lock_not_acquired', message, {
      operation: 'lock.acquire',
      details: { outcome },
      cause: safeCause(cause),
    });
  }

  /** The error `acquire` throws: session hash, votes, attempts and time waited added. */
  private acquisitionError(acquisition: Acquisition, error: unknown): SessionError {
    const stopped = error instanceof AcquisitionStopped ? error.error : error;
    if (!isSessionError(stopped) || !(stopped instanceof ConcurrentAccessError)) {
      return toSessionError(safeCause(stopped), {
        operation: 'lock.acquire',
        sessionIdHash: hashSessionId(acquisition.sessionId),
      });
    }
    if (stopped.reason !== 'lock_not_acquired') return stopped;
    return new ConcurrentAccessError('lock_not_acquired', stopped.message, {
      operation: 'lock.acquire',
      sessionIdHash: hashSessionId(acquisition.sessionId),
      details: {
        ...stopped.details,
        ...acquisition.lastVotes,
        attempts: acquisition.attempts,
        waitedMs: Date.now() - acquisition.startedAt,
      },
      cause: stopped.cause,
    });
  }

  /**
   * Extend `lock` every half lease until stopped. A failed extension marks
   * the lock lost (its `lost` signal aborts), which ends the extending.
   */
  private keepExtended(lock: RedlockSessionLock, ttlMs: number): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const schedule = (): void => {
      if (stopped || !lock.held) return;
      const delay = Math.max(0, Math.floor((lock.expiresAt - Date.now()) / 2));
      timer = setTimeout(() => {
        // The routine learns of a failure through its signal; onError gets
        // it too, because a routine may not be watching.
        lock.extend(ttlMs).then(schedule, (error: unknown) => {
          this.options.onError(toSessionError(error));
        });
      }, delay);
      timer.unref();
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }
}
