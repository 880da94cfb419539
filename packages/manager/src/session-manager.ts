import { performance } from 'node:perf_hooks';
import {
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
  assertValidSessionId,
  assertValidUserId,
  assertFunction,
  assertObjectArgument,
  assertPatch,
  assertPlainRecord,
  assertPositiveInteger,
  exceptIds,
  loadOptions,
  optionalVersion,
  retryPolicyOf,
  generateSessionId,
  hashSessionId,
  invalidArgument,
  isRetryableSessionError,
  publishSessionEvent,
  replayFirst,
  sessionChannels,
  versionConflictError,
} from '@session-cluster/core';
import type {
  Clock,
  DeleteByUserOptions,
  LoadOptions,
  LockedUpdateOptions,
  OperationMessage,
  RetryEvent,
  SessionData,
  SessionError,
  SessionLocker,
  SessionMutator,
  SessionChannels,
  SessionPatch,
  SessionRecord,
  SessionStore,
} from '@session-cluster/core';
import { HealthMonitor } from '@session-cluster/health';
import type { HealthRecorder, HealthReport } from '@session-cluster/health';
import type { RetryPolicy } from 'cockatiel';
import { EscalatingUpdate, isUpdateLockMode } from './escalating-update.js';
import type { UpdateLockMode, UpdateLockStats } from './escalating-update.js';
import { HotSessions } from './hot-sessions.js';
import { InFlight } from './in-flight.js';
import { resolveManagerOptions } from './manager-options.js';
import type { SessionManagerOptions } from './manager-options.js';
import { MANAGER_OPERATIONS } from './operation-names.js';
import type { OperationName } from './operation-names.js';
import { OPERATION_TELEMETRY_NAMES } from './operation-names.js';
import { withOperation } from './operation-error.js';
import { PublishedLocker } from './published-locker.js';
import { PublishedStore } from './published-store.js';
import { TimedStore } from './timed-store.js';

/** Input of {@link SessionManager.create}. */
export interface CreateSessionOptions {
  /** Owner of the session (indexed for `listByUser`/`deleteByUser`). */
  readonly userId?: string | undefined;
  /** Initial data: a plain object of JSON values. */
  readonly data: SessionData;
  /** Lifetime of this session, ms (positive integer); the manager's `ttlMs` when absent. */
  readonly ttlMs?: number | undefined;
}

/** Options of one {@link SessionManager.update} call. */
export interface UpdateOptions {
  /**
   * How this call uses the session lock; the manager's `update.lock`
   * (default `'on-conflict'`) when absent. `'always'` when `fn` has side
   * effects that must not overlap across instances.
   */
  readonly lock?: UpdateLockMode | undefined;
}

function invalidUpdateLock(): SessionValidationError {
  return new SessionValidationError("options.lock: expected 'on-conflict' or 'always'", {
    field: 'options.lock',
    operation: 'update',
  });
}

/** Options of {@link SessionManager.get}. */
export interface GetOptions {
  /**
   * The oldest version acceptable: an instance cache holding an older copy
   * is bypassed (read-your-writes for a client that carries the version it
   * last saw or wrote). Non-negative integer; absent or 0 accepts any.
   */
  readonly minVersion?: number | undefined;
  /**
   * When the client learned `minVersion`, epoch ms (e.g. when its cookie was
   * issued): a cached copy read from Redis well after it answers even when
   * older (the version was lost, or counted by an outage's fallback), instead
   * of every read going to Redis. See core's `LoadOptions.minVersionSince`.
   */
  readonly minVersionSince?: number | undefined;
}

/** Options of {@link SessionManager.regenerate}. */
export interface RegenerateOptions {
  /** Owner of the new session (e.g. the user who just logged in); the old owner when absent. */
  readonly userId?: string | undefined;
}

/** Options of {@link SessionManager.patch}. */
export interface ManagerPatchOptions {
  /**
   * Fence the patch with the version the caller loaded while holding the
   * session's lock (`withLock`): it is written only if nobody wrote since,
   * else `VERSION_CONFLICT`. Not retried (a conflict means the caller's view
   * is stale; a re-sent fenced write that had landed would conflict with itself).
   */
  readonly expectedVersion?: number | undefined;
  /**
   * `false`: leave the expiry where it is, for a caller that knows it was
   * rolled moments ago (the HTTP adapters, within `touchAfterMs` of the roll
   * their cookie carries: writes then roll the expiry as often as reads do,
   * and a write costs Redis no expiry-index update). Default `true`: a
   * rolling manager moves the expiry to now + `ttlMs`.
   */
  readonly roll?: boolean | undefined;
}

/** Options of {@link HeldSessionLock.regenerate}. */
export interface HeldRegenerateOptions extends RegenerateOptions {
  /** The version loaded under the lock: the old id is retired only if it is still the stored one. */
  readonly expectedVersion?: number | undefined;
}

/**
 * What {@link SessionManager.withLock} hands its section besides the abort
 * signal: operations that would otherwise take the session's lock, run
 * under the lock the section already holds.
 */
export interface HeldSessionLock {
  /**
   * `regenerate` under the held lock (the lock is not taken again): the data
   * moves to a new id and the old id is retired (tombstoned: it can never be
   * created or written again). Not retried: the caller decides.
   * @throws SessionNotFoundError when the session does not exist or has expired
   * @throws ConcurrentAccessError `VERSION_CONFLICT` when `expectedVersion` is stale
   */
  regenerate(options?: HeldRegenerateOptions): Promise<SessionRecord>;
}

/** Options of {@link SessionManager.cleanupExpired}. */
export interface CleanupOptions {
  /** Sessions removed per store call. Positive integer, default 500. */
  readonly batchSize?: number | undefined;
  /** Most store calls per cleanup (the loop stops there even if more are due). Default 100. */
  readonly maxBatches?: number | undefined;
}

/** Defaults of {@link CleanupOptions}. */
export const CLEANUP_DEFAULTS = Object.freeze({ batchSize: 500, maxBatches: 100 });

function closedError(operation: string): StorageUnavailableError {
  return new StorageUnavailableError('The session manager is closed', {
    operation,
    details: { closed: true },
  });
}

/**
 * The facade applications use: create, read, change and end sessions on a
 * {@link SessionStore}, with per-session locks from a {@link SessionLocker}
 * for read-modify-write. It never picks a backend: it is handed one.
 *
 * **Errors.** Every argument is checked at the edge, and every failure is a
 * `SessionError` whose `operation` is the manager operation (`get`,
 * `update`, …; the store's or locker's own name for it is kept in
 * `details.innerOperation`). Anything else thrown is wrapped as `INTERNAL`
 * with the original as `cause`. A missing session is `null` from `get`;
 * operations that need one throw `SessionNotFoundError`.
 *
 * **Retries.** Each operation runs under core's cockatiel retry policy
 * (settings per operation): only retryable errors are retried — storage
 * unavailable or timed out, lock not acquired or lost, version conflict.
 * Not found, validation, corruption and non-session errors fail at once.
 *
 * **Health.** With a recorder, every call is recorded as `{ operation,
 * durationMs, ok, error }`. Client-category errors (not found, invalid
 * argument or id, payload too large, unserialisable data) are the caller's
 * problem, not this instance's: they are recorded with `ok: true`, so a
 * flood of bad requests cannot make an instance look unhealthy and be
 * taken out of rotation. A critical one is the exception: `INVALID_CONFIG`
 * met by a request means this instance is misconfigured, and counts as a
 * failure.
 *
 * **Rolling expiry** (default): `touch`, `patch`, `update` and
 * `regenerate` move a session's expiry to now + `ttlMs` (the manager's; a
 * per-session `ttlMs` given to `create` sets only the first expiry).
 *
 * **Telemetry.** Each call is published on `node:diagnostics_channel`
 * (core's `SESSION_CHANNELS`): the call on `session-cluster:operation`,
 * its store calls on `session-cluster:store`, retries, lock waits and lock
 * modes as events; with nobody subscribed that costs one `hasSubscribers`
 * read per call. `@session-cluster/telemetry` subscribes and makes
 * OpenTelemetry spans and metrics of it. `telemetry: false` publishes
 * nothing even while someone listens.
 *
 * @example
 * ```ts
 * const manager = new SessionManager({ store, locker, health: new HealthMonitor() });
 * const session = await manager.create({ userId: 'u1', data: { cart: [] } });
 * await manager.update(session.id, (data) => ({ ...data, cart: [...(data.cart as number[]), 7] }));
 * await manager.patch(session.id, { set: { theme: 'dark' } });
 * const fresh = await manager.regenerate(session.id, { userId: 'u1' }); // after login
 * await manager.close();
 * ```
 */
export class SessionManager {
  /** The store as given: what an operation uses unless a subscriber asked for its store calls. */
  private readonly store: SessionStore;
  /** The same store, publishing each call on the store-call channel. */
  private readonly publishedStore: SessionStore;
  private readonly locker: SessionLocker;
  private readonly recorder: HealthRecorder | undefined;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly rolling: boolean;
  private readonly lockTtlMs: number | undefined;
  private readonly policies: Readonly<Record<OperationName, RetryPolicy>>;
  private readonly updateLock: UpdateLockMode;
  private readonly updates: EscalatingUpdate;
  private readonly inFlight = new InFlight();
  private readonly channels: SessionChannels;
  private closing: Promise<void> | undefined;

  /**
   * Where a roll moves a session's expiry, ms from the roll: the manager's
   * `ttlMs`, or `undefined` with `rolling: false` (expiry is then absolute).
   * The HTTP adapters keep their `touchAfterMs` below it.
   */
  public get rollingTtlMs(): number | undefined {
    return this.rolling ? this.ttlMs : undefined;
  }

  /** @throws SessionValidationError `INVALID_CONFIG` whose `field` names the bad option */
  public constructor(options: SessionManagerOptions) {
    const resolved = resolveManagerOptions(options);
    const channels = sessionChannels(resolved.telemetry);
    this.channels = channels;
    this.store = resolved.store;
    this.publishedStore = new PublishedStore(resolved.store, channels);
    this.locker = new PublishedLocker(resolved.locker, channels);
    this.recorder = resolved.health;
    this.clock = resolved.clock;
    this.ttlMs = resolved.ttlMs;
    this.rolling = resolved.rolling;
    this.lockTtlMs = resolved.lockTtlMs;
    const userOnRetry = resolved.onRetry;
    const onRetry = (event: RetryEvent): void => {
      publishSessionEvent(channels, { type: 'retry', retry: event });
      userOnRetry?.(event);
    };
    const policies = {} as Record<OperationName, RetryPolicy>;
    for (const operation of MANAGER_OPERATIONS) {
      // Resolved with the manager's own option paths: not checked again.
      policies[operation] = retryPolicyOf(resolved.retry[operation], { operation, onRetry });
    }
    this.policies = policies;
    const updateOptions: LockedUpdateOptions = {
      ttlMs: this.lockTtlMs,
      clock: this.clock,
      expiresAt: this.rolling ? () => this.clock.now() + this.ttlMs : undefined,
    };
    this.updateLock = resolved.update.lock;
    this.updates = new EscalatingUpdate(
      this.locker,
      policies.update,
      updateOptions,
      new HotSessions(resolved.update.hotSessionTtlMs, resolved.update.maxHotSessions, this.clock),
      channels,
    );
  }

  /** True while the store serves from its fallback (`store.degraded`): sessions are instance-local. */
  public get degraded(): boolean {
    return this.store.degraded === true;
  }

  /** The health report when the recorder is a `HealthMonitor`; `null` otherwise. */
  public health(): HealthReport | null {
    return this.recorder instanceof HealthMonitor ? this.recorder.report() : null;
  }

  /**
   * Start a session with a fresh 256-bit id.
   *
   * Each attempt uses a new id: an attempt that timed out may still have
   * written its id, and reusing it would turn a retry into
   * `SESSION_ALREADY_EXISTS`. Such a write is unreachable (nobody has its
   * id) and expires.
   *
   * @throws SessionValidationError for a bad user id, non-object data, a bad `ttlMs`,
   *   or data the codec refuses (`PAYLOAD_TOO_LARGE`, …)
   * @throws SessionSerializationError for values JSON cannot carry
   */
  public create(input: CreateSessionOptions): Promise<SessionRecord> {
    return this.run('create', (store) => {
      assertObjectArgument(input, 'input', 'create');
      const { userId, data } = input;
      const ttlMs = input.ttlMs ?? this.ttlMs;
      if (userId !== undefined) assertValidUserId(userId, 'create');
      assertPlainRecord(data, 'data', 'create');
      assertPositiveInteger(ttlMs, 'ttlMs', 'create');
      return this.policies.create.execute(() =>
        store.create({
          id: generateSessionId(),
          userId,
          data,
          expiresAt: this.clock.now() + ttlMs,
        }),
      );
    });
  }

  /**
   * The session, or `null` when it does not exist or has expired.
   *
   * @param options.minVersion read-your-writes across instances: the oldest
   *   version the caller accepts (the version its client last saw or wrote,
   *   e.g. carried in the session cookie). A store's instance cache does not
   *   answer with an older cached copy; it reads Redis instead.
   * @param options.minVersionSince when the client learned `minVersion` (epoch
   *   ms): a copy read from Redis well after it answers too (see {@link GetOptions})
   * @throws SessionValidationError `INVALID_SESSION_ID`; `INVALID_ARGUMENT`
   *   for a `minVersion` that is not a non-negative integer, or a
   *   `minVersionSince` that is not an epoch ms time
   */
  public get(id: string, options?: GetOptions): Promise<SessionRecord | null> {
    const cached = this.getCached(id, options);
    if (cached !== undefined) return Promise.resolve(cached);
    return this.run('get', (store) => this.load(store, id, loadOptions(options)), id);
  }

  /**
   * What {@link get} would answer, synchronously, when the store holds a
   * copy known to be current (its instance cache); `undefined` when only
   * the asynchronous path can answer: no such copy, the manager closing,
   * bad arguments (which `get` reports). `get` answers this way itself
   * first. Counted in health like a `get`.
   *
   * Published on the `cachedRead` channel (`CachedReadMessage`), not as an
   * operation: a read that neither waits nor fails needs no tracing channel
   * around it, and its whole cost is a few hundred ns. While the operation
   * channel has subscribers but `cachedRead` has none, `undefined`: a
   * subscriber that knows only operations sees every read as a `get`.
   * For adapters that read the session on most requests: the answer skips
   * the promise chain of `get`.
   */
  public getCached(id: string, options?: GetOptions): SessionRecord | null | undefined {
    if (this.closing !== undefined || this.store.loadCached === undefined) return undefined;
    const published = this.channels.cachedRead.hasSubscribers;
    if (!published && this.channels.operation.hasSubscribers) return undefined;
    const timed = published || this.recorder !== undefined;
    const startedAt = timed ? performance.now() : 0;
    let record: SessionRecord | null | undefined;
    try {
      // An invalid id: the store has no copy of it (get rejects it).
      record = this.store.loadCached(id, loadOptions(options));
    } catch {
      return undefined;
    }
    if (record === undefined || !timed) return record;
    const endedAt = performance.now();
    this.recorder?.record({ operation: 'get', durationMs: endedAt - startedAt, ok: true });
    if (published) {
      this.channels.cachedRead.publish({
        operation: 'get',
        sessionId: id,
        result: record,
        startedAt,
        endedAt,
      });
    }
    return record;
  }

  /**
   * Read-modify-write that never loses an update: load → `fn` →
   * compare-and-set save, retried on fresh data when another write got in
   * between. How the session lock is used depends on the lock mode (the
   * call's `lock`, else the manager's `update.lock`):
   *
   * - `'on-conflict'` (default): no lock while the session is uncontended
   *   (two store calls). On `VERSION_CONFLICT` it re-runs at once; on a
   *   second conflict it takes the session's lock for the remaining
   *   attempts (escalation), and the session is remembered as hot for
   *   `update.hotSessionTtlMs`, so its next updates on this instance take the
   *   lock at once. `fn` may run concurrently with another instance's `fn`
   *   for the same session.
   * - `'always'`: lock → load → `fn` → save → unlock (core's
   *   `lockedUpdate`): `fn` runs in mutual exclusion across instances (while
   *   the lease holds; the version check fences a holder whose lease ran out).
   *
   * In both modes `fn` may run more than once (`VERSION_CONFLICT`,
   * `LOCK_NOT_ACQUIRED` and `LOCK_LOST` re-run the whole read-modify-write
   * under the retry policy), each time with freshly loaded data: keep it
   * free of side effects.
   *
   * @param fn gets a private copy of the data (mutate it and return it, or return a new object)
   * @returns the session as written
   * @throws SessionNotFoundError when the session does not exist or has expired
   * @throws ConcurrentAccessError when retries ran out (`LOCK_NOT_ACQUIRED` when the
   *   lock was needed and could not be had, `VERSION_CONFLICT`)
   * @throws SessionValidationError `INVALID_ARGUMENT` (`options.lock`) for an unknown mode
   */
  public update(id: string, fn: SessionMutator, options?: UpdateOptions): Promise<SessionRecord> {
    return this.run(
      'update',
      (store) => {
        assertValidSessionId(id, 'update');
        assertFunction(fn, 'fn', 'update');
        let mode = this.updateLock;
        if (options !== undefined) {
          assertObjectArgument(options, 'options', 'update');
          if (options.lock !== undefined) {
            if (!isUpdateLockMode(options.lock)) throw invalidUpdateLock();
            mode = options.lock;
          }
        }
        return this.updates.run(store, id, fn, mode);
      },
      id,
    );
  }

  /**
   * What `update`'s lock modes did on this instance since the manager
   * started: updates made without the lock, escalations (after conflicts,
   * or at once for a session remembered as hot), `lock: 'always'` updates,
   * conflicts met, hot sessions remembered. The same escalations are
   * counted in the `session.lock.escalations` metric.
   */
  public updateStats(): UpdateLockStats {
    return this.updates.stats();
  }

  /**
   * Field-level merge without a lock: parallel patches of different keys
   * never lose each other. Rolls the expiry when rolling (unless `options.roll` is `false`).
   * @returns the new version
   * @throws SessionNotFoundError when the session does not exist or has expired
   * @throws ConcurrentAccessError `VERSION_CONFLICT` when `options.expectedVersion` is stale
   */
  public patch(
    id: string,
    changes: SessionPatch,
    options: ManagerPatchOptions = {},
  ): Promise<number> {
    return this.run(
      'patch',
      (store) => {
        assertValidSessionId(id, 'patch');
        assertPatch(changes, 'patch');
        assertObjectArgument(options, 'options', 'patch');
        const expectedVersion = optionalVersion(options.expectedVersion, 'patch');
        const { roll } = options;
        if (roll !== undefined && typeof roll !== 'boolean') {
          throw invalidArgument('options.roll', 'patch', 'a boolean');
        }
        const rolls = this.rolling && roll !== false;
        const write = (): Promise<number> =>
          store.patch(id, changes, {
            expiresAt: rolls ? this.clock.now() + this.ttlMs : undefined,
            expectedVersion,
          });
        return expectedVersion === undefined ? this.policies.patch.execute(write) : write();
      },
      id,
    );
  }

  /**
   * Move the expiry to now + `ttlMs` (without a version bump). With
   * `rolling: false` expiry is absolute: `touch` only tells whether the
   * session is live.
   * @returns false when the session does not exist or has expired
   */
  public touch(id: string): Promise<boolean> {
    return this.run(
      'touch',
      (store) => {
        assertValidSessionId(id, 'touch');
        return this.policies.touch.execute(async () =>
          this.rolling
            ? store.touch(id, this.clock.now() + this.ttlMs)
            : (await store.load(id)) !== null,
        );
      },
      id,
    );
  }

  /**
   * Move a session to a new id (against session fixation: call it when the
   * privilege level changes, e.g. at login). Under the old id's lock: load
   * it, create a new id with the same data (owned by `userId` when given),
   * retire the old id, return the new record.
   *
   * The old id is retired with a compare-and-set on the version that was
   * loaded: a lock-free `patch` that slipped in meanwhile makes the attempt
   * fail with `VERSION_CONFLICT` (the new id is removed, the attempt is
   * retried with fresh data) instead of being lost. Once that save
   * succeeds the old id has expired for every reader, in every instance:
   * `get` returns `null`, `patch` and `update` throw not found.
   *
   * @throws SessionNotFoundError when the session does not exist or has expired
   */
  public regenerate(id: string, options: RegenerateOptions = {}): Promise<SessionRecord> {
    return this.run(
      'regenerate',
      (store) => {
        assertValidSessionId(id, 'regenerate');
        assertObjectArgument(options, 'options', 'regenerate');
        const { userId } = options;
        if (userId !== undefined) assertValidUserId(userId, 'regenerate');
        return this.policies.regenerate.execute(() =>
          this.locker.using(id, () => this.regenerateLocked(store, id, userId), {
            ttlMs: this.lockTtlMs,
          }),
        );
      },
      id,
    );
  }

  /**
   * Run `fn` holding the session's lock (the same per-session lock `update`
   * and `regenerate` take), e.g. to serialise whole HTTP requests of one
   * session across instances. The lease is extended while `fn` runs;
   * `signal` aborts when exclusivity was lost (an extension failed). Writes
   * made inside must not take the lock again: use `patch` (lock-free), not
   * `update` or `regenerate`, which would wait for this very lock.
   *
   * Recorded in health as operation `lock`, for the whole time the lock is
   * held. Errors of `fn` itself are re-thrown as they are (not wrapped).
   *
   * `held` runs, under this same lock, what would otherwise take it
   * (`regenerate`), e.g. a login inside a locked request.
   *
   * @throws ConcurrentAccessError `LOCK_NOT_ACQUIRED` when the lock could not be had in time
   */
  public async withLock<T>(
    id: string,
    fn: (signal: AbortSignal, held: HeldSessionLock) => Promise<T>,
  ): Promise<T> {
    // fn's own failure travels as a value, so it is neither retried, wrapped,
    // nor recorded as a storage failure of this instance.
    const outcome = await this.run(
      'lock',
      () => {
        assertValidSessionId(id, 'lock');
        assertFunction(fn, 'fn', 'lock');
        return this.locker.using(
          id,
          async (signal): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> => {
            try {
              return { ok: true, value: await fn(signal, this.heldLock(id)) };
            } catch (error) {
              return { ok: false, error };
            }
          },
          { ttlMs: this.lockTtlMs },
        );
      },
      id,
    );
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** @returns true when a session was deleted */
  public delete(id: string): Promise<boolean> {
    return this.run(
      'delete',
      (store) => {
        assertValidSessionId(id, 'delete');
        return this.policies.delete.execute(() => store.delete(id));
      },
      id,
    );
  }

  /** The user's live sessions, oldest first. */
  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.run('listByUser', (store) => {
      assertValidUserId(userId, 'listByUser');
      return this.policies.listByUser.execute(() => store.listByUser(userId));
    });
  }

  /**
   * Delete every session of the user (log out everywhere), except the ids
   * in `except` (typically the current session).
   * @returns how many sessions were deleted
   */
  public deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    return this.run('deleteByUser', (store) => {
      assertValidUserId(userId, 'deleteByUser');
      exceptIds(options);
      return this.policies.deleteByUser.execute(() => store.deleteByUser(userId, options));
    });
  }

  /**
   * Remove sessions that have expired, in batches (`store.sweepExpired`),
   * until none is left or `maxBatches` batches ran. For deployments without
   * the sweeper worker.
   * @returns how many sessions were removed
   */
  public cleanupExpired(options: CleanupOptions = {}): Promise<number> {
    return this.run('cleanupExpired', async (store) => {
      assertObjectArgument(options, 'options', 'cleanupExpired');
      const batchSize = options.batchSize ?? CLEANUP_DEFAULTS.batchSize;
      const maxBatches = options.maxBatches ?? CLEANUP_DEFAULTS.maxBatches;
      assertPositiveInteger(batchSize, 'batchSize', 'cleanupExpired');
      assertPositiveInteger(maxBatches, 'maxBatches', 'cleanupExpired');
      // One `now` for the whole run: sessions expiring meanwhile wait for the next one.
      const now = this.clock.now();
      let removed = 0;
      for (let batch = 0; batch < maxBatches; batch += 1) {
        const result = await this.policies.cleanupExpired.execute(() =>
          store.sweepExpired(now, batchSize),
        );
        removed += result.expired.length;
        if (!result.more) break;
      }
      return removed;
    });
  }

  /**
   * Stop accepting calls (they reject with `STORAGE_UNAVAILABLE`, `details.closed`),
   * wait for the calls in progress, then close the store and the locker.
   * Idempotent.
   */
  public close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inFlight.drained();
      await Promise.all([this.store.close(), this.locker.close()]);
    })();
    return this.closing;
  }

  /** Calls in progress (what `close()` waits for). */
  public get pendingCalls(): number {
    return this.inFlight.size;
  }

  /** The {@link HeldSessionLock} of a `withLock` section on `id`. */
  private heldLock(id: string): HeldSessionLock {
    return {
      regenerate: (options = {}) =>
        this.run(
          'regenerate',
          (store) => {
            assertObjectArgument(options, 'options', 'regenerate');
            const { userId } = options;
            if (userId !== undefined) assertValidUserId(userId, 'regenerate');
            const expectedVersion = optionalVersion(options.expectedVersion, 'regenerate');
            return this.regenerateLocked(store, id, userId, expectedVersion);
          },
          id,
        ),
    };
  }

  private async regenerateLocked(
    store: SessionStore,
    id: string,
    userId: string | undefined,
    expectedVersion?: number,
  ): Promise<SessionRecord> {
    const record = await store.load(id);
    if (record === null) {
      throw new SessionNotFoundError(undefined, {
        operation: 'regenerate',
        sessionIdHash: hashSessionId(id),
      });
    }
    if (expectedVersion !== undefined && record.version !== expectedVersion) {
      // The holder's view is stale: its lease ran out and someone else wrote.
      throw versionConflictError('regenerate', id, expectedVersion, record.version);
    }
    const created = await store.create({
      id: generateSessionId(),
      userId: userId ?? record.userId,
      data: record.data,
      expiresAt: this.rolling ? this.clock.now() + this.ttlMs : record.expiresAt,
    });
    try {
      await store.save(id, { data: record.data, expiresAt: this.clock.now() }, record.version);
    } catch (error) {
      // Nobody has the new id yet; if this delete fails too, it expires unseen.
      await store.delete(created.id).catch(() => false);
      throw error;
    }
    // The old id is already expired for every reader; this only frees the
    // memory now (the sweeper or Redis TTL would, if it fails).
    await store.delete(id).catch(() => false);
    return created;
  }

  /**
   * `get`'s body: the first load is made directly and the retry policy is
   * entered only when it failed retryably (`replayFirst` hands it that
   * failure as attempt 1, so counts and delays are the policy's own): keeps
   * `get` within a few hundred ns of `store.load`.
   */
  private async load(
    store: SessionStore,
    id: string,
    options: LoadOptions | undefined,
  ): Promise<SessionRecord | null> {
    assertValidSessionId(id, 'get');
    try {
      return await store.load(id, options);
    } catch (error) {
      if (!isRetryableSessionError(error)) throw error;
      return this.policies.get.execute(replayFirst(error, () => store.load(id, options)));
    }
  }

  /**
   * The store an operation uses, as its subscribers asked at its start: its
   * calls published (`storeCalls`), only timed (`storeCallSettled`), or
   * neither (the store itself: nothing wrapped).
   */
  private storeFor(message: OperationMessage): SessionStore {
    if (message.storeCalls) return this.publishedStore;
    if (message.storeCallSettled !== undefined) {
      return new TimedStore(this.store, message, message.storeCallSettled);
    }
    return this.store;
  }

  /**
   * Run one public operation: closed check, in-flight count, health and
   * error normalisation; while anyone listens, published on the
   * `session-cluster:operation` tracing channel. `work` gets the store to
   * use ({@link storeFor}): an operation nobody traces wraps none of its
   * store calls.
   */
  private async run<T>(
    operation: OperationName,
    work: (store: SessionStore) => Promise<T>,
    id?: string,
  ): Promise<T> {
    const started = performance.now();
    if (this.closing !== undefined) throw this.failed(operation, started, closedError(operation));
    const channel = this.channels.operation;
    this.inFlight.enter();
    let result: T;
    try {
      if (channel.hasSubscribers) {
        const message: OperationMessage = {
          operation: OPERATION_TELEMETRY_NAMES[operation],
          sessionId: id,
          storeCalls: false,
          storeCallSettled: undefined,
        };
        result = await channel.tracePromise(() => work(this.storeFor(message)), message);
      } else {
        result = await work(this.store);
      }
    } catch (error) {
      throw this.failed(operation, started, error);
    } finally {
      this.inFlight.leave();
    }
    this.recorder?.record({ operation, durationMs: performance.now() - started, ok: true });
    return result;
  }

  /**
   * Normalise a failure and record it (client errors as `ok`, see the class doc).
   */
  private failed(operation: OperationName, started: number, error: unknown): SessionError {
    const sessionError = withOperation(error, operation);
    const durationMs = performance.now() - started;
    if (this.recorder !== undefined) {
      if (sessionError.category === 'client' && sessionError.severity !== 'critical') {
        this.recorder.record({ operation, durationMs, ok: true });
      } else {
        this.recorder.record({ operation, durationMs, ok: false, error: sessionError });
      }
    }
    return sessionError;
  }
}
