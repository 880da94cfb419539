import {
  MAX_TIMER_MS,
  ConcurrentAccessError,
  SessionValidationError,
  StorageUnavailableError,
} from '@session-cluster/core';
import type { SessionError, SessionLock } from '@session-cluster/core';
import { safeCause } from './redis-errors.js';
import { ExecutionError } from 'redlock';
import type Redlock from 'redlock';
import type { Lock } from 'redlock';
import type { LocalTurn } from './redlock-local-queue.js';
import { MIN_LOCK_TTL_MS, isValidLockTtl } from './redlock-options.js';
import { unknownVotes } from './redlock-vote-summary.js';
import type { VoteSummary } from './redlock-vote-summary.js';
import { lastRoundVotes } from './redlock-votes.js';

/** What a {@link RedlockSessionLock} needs from its locker. */
export interface RedlockSessionLockContext {
  readonly redlock: Redlock;
  readonly membershipSize: number;
  /** How long to wait for a failed round's last votes before reporting them unknown. */
  readonly voteWaitMs: number;
  /** Short hash of the session id, for errors. */
  readonly sessionIdHash: string;
  /** Failures absorbed instead of thrown (a release that nodes failed to confirm). */
  readonly onError: (error: SessionError) => void;
}

type LockState = 'held' | 'lost' | 'released';

/**
 * A held Redlock lock on one session. Works around redlock 5.0.0-beta.2:
 * `release()` after the lease ran out never throws (redlock throws an
 * `ExecutionError`), and `extend()` after loss throws our `LOCK_LOST`
 * instead of redlock's errors.
 *
 * Loss is final: once the lease ran out without an extension, or an
 * extension was refused, the lock is `lost` and {@link lost} aborts, even if
 * a late extension reply would have kept the keys alive (those keys are then
 * released). Extensions and the release run one at a time, in call order.
 */
export class RedlockSessionLock implements SessionLock {
  public readonly sessionId: string;
  private lock: Lock;
  private expiresAtMs: number;
  private state: LockState = 'held';
  private expiryTimer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly lostController = new AbortController();

  /**
   * @param turn the local queue turn held with the lock, handed on when the
   *   lock is released or lost
   */
  public constructor(
    sessionId: string,
    lock: Lock,
    private readonly turn: LocalTurn | undefined,
    private readonly context: RedlockSessionLockContext,
  ) {
    this.sessionId = sessionId;
    this.lock = lock;
    this.expiresAtMs = lock.expiration;
    this.scheduleExpiry();
  }

  /** Epoch ms at which the lease runs out unless extended (drift allowance taken off). */
  public get expiresAt(): number {
    return this.expiresAtMs;
  }

  /** Aborts (with a `LOCK_LOST` {@link ConcurrentAccessError}) when the lock is lost. */
  public get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** True until the lock is released or lost. */
  public get held(): boolean {
    return this.state === 'held';
  }

  /**
   * Extend the lease to `ttlMs` from now.
   * @throws SessionValidationError `INVALID_ARGUMENT` for a bad `ttlMs`
   * @throws ConcurrentAccessError `LOCK_LOST` when the lock was released, ran
   *   out, or the nodes refused the extension
   */
  public extend(ttlMs: number): Promise<void> {
    if (!isValidLockTtl(ttlMs)) {
      return Promise.reject(
        new SessionValidationError(
          `ttlMs: expected an integer in [${MIN_LOCK_TTL_MS}, ${MAX_TIMER_MS}]`,
          { code: 'INVALID_ARGUMENT', field: 'ttlMs', operation: 'lock.extend' },
        ),
      );
    }
    return this.serialized(() => this.extendNow(ttlMs));
  }

  /**
   * Give the lock up. Never throws: a lease that already ran out needs no
   * release, and keys that failed nodes could not delete expire on their
   * own by their TTL (that case is reported to the locker's `onError`).
   */
  public release(): Promise<void> {
    return this.serialized(() => this.releaseNow());
  }

  private serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step, step);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async extendNow(ttlMs: number): Promise<void> {
    if (this.state === 'released') {
      throw this.lostError('The lock was released', unknownVotes(this.context.membershipSize));
    }
    if (this.state === 'lost') throw this.lostReason();
    if (this.expiresAtMs <= Date.now()) {
      // redlock would throw an ExecutionError without asking anyone.
      this.markLost(this.lostError('The lease ran out', unknownVotes(this.context.membershipSize)));
      throw this.lostReason();
    }
    let extended: Lock;
    try {
      extended = await this.context.redlock.extend(this.lock, ttlMs);
    } catch (error) {
      const votes =
        error instanceof ExecutionError
          ? await lastRoundVotes(
              error.attempts,
              this.context.membershipSize,
              this.context.voteWaitMs,
            )
          : unknownVotes(this.context.membershipSize);
      this.markLost(this.lostError('The nodes refused to extend the lease', votes, error));
      throw this.lostReason();
    }
    // Lost while the extension was in flight (the lease timer fired), or the
    // round took so long that the new lease is already over: loss is final.
    if (!this.held || extended.expiration <= Date.now()) {
      this.markLost(this.lostError('The lease ran out', unknownVotes(this.context.membershipSize)));
      this.lock = extended;
      await this.releaseKeys();
      throw this.lostReason();
    }
    this.lock = extended;
    this.expiresAtMs = extended.expiration;
    this.scheduleExpiry();
  }

  private async releaseNow(): Promise<void> {
    if (this.state === 'released') return;
    this.state = 'released';
    this.clearExpiry();
    try {
      await this.releaseKeys();
    } finally {
      this.turn?.leave();
    }
  }

  private async releaseKeys(): Promise<void> {
    try {
      await this.context.redlock.release(this.lock);
    } catch (error) {
      // Nodes vote against a release when the key is gone or belongs to
      // someone else (our lease ran out): nothing to do. Only nodes that
      // failed may still hold our key, until its TTL; report that.
      const votes =
        error instanceof ExecutionError
          ? await lastRoundVotes(
              error.attempts,
              this.context.membershipSize,
              this.context.voteWaitMs,
            )
          : unknownVotes(this.context.membershipSize);
      if (votes.nodesFailed > 0 || !(error instanceof ExecutionError)) {
        this.context.onError(
          new StorageUnavailableError('Lock release not confirmed by every node', {
            operation: 'lock.release',
            sessionIdHash: this.context.sessionIdHash,
            details: { ...votes },
            cause: safeCause(error),
          }),
        );
      }
    }
  }

  private lostError(message: string, votes: VoteSummary, cause?: unknown): ConcurrentAccessError {
    return new ConcurrentAccessError('lock_lost', message, {
      operation: 'lock.extend',
      sessionIdHash: this.context.sessionIdHash,
      details: { ...votes },
      cause: safeCause(cause),
    });
  }

  private lostReason(): ConcurrentAccessError {
    return this.lostController.signal.reason as ConcurrentAccessError;
  }

  private markLost(error: ConcurrentAccessError): void {
    if (this.state !== 'held') return;
    this.state = 'lost';
    this.clearExpiry();
    this.lostController.abort(error);
    // Our keys are gone or about to be: the next local waiter may poll now.
    this.turn?.leave();
  }

  private scheduleExpiry(): void {
    this.clearExpiry();
    const delay = Math.max(0, this.expiresAtMs - Date.now());
    this.expiryTimer = setTimeout(() => {
      this.markLost(this.lostError('The lease ran out', unknownVotes(this.context.membershipSize)));
    }, delay);
    // A forgotten lock must not keep the process alive.
    this.expiryTimer.unref();
  }

  private clearExpiry(): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }
}
