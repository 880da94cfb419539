import {
  isSessionError,
  lockedUpdate,
  optimisticUpdate,
  publishSessionEvent,
} from '@session-cluster/core';
import type {
  EscalationReason,
  LockMode,
  LockedUpdateOptions,
  SessionChannels,
  SessionLocker,
  SessionMutator,
  SessionRecord,
  SessionStore,
} from '@session-cluster/core';
import type { RetryPolicy } from 'cockatiel';
import type { HotSessions } from './hot-sessions.js';

/**
 * How `update` uses the session lock:
 * - `'on-conflict'` (default): compare-and-set without the lock; on
 *   `VERSION_CONFLICT` once more at once, then under the lock (escalation).
 *   A session remembered as hot, or with another update already running on
 *   this instance, takes the lock at once.
 * - `'always'`: the lock first, every time (`fn` runs in mutual exclusion
 *   across instances).
 */
export type UpdateLockMode = 'always' | 'on-conflict';

/** Every {@link UpdateLockMode}. */
export const UPDATE_LOCK_MODES = Object.freeze([
  'on-conflict',
  'always',
] as const satisfies readonly UpdateLockMode[]);

/** True for one of {@link UPDATE_LOCK_MODES}. */
export function isUpdateLockMode(value: unknown): value is UpdateLockMode {
  return (UPDATE_LOCK_MODES as readonly unknown[]).includes(value);
}

/**
 * Optimistic attempts an `update` makes, back to back, before it takes the
 * lock: the first, and one retry on fresh data. A second conflict in a row
 * means other writers keep getting in between our load and save; a third
 * optimistic try would likely spin the same way.
 */
const OPTIMISTIC_TRIES = 2;

/** What `update`'s lock modes did since the manager started ({@link SessionManager.updateStats}). */
export interface UpdateLockStats {
  /** Updates that succeeded without taking the lock. */
  readonly optimistic: number;
  /** Updates that took the lock after their optimistic attempts conflicted. */
  readonly escalatedOnConflict: number;
  /** Updates that took the lock at once because the session was remembered as hot. */
  readonly escalatedHot: number;
  /** Updates that took the lock at once because another update of the session was running here. */
  readonly escalatedLocal: number;
  /** Updates made with `lock: 'always'`. */
  readonly always: number;
  /** `VERSION_CONFLICT`s met by optimistic attempts (each re-ran at once). */
  readonly conflicts: number;
  /** Sessions remembered as hot right now (expired marks not yet forgotten included). */
  readonly hotSessions: number;
}

/** The state one `update` call carries across the retry policy's attempts. */
interface UpdateCall {
  /** Set once the call took (or must take) the lock: every later attempt is locked too. */
  escalated: boolean;
}

function isVersionConflict(error: unknown): boolean {
  return isSessionError(error) && error.code === 'VERSION_CONFLICT';
}

/**
 * `update`'s read-modify-write in either lock mode, under the manager's
 * retry policy for `update`.
 *
 * In `'on-conflict'` mode each policy attempt is: up to
 * {@link OPTIMISTIC_TRIES} optimistic read-modify-writes back to back, then,
 * if each conflicted, the locked one (core's `lockedUpdate`) in the same
 * attempt. Once escalated, a call stays escalated for its remaining policy
 * attempts (after `LOCK_NOT_ACQUIRED`, say), so a hot session serializes
 * through the lock instead of spinning. The policy's backoff applies only
 * between its attempts: a conflict is news that the session changed, and
 * re-reading it at once is what resolves it.
 *
 * No lost update in either mode: every save is compare-and-set on the
 * version loaded (the lock only keeps writers from colliding). An optimistic
 * writer may also collide with a locked one (it does not wait for the
 * lock): one of the two saves gets `VERSION_CONFLICT` and is re-run.
 */
export class EscalatingUpdate {
  private optimistic = 0;
  private escalatedOnConflict = 0;
  private escalatedHot = 0;
  private escalatedLocal = 0;
  /**
   * Session id → `'on-conflict'` updates of it running on this instance.
   * Overlapping updates of one session in one process are contention we
   * can see without asking Redis: all but the first would load the same
   * version and all but one would conflict, so they queue on the lock
   * instead (the locker's local queue makes that one waiter per process).
   */
  private readonly running = new Map<string, number>();
  private always = 0;
  private conflicts = 0;

  public constructor(
    private readonly locker: SessionLocker,
    private readonly policy: RetryPolicy,
    private readonly options: LockedUpdateOptions,
    private readonly hot: HotSessions,
    private readonly channels: SessionChannels,
  ) {}

  /** Run `fn` on the session `id` (already checked) in `mode`, through `store`. */
  public run(
    store: SessionStore,
    id: string,
    fn: SessionMutator,
    mode: UpdateLockMode,
  ): Promise<SessionRecord> {
    if (mode === 'always') {
      this.always += 1;
      this.lockMode('always');
      return this.policy.execute(() => lockedUpdate(store, this.locker, id, fn, this.options));
    }
    const running = this.running.get(id) ?? 0;
    const call: UpdateCall = { escalated: running > 0 || this.hot.has(id) };
    if (running > 0) {
      this.escalatedLocal += 1;
      this.escalation('local');
    } else if (call.escalated) {
      this.escalatedHot += 1;
      this.escalation('hot');
    }
    this.running.set(id, running + 1);
    return this.policy
      .execute(() => this.attempt(store, id, fn, call))
      .finally(() => {
        const left = (this.running.get(id) ?? 1) - 1;
        if (left === 0) this.running.delete(id);
        else this.running.set(id, left);
      });
  }

  /** A snapshot of the counters. */
  public stats(): UpdateLockStats {
    return {
      optimistic: this.optimistic,
      escalatedOnConflict: this.escalatedOnConflict,
      escalatedHot: this.escalatedHot,
      escalatedLocal: this.escalatedLocal,
      always: this.always,
      conflicts: this.conflicts,
      hotSessions: this.hot.size,
    };
  }

  private async attempt(
    store: SessionStore,
    id: string,
    fn: SessionMutator,
    call: UpdateCall,
  ): Promise<SessionRecord> {
    if (!call.escalated) {
      this.lockMode('optimistic');
      for (let tried = 1; tried <= OPTIMISTIC_TRIES; tried += 1) {
        try {
          const record = await optimisticUpdate(store, id, fn, this.options);
          this.optimistic += 1;
          return record;
        } catch (error) {
          // Anything but a conflict (storage down, not found, fn threw) is
          // the policy's to retry or not, like in locked mode.
          if (!isVersionConflict(error)) throw error;
          this.conflicts += 1;
          publishSessionEvent(this.channels, { type: 'conflict_retry', attempt: tried });
        }
      }
      call.escalated = true;
      this.escalatedOnConflict += 1;
      this.escalation('conflict');
      this.hot.mark(id);
    }
    this.lockMode('escalated');
    try {
      return await lockedUpdate(store, this.locker, id, fn, this.options);
    } catch (error) {
      // A conflict even under the lock: an optimistic writer elsewhere got
      // in. Still contended, so keep the session marked.
      if (isVersionConflict(error)) this.hot.mark(id);
      throw error;
    }
  }

  /** Publish how the attempt starting now uses the lock. */
  private lockMode(mode: LockMode): void {
    publishSessionEvent(this.channels, { type: 'lock_mode', mode });
  }

  /** Publish an escalation to the lock (counted by subscribers as `session.lock.escalations`). */
  private escalation(reason: EscalationReason): void {
    publishSessionEvent(this.channels, { type: 'escalation', reason });
  }
}
