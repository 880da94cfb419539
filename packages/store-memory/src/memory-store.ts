import {
  ConcurrentAccessError,
  MAX_TIMER_MS,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
  assertEpochMs,
  assertObjectArgument,
  assertPositiveInteger,
  assertValidSessionId,
  assertValidUserId,
  createOptionChecks,
  exceptIds,
  createSessionCodec,
  hashSessionId,
  retiredIdError,
  retiredUntil,
  systemClock,
  toSessionError,
  versionConflictError,
} from '@session-cluster/core';
import type {
  Clock,
  CreateSessionInput,
  DeleteByUserOptions,
  ExpiredSession,
  PatchOptions,
  SaveSessionInput,
  SessionCodec,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import { ExpiryQueue } from './expiry-queue.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for every expiry decision (default: the system clock). */
  readonly clock?: Clock | undefined;
  /** Encodes and validates data (default: `createSessionCodec()`, 64 KiB per session). */
  readonly codec?: SessionCodec | undefined;
  /** Most sessions held; beyond it the least recently used is evicted. Default 100 000. */
  readonly maxSessions?: number | undefined;
  /** Period of {@link MemoryStore.cleanupExpired}; 0 disables the timer. Default 60 000. */
  readonly cleanupIntervalMs?: number | undefined;
}

/** Snapshot of a {@link MemoryStore}'s contents. */
export interface MemoryStoreStats {
  /** Sessions held, expired ones not yet cleaned up included. */
  readonly total: number;
  /** Sessions not yet expired. */
  readonly valid: number;
  /** Sessions expired but not yet removed (by cleanup, sweep or eviction). */
  readonly expired: number;
  /**
   * Encoded data (UTF-8 of keys plus encoded values) plus ids and user ids,
   * in bytes. Excludes JavaScript object overhead: a lower bound on memory use.
   */
  readonly approxBytes: number;
}

/** Defaults of {@link MemoryStoreOptions}. */
export const MEMORY_STORE_DEFAULTS = Object.freeze({
  maxSessions: 100_000,
  cleanupIntervalMs: 60_000,
});

// Compact the expiry queue once stale entries outnumber live sessions by
// this much: rebuilding is O(n) and happens after ≥ n pushes, so O(1) amortised.
const EXPIRY_QUEUE_SLACK = 1024;

interface StoredSession {
  readonly id: string;
  userId: string | undefined;
  /** Encoded fields exactly as the codec produced them (what a Redis HASH would hold). */
  fields: Map<string, string>;
  /** Σ codec.fieldBytes over `fields`: what counts toward `maxBytes`. */
  bytes: number;
  version: number;
  readonly createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

/**
 * A {@link SessionStore} in process memory: the degraded-mode store of the
 * fallback and the reference implementation of the store contract.
 *
 * Data is kept as the codec's encoded fields, so validation, size
 * accounting, copy-on-read and integrity checks behave exactly as in Redis.
 *
 * **Atomicity.** Every method is async but does its whole read-check-write
 * synchronously, with no `await` in between: on one event loop nothing can
 * interleave, which is what makes `save`'s compare-and-set and `patch`'s
 * merge atomic here (Redis gets the same from running them as Lua scripts).
 *
 * **Expiry** is logical: a session whose `expiresAt` ≤ `clock.now()` is
 * invisible to every read at once. It is physically removed by
 * {@link sweepExpired} (which reports it), {@link cleanupExpired} (the
 * periodic timer, which does not) or eviction. Reads do not delete it, so
 * that a sweep still sees and reports it, as with Redis' grace period.
 *
 * **Cost.** load/save/patch/touch/delete are O(1) in the number of sessions
 * (O(fields) for encoding). Expiries sit in a min-heap, so a sweep costs
 * O(k log n) for k removed sessions, not a scan; only {@link stats} and
 * heap compaction walk every session.
 *
 * **Capacity.** At `maxSessions`, a create first drops expired sessions, then
 * evicts the least recently used one (Map insertion order; load, save,
 * patch and touch move a session to the back).
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ maxSessions: 10_000 });
 * await store.create({ id: generateSessionId(), data: { cart: [] }, expiresAt: Date.now() + 3_600_000 });
 * ```
 */
export class MemoryStore implements SessionStore {
  private readonly clock: Clock;
  private readonly codec: SessionCodec;
  private readonly maxSessions: number;
  /** LRU order: the first entry is the least recently used. */
  private readonly sessions = new Map<string, StoredSession>();
  /** userId → ids. May hold stale ids (dropped when listed); every live owned session is in it. */
  private readonly byUser = new Map<string, Set<string>>();
  private readonly expiries = new ExpiryQueue();
  /**
   * Retired ids (deleted, or retired by a save that expired them) → until
   * when `create` refuses them. Bounded by `maxSessions`: the oldest
   * tombstone goes first (a memory store is instance-local anyway).
   */
  private readonly retired = new Map<string, number>();
  private storedBytes = 0;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** @throws SessionValidationError `INVALID_CONFIG` naming a bad option */
  public constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.codec = options.codec ?? createSessionCodec();
    const check = createOptionChecks('MemoryStore');
    this.maxSessions =
      check.integer(options.maxSessions, 'maxSessions', 1) ?? MEMORY_STORE_DEFAULTS.maxSessions;
    const interval =
      check.integer(options.cleanupIntervalMs, 'cleanupIntervalMs', 0, MAX_TIMER_MS) ??
      MEMORY_STORE_DEFAULTS.cleanupIntervalMs;
    if (interval > 0) {
      this.cleanupTimer = setInterval(() => {
        this.cleanupExpired();
      }, interval);
      // Never keep the process alive just to clean up.
      this.cleanupTimer.unref();
    }
    testHooks.set(this, {
      countEntries: () => {
        let count = this.sessions.size;
        for (const ids of this.byUser.values()) count += ids.size;
        return count;
      },
      dropPayload: (id) => {
        const session = this.sessions.get(id);
        if (session === undefined) return;
        this.sessions.delete(id);
        this.storedBytes -= weightOf(session);
      },
      corruptField: (id, key, raw) => {
        this.sessions.get(id)?.fields.set(key, raw);
      },
    });
  }

  public load(id: string): Promise<SessionRecord | null> {
    return this.run('load', () => {
      assertValidSessionId(id, 'load');
      const session = this.live(id, this.clock.now());
      if (session === undefined) return null;
      const record = this.toRecord(session);
      this.markUsed(session);
      return record;
    });
  }

  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.run('create', () => {
      assertObjectArgument(input, 'input', 'create');
      const { id, userId, expiresAt } = input;
      assertValidSessionId(id, 'create');
      if (userId !== undefined) assertValidUserId(userId, 'create');
      assertEpochMs(expiresAt, 'expiresAt', 'create');
      const now = this.clock.now();
      if (expiresAt <= now) {
        throw new SessionValidationError('expiresAt must lie in the future', {
          field: 'expiresAt',
          operation: 'create',
        });
      }
      const encoded = this.codec.encodeData(id, input.data);
      if ((this.retired.get(id) ?? -Infinity) > now) throw retiredIdError(id, 'create');

      const existing = this.sessions.get(id);
      if (existing !== undefined) {
        if (existing.expiresAt > now) {
          // The same create again: idempotent (see SessionStore.create).
          if (isSameCreate(existing, userId, expiresAt, encoded.fields)) {
            return this.toRecord(existing);
          }
          throw new ConcurrentAccessError('already_exists', 'Session id already in use', {
            operation: 'create',
            sessionIdHash: hashSessionId(id),
          });
        }
        // Expired, so invisible: the id is free again.
        this.remove(existing);
      }
      this.makeRoom();

      const session: StoredSession = {
        id,
        userId,
        fields: new Map(encoded.fields),
        bytes: encoded.bytes,
        version: 1,
        createdAt: now,
        updatedAt: now,
        expiresAt,
      };
      this.sessions.set(id, session);
      this.storedBytes += weightOf(session);
      if (userId !== undefined) this.index(userId, id);
      this.schedule(session);
      return this.toRecord(session);
    });
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.run('save', () => {
      assertValidSessionId(id, 'save');
      assertObjectArgument(input, 'input', 'save');
      const { userId, expiresAt } = input;
      assertEpochMs(expiresAt, 'expiresAt', 'save');
      if (userId !== undefined) assertValidUserId(userId, 'save');
      assertPositiveInteger(expectedVersion, 'expectedVersion', 'save');
      const encoded = this.codec.encodeData(id, input.data);

      const now = this.clock.now();
      const session = this.liveOrThrow(id, now, 'save');
      if (session.version !== expectedVersion) {
        throw versionConflictError('save', id, expectedVersion, session.version);
      }

      if (expiresAt <= now) {
        // Retired (regenerate's old id): gone now, and never created again.
        this.retire(session, now);
        return session.version + 1;
      }
      this.storedBytes -= weightOf(session);
      session.fields = new Map(encoded.fields);
      session.bytes = encoded.bytes;
      if (userId !== undefined && userId !== session.userId) {
        if (session.userId !== undefined) this.unindex(session.userId, id);
        session.userId = userId;
        this.index(userId, id);
      }
      this.storedBytes += weightOf(session);
      session.version += 1;
      session.updatedAt = now;
      this.setExpiry(session, expiresAt);
      this.markUsed(session);
      return session.version;
    });
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.run('patch', () => {
      assertValidSessionId(id, 'patch');
      let expiresAt: number | undefined;
      let expectedVersion: number | undefined;
      if (options !== undefined) {
        assertObjectArgument(options, 'options', 'patch');
        expiresAt = options.expiresAt;
        if (expiresAt !== undefined) assertEpochMs(expiresAt, 'options.expiresAt', 'patch');
        expectedVersion = options.expectedVersion;
        if (expectedVersion !== undefined) {
          assertPositiveInteger(expectedVersion, 'options.expectedVersion', 'patch');
        }
      }
      const { set, unset } = this.codec.encodePatch(id, changes);

      const now = this.clock.now();
      const session = this.liveOrThrow(id, now, 'patch');
      if (expectedVersion !== undefined && session.version !== expectedVersion) {
        throw versionConflictError('patch', id, expectedVersion, session.version);
      }
      const fieldBytes = (key: string): number => {
        const current = session.fields.get(key);
        return current === undefined ? 0 : this.codec.fieldBytes(key, current);
      };
      // The merged total is what counts, so a replaced key is paid for once
      // and an unset key frees its bytes. The codec never lets a key be both
      // set and unset.
      let bytes = session.bytes + set.bytes;
      for (const [key] of set.fields) bytes -= fieldBytes(key);
      for (const key of unset) bytes -= fieldBytes(key);
      if (bytes > this.codec.maxBytes) {
        throw new SessionValidationError(
          `patch would make the session ${bytes} bytes encoded, over the limit of ${this.codec.maxBytes} bytes`,
          {
            code: 'PAYLOAD_TOO_LARGE',
            field: 'patch',
            operation: 'patch',
            details: { bytes, maxBytes: this.codec.maxBytes },
          },
        );
      }

      for (const key of unset) session.fields.delete(key);
      for (const [key, encoded] of set.fields) session.fields.set(key, encoded);
      this.storedBytes += bytes - session.bytes;
      session.bytes = bytes;
      session.version += 1;
      session.updatedAt = now;
      if (expiresAt !== undefined) this.setExpiry(session, expiresAt);
      this.markUsed(session);
      return session.version;
    });
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.run('touch', () => {
      assertValidSessionId(id, 'touch');
      assertEpochMs(expiresAt, 'expiresAt', 'touch');
      const session = this.live(id, this.clock.now());
      if (session === undefined) return false;
      // Not a write of the data: version and updatedAt stay.
      this.setExpiry(session, expiresAt);
      this.markUsed(session);
      return true;
    });
  }

  public delete(id: string): Promise<boolean> {
    return this.run('delete', () => {
      assertValidSessionId(id, 'delete');
      const session = this.sessions.get(id);
      const now = this.clock.now();
      if (session === undefined) {
        // Retired all the same: a copy may live elsewhere and be written back.
        this.retireId(id, now, now);
        return false;
      }
      this.retire(session, now);
      // An expired session was already gone for every reader.
      return session.expiresAt > now;
    });
  }

  /**
   * @inheritDoc
   * Used by `FallbackStore` once a copy was written back to Redis.
   */
  public forget(id: string): Promise<void> {
    return this.run('forget', () => {
      assertValidSessionId(id, 'forget');
      const session = this.sessions.get(id);
      if (session !== undefined) this.remove(session);
      this.retired.delete(id);
    });
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.run('listByUser', () => {
      assertValidUserId(userId, 'listByUser');
      const now = this.clock.now();
      const live: StoredSession[] = [];
      for (const session of this.ownedBy(userId)) {
        if (session.expiresAt > now) live.push(session);
      }
      live.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
      return live.map((session) => this.toRecord(session));
    });
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.run('deleteByUser', () => {
      assertValidUserId(userId, 'deleteByUser');
      const keep = exceptIds(options);
      const now = this.clock.now();
      let deleted = 0;
      for (const session of this.ownedBy(userId)) {
        if (keep.has(session.id)) continue;
        this.retire(session, now);
        if (session.expiresAt > now) deleted += 1;
      }
      return deleted;
    });
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.run('sweepExpired', () => {
      assertEpochMs(now, 'now', 'sweepExpired');
      assertPositiveInteger(limit, 'limit', 'sweepExpired');
      const expired: ExpiredSession[] = [];
      while (expired.length < limit) {
        const session = this.nextDue(now);
        if (session === undefined) break;
        this.expiries.pop();
        this.remove(session);
        expired.push({ id: session.id, userId: session.userId, expiresAt: session.expiresAt });
      }
      return { expired, more: this.nextDue(now) !== undefined };
    });
  }

  /** @inheritDoc O(sessions held). */
  public listSessionIds(): Promise<string[]> {
    return this.run('listSessionIds', () => {
      const now = this.clock.now();
      const ids: string[] = [];
      for (const session of this.sessions.values())
        if (session.expiresAt > now) ids.push(session.id);
      return ids;
    });
  }

  public ping(): Promise<number> {
    return this.run('ping', () => 0);
  }

  /**
   * Remove every session expired by now, without reporting them (the
   * periodic timer calls this). Use {@link sweepExpired} instead when expiry
   * events matter; set `cleanupIntervalMs: 0` so the timer does not beat it.
   * @returns how many sessions were removed.
   */
  public cleanupExpired(): number {
    const now = this.clock.now();
    let removed = 0;
    for (let session = this.nextDue(now); session !== undefined; session = this.nextDue(now)) {
      this.expiries.pop();
      this.remove(session);
      removed += 1;
    }
    return removed;
  }

  /** Counts and size. O(n): a diagnostic, not for hot paths. */
  public stats(): MemoryStoreStats {
    const now = this.clock.now();
    let valid = 0;
    for (const session of this.sessions.values()) if (session.expiresAt > now) valid += 1;
    const total = this.sessions.size;
    return { total, valid, expired: total - valid, approxBytes: this.storedBytes };
  }

  /** Stop the cleanup timer. Later calls reject with `StorageUnavailableError`. Idempotent. */
  public close(): Promise<void> {
    this.closed = true;
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    return Promise.resolve();
  }

  /**
   * Run one operation synchronously and hand its outcome back as a promise.
   * Every failure leaves as a typed `SessionError` rejection.
   */
  private run<T>(operation: string, work: () => T): Promise<T> {
    try {
      if (this.closed) throw new StorageUnavailableError('MemoryStore is closed', { operation });
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(toSessionError(error, { operation }));
    }
  }

  private live(id: string, now: number): StoredSession | undefined {
    const session = this.sessions.get(id);
    return session !== undefined && session.expiresAt > now ? session : undefined;
  }

  private liveOrThrow(id: string, now: number, operation: string): StoredSession {
    const session = this.live(id, now);
    if (session === undefined) {
      throw new SessionNotFoundError(undefined, { operation, sessionIdHash: hashSessionId(id) });
    }
    return session;
  }

  /** Decode into a fresh record: callers can never reach stored state. */
  private toRecord(session: StoredSession): SessionRecord {
    return {
      id: session.id,
      userId: session.userId,
      data: this.codec.decodeData(session.id, session.fields),
      version: session.version,
      createdAt: session.createdAt,
      updatedAt: session.updatedAt,
      expiresAt: session.expiresAt,
    };
  }

  private markUsed(session: StoredSession): void {
    this.sessions.delete(session.id);
    this.sessions.set(session.id, session);
  }

  private remove(session: StoredSession): void {
    // Only remove what is really stored under this id (never a newer session
    // that reused it). Its expiry-queue entries go stale and are skipped.
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.storedBytes -= weightOf(session);
    if (session.userId !== undefined) this.unindex(session.userId, session.id);
  }

  /** Remove a session and tombstone its id (see `retired`). */
  private retire(session: StoredSession, now: number): void {
    this.remove(session);
    this.retireId(session.id, session.expiresAt, now);
  }

  private retireId(id: string, expiresAt: number, now: number): void {
    this.retired.delete(id);
    this.retired.set(id, retiredUntil(expiresAt, now));
    for (const [id, until] of this.retired) {
      if (until > now && this.retired.size <= this.maxSessions) break;
      this.retired.delete(id);
    }
  }

  /** Free a slot for a new session: expired sessions first, then the least recently used. */
  private makeRoom(): void {
    if (this.sessions.size < this.maxSessions) return;
    this.cleanupExpired();
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.values().next();
      if (oldest.done === true) return;
      this.remove(oldest.value);
    }
  }

  private setExpiry(session: StoredSession, expiresAt: number): void {
    if (session.expiresAt === expiresAt) return;
    session.expiresAt = expiresAt;
    this.schedule(session);
  }

  private schedule(session: StoredSession): void {
    this.expiries.push(session.id, session.expiresAt);
    if (this.expiries.size > 2 * this.sessions.size + EXPIRY_QUEUE_SLACK) {
      this.expiries.rebuild(this.sessions.values());
    }
  }

  /**
   * The session at the top of the expiry queue if it is due by `now`, else
   * `undefined`. Stale entries (session gone or its expiry moved since) are
   * popped on the way.
   */
  private nextDue(now: number): StoredSession | undefined {
    for (let entry = this.expiries.peek(); entry !== undefined; entry = this.expiries.peek()) {
      if (entry.expiresAt > now) return undefined;
      const session = this.sessions.get(entry.id);
      if (session !== undefined && session.expiresAt === entry.expiresAt) return session;
      this.expiries.pop();
    }
    return undefined;
  }

  private index(userId: string, id: string): void {
    let ids = this.byUser.get(userId);
    if (ids === undefined) {
      ids = new Set();
      this.byUser.set(userId, ids);
    }
    ids.add(id);
  }

  private unindex(userId: string, id: string): void {
    const ids = this.byUser.get(userId);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.byUser.delete(userId);
  }

  /** The user's stored sessions (expired included); stale index entries are dropped on the way. */
  private ownedBy(userId: string): StoredSession[] {
    const ids = this.byUser.get(userId);
    if (ids === undefined) return [];
    const owned: StoredSession[] = [];
    for (const id of ids) {
      const session = this.sessions.get(id);
      if (session?.userId === userId) owned.push(session);
      else ids.delete(id);
    }
    if (ids.size === 0) this.byUser.delete(userId);
    return owned;
  }
}

function weightOf(session: StoredSession): number {
  // Session ids are ASCII; user ids may not be.
  return (
    session.bytes +
    session.id.length +
    (session.userId === undefined ? 0 : Buffer.byteLength(session.userId, 'utf8'))
  );
}

/** Raw access the contract suite's harness needs; see {@link memoryStoreTestHooks}. */
export interface MemoryStoreTestHooks {
  /** Sessions held plus user-index entries. */
  countEntries(): number;
  /** Drop a session's payload, leaving its index entries behind. */
  dropPayload(id: string): void;
  /** Overwrite one encoded field with `raw`. */
  corruptField(id: string, key: string, raw: string): void;
}

const testHooks = new WeakMap<MemoryStore, MemoryStoreTestHooks>();

/**
 * Reach behind a store's back, for tests only (simulating eviction and
 * corruption). Deliberately not exported from the package entry point.
 */
export function memoryStoreTestHooks(store: MemoryStore): MemoryStoreTestHooks {
  const hooks = testHooks.get(store);
  if (hooks === undefined) throw new Error('not a MemoryStore');
  return hooks;
}

/**
 * Whether `session` is exactly what a create with these arguments writes,
 * untouched since (version 1). Encoded values are deterministic per
 * (id, key, value), so equal fields mean equal data.
 */
function isSameCreate(
  session: StoredSession,
  userId: string | undefined,
  expiresAt: number,
  fields: readonly (readonly [string, string])[],
): boolean {
  if (session.version !== 1 || session.userId !== userId || session.expiresAt !== expiresAt) {
    return false;
  }
  if (session.fields.size !== fields.length) return false;
  return fields.every(([key, value]) => session.fields.get(key) === value);
}
