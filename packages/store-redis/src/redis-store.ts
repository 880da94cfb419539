import { performance } from 'node:perf_hooks';
import {
  copySessionData,
  ConcurrentAccessError,
  SessionCorruptedError,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
  assertEpochMs,
  assertObjectArgument,
  assertPositiveInteger,
  assertValidSessionId,
  assertValidUserId,
  exceptIds,
  hashSessionId,
  isSessionError,
  retiredIdError,
  retiredUntil,
  versionConflictError,
  isValidSessionId,
  sessionChannels,
} from '@session-cluster/core';
import type {
  Clock,
  CreateSessionInput,
  DeleteByUserOptions,
  JsonValue,
  LoadOptions,
  PatchOptions,
  SaveSessionInput,
  SessionChannels,
  SessionEvent,
  SessionCodec,
  SessionEncryptionError,
  SessionData,
  SessionPatch,
  SessionMerge,
  SessionMergeResult,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import type { BucketSweepResult, ExpiryBatch, SweptExpiry } from './expiry-outbox.js';
import { InvalidationTracker } from './invalidation-tracking.js';
import { RedisExpiryIndex } from './redis-expiry-index.js';
import { openRedisConnection } from './redis-connection.js';
import { storeCall } from './redis-errors.js';
import { RedisKeys } from './redis-keys.js';
import { RedisScripts } from './redis-scripts.js';
import type { ScriptArg, StoreScriptName } from './redis-scripts.js';
import { resolveRedisStoreOptions } from './redis-store-options.js';
import type { CorruptionInfo, RedisStoreOptions, UserCapEviction } from './redis-store-options.js';
import { replyArray, replyInteger, replyNumber, replyText, scoredMembers } from './script-reply.js';
import { SessionCache } from './session-cache.js';
import type { FillTicket, SessionCacheStats } from './session-cache.js';
import {
  FRAME_HEADER_ESTIMATE,
  FRAME_HEAD_BYTES,
  RETIRED_FRAME,
  frameBytes,
  frameEntries,
  frameFormatArgument,
  readFrameHead,
  readSessionFrame,
  storedFrameEntries,
  unknownFrameKeyError,
} from './session-frame.js';
import { REPLACING_PATCH_MAX_BYTES, replacingPatch } from './replacing-patch.js';
import type { ReplacingPatch } from './replacing-patch.js';
import type { PatchStep } from './patch-steps.js';
import { anyMemberOf, memberUpTo, userIndexScore } from './user-index-score.js';

/**
 * Most calls `listByUser` / `deleteByUser` (and the look-up of the copies
 * set aside, `RedisStore.recheckRetained`) keep in flight at once: a user
 * with thousands of sessions, or a cache with thousands of copies, must not
 * put thousands of commands on the connection (and its timeout budget) in
 * one burst.
 */
const USER_SESSIONS_CONCURRENCY = 32;

/** `Promise.all(items.map(fn))` with at most {@link USER_SESSIONS_CONCURRENCY} calls in flight; results in order. */
async function mapBounded<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(USER_SESSIONS_CONCURRENCY, items.length) }, worker),
  );
  return results;
}

type DeleteOutcome =
  | { readonly kind: 'deleted'; readonly userId: string | undefined; readonly createdAt: string }
  | { readonly kind: 'missing' | 'other-owner' | 'expired' };

/**
 * A {@link SessionStore} on Redis (ioredis 6): standalone, Sentinel or Cluster.
 *
 * Data model (see the package README): a session is one framed STRING
 * (`lua/frame.lua`) whose hash tag is its expiry bucket, so the session, its expiry-index entry and the sweep
 * of its bucket share a slot and every write keeps them consistent in one Lua
 * script. The user index (`<prefix>:u:{…}`, another slot) is written after
 * the session and repaired lazily: the session string is the source of truth,
 * and an index may hold stale members (the sweep leaves them: `listByUser`,
 * `deleteByUser` and the `maxSessionsPerUser` check drop them) but never
 * hides a live session once its write has returned. An index expires by
 * itself with the latest physical expiry of the sessions indexed in it:
 * every write that indexes a session or moves its expiry later extends it.
 *
 * Logical expiry is the stored `e` compared with the store clock's `now` on
 * every read and write; Redis TTL (`e + expiryGraceMs`) only reclaims memory.
 * Keep the store clock within `expiryGraceMs` of the Redis servers' clocks.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ connection: { url: 'redis://127.0.0.1:6379' } });
 * const session = await store.create({
 *   id: generateSessionId(), userId: 'u1', data: { cart: [] }, expiresAt: Date.now() + 3_600_000,
 * });
 * await store.patch(session.id, { set: { cart: [42] } });
 * await store.close();
 * ```
 */
export class RedisStore implements SessionStore {
  /** Number of expiry buckets (`crc32(id) % bucketCount`); sweep each with {@link sweepBucket}. */
  public readonly bucketCount: number;

  /**
   * The part of Redis that holds session `id`, for `FallbackStore`'s
   * `partitionOf`: on Cluster its expiry bucket (all of a bucket's keys share
   * one hash slot, so they fail over together); `undefined` on a standalone
   * server or Sentinel, which fail as a whole.
   */
  public readonly partitionOf = (id: string): string | undefined =>
    this.client.isCluster ? String(this.keys.bucketOf(id)) : undefined;
  /** The client the store talks to (its own, or the caller's). */
  public readonly client: Redis | Cluster;

  private readonly keys: RedisKeys;
  private readonly codec: SessionCodec;
  private readonly clock: Clock;
  private readonly expiryGraceMs: number;
  private readonly failFastOnCorruption: boolean;
  /**
   * `frameFormat` as the scripts take it (see frame_format in
   * lua/frame.lua): '1', '2' or '3', and under encryption the keyed check's
   * secrets.
   */
  private readonly frameFormat: string;
  private readonly onCorruption: ((info: CorruptionInfo) => void) | undefined;
  private readonly maxSessionsPerUser: number;
  private readonly onUserCapEviction: ((info: UserCapEviction) => void) | undefined;
  private evictedByUserCap = 0;
  private readonly owned: boolean;
  private readonly commandTimeoutMs: number;
  private readonly scripts: RedisScripts;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The instance cache (option `cache`), fed invalidations by {@link tracker}. */
  private readonly cache: SessionCache | undefined;
  private readonly tracker: InvalidationTracker | undefined;
  /** Where cache hits are published: core's channels, or silent ones (`telemetry: false`). */
  private readonly channels: SessionChannels;
  /** The expiry half: index, sweep and outbox, on this store's connection. */
  private readonly expiry: RedisExpiryIndex;
  private corruptDeleted = 0;
  private closing: Promise<void> | undefined;

  /**
   * @throws SessionValidationError `INVALID_CONFIG` naming the bad option; nothing
   *   is connected when an option is invalid
   */
  public constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.channels = sessionChannels(resolved.telemetry);
    // Every option is checked before a store-owned client starts connecting.
    this.keys = new RedisKeys(resolved.prefix, resolved.buckets);
    this.bucketCount = resolved.buckets;
    this.codec = resolved.codec;
    this.clock = resolved.clock;
    this.expiryGraceMs = resolved.expiryGraceMs;
    this.failFastOnCorruption = resolved.failFastOnCorruption;
    this.frameFormat = frameFormatArgument(resolved.frameFormat, resolved.codec.frameKeys);
    this.onCorruption = resolved.onCorruption;
    this.maxSessionsPerUser = resolved.maxSessionsPerUser;
    this.onUserCapEviction = resolved.onUserCapEviction;
    const connection = openRedisConnection(resolved, resolved.commandTimeoutMs);
    this.client = connection.client;
    this.owned = connection.owned;
    this.commandTimeoutMs = connection.commandTimeoutMs;
    this.scripts = new RedisScripts(this.client);
    if (resolved.cache) {
      const cache = new SessionCache(resolved.cache);
      const keys = this.keys;
      this.cache = cache;
      this.tracker = new InvalidationTracker(this.client, {
        invalidateKey(key) {
          const id = keys.sessionIdOfKey(key);
          if (id !== undefined) cache.invalidate(id, true, resolved.clock.now());
        },
        flush() {
          cache.flush();
        },
        setReady: (ready) => {
          // Going down sets the entries aside for an outage fallback (peekCached).
          cache.setReady(ready, resolved.clock.now());
          if (ready) void this.recheckRetained(cache);
        },
        revocationChannel: keys.revocationChannel,
        // Another instance deleted it: an invalidation alone would leave its
        // copy set aside for an outage (it does not say the key was deleted).
        revoked(id) {
          if (isValidSessionId(id)) cache.noteGone(id);
        },
      });
    }
    this.expiry = new RedisExpiryIndex(
      {
        client: this.client,
        keys: this.keys,
        clock: this.clock,
        cache: this.cache,
        command: (operation, sessionId, send) => this.command(operation, sessionId, send),
        script: (operation, name, sessionId, keys, args) =>
          this.script(operation, name, sessionId, keys, args),
        track: (operation, work) => this.track(operation, work),
      },
      resolved.buckets,
    );
  }

  /**
   * The instance cache's counters and size, `undefined` without a cache
   * (option `cache`). Its `state` is `down` while any tracked connection or
   * its invalidation channel is not up: then every load goes to Redis.
   */
  public cacheStats(): SessionCacheStats | undefined {
    return this.cache?.stats();
  }

  /** The key prefix every key of this store starts with (`<prefix>:`). */
  public get prefix(): string {
    return this.keys.prefix;
  }

  /** Live sessions deleted so far because their owner went past `maxSessionsPerUser`. */
  public get sessionsEvictedByUserCap(): number {
    return this.evictedByUserCap;
  }

  /** Corrupted sessions deleted so far (only with `failFastOnCorruption: false`). */
  public get corruptSessionsDeleted(): number {
    return this.corruptDeleted;
  }

  /**
   * @inheritDoc
   * With the instance cache, a session whose cached copy is current (and at
   * least `options.minVersion`) is answered without a round trip. Records
   * from a store with a cache are frozen: they are shared by every caller.
   */
  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    const cached = this.loadCached(id, options);
    if (cached !== undefined) {
      noteCacheHit(this.channels, true);
      return Promise.resolve(cached);
    }
    const cache = this.cache;
    if (cache !== undefined && this.closing === undefined && isValidSessionId(id)) {
      cache.noteMiss();
      noteCacheHit(this.channels, false);
    }
    return this.track('load', async () => {
      assertValidSessionId(id, 'load');
      return this.read('load', id);
    });
  }

  /**
   * The cache is ready again (after it was down, or for the first time):
   * deletes announced while a companion connection was down never reached
   * it, so every id with a copy set aside is looked up once (its first
   * bytes), and a retired one drops its copy, as a read of it would (see
   * {@link read}). Without this, a session another instance deleted during
   * the gap would be served from that copy through an outage starting
   * within the minute, unless a request for it came first. Best effort, a
   * few look-ups in flight at a time (see {@link mapBounded}): one that
   * fails keeps the copy, and none is sent once the store is closing.
   */
  private async recheckRetained(cache: SessionCache): Promise<void> {
    await mapBounded(cache.retainedIds(this.clock.now()), async (id) => {
      if (this.closing !== undefined) return;
      const head = await this.client
        .getrange(this.keys.session(id), 0, RETIRED_FRAME.length - 1)
        .catch(() => '');
      if (head === RETIRED_FRAME) cache.noteGone(id);
    });
  }

  /**
   * GET and decode `id`, filling the instance cache with what was read (or,
   * while the cache is down, setting it aside as this instance's latest
   * sight of the session).
   */
  private async read(operation: string, id: string): Promise<SessionRecord | null> {
    const cache = this.cache;
    const key = this.keys.session(id);
    // Taken synchronously before the GET is queued: see SessionCache.
    const ticket = cache?.beginFill(id);
    let raw: string | null;
    try {
      raw = await this.command(operation, id, () => this.client.get(key));
    } catch (error) {
      if (ticket !== undefined) cache?.cancelFill(ticket);
      throw error;
    }
    if (cache === undefined) return this.readLive(operation, id, raw, this.clock.now());
    if (raw === RETIRED_FRAME) {
      // A retired id (deleted, or regenerated away): no copy of it is set
      // aside for an outage fallback any more, even when the announcement
      // of its delete never reached this instance (revocations are best
      // effort: a companion down when it was published, a Redis user
      // without the channel). Only a tombstone says so: a key that is
      // simply missing may be one Redis lost, whose copy the fallback's
      // write-back needs.
      if (ticket !== undefined) cache.cancelFill(ticket);
      cache.noteGone(id);
      return null;
    }
    if (ticket === undefined) {
      // The cache is down: nothing is served from it, but what this
      // instance reads is still its latest sight of the session, for an
      // outage fallback (an older copy would lose the writes since).
      const record = await this.readLive(operation, id, raw, this.clock.now());
      if (record !== null) cache.noteSeen(record, raw?.length ?? 0, this.clock.now());
      return record;
    }
    let record: SessionRecord | null;
    try {
      record = await this.readLive(operation, id, raw, this.clock.now());
    } catch (error) {
      cache.cancelFill(ticket);
      throw error;
    }
    // Only a live session is stored; its frame's entries go beside it.
    const entries =
      record === null || raw === null ? undefined : this.spliceable(storedFrameEntries(raw));
    return cache.endFill(ticket, record, raw?.length ?? 0, true, entries);
  }

  /**
   * `entries`, as a frame stores them, when the cache should keep them
   * beside the record read from or written with that frame
   * (`SessionCache.entriesOf`): only where a patch can be sent whole (an
   * unencrypted store writing format 2, at most REPLACING_PATCH_MAX_BYTES of
   * entries), so that a patch on the record splices its keys into them.
   * With several instances another's write drops this one's copy, so many
   * of its patches are the first one after a load.
   */
  private spliceable(entries: string | undefined): string | undefined {
    if (entries === undefined || this.frameFormat !== '2') return undefined;
    return entries.length > REPLACING_PATCH_MAX_BYTES ? undefined : entries;
  }

  /**
   * @inheritDoc
   * The instance cache's current copy (at least `options.minVersion`, or
   * read from Redis after `options.minVersionSince`, see `SessionCache.peek`):
   * shared and frozen, `null` when it is logically expired. `undefined`
   * without a cache, while it is down, on a miss, or for an invalid id
   * (which `load` rejects). Counted as a hit; not published: a caller that
   * answers a load with it inside an operation publishes the hit (the
   * `cache` event), the manager's `getCached` publishes a `cachedRead`.
   */
  public loadCached(id: string, options?: LoadOptions): SessionRecord | null | undefined {
    const cache = this.cache;
    if (cache === undefined || this.closing !== undefined) return undefined;
    // A miss is counted (and published) by the load that follows it, not
    // here: a caller that tries this first must not count it twice. An
    // invalid id has no entry (entries are only made for ids a read or
    // write accepted), so it is not checked here: `load` refuses it.
    return cache.current(id, this.clock.now(), options?.minVersion, options?.minVersionSince);
  }

  /** @inheritDoc */
  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.track('create', async () => {
      assertObjectArgument(input, 'input', 'create');
      const { id, userId, data, expiresAt } = input;
      assertValidSessionId(id, 'create');
      if (userId !== undefined) assertValidUserId(userId, 'create');
      const now = this.clock.now();
      assertEpochMs(expiresAt, 'expiresAt', 'create');
      if (expiresAt <= now) {
        throw new SessionValidationError('expiresAt must lie in the future', {
          field: 'expiresAt',
          operation: 'create',
        });
      }
      const encoded = this.codec.encodeEntries(id, data);
      const entries = frameEntries(encoded.entries);
      const bucket = this.keys.bucketOf(id);

      const reply = replyArray(
        await this.script(
          'create',
          'createSession',
          id,
          [this.keys.session(id), this.keys.expiryBucket(bucket)],
          [
            id,
            now,
            expiresAt,
            this.physicalExpiry(expiresAt),
            userId ?? '',
            encoded.bytes,
            now - this.expiryGraceMs,
            this.keys.sessionKeyPrefix(bucket),
            entries,
            this.frameFormat,
          ],
        ),
        'createSession',
      );
      const created = replyInteger(reply[0], 'createSession');
      if (created === -4) throw retiredIdError(id, 'create');
      if (created !== 1) {
        throw new ConcurrentAccessError('already_exists', 'A session with this id already exists', {
          operation: 'create',
          sessionIdHash: hashSessionId(id),
        });
      }
      // The stored createdAt: an earlier run's when a re-sent create had
      // already landed (see createSession-2.lua).
      const createdAt = replyNumber(reply[3], 'createSession');
      // The hash is written; now the user index. If this fails the caller
      // gets an error and never hands the id out, so the unindexed session is
      // unreachable and the sweeper removes it at expiry.
      if (userId !== undefined) {
        await this.indexMember(
          'create',
          userId,
          id,
          userIndexScore(createdAt, 1),
          this.physicalExpiry(expiresAt),
        );
      }
      const replacedUser = replyText(reply[1], 'createSession');
      if (replacedUser !== '' && replacedUser !== userId) {
        await this.removeFromUserIndex('create', replacedUser, [
          [id, anyMemberOf(replyText(reply[2], 'createSession'))],
        ]);
      }
      const record: SessionRecord = {
        id,
        userId,
        data: copySessionData(data),
        version: 1,
        createdAt,
        updatedAt: createdAt,
        expiresAt,
      };
      // Not cached (nothing read it back, so Redis does not track it), but
      // offered to an outage fallback as this instance's copy of it.
      this.cache?.noteCreated(
        { ...record, data: copySessionData(record.data) },
        frameBytes(encoded.bytes, encoded.entries.length),
        now,
        this.spliceable(entries),
      );
      return record;
    });
  }

  /** @inheritDoc */
  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.track('save', async () => {
      assertValidSessionId(id, 'save');
      assertObjectArgument(input, 'input', 'save');
      assertPositiveInteger(expectedVersion, 'expectedVersion', 'save');
      const { userId, data, expiresAt } = input;
      assertEpochMs(expiresAt, 'expiresAt', 'save');
      if (userId !== undefined) assertValidUserId(userId, 'save');
      const encoded = this.codec.encodeEntries(id, data);
      const entries = frameEntries(encoded.entries);
      const now = this.clock.now();
      // The data sent, for the cache: copied now (the caller may change its
      // object while the write is in flight), not decoded back from the
      // entries: the codec validated it as JSON that round-trips, and the
      // copy gives what a JSON round trip gives.
      const sent = this.cache === undefined ? undefined : copySessionData(data);

      const reply = replyArray(
        await this.scriptThenTrack(
          'save',
          'saveSession',
          id,
          [
            id,
            now,
            expectedVersion,
            expiresAt,
            this.physicalExpiry(expiresAt),
            userId ?? '',
            encoded.bytes,
            entries,
            this.frameFormat,
            ...this.retirement(now),
          ],
          // What the save wrote: the data it sent, with the version, owner
          // and createdAt of its reply.
          (written, head) => {
            const version = writtenVersionOf(written);
            if (version === undefined) return undefined;
            const [, , previousUser, createdAt] = written as unknown[];
            const owner = userId ?? replyText(previousUser, 'saveSession');
            const record: SessionRecord = {
              id,
              userId: owner === '' ? undefined : owner,
              data: sent ?? copySessionData(data),
              version,
              createdAt: replyNumber(createdAt, 'saveSession'),
              updatedAt: now,
              expiresAt,
            };
            const bytes = frameBytes(encoded.bytes, encoded.entries.length);
            const kept = this.spliceable(entries);
            // A later write (or touch) ran before the head read, or there was
            // no head read (the cache is down): not current, but what this
            // write left.
            if (version !== head?.version || head.expiresAt !== expiresAt)
              return { written: record, bytes, entries: kept };
            return { record, bytes, entries: kept };
          },
        ),
        'saveSession',
      );
      const status = replyInteger(reply[0], 'saveSession');
      if (status === 0) throw this.notFound('save', id);
      if (status === -1)
        throw versionConflictError('save', id, expectedVersion, storedVersion(reply[1]));
      const version = replyInteger(reply[1], 'saveSession');
      const previousUser = replyText(reply[2], 'saveSession');
      const createdAt = replyNumber(reply[3], 'saveSession');
      if (userId !== undefined) {
        const moved = previousUser !== userId;
        try {
          await this.indexMember(
            'save',
            userId,
            id,
            userIndexScore(createdAt, version),
            this.physicalExpiry(expiresAt),
          );
        } catch (error) {
          // Same owner: the member is there already; this was only a repair.
          if (moved || !isSessionError(error) || error.code === 'INTERNAL') throw error;
        }
        if (moved && previousUser !== '') {
          await this.removeFromUserIndex('save', previousUser, [
            [id, memberUpTo(createdAt, version)],
          ]);
        }
      }
      return version;
    });
  }

  /** @inheritDoc */
  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.track('patch', async () => {
      assertValidSessionId(id, 'patch');
      if (options !== undefined) assertObjectArgument(options, 'options', 'patch');
      const expiresAt = options?.expiresAt;
      if (expiresAt !== undefined) assertEpochMs(expiresAt, 'options.expiresAt', 'patch');
      const expectedVersion = options?.expectedVersion;
      if (expectedVersion !== undefined)
        assertPositiveInteger(expectedVersion, 'options.expectedVersion', 'patch');
      const encoded = this.codec.encodePatchEntries(id, changes);
      const now = this.clock.now();
      // The patch is applied to this instance's copy: the live entry, which
      // the write refills (a head read behind it), or else the one its own
      // create or last write left (SessionCache.peekBase), which the write's
      // result supersedes without a read-back: a write-only visitor costs
      // none. While the cache is down, the copy set aside (peekCached).
      const live = this.cache?.peek(id);
      const before =
        live ??
        (this.cache?.isReady === false ? this.peekCached(id) : this.cache?.peekBase(id, now));
      const data = before && this.patched(id, before.data, encoded);
      const whole =
        data && this.replacingPatchOf(id, before, data, encoded, now, expiresAt, expectedVersion);
      if (before !== undefined && data !== undefined && whole !== undefined) {
        if (await this.replace(id, before, data, whole, now, expiresAt, live !== undefined)) {
          return whole.version;
        }
        // Redis held another copy: another instance wrote (or touched) it,
        // or it is in another format. The keys go alone.
        this.cache?.refuseBase(id);
      }

      // Whether the script's reply showed what the merge left (it wrote the
      // copy's next version); else it is noted as a step (see below).
      let leftKnown = false as boolean;
      const reply = replyArray(
        await this.scriptThenTrack(
          'patch',
          'patchSession',
          id,
          [
            id,
            now,
            expiresAt ?? '',
            expiresAt === undefined ? '' : this.physicalExpiry(expiresAt),
            this.codec.maxBytes,
            this.frameFormat,
            expectedVersion ?? '',
            encoded.set.entries.length,
            ...encoded.set.entries.flat(),
            ...encoded.unset,
          ],
          // After a refused frame only a live copy refills: its head read
          // shows the version and expiry the merge left.
          (whole === undefined || live !== undefined) && before !== undefined && data !== undefined
            ? (written, head) => {
                // The copy was the state the patch applied to only if the
                // patch wrote the very next version.
                const version = writtenVersionOf(written);
                if (version !== before.version + 1) return undefined;
                const z = replyInteger((written as unknown[])[2], 'patchSession');
                leftKnown = true;
                return leftBy(before, data, version, z, now, expiresAt, head);
              }
            : undefined,
          live !== undefined,
        ),
        'patchSession',
      );
      const status = replyInteger(reply[0], 'patchSession');
      if (status === 0) throw this.notFound('patch', id);
      if (status === -1) {
        throw versionConflictError('patch', id, expectedVersion, storedVersion(reply[1]));
      }
      if (status === -3) {
        // Then it is not found.
        await this.refusedDamagedFrame('patch', id);
        throw this.notFound('patch', id);
      }
      if (status === -5) throw this.unknownKey('patch', id, reply[1]);
      if (status === -2) {
        throw this.tooLarge('patch', id, replyInteger(reply[1], 'patchSession'));
      }
      const version = replyInteger(reply[1], 'patchSession');
      if (!leftKnown) {
        // Parallel writes of the session: what this one left is the copy
        // before it plus its keys, once that copy is known.
        this.cache?.noteStep(
          id,
          () => this.stepOf(id, encoded, version, reply[2], now, expiresAt),
          this.clock.now(),
        );
      }
      if (expiresAt !== undefined) {
        await this.extendUserIndex('patch', replyText(reply[3], 'patchSession'), expiresAt);
      }
      return version;
    });
  }

  /**
   * @inheritDoc
   * The instance cache's copy: the live entry, or the one set aside when the
   * cache last went down (up to a minute old; see `SessionCache.peekRetained`).
   * No Redis call. `undefined` without a cache, or when none is held.
   */
  public peekCached(id: string): SessionRecord | undefined {
    return this.cache?.peekRetained(id, this.clock.now());
  }

  /** @inheritDoc Without a cache: none. */
  public takeRetained(): SessionRecord[] {
    return this.cache?.takeRetained(this.clock.now()) ?? [];
  }

  /**
   * @inheritDoc
   * One Lua call (`mergeSession-2.lua`). With encryption at rest stored
   * values cannot be compared (a fresh IV per write), so when the stored
   * version moved past the base every changed key counts as changed on both
   * sides. The owner is never changed by a merge.
   */
  public merge(id: string, merge: SessionMerge): Promise<SessionMergeResult> {
    return this.track('merge', async () => {
      assertValidSessionId(id, 'merge');
      assertObjectArgument(merge, 'merge', 'merge');
      assertPositiveInteger(merge.baseVersion, 'merge.baseVersion', 'merge');
      assertEpochMs(merge.expiresAt, 'merge.expiresAt', 'merge');
      const set: Record<string, JsonValue> = {};
      const base: Record<string, JsonValue> = {};
      const unset: string[] = [];
      for (const change of merge.changes) {
        if (change.value === undefined) unset.push(change.key);
        else set[change.key] = change.value;
        if (change.base !== undefined) base[change.key] = change.base;
      }
      const encoded = this.codec.encodePatchEntries(id, { set, unset });
      const encodedBase = this.codec.encodePatchEntries(id, { set: base });
      const values = new Map(encoded.set.entries);
      const bases = new Map(encodedBase.set.entries);
      // Sealed values differ on every write: only plain ones compare.
      const comparable = ![...values.values(), ...bases.values()].some((v) => v.startsWith('e1:'));
      const args: ScriptArg[] = [];
      for (const change of merge.changes) {
        const jsonKey = JSON.stringify(change.key);
        const value = values.get(jsonKey);
        const baseValue = bases.get(jsonKey);
        args.push(
          jsonKey,
          value === undefined ? 'u' : 's',
          value ?? '',
          baseValue === undefined ? '' : `v${baseValue}`,
          Math.floor(change.at),
        );
      }
      const now = this.clock.now();
      // The copy the changes were made on (an outage fallback seeds it from
      // this cache): when Redis still held its version, the merge applied
      // every change to it, so what it left is known without a read. Else
      // the copy stays as it was, stale, until a load.
      const copy = this.peekCached(id);
      const before = copy?.version === merge.baseVersion ? copy : undefined;
      const reply = replyArray(
        await this.scriptThenTrack(
          'merge',
          'mergeSession',
          id,
          [
            id,
            now,
            merge.baseVersion,
            merge.expiresAt,
            this.physicalExpiry(merge.expiresAt),
            this.codec.maxBytes,
            this.frameFormat,
            comparable ? '1' : '0',
            ...args,
          ],
          before &&
            ((written, head) => {
              // One version on from the base: the stored version was the
              // base, so every change applied (no conflicts).
              if (writtenVersionOf(written) !== before.version + 1) return undefined;
              const version = before.version + 1;
              const data = this.patched(id, before.data, encoded);
              const record: SessionRecord = {
                ...before,
                data,
                version,
                // The script's: the latest write time among the data stored.
                updatedAt: Math.max(
                  before.updatedAt,
                  ...merge.changes.map((change) => Math.floor(change.at)),
                ),
                expiresAt:
                  head?.version === version
                    ? head.expiresAt
                    : Math.max(before.expiresAt, merge.expiresAt),
              };
              // The reply carries no size: what the stored entries take, encoded again.
              const stored = this.codec.encodeEntries(id, data);
              const bytes = frameBytes(stored.bytes, stored.entries.length);
              if (head?.version !== version) return { written: record, bytes };
              return { record, bytes };
            }),
        ),
        'mergeSession',
      );
      const status = replyInteger(reply[0], 'mergeSession');
      if (status === 0) return { kind: 'missing' };
      if (status === 2) return { kind: 'deleted' };
      if (status === -5) throw this.unknownKey('merge', id, reply[1]);
      if (status === -3) {
        await this.refusedDamagedFrame('merge', id);
        throw new SessionCorruptedError('The stored session is unreadable: nothing merged', {
          operation: 'merge',
          sessionIdHash: hashSessionId(id),
        });
      }
      if (status === -2) {
        throw this.tooLarge('merge', id, replyInteger(reply[1], 'mergeSession'));
      }
      // Set only when the merge moved the expiry later.
      await this.extendUserIndex('merge', replyText(reply[4], 'mergeSession'), merge.expiresAt);
      const conflicts = reply
        .slice(5)
        .map((key) => JSON.parse(replyText(key, 'mergeSession')) as string);
      const version = replyInteger(reply[1], 'mergeSession');
      if (this.cache !== undefined && (this.peekCached(id)?.version ?? 0) < version) {
        await this.readBackMerged(id);
      }
      return { kind: 'merged', version, conflicts };
    });
  }

  /**
   * After a merge, this instance's copy of the session (live, or set aside
   * for an outage fallback) is older than what Redis holds: the merge wrote
   * on top of other writers' changes (its reply does not show what it
   * left), or an earlier merge whose answer a timeout lost wrote it (this
   * one then had nothing left to change). Read the session back. Else a
   * second outage seeds the fallback with the older copy: it serves this
   * instance's own merged keys at their old values, and its next write-back
   * wins the per-key conflict with them (a later write), undoing the merge.
   * A failed read only leaves that older copy: the merge's outcome stands.
   */
  private async readBackMerged(id: string): Promise<void> {
    try {
      await this.read('merge', id);
    } catch {
      // Redis went away again right after the merge: see above.
    }
  }

  /** @inheritDoc */
  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.track('touch', async () => {
      assertValidSessionId(id, 'touch');
      assertEpochMs(expiresAt, 'expiresAt', 'touch');
      const before = this.cache?.peek(id);
      const bytes = this.cache?.bytesOf(id) ?? 0;
      const reply = replyArray(
        await this.scriptThenTrack(
          'touch',
          'touchSession',
          id,
          [id, this.clock.now(), expiresAt, this.physicalExpiry(expiresAt), this.frameFormat],
          // A touch keeps the version: the copy's version and the expiry it
          // set prove nobody wrote in between.
          before &&
            ((written, head) =>
              Array.isArray(written) &&
              Number(written[0]) === 1 &&
              head?.version === before.version &&
              head.expiresAt === expiresAt
                ? { record: { ...before, expiresAt }, bytes }
                : undefined),
        ),
        'touchSession',
      );
      const status = replyInteger(reply[0], 'touchSession');
      if (status === -5) throw this.unknownKey('touch', id, reply[1]);
      if (status === -3) {
        // Either way it is not a live session.
        await this.refusedDamagedFrame('touch', id);
        return false;
      }
      if (status !== 1) return false;
      await this.extendUserIndex('touch', replyText(reply[1], 'touchSession'), expiresAt);
      return true;
    });
  }

  /**
   * @inheritDoc
   * A logically expired session is not deleted (it is already gone for every
   * reader): it is left for the sweeper, which reports its expiry.
   */
  public delete(id: string): Promise<boolean> {
    return this.track('delete', async () => {
      assertValidSessionId(id, 'delete');
      const outcome = await this.deleteSession('delete', id, 'live', undefined);
      return outcome.kind === 'deleted';
    });
  }

  /** @inheritDoc */
  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.track('listByUser', async () => {
      assertValidUserId(userId, 'listByUser');
      const members = await this.userMembers('listByUser', userId);
      const now = this.clock.now();
      const frames = await mapBounded(members, ([id]) =>
        this.command('listByUser', id, () => this.client.get(this.keys.session(id))),
      );
      const records: SessionRecord[] = [];
      const stale: (readonly [string, string])[] = [];
      for (const [i, [id, score]] of members.entries()) {
        const record = await this.readLive('listByUser', id, frames[i] ?? null, now);
        // Missing, expired, corrupt-and-deleted, or moved to another user.
        if (record?.userId === userId) records.push(record);
        else stale.push([id, String(score)]);
      }
      if (stale.length > 0) await this.removeFromUserIndex('listByUser', userId, stale);
      return records;
    });
  }

  /** @inheritDoc */
  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.track('deleteByUser', async () => {
      assertValidUserId(userId, 'deleteByUser');
      const keep = exceptIds(options);

      const members = (await this.userMembers('deleteByUser', userId)).filter(
        ([id]) => !keep.has(id),
      );
      const outcomes = await mapBounded(members, ([id]) =>
        this.deleteSession('deleteByUser', id, 'live', userId, false),
      );
      // Every member left is stale for this user now: deleted, gone, expired
      // (its hash stays for the sweeper) or owned by someone else.
      if (members.length > 0) {
        await this.removeFromUserIndex(
          'deleteByUser',
          userId,
          members.map(([id, score]) => [id, String(score)] as const),
        );
      }
      return outcomes.filter((outcome) => outcome.kind === 'deleted').length;
    });
  }

  /**
   * @inheritDoc
   * Visits the buckets round-robin (continuing where the previous call
   * stopped) and examines at most `limit` due index members in total.
   */
  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.expiry.sweepExpired(now, limit);
  }

  /** {@inheritDoc RedisExpiryIndex.sweepBucket} */
  public sweepBucket(
    ...args: Parameters<RedisExpiryIndex['sweepBucket']>
  ): Promise<BucketSweepResult> {
    return this.expiry.sweepBucket(...args);
  }

  /** {@inheritDoc RedisExpiryIndex.pendingBatches} */
  public pendingBatches(bucket: number, limit: number): Promise<ExpiryBatch[]> {
    return this.expiry.pendingBatches(bucket, limit);
  }

  /** {@inheritDoc RedisExpiryIndex.markPublished} */
  public markPublished(bucket: number, batchId: string): Promise<boolean> {
    return this.expiry.markPublished(bucket, batchId);
  }

  /** {@inheritDoc RedisExpiryIndex.ackBatch} */
  public ackBatch(bucket: number, batchId: string): Promise<boolean> {
    return this.expiry.ackBatch(bucket, batchId);
  }

  /** {@inheritDoc RedisExpiryIndex.pendingExpired} */
  public pendingExpired(bucket: number, limit: number): Promise<SweptExpiry[]> {
    return this.expiry.pendingExpired(bucket, limit);
  }

  /** {@inheritDoc RedisExpiryIndex.ackExpired} */
  public ackExpired(bucket: number, expiries: readonly SweptExpiry[]): Promise<number> {
    return this.expiry.ackExpired(bucket, expiries);
  }

  /** {@inheritDoc RedisExpiryIndex.listSessionIds} */
  public listSessionIds(): Promise<string[]> {
    return this.expiry.listSessionIds();
  }

  /** @inheritDoc */
  public ping(): Promise<number> {
    return this.track('ping', async () => {
      const started = performance.now();
      await this.command('ping', undefined, () => this.client.ping());
      return performance.now() - started;
    });
  }

  /**
   * @inheritDoc
   * Calls made after `close` reject with `StorageUnavailableError`. A
   * caller-owned client is left open.
   */
  public close(): Promise<void> {
    // An owned client still connecting has sent nothing: stop it in this
    // tick, before its socket opens (ioredis opens it on the next tick), so
    // a store closed right after construction — a cluster refusing a later
    // part's option — never touches Redis.
    if (
      this.closing === undefined &&
      this.owned &&
      this.inFlight.size === 0 &&
      (this.client.status === 'connecting' || this.client.status === 'wait')
    ) {
      this.client.disconnect();
    }
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      // Before quitting: a caller-owned client gets tracking turned off.
      await this.tracker?.close();
      if (!this.owned) return;
      try {
        await this.client.quit();
      } catch {
        // Not connected (Redis down): nothing to say goodbye to.
        this.client.disconnect();
      }
    })();
    return this.closing;
  }

  /** Decode a session frame for a reader; applies the corruption policy. */
  private async readLive(
    operation: string,
    id: string,
    raw: string | null,
    now: number,
  ): Promise<SessionRecord | null> {
    try {
      const state = readSessionFrame(id, raw, this.codec, now);
      return state.kind === 'live' ? state.record : null;
    } catch (error) {
      if (!(isSessionError(error) && error.code === 'SESSION_CORRUPTED')) throw error;
      return this.handleCorruption(operation, id, error);
    }
  }

  /**
   * A write script refused the frame (-3: unreadable, or failing its check)
   * and wrote nothing: apply the corruption policy (throws with
   * failFastOnCorruption, else deletes the frame).
   */
  private async refusedDamagedFrame(operation: string, id: string): Promise<void> {
    await this.handleCorruption(
      operation,
      id,
      new SessionCorruptedError('Stored session frame is unreadable', {
        details: { reason: 'unreadable frame' },
      }),
    );
  }

  /**
   * A write script refused a frame checked with a key this store lacks (-5,
   * `keyId`): the same error a load gives (a rolling key rotation), and no
   * corruption policy: the frame is intact.
   */
  private unknownKey(operation: string, id: string, keyId: unknown): SessionEncryptionError {
    return unknownFrameKeyError(this.codec.frameKeys, replyText(keyId, operation), {
      operation,
      sessionIdHash: hashSessionId(id),
    });
  }

  private async handleCorruption(
    operation: string,
    id: string,
    error: SessionCorruptedError | Error,
  ): Promise<null> {
    const sessionIdHash = hashSessionId(id);
    const corrupted = new SessionCorruptedError('Stored session is corrupted', {
      operation,
      sessionIdHash,
      cause: error,
      details: isSessionError(error) ? error.details : undefined,
    });
    try {
      this.onCorruption?.({ sessionIdHash, error: corrupted });
    } catch {
      // An observer's failure must not change what the caller gets.
    }
    if (this.failFastOnCorruption) throw corrupted;
    const outcome = await this.deleteSession(operation, id, 'any', undefined);
    if (outcome.kind === 'deleted') this.corruptDeleted += 1;
    return null;
  }

  /**
   * Run deleteSession-2 and, when something was deleted, drop the id from
   * its owner's index (best effort: a stale member is harmless).
   */
  private async deleteSession(
    operation: string,
    id: string,
    mode: 'live' | 'any',
    expectedOwner: string | undefined,
    cleanUserIndex = true,
  ): Promise<DeleteOutcome> {
    const now = this.clock.now();
    const reply = replyArray(
      await this.script(operation, 'deleteSession', id, this.sessionKeys(id), [
        id,
        now,
        mode,
        expectedOwner ?? '',
        ...this.retirement(now),
      ]),
      'deleteSession',
    );
    const status = replyInteger(reply[0], 'deleteSession');
    // Gone from Redis (deleted now, or before): no copy of it is kept for
    // an outage fallback, here or (announced) in the other instances.
    // Another owner's session is left as it is.
    if (status !== -1) this.cache?.noteGone(id);
    if (status === 1) this.announceDeleted(id);
    if (status === 0) return { kind: 'missing' };
    if (status === -1) return { kind: 'other-owner' };
    if (status === -2) return { kind: 'expired' };
    const owner = replyText(reply[1], 'deleteSession');
    const createdAt = replyText(reply[2], 'deleteSession');
    if (cleanUserIndex && owner !== '') {
      // The id is retired now: no later write can index it again.
      await this.removeFromUserIndex(operation, owner, [[id, anyMemberOf(createdAt)]]);
    }
    return { kind: 'deleted', userId: owner === '' ? undefined : owner, createdAt };
  }

  /**
   * Tell the other instances' caches that `id` is deleted
   * ({@link RedisKeys.revocationChannel}). Not awaited, and its failure
   * ignored: the delete happened; a Redis user without rights on the channel,
   * or an instance not listening, only keeps a copy an outage could serve.
   */
  private announceDeleted(id: string): void {
    this.client.publish(this.keys.revocationChannel, id).catch(() => undefined);
  }

  /**
   * Add `id` to its owner's index, keep the index alive at least until
   * `physicalExpiry` (see indexUserSession-1.lua), and hold the owner to
   * `maxSessionsPerUser`: the count comes back with the add (one round
   * trip); only past the cap is the whole index read.
   */
  private async indexMember(
    operation: string,
    userId: string,
    id: string,
    score: number,
    physicalExpiry: number,
  ): Promise<void> {
    const count = replyInteger(
      await this.script(
        operation,
        'indexUserSession',
        undefined,
        [this.keys.userIndex(userId)],
        [score, id, physicalExpiry],
      ),
      'indexUserSession',
    );
    if (count > this.maxSessionsPerUser) {
      // A failed check is the next write's business.
      await this.enforceUserCap(operation, userId, id).catch(() => undefined);
    }
  }

  /**
   * A write moved a session of `owner` ('' for none) to expire at
   * `expiresAt`: make sure the owner's index outlives it (`PEXPIREAT … GT`
   * never shortens it, and leaves an index of an earlier release, which
   * has no TTL, without one). Without this, an index could expire while a
   * session touched past its last indexing still lives, and `listByUser`
   * would hide it. Sent after the write's script (the owner is in the
   * frame, which only the script reads): when it fails, the caller gets
   * the error although the session was written, as with create's
   * indexing, and a retried write extends the index.
   */
  private async extendUserIndex(
    operation: string,
    owner: string,
    expiresAt: number,
  ): Promise<void> {
    if (owner === '') return;
    const index = this.keys.userIndex(owner);
    const at = this.physicalExpiry(expiresAt);
    await this.command(operation, undefined, () => this.client.pexpireat(index, at, 'GT'));
  }

  /**
   * Hold `userId` to `maxSessionsPerUser` once its index counts more
   * members: read every member's session, drop the stale members (the
   * sweep leaves those of expired sessions; moved and deleted ones too),
   * and retire the oldest live sessions past the cap, never `keep` (the one
   * just indexed). Counting live sessions, not members, is what keeps a
   * stale member from costing a live session its place; only live
   * sessions deleted here are evictions.
   */
  private async enforceUserCap(operation: string, userId: string, keep: string): Promise<void> {
    const members = await this.userMembers(operation, userId);
    const now = this.clock.now();
    const frames = await mapBounded(members, ([id]) =>
      this.command(operation, id, () => this.client.get(this.keys.session(id))),
    );
    const live: (readonly [string, number])[] = [];
    const stale: (readonly [string, string])[] = [];
    for (const [i, member] of members.entries()) {
      const record = await this.readLive(operation, member[0], frames[i] ?? null, now);
      if (record?.userId === userId) live.push(member);
      else stale.push([member[0], String(member[1])]);
    }
    // Oldest first: the index is ordered by creation.
    const oldest = live
      .filter(([member]) => member !== keep)
      .slice(0, Math.max(0, live.length - this.maxSessionsPerUser));
    const outcomes = await mapBounded(oldest, ([member]) =>
      this.deleteSession(operation, member, 'live', userId, false),
    );
    const dropped = [
      ...stale,
      ...oldest.map(([member, score]) => [member, String(score)] as const),
    ];
    if (dropped.length > 0) await this.removeFromUserIndex(operation, userId, dropped);
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.kind !== 'deleted') continue;
      this.evictedByUserCap += 1;
      const member = oldest[i]?.[0];
      if (member !== undefined) {
        this.onUserCapEviction?.({ sessionIdHash: hashSessionId(member), userId });
      }
    }
  }

  /** The user index, oldest first. */
  private async userMembers(
    operation: string,
    userId: string,
  ): Promise<(readonly [string, number])[]> {
    const reply = await this.command(operation, undefined, () =>
      this.client.zrange(this.keys.userIndex(userId), '0', '-1', 'WITHSCORES'),
    );
    return scoredMembers(reply, operation);
  }

  /**
   * Remove members from a user index if their score is still the one seen
   * (see removeUserIndexMembers-1.lua). Best effort: it only repairs an
   * index, so a failure is swallowed and the next listByUser retries it.
   */
  private removeFromUserIndex(
    operation: string,
    userId: string,
    members: readonly (readonly [id: string, score: string])[],
  ): Promise<void> {
    return this.removeFromUserIndexes(operation, new Map([[userId, members]]));
  }

  /**
   * {@link removeFromUserIndex} for many owners: one removeUserIndexMembers-1
   * call per owner (each index lives in its own slot on Cluster).
   */
  private async removeFromUserIndexes(
    operation: string,
    byUser: ReadonlyMap<string, readonly (readonly [id: string, score: string])[]>,
  ): Promise<void> {
    const calls = [...byUser].map(([userId, members]) =>
      this.script(
        operation,
        'removeUserIndexMembers',
        undefined,
        [this.keys.userIndex(userId)],
        members.flat(),
      ),
    );
    for (const outcome of await Promise.allSettled(calls)) {
      if (outcome.status === 'fulfilled') continue;
      const error: unknown = outcome.reason;
      if (!isSessionError(error) || error.code === 'INTERNAL') throw error;
    }
  }

  /**
   * A write script on session `id`, with a `GETRANGE` of the frame's head
   * queued right behind it on the same connection (same round trip). The
   * read re-registers the key for tracking: a write drops the key from
   * Redis' tracking table for every client, and with NOLOOP the writer is
   * not told. Not a read inside the write script: Redis (6.0 to 7.x) does
   * track a script's reads for its caller, but as every key the script
   * declares (checked on 7.0.15), so the expiry bucket's ZSET would be
   * tracked too and every later write to that bucket, by any instance,
   * would send this one an invalidation; hence a command of its own, which
   * names only the session's key. (The write scripts read the frame with
   * GETEX, which Redis does not track at all: see frame_get_raw in lua/frame.lua.)
   *
   * When the head shows what this write left — the version (and expiry)
   * `local` expects, so nobody wrote after it and the read ran after it
   * (not before, as a script re-sent after NOSCRIPT or a Cluster redirect
   * would) — this instance's cache is refilled with the record
   * `local` builds from what the write sent, without reading the session
   * back; any later write by anyone else reaches this instance as an
   * invalidation (an invalidation while this is in flight wins, see
   * SessionCache).
   *
   * @param local the record the write left and its frame size, given the
   *   script's reply and the head read behind it; `undefined` when they do
   *   not prove it (then the entry stays empty). Without `local`: the script
   *   alone, no refill.
   * @param readBack `false`: no head read behind the write, so no refill;
   *   what the write left is only set aside (a write-only visitor's copy:
   *   the next patch's base, see {@link replacingPatchOf})
   */
  private async scriptThenTrack(
    operation: string,
    name: StoreScriptName,
    id: string,
    args: readonly ScriptArg[],
    local: LocalRefill | undefined,
    readBack = true,
  ): Promise<unknown> {
    const keys = this.sessionKeys(id);
    const cache = this.cache;
    if (cache === undefined || local === undefined)
      return this.script(operation, name, id, keys, args);
    // The fill begins once the write is sent (script() has registered the
    // write with the cache before), and its read goes right behind the
    // write (a batched write leaves at the end of the turn): it reads what
    // the write left, and tracks the key again.
    let fill: { ticket: FillTicket; read: Promise<string | null> } | undefined;
    const written = this.script(operation, name, id, keys, args, () => {
      if (!readBack) return;
      const ticket = cache.beginFill(id, true);
      if (ticket === undefined) return;
      // A failed read only costs the refill; the write's own outcome counts.
      const read = this.client.getrange(keys[0], 0, FRAME_HEAD_BYTES - 1).catch(() => null);
      fill = { ticket, read };
    });
    let reply: unknown;
    try {
      reply = await written;
    } catch (error) {
      if (fill !== undefined) cache.cancelFill(fill.ticket);
      throw error;
    }
    // Without a fill the cache was down when the write was sent: no head
    // read, so never a refill, only the record the reply shows it left.
    const head = fill === undefined ? undefined : readFrameHead(await fill.read);
    let left: ReturnType<LocalRefill>;
    try {
      // A head read that failed or found nothing (the connection went right
      // after the write, or a delete followed it) refills nothing, but the
      // write happened: what it left is still noted below, or an outage
      // fallback would start from the copy before it and lose this write.
      left = local(reply, head);
    } catch {
      // An unreadable reply is the caller's error to report; no refill.
      left = undefined;
    }
    if (fill !== undefined && left !== undefined && 'record' in left) {
      cache.endFill(fill.ticket, left.record, left.bytes, true, left.entries);
      return reply;
    }
    if (fill !== undefined) cache.cancelFill(fill.ticket);
    // Not current, but newer than the copy set aside before the write: an
    // outage fallback seeded with that older copy would lose this write.
    if (left !== undefined && 'written' in left) {
      cache.noteSeen(left.written, left.bytes, this.clock.now(), left.entries);
    }
    return reply;
  }

  /**
   * The whole frame a patch sends in place of its keys when `copy`, this
   * instance's copy of the session (live, or its own last write's: see
   * `SessionCache.peekBase`), is small: Redis stores it if it still holds
   * that copy (see {@link replace}); `undefined` to send the keys. A stale
   * copy costs one more call: Redis refuses the frame, and the keys follow.
   * Only while the cache is ready (a copy set aside when it went down is
   * the outage fallback's), and only for frames in the default format: a
   * store that encrypts (whose kept values are sealed, and not held here)
   * or writes the legacy format sends the keys.
   */
  private replacingPatchOf(
    id: string,
    copy: SessionRecord,
    data: SessionData,
    encoded: ReturnType<SessionCodec['encodePatchEntries']>,
    now: number,
    expiresAt: number | undefined,
    expectedVersion: number | undefined,
  ): ReplacingPatch | undefined {
    if (this.frameFormat !== '2' || this.cache?.isReady !== true) return undefined;
    if (copy.expiresAt <= now) return undefined;
    if (expectedVersion !== undefined && expectedVersion !== copy.version) return undefined;
    // Cheap before building the frame: the copy alone is too large already.
    const copyBytes = this.cache.bytesOf(id, true) ?? Number.POSITIVE_INFINITY;
    if (copyBytes > REPLACING_PATCH_MAX_BYTES + FRAME_HEADER_ESTIMATE) return undefined;
    const entries = this.cache.entriesOf(id, copy);
    return replacingPatch(
      copy,
      data,
      encoded.set.entries,
      now,
      expiresAt,
      this.codec.maxBytes,
      entries === undefined ? undefined : { entries, unset: encoded.unset },
    );
  }

  /**
   * Send a replacing patch (lua/replaceSession-2.lua): `whole`, built on
   * `copy`, stored if Redis still holds that copy. True when stored; then
   * what it left refills the live entry (`readBack`, as any write) or
   * becomes the next patch's base.
   */
  private async replace(
    id: string,
    copy: SessionRecord,
    data: SessionData,
    whole: ReplacingPatch,
    now: number,
    expiresAt: number | undefined,
    readBack: boolean,
  ): Promise<boolean> {
    const reply = await this.scriptThenTrack(
      'patch',
      'replaceSession',
      id,
      [
        id,
        whole.lead,
        whole.frame,
        expiresAt ?? '',
        expiresAt === undefined ? '' : this.physicalExpiry(expiresAt),
      ],
      (stored, head) =>
        Number(stored) === 1
          ? {
              ...leftBy(copy, data, whole.version, whole.z, now, expiresAt, head),
              entries: whole.entries,
            }
          : undefined,
      readBack,
    );
    if (replyInteger(reply, 'replaceSession') !== 1) return false;
    if (expiresAt !== undefined) await this.extendUserIndex('patch', copy.userId ?? '', expiresAt);
    return true;
  }

  /**
   * The {@link PatchStep} of a patch that wrote `version` (entries' bytes
   * `z` after it, from the script's reply); `undefined` when the reply or a
   * value does not read back: the patch happened, only its replay is lost.
   */
  private stepOf(
    id: string,
    encoded: ReturnType<SessionCodec['encodePatchEntries']>,
    version: number,
    z: unknown,
    now: number,
    expiresAt: number | undefined,
  ): PatchStep | undefined {
    try {
      return {
        version,
        set: this.patched(id, {}, { set: encoded.set, unset: [] }),
        unset: encoded.unset.map((jsonKey) => JSON.parse(jsonKey) as string),
        updatedAt: now,
        expiresAt,
        z: replyInteger(z, 'patchSession'),
        bytes: encoded.set.bytes,
      };
    } catch {
      return undefined;
    }
  }

  /**
   * `data` with an encoded patch applied the way the patch and merge scripts
   * apply it (kept and replaced keys in place, new ones appended), each set
   * value decoded as a read would decode it.
   */
  private patched(
    id: string,
    data: SessionData,
    encoded: ReturnType<SessionCodec['encodePatchEntries']>,
  ): SessionData {
    const removed = new Set(encoded.unset.map((jsonKey) => JSON.parse(jsonKey) as string));
    const result: SessionData = {};
    for (const [key, value] of Object.entries(data)) {
      if (!removed.has(key)) result[key] = value;
    }
    for (const [jsonKey, value] of encoded.set.entries) {
      const key = JSON.parse(jsonKey) as string;
      result[key] = this.codec.decodeEntry(id, key, value);
    }
    return result;
  }

  private sessionKeys(id: string): [string, string] {
    const bucket = this.keys.bucketOf(id);
    return [this.keys.sessionKeyPrefix(bucket) + id, this.keys.expiryBucket(bucket)];
  }

  /**
   * The scripts' retirement arguments (see frame_retire in lua/frame.lua):
   * the expiry grace, and the earliest end of a tombstone written now. The
   * tombstone lasts until max(retired expiry + grace, that end); see
   * RETIRED_ID_MIN_TTL_MS for why.
   */
  private retirement(now: number): [grace: number, floor: number] {
    return [this.expiryGraceMs, this.physicalExpiry(retiredUntil(now, now))];
  }

  private physicalExpiry(expiresAt: number): number {
    return Math.ceil(expiresAt + this.expiryGraceMs);
  }

  /** A patch or merge the script refused: the merged session would be `bytes` encoded, over `maxBytes`. */
  private tooLarge(
    operation: 'patch' | 'merge',
    id: string,
    bytes: number,
  ): SessionValidationError {
    const { maxBytes } = this.codec;
    const what = operation === 'patch' ? 'patched' : 'merged';
    return new SessionValidationError(
      `The ${what} session would be ${bytes} bytes encoded, over the limit of ${maxBytes} bytes`,
      {
        code: 'PAYLOAD_TOO_LARGE',
        field: operation,
        operation,
        sessionIdHash: hashSessionId(id),
        details: { bytes, maxBytes },
      },
    );
  }

  private notFound(operation: string, id: string): SessionNotFoundError {
    return new SessionNotFoundError('Session not found', {
      operation,
      sessionIdHash: hashSessionId(id),
    });
  }

  private script(
    operation: string,
    name: StoreScriptName,
    sessionId: string | undefined,
    keys: readonly string[],
    args: readonly ScriptArg[],
    sent?: () => void,
  ): Promise<unknown> {
    const context = { operation, sessionId, commandTimeoutMs: this.commandTimeoutMs };
    const cache = this.cache;
    if (cache === undefined || sessionId === undefined) {
      return storeCall(context, () => this.scripts.run(name, keys, args, sent));
    }
    // Every script given a session id may write that session; with NOLOOP
    // Redis will not tell this instance, so the cache is told here: when it
    // is made, and when it leaves (before the read the caller sends behind
    // it, which it must not lose).
    cache.beginWrite(sessionId);
    const leaves = (): void => {
      cache.sentWrite(sessionId);
      sent?.();
    };
    const written = storeCall(context, () => this.scripts.run(name, keys, args, leaves));
    const settle = (): void => {
      cache.endWrite(sessionId);
    };
    written.then(settle, settle);
    return written;
  }

  /**
   * One Redis round trip; every failure leaves as a SessionError. Writes
   * the scripts hold for a batch are sent first, so this command never
   * overtakes a write made before it; the command itself goes out with the
   * rest of this tick's commands, in one socket write (see
   * RedisScripts.holdWrites).
   */
  private command<T>(
    operation: string,
    sessionId: string | undefined,
    send: () => Promise<T>,
  ): Promise<T> {
    return storeCall({ operation, sessionId, commandTimeoutMs: this.commandTimeoutMs }, () => {
      this.scripts.flush();
      this.scripts.holdWrites();
      return send();
    });
  }

  /** Count a public call as in flight, so close() can wait for it. */
  private track<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (this.closing !== undefined) {
      return Promise.reject(
        new StorageUnavailableError('RedisStore is closed', {
          operation,
          details: { closed: true },
        }),
      );
    }
    const promise = work();
    this.inFlight.add(promise);
    const settle = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(settle, settle);
    return promise;
  }
}

/**
 * Publish whether the instance cache answered a load (a `cache` event, in
 * the manager operation's context: `session.cache.hit` on its span).
 */
function noteCacheHit(channels: SessionChannels, hit: boolean): void {
  const channel = channels.event;
  if (channel.hasSubscribers) channel.publish(hit ? CACHE_HIT : CACHE_MISS);
}
const CACHE_HIT: SessionEvent = Object.freeze({ type: 'cache', hit: true });
const CACHE_MISS: SessionEvent = Object.freeze({ type: 'cache', hit: false });

/**
 * Builds the record a write left from what it sent (see
 * RedisStore.scriptThenTrack), given the script's reply and the frame head
 * read behind it; `written` when the reply shows what the write left but
 * the head a later write, or there was no head read (`head` undefined: the
 * cache is down), so it is set aside, not cached; `undefined` when the
 * reply does not show it. `entries`: the frame's entries as sent, for the
 * cache to keep beside the record (see `SessionCache.entriesOf`).
 */
type LocalRefill = (
  reply: unknown,
  head: { readonly version: number; readonly expiresAt: number } | undefined,
) =>
  | { record: SessionRecord; bytes: number; entries?: string | undefined }
  | { written: SessionRecord; bytes: number; entries?: string | undefined }
  | undefined;

/**
 * What a patch of `before` left when it wrote `version` (Σ entry bytes
 * `z`), for {@link LocalRefill}: the record to cache when the head read
 * behind it shows that version, else (a later write ran first, or there
 * was no head read) only what this write left.
 */
function leftBy(
  before: SessionRecord,
  data: SessionData,
  version: number,
  z: number,
  now: number,
  expiresAt: number | undefined,
  head: { readonly version: number; readonly expiresAt: number } | undefined,
): NonNullable<ReturnType<LocalRefill>> {
  const record: SessionRecord = {
    ...before,
    data,
    version,
    updatedAt: now,
    expiresAt: head?.version === version ? head.expiresAt : (expiresAt ?? before.expiresAt),
  };
  const bytes = frameBytes(z, Object.keys(data).length);
  if (head?.version !== version) return { written: record, bytes };
  return { record, bytes };
}

/** The version a save or patch script wrote (`[1, version, …]`), `undefined` when it wrote none. */
function writtenVersionOf(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || Number(reply[0]) !== 1) return undefined;
  const version = Number(reply[1]);
  return Number.isSafeInteger(version) ? version : undefined;
}

/** A version as a write script reports it on a conflict: a number, or null when unreadable. */
function storedVersion(reply: unknown): number | null {
  const version = typeof reply === 'string' || typeof reply === 'number' ? Number(reply) : NaN;
  return Number.isSafeInteger(version) && version >= 1 ? version : null;
}
