import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import type { SessionLocker, SessionStore } from './contracts.js';
import { SessionNotFoundError } from './errors.js';
import { copySessionData } from './session.js';
import type { SessionData, SessionRecord } from './session.js';
import { assertValidSessionId, hashSessionId } from './session-id.js';

/**
 * The read-modify-write step of {@link lockedUpdate}: gets a private copy of
 * the data (mutating it in place and returning it is fine) and the record as
 * loaded; returns the session's new data.
 */
export type SessionMutator = (
  data: SessionData,
  record: SessionRecord,
) => SessionData | Promise<SessionData>;

/** Options of {@link lockedUpdate}. */
export interface LockedUpdateOptions {
  /** Lease length of the session lock (the locker's default when absent). */
  readonly ttlMs?: number | undefined;
  /** New expiry from the loaded record (rolling sessions); unchanged when absent. */
  readonly expiresAt?: ((record: SessionRecord) => number) | undefined;
  /**
   * Clock for the returned record's `updatedAt` (default: the system clock).
   * Pass the store's clock so the returned record matches what it stored.
   */
  readonly clock?: Clock | undefined;
}

/**
 * Read-modify-write of one session that never loses an update: lock → load →
 * `mutate` → compare-and-set save → unlock.
 *
 * **Locks serialise; versions fence.** The lock makes concurrent updaters of
 * a session take turns, so normally each one loads the previous one's write.
 * A lease can still run out under a holder (GC pause, network stall), and a
 * second updater may then load and write. The first holder's save then
 * carries a stale `expectedVersion`, and the store's compare-and-set rejects
 * it with `ConcurrentAccessError` (`VERSION_CONFLICT`, retryable) instead of
 * overwriting the newer write. The whole critical section must then be
 * re-run (load again, mutate again); that retry is the caller's job (the
 * manager wraps this call in its retry policy), never a blind re-save here.
 *
 * @param id a valid session id (checked before anything is locked)
 * @returns the session as written: new data and version, `updatedAt` from `options.clock`
 * @throws SessionValidationError `INVALID_SESSION_ID` for a malformed id; whatever
 *   the store's save throws for bad data
 * @throws SessionNotFoundError when the session does not exist or has expired
 * @throws ConcurrentAccessError `LOCK_NOT_ACQUIRED` when the lock could not be had;
 *   `VERSION_CONFLICT` when another writer got in after the lease ran out
 * @example
 * ```ts
 * const record = await lockedUpdate(store, locker, sid, (data) => {
 *   data['visits'] = Number(data['visits'] ?? 0) + 1;
 *   return data;
 * });
 * ```
 */
export async function lockedUpdate(
  store: SessionStore,
  locker: SessionLocker,
  id: string,
  mutate: SessionMutator,
  options: LockedUpdateOptions = {},
): Promise<SessionRecord> {
  // A rejection, not a synchronous throw: callers hold the promise.
  assertValidSessionId(id, 'update');
  return await locker.using(id, () => optimisticUpdate(store, id, mutate, options), {
    ttlMs: options.ttlMs,
  });
}

/**
 * Read-modify-write of one session without a lock: load → `mutate` →
 * compare-and-set save. The critical section {@link lockedUpdate} runs
 * under the lock, on its own.
 *
 * It never loses an update either: a save whose loaded version is no
 * longer current (another writer got in between load and save) is rejected
 * with `ConcurrentAccessError` (`VERSION_CONFLICT`, retryable), and the
 * caller re-runs the whole call on fresh data. What it does not give is
 * mutual exclusion: `mutate` of two writers may run at the same time, and a
 * conflicting one runs again. Cheap when the session is uncontended (two
 * store calls, no lock round trips); under contention the retries spin,
 * which is why the manager escalates to {@link lockedUpdate}.
 *
 * @param id a valid session id (checked before anything is loaded)
 * @returns the session as written: new data and version, `updatedAt` from `options.clock`
 * @throws SessionNotFoundError when the session does not exist or has expired
 * @throws ConcurrentAccessError `VERSION_CONFLICT` when another writer got in first
 */
export async function optimisticUpdate(
  store: SessionStore,
  id: string,
  mutate: SessionMutator,
  options: Omit<LockedUpdateOptions, 'ttlMs'> = {},
): Promise<SessionRecord> {
  assertValidSessionId(id, 'update');
  const record = await store.load(id);
  if (record === null) {
    throw new SessionNotFoundError(undefined, {
      operation: 'update',
      sessionIdHash: hashSessionId(id),
    });
  }
  // A private copy: a mutator that throws halfway leaves nothing half-changed
  // in anything the caller or the store can see.
  const data = await mutate(copySessionData(record.data), record);
  const expiresAt = options.expiresAt?.(record) ?? record.expiresAt;
  const version = await store.save(id, { data, expiresAt }, record.version);
  return { ...record, data, version, updatedAt: (options.clock ?? systemClock).now(), expiresAt };
}
