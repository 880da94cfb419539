import type { JsonValue, SessionData, SessionPatch, SessionRecord } from './session.js';

/** Input of {@link SessionStore.create}. */
export interface CreateSessionInput {
  readonly id: string;
  readonly userId?: string | undefined;
  readonly data: SessionData;
  /** Absolute expiry, epoch ms; must lie in the future of the store's clock. */
  readonly expiresAt: number;
}

/** Input of {@link SessionStore.save}: the whole new state of the session. */
export interface SaveSessionInput {
  readonly data: SessionData;
  readonly expiresAt: number;
  /** New owner; `undefined` keeps the current one. Index moves are made after the write. */
  readonly userId?: string | undefined;
}

/** Options of {@link SessionStore.patch}. */
export interface PatchOptions {
  /** New absolute expiry (rolling sessions); unchanged when absent. */
  readonly expiresAt?: number | undefined;
  /**
   * Fence the patch: merge only if the stored version still equals this one
   * (`VERSION_CONFLICT` otherwise, nothing written). What a lock holder
   * passes, with the version it loaded under the lock, so a holder whose
   * lease ran out (a GC pause, a failover) cannot write over a newer write.
   * Absent: an ordinary lock-free merge.
   */
  readonly expectedVersion?: number | undefined;
}

/** Options of {@link SessionStore.load}. */
export interface LoadOptions {
  /**
   * The oldest version the caller accepts: a store that caches sessions
   * (RedisStore's instance cache) does not answer from a cached copy older
   * than this, and reads the stored one instead. Read-your-writes across
   * instances: pass the version the client last saw or wrote. A store
   * without a cache ignores it (it always reads the stored session).
   */
  readonly minVersion?: number | undefined;
  /**
   * When the caller learned `minVersion`, epoch ms (e.g. when the cookie
   * carrying it was issued). The store may hold an older version than that
   * for good: the write was lost in a failover, or its version was counted
   * by an outage's in-memory fallback. Then every load would pass the cache
   * by until the caller learns a newer version. With this time, RedisStore
   * answers such a load from a cached copy that it read from Redis more than
   * a second (for clock skew between instances) after it: Redis held
   * nothing newer then, and the copy is dropped as soon as anything newer is
   * written. A copy read before it never answers, so a write acknowledged
   * to the caller is never hidden by an older copy.
   */
  readonly minVersionSince?: number | undefined;
}

/** Options of {@link SessionStore.deleteByUser}. */
export interface DeleteByUserOptions {
  /** Session ids to keep (typically the caller's current session). */
  readonly except?: readonly string[] | undefined;
}

/** One session removed by {@link SessionStore.sweepExpired}. */
export interface ExpiredSession {
  readonly id: string;
  readonly userId: string | undefined;
  readonly expiresAt: number;
}

/** Outcome of one bounded sweep batch. */
export interface SweepResult {
  /** Sessions this call found expired and removed (each reported once, ever). */
  readonly expired: readonly ExpiredSession[];
  /** True when more due entries remain: call again. */
  readonly more: boolean;
}

/**
 * Where sessions live. Implemented by the memory, Redis and cookie stores;
 * the manager and fallback see only this.
 *
 * Invariants every implementation keeps (the contract suite checks them):
 * - ids are validated before any key is built; bad input throws a
 *   `SessionValidationError` and changes nothing;
 * - an expired session is invisible (`load` → `null`, `patch` → not found)
 *   even before it is physically removed;
 * - `save` is compare-and-set on `version`; of N concurrent saves with the
 *   same expected version exactly one succeeds.
 */
export interface SessionStore {
  /**
   * The session, or `null` when it does not exist or has expired. The
   * record is the caller's own copy, or shared and deep-frozen (a store
   * with an instance cache): never change it in place.
   */
  load(id: string, options?: LoadOptions): Promise<SessionRecord | null>;
  /**
   * Store a new session at version 1.
   *
   * Idempotent for a repeat: when the id holds a live, unchanged session
   * (version 1) with the same owner, expiry and stored data, that session is
   * the result (with its own `createdAt`): a command a client re-sent after
   * it had landed must not report the caller's own session as taken. Stored
   * data compares byte for byte, so with encryption at rest (a fresh IV per
   * call) only a re-sent command matches, not a second call.
   * @throws ConcurrentAccessError (`SESSION_ALREADY_EXISTS`) when the id is taken
   *   by any other session, or was retired (`details.retired`, see
   *   `RETIRED_ID_MIN_TTL_MS`): a deleted or regenerated id never comes back.
   */
  create(input: CreateSessionInput): Promise<SessionRecord>;
  /**
   * Replace the session's data if its stored version still equals `expectedVersion`.
   * A save whose `expiresAt` is not after the store's now **retires** the
   * session (what `regenerate` does to the old id): it is gone for every
   * reader at once and its id is tombstoned, so `create` refuses it.
   * @returns the new version.
   * @throws ConcurrentAccessError (`VERSION_CONFLICT`) when another write got there first.
   * @throws SessionNotFoundError when the session is gone or expired.
   */
  save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number>;
  /**
   * Atomic field-level merge without a lock: parallel patches of different
   * keys never lose each other.
   * @returns the new version.
   * @throws SessionNotFoundError when the session is gone or expired.
   * @throws ConcurrentAccessError (`VERSION_CONFLICT`) when `options.expectedVersion`
   *   is given and the stored version differs.
   */
  patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number>;
  /** Move the expiry; does not bump the version. @returns false when the session is gone. */
  touch(id: string, expiresAt: number): Promise<boolean>;
  /**
   * Delete the session and retire its id (tombstoned: `create` refuses it,
   * so a late writer cannot bring a logged-out session back).
   * @returns true when something was deleted.
   */
  delete(id: string): Promise<boolean>;
  /** The user's live sessions, oldest first; stale index entries are dropped on the way. */
  listByUser(userId: string): Promise<SessionRecord[]>;
  /** Delete (and retire, as {@link delete}) the user's sessions. @returns how many sessions were deleted. */
  deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number>;
  /**
   * Remove up to `limit` sessions whose expiry is ≤ `now` and clean their
   * index entries. Idempotent: a session is reported by exactly one call.
   */
  sweepExpired(now: number, limit: number): Promise<SweepResult>;
  /**
   * Ids of every live session, for administration (express-session's
   * `all`/`ids`/`length`/`clear`). Costs O(sessions): never on a request
   * path. Optional: a store that cannot enumerate leaves it out.
   */
  listSessionIds?(): Promise<string[]>;
  /** Round-trip latency in ms. @throws StorageUnavailableError */
  ping(): Promise<number>;
  /** Stop timers, wait for in-flight calls, release connections the store owns. */
  close(): Promise<void>;
  /**
   * True while the store serves from a fallback (its primary is unavailable),
   * so results may be instance-local. Absent or `false` for a plain store.
   */
  readonly degraded?: boolean;
  /**
   * Optional synchronous fast path of {@link load}: the answer `load(id,
   * options)` would give, when an in-process copy known to be current has it
   * (an instance cache kept coherent by its backend); `undefined` when only
   * `load` can answer. A layer in front of the store (a fallback, a manager)
   * may answer from it without its own round of policies, as no backend
   * call is made.
   */
  loadCached?(id: string, options?: LoadOptions): SessionRecord | null | undefined;
  /**
   * Outage fallback only (optional): the copy of `id` an instance cache
   * holds, or set aside when its connection went down, even if it may be
   * stale — never for a normal read. What lets an outage fallback carry a
   * visitor's session through the outage. `undefined` when none is held.
   */
  peekCached?(id: string): SessionRecord | undefined;
  /**
   * Outage fallback only (optional): hand over, once, the copies set aside
   * when the instance cache last went down (the sessions served shortly
   * before an outage), so that what Redis may have lost can be written back.
   */
  takeRetained?(): SessionRecord[];
  /**
   * Outage fallback only (optional): merge per-key changes made against
   * `merge.baseVersion` into the stored session in one atomic step (see
   * {@link SessionMerge}).
   * @throws SessionValidationError `PAYLOAD_TOO_LARGE` when the merged session would be too big
   * @throws SessionCorruptedError when the stored session is unreadable
   */
  merge?(id: string, merge: SessionMerge): Promise<SessionMergeResult>;
  /**
   * Outage fallback's secondary only (optional): remove every trace of `id`
   * — the session and its retired-id tombstone — without retiring it. For
   * a store holding scratch copies: once written back, a copy is forgotten,
   * and the same session can be carried again through a later outage
   * (`delete` would tombstone the id and refuse that copy).
   */
  forget?(id: string): Promise<void>;
}

/** One top-level key changed while the primary was unreachable (see {@link SessionStore.merge}). */
export interface SessionKeyChange {
  readonly key: string;
  /** The new value; `undefined`: the key was removed. */
  readonly value: JsonValue | undefined;
  /** The value at the base version; `undefined`: absent then. */
  readonly base: JsonValue | undefined;
  /** Clock time of the last write of the key, ms: decides a conflict (last writer wins). */
  readonly at: number;
}

/**
 * Per-key changes made against `baseVersion` of a session. A key the store
 * did not change since the base version takes the change; a key changed on
 * both sides is a conflict, won by the later write (the change's `at`
 * against the stored session's `updatedAt`), and so is a key both sides set
 * to the same value (nothing to write, but two increments of a counter from
 * one copy lost one). The expiry becomes the later one.
 */
export interface SessionMerge {
  readonly baseVersion: number;
  readonly changes: readonly SessionKeyChange[];
  readonly expiresAt: number;
}

/** What {@link SessionStore.merge} did. */
export type SessionMergeResult =
  | {
      /** Merged (or nothing to change); `version` is the stored one afterwards. */
      readonly kind: 'merged';
      readonly version: number;
      /** Keys changed on both sides (each resolved last-writer-wins; set to the same value on both: kept). */
      readonly conflicts: readonly string[];
    }
  /** No live session under the id (never stored, expired, or the store lost it). */
  | { readonly kind: 'missing' }
  /** The id was retired (deleted or regenerated) in the store: it stays deleted. */
  | { readonly kind: 'deleted' };

/** A held per-session lock. */
export interface SessionLock {
  readonly sessionId: string;
  /** Epoch ms at which the lease runs out unless extended. */
  readonly expiresAt: number;
  /**
   * Extend the lease.
   * @throws ConcurrentAccessError (`LOCK_LOST`) when the lock was already lost.
   */
  extend(ttlMs: number): Promise<void>;
  /** Give the lock up. Never throws because the lease already ran out. */
  release(): Promise<void>;
}

/** Options of {@link SessionLocker.acquire} and {@link SessionLocker.using}. */
export interface LockOptions {
  /** Lease length in ms (implementation default when absent). */
  readonly ttlMs?: number | undefined;
  /** Give up waiting when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Per-session mutual exclusion. Locks serialise; versions fence: a holder
 * whose lease ran out is stopped by the store's compare-and-set, not by the lock.
 */
export interface SessionLocker {
  /**
   * Take the session's lock.
   * @throws ConcurrentAccessError (`LOCK_NOT_ACQUIRED`) when it cannot be had in time.
   */
  acquire(sessionId: string, options?: LockOptions): Promise<SessionLock>;
  /**
   * Run `fn` holding the lock, extending the lease while it runs. `signal`
   * aborts when exclusivity is lost (an extension failed); `fn`'s result is
   * returned even then, because the store's version check decides whether its
   * write counted. The lock is released afterwards in every case.
   */
  using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options?: LockOptions,
  ): Promise<T>;
  /** Release resources the locker owns. */
  close(): Promise<void>;
}

/**
 * Every method of {@link SessionStore}, for duck-typed option checks and
 * for decorators that wrap each one (tracing, test hooks).
 */
export const SESSION_STORE_METHODS = Object.freeze([
  'load',
  'create',
  'save',
  'patch',
  'touch',
  'delete',
  'listByUser',
  'deleteByUser',
  'sweepExpired',
  'ping',
  'close',
] as const satisfies readonly (keyof SessionStore)[]);
