import { createOptionChecks, createSessionCodec, isOptionsObject } from '@session-cluster/core';
import type { Clock, SessionCodec } from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import { SESSION_CACHE_DEFAULTS } from './session-cache.js';
import type { SessionCacheOptions } from './session-cache.js';

/** The option checks of {@link RedisStore} (connection options included). */
export const check = createOptionChecks('RedisStore');

/** A `SessionValidationError` (`INVALID_CONFIG`) for option `field`, with the whole reason. */
export const invalid = check.refuse;

/** A Redis address. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * How a store-owned connection is made. Exactly one topology: `url` /
 * `host`+`port` (standalone), `sentinels` + `name` (Sentinel), or `cluster`.
 */
export interface RedisConnectionOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://…` (TLS). Standalone only. */
  readonly url?: string | undefined;
  /** Standalone host (default `127.0.0.1` when neither url nor sentinels nor cluster is given). */
  readonly host?: string | undefined;
  /** Standalone port (default 6379). */
  readonly port?: number | undefined;
  /** Password of the Redis nodes (standalone, Sentinel-managed master, Cluster nodes). */
  readonly password?: string | undefined;
  /** Sentinel addresses; requires `name`. */
  readonly sentinels?: readonly RedisAddress[] | undefined;
  /** The Sentinel master group name. */
  readonly name?: string | undefined;
  /** Redis Cluster seed nodes. */
  readonly cluster?: { readonly nodes: readonly RedisAddress[] } | undefined;
}

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * A caller-owned client (standalone/Sentinel `Redis` or `Cluster`). It is
   * not closed by {@link RedisStore.close}. It must have `commandTimeout` set
   * (for a Cluster: `redisOptions.commandTimeout`): without it a dead Redis
   * hangs every request instead of failing in milliseconds.
   * Exactly one of `client` and `connection`.
   */
  readonly client?: Redis | Cluster | undefined;
  /**
   * Let the store create (and own) its client. It is configured for fast
   * failure: `commandTimeout`, no offline queue once connected, no replay of
   * in-flight commands after a reconnect, a capped reconnect delay, RESP2.
   * Exactly one of `client` and `connection`.
   */
  readonly connection?: RedisConnectionOptions | undefined;
  /**
   * Namespace of every key: `^[A-Za-z0-9_.:-]{1,64}$`, no braces. Default `'sc'`.
   * Two stores with overlapping prefixes (`sc` and `sc:x`) must not share a Redis.
   */
  readonly prefix?: string | undefined;
  /**
   * Number of expiry buckets sessions are spread over (`crc32(id) % buckets`),
   * 1 to 16384, default 64. Part of the key layout: every instance sharing a
   * prefix must use the same value. Changing it orphans existing sessions
   * (they are looked up in another bucket's key and appear gone), so change
   * it only together with a new `prefix`.
   */
  readonly buckets?: number | undefined;
  /** Encodes data fields. Default `createSessionCodec()`. */
  readonly codec?: SessionCodec | undefined;
  /** Source of `now` for every expiry decision. Default the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * How long after its logical expiry a session's hash stays in Redis
   * (`PEXPIREAT expiresAt + grace`), so a sweeper that was down still finds
   * it and reports the expiry. Logical expiry never depends on it. ms,
   * ≥ 0, default 3 600 000 (1 h).
   */
  readonly expiryGraceMs?: number | undefined;
  /**
   * `commandTimeout` of the clients the store creates, ms, default 1000.
   * Ignored with a caller-owned `client` (its own setting counts).
   */
  readonly commandTimeoutMs?: number | undefined;
  /**
   * What `load`/`listByUser` do with a session whose stored data fails its
   * integrity check. `true` (default): throw `SessionCorruptedError`.
   * `false`: delete the session, count it ({@link RedisStore.corruptSessionsDeleted})
   * and answer as if it did not exist.
   */
  readonly failFastOnCorruption?: boolean | undefined;
  /** Called for every corrupted session found, in both modes (log it, count it). */
  readonly onCorruption?: ((info: CorruptionInfo) => void) | undefined;
  /**
   * The frame format writes use. `2` (default): the integrity check covers
   * the owner, version and timestamps too. `1`: what earlier releases (0.2)
   * wrote and read; this release reads both. Upgrading a running cluster
   * from such a release: deploy with `frameFormat: 1` first, so the old
   * instances still running can read every session; once none is left,
   * switch to `2` (each session moves to it on its next patch or save).
   *
   * `3`, the default when the codec encrypts at rest: the check is keyed
   * (see `FrameKeys` in core), so a frame forged or altered by anyone who
   * can write to Redis but does not hold the key ring is refused. With
   * encryption, `1` or `2` may be given only with the codec's
   * `acceptPlaintext` (a migration): readers otherwise refuse unkeyed frames.
   */
  readonly frameFormat?: 1 | 2 | 3 | undefined;
  /**
   * The instance cache: a bounded LRU of decoded sessions in front of `load`,
   * kept coherent by Redis (`CLIENT TRACKING`, see `InvalidationTracker`), so
   * a load of a session whose cached copy is current costs no round trip.
   * `true` or sizes to enable, `false` (default) for none. It opens one extra
   * connection per tracked server (per Cluster node) and turns tracking on for
   * the store's client: with a caller-owned client, every key the
   * application reads through that client is tracked too.
   */
  readonly cache?: boolean | SessionCacheOptions | undefined;
  /**
   * Publish whether the instance cache answered each load (a `cache` event
   * on core's `SESSION_CHANNELS`: `session.cache.hit` on the operation's
   * span; free while nobody subscribes). `false`: publish nothing. Default `true`.
   */
  readonly telemetry?: boolean | undefined;
  /**
   * Most live sessions one user may hold (positive integer; default 100).
   * A `create` (or a `save` that gives a session an owner) that takes the
   * user past it deletes — retires — the user's oldest sessions, so a
   * script that logs in in a loop cannot grow one user's index (and every
   * `listByUser`/`deleteByUser`) without bound, and a stolen login does not
   * outlive a hundred newer ones. Each eviction is counted
   * ({@link RedisStore.sessionsEvictedByUserCap}) and reported to
   * `onUserCapEviction`.
   */
  readonly maxSessionsPerUser?: number | undefined;
  /** Called for each session evicted by {@link maxSessionsPerUser} (log it, count it). */
  readonly onUserCapEviction?: ((info: UserCapEviction) => void) | undefined;
}

/** What {@link RedisStoreOptions.onUserCapEviction} receives. */
export interface UserCapEviction {
  /** `hashSessionId(id)` of the evicted session. */
  readonly sessionIdHash: string;
  /** The owner, whose newer session took it past the cap. */
  readonly userId: string;
}

/** What {@link RedisStoreOptions.onCorruption} receives. */
export interface CorruptionInfo {
  /** `hashSessionId(id)`: the raw id never leaves the store. */
  readonly sessionIdHash: string;
  /** The `SessionCorruptedError` (or decryption error) describing the damage. */
  readonly error: Error;
}

/** Defaults of {@link RedisStoreOptions}. */
export const REDIS_STORE_DEFAULTS = Object.freeze({
  prefix: 'sc',
  buckets: 64,
  expiryGraceMs: 3_600_000,
  commandTimeoutMs: 1_000,
  failFastOnCorruption: true,
  frameFormat: 2,
  maxSessionsPerUser: 100,
});

/** Most buckets: one per Redis Cluster slot. */
export const MAX_BUCKETS = 16_384;

const D = REDIS_STORE_DEFAULTS;
const CODEC = check.implementing<SessionCodec>(
  ['encodeData', 'encodePatch', 'decodeField', 'decodeData', 'fieldBytes'],
  'a SessionCodec (see createSessionCodec)',
);
const CACHE_RULES = {
  maxEntries: check.int(SESSION_CACHE_DEFAULTS.maxEntries, 1),
  maxBytes: check.int(SESSION_CACHE_DEFAULTS.maxBytes, 1),
};
const RULES = {
  // Its pattern is the key layout's: RedisKeys checks it.
  prefix: (value: unknown) => (value ?? D.prefix) as string,
  buckets: check.int(D.buckets, 1, MAX_BUCKETS),
  codec: (value: unknown, field: string): SessionCodec => {
    if (value === undefined) return createSessionCodec();
    const codec = CODEC(value, field);
    if (!Number.isSafeInteger(codec.maxBytes) || codec.maxBytes < 1) {
      throw check.invalid(field, 'a SessionCodec (see createSessionCodec)');
    }
    return codec;
  },
  clock: check.clock,
  expiryGraceMs: check.int(D.expiryGraceMs, 0),
  commandTimeoutMs: check.int(D.commandTimeoutMs, 1, 600_000),
  failFastOnCorruption: check.flag(D.failFastOnCorruption),
  onCorruption: check.fn<(info: CorruptionInfo) => void>(),
  frameFormat: check.oneOf([1, 2, 3], undefined),
  cache: (value: unknown, field: string) => {
    if (value === undefined || value === false) return undefined;
    if (value === true) return { ...SESSION_CACHE_DEFAULTS };
    if (!isOptionsObject(value))
      throw check.invalid(field, 'a boolean or { maxEntries, maxBytes }');
    return check.resolve(CACHE_RULES, value, `${field}.`);
  },
  telemetry: check.flag(true),
  maxSessionsPerUser: check.int(D.maxSessionsPerUser, 1),
  onUserCapEviction: check.fn<(info: UserCapEviction) => void>(),
};

/** {@link RedisStoreOptions} with every default applied and every value checked. */
export type ResolvedRedisStoreOptions = ReturnType<typeof resolveRedisStoreOptions>;

/**
 * Check every option except the connection (see `redis-connection.ts`) and
 * apply defaults.
 * @throws SessionValidationError `INVALID_CONFIG` naming the field
 */
export function resolveRedisStoreOptions(options: RedisStoreOptions) {
  const resolved = check.resolve(RULES, options);
  return { ...resolved, frameFormat: frameFormatOf(resolved.frameFormat, resolved.codec) };
}

/**
 * The frame format to write: keyed (`3`) under encryption unless a migration
 * asks otherwise; see {@link RedisStoreOptions.frameFormat}.
 */
function frameFormatOf(option: 1 | 2 | 3 | undefined, codec: SessionCodec): 1 | 2 | 3 {
  const keys = codec.frameKeys;
  const format = option ?? (keys === undefined ? D.frameFormat : 3);
  if (format === 3 && keys === undefined) {
    throw invalid('frameFormat', '3 (a keyed check) needs a codec that encrypts at rest');
  }
  if (format !== 3 && keys !== undefined && !keys.acceptUnkeyed) {
    throw invalid(
      'frameFormat',
      `${format} writes unkeyed frames, which an encrypting codec refuses to read (set its acceptPlaintext while migrating)`,
    );
  }
  return format;
}
