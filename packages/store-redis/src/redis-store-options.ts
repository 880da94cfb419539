import { createOptionChecks, createSessionCodec, isOptionsObject } from '@session-cluster/core';
import type { OptionsOf, ResolvedOptions, SessionCodec } from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import { SESSION_CACHE_DEFAULTS } from './session-cache.js';
import { MAX_BUCKETS } from './redis-keys.js';
import type { SessionCacheOptions } from './session-cache.js';

/** The option checks of {@link RedisStore} (connection options included). */
export const check = createOptionChecks('RedisStore');
/** A `SessionValidationError` (`INVALID_CONFIG`) for option `field`, with the whole reason. */
export const invalid = check.refuse;

const PORT = check.accepting<number>()(
  (value, field) => check.integer(value ?? Number.NaN, field, 1, 65_535) as number,
);
const ADDRESS_RULES = { host: check.accepting<string>()(check.nonEmptyString), port: PORT };

/** A Redis address. */
export type RedisAddress = OptionsOf<typeof ADDRESS_RULES>;
const ADDRESSES = check.accepting<readonly RedisAddress[]>()((value, field) => {
  if (!Array.isArray(value) || value.length === 0) {
    throw check.invalid(field, 'a non-empty array of { host, port }');
  }
  return value.map((item, i) => check.resolve(ADDRESS_RULES, item, `${field}[${i}].`));
});

/** The connection shapes, each by the key that names it (a URL carries its own password). */
const CONNECTION_RULES = {
  url: {
    /** `redis://[:password@]host:port[/db]` or `rediss://…` (TLS). Standalone only. */
    url: check.accepting<string>()((value, field) => {
      if (typeof value !== 'string' || !/^rediss?:\/\//.test(value)) {
        throw check.invalid(field, 'redis://… or rediss://…');
      }
      return value;
    }),
  },
  host: {
    /** Password of the Redis server. */
    password: check.string,
    /** Standalone host. Default `127.0.0.1`. */
    host: check.matching(/./, '127.0.0.1', 'a host name'),
    /** Standalone port. */
    port: PORT,
  },
  sentinels: {
    /** Sentinel addresses. */
    sentinels: ADDRESSES,
    /** The Sentinel master group name. */
    name: check.accepting<string>()(check.nonEmptyString),
    /** Password of the Redis nodes. */
    password: check.string,
  },
  cluster: {
    /** Redis Cluster seed nodes. */
    cluster: check.accepting<{ readonly nodes: readonly RedisAddress[] }>()(
      check.section({ nodes: ADDRESSES }),
    ),
    /** Password of the Redis nodes. */
    password: check.string,
  },
};
type Shape = keyof typeof CONNECTION_RULES;
const SHAPES = Object.keys(CONNECTION_RULES) as Shape[];
const SHAPES_EXPECTED =
  'one of { url } | { host, port, password? } | { sentinels, name, password? } | { cluster: { nodes }, password? }';
/** A store-owned connection: exactly one of these shapes. */
export type RedisConnectionOptions = {
  [K in Shape]: OptionsOf<(typeof CONNECTION_RULES)[K]>;
}[Shape];
/** A checked {@link RedisConnectionOptions}, each shape's options with its defaults. */
export type ResolvedConnection = {
  [K in Shape]: ResolvedOptions<(typeof CONNECTION_RULES)[K]>;
}[Shape];

/**
 * Check {@link RedisConnectionOptions} as a store does: exactly one shape, only its own keys.
 * @throws SessionValidationError `INVALID_CONFIG` (`connection.url`, …)
 */
export function resolveRedisConnection(value: unknown, field = 'connection'): ResolvedConnection {
  if (!isOptionsObject(value)) throw check.invalid(field, SHAPES_EXPECTED);
  const [shape, extra] = SHAPES.filter(
    (key) => value[key] !== undefined || (key === 'host' && value['port'] !== undefined),
  );
  if (shape === undefined) {
    const [key] = Object.keys(value);
    throw check.invalid(key === undefined ? field : `${field}.${key}`, SHAPES_EXPECTED);
  }
  if (extra !== undefined) {
    throw check.invalid(field, `${SHAPES_EXPECTED}, not ${shape} and ${extra} together`);
  }
  return check.resolve<(typeof CONNECTION_RULES)[Shape]>(
    CONNECTION_RULES[shape],
    value,
    `${field}.`,
  );
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

const CODEC = check.implementing<SessionCodec>(
  ['encodeData', 'encodePatch', 'decodeField', 'decodeData', 'fieldBytes'],
  'a SessionCodec (see createSessionCodec)',
);
const CACHE_RULES = {
  maxEntries: check.int(SESSION_CACHE_DEFAULTS.maxEntries, 1),
  maxBytes: check.int(SESSION_CACHE_DEFAULTS.maxBytes, 1),
};
const RULES = {
  /**
   * A caller-owned `Redis` or `Cluster` (not closed by `close()`) with `commandTimeout` (Cluster:
   * `redisOptions.commandTimeout`): else a dead Redis hangs every request.
   */
  client: check.typed<Redis | Cluster | undefined>(),
  /**
   * Let the store own a client set for fast failure: `commandTimeout`, no offline queue once
   * connected, no replay of in-flight commands after a reconnect, a capped reconnect delay.
   */
  connection: check.optional(check.accepting<RedisConnectionOptions>()(resolveRedisConnection)),
  /** Namespace of every key, `^[A-Za-z0-9_.:-]{1,64}$`, default `'sc'`; never `sc` and `sc:x` in one Redis. */
  // Its pattern is the key layout's: RedisKeys checks it.
  prefix: check.accepting<string | undefined>()((value) => (value ?? 'sc') as string),
  /**
   * Expiry buckets (`crc32(id) % buckets`), 1–16384, default 64: part of the key layout, which
   * every instance must share; changing it orphans sessions (change it with the `prefix`).
   */
  buckets: check.int(64, 1, MAX_BUCKETS),
  /** Encodes data fields. Default `createSessionCodec()`. */
  codec: check.accepting<SessionCodec | undefined>()((value, field) => {
    if (value === undefined) return createSessionCodec();
    const codec = CODEC(value, field);
    if (!Number.isSafeInteger(codec.maxBytes) || codec.maxBytes < 1) {
      throw check.invalid(field, 'a SessionCodec (see createSessionCodec)');
    }
    return codec;
  }),
  /** Source of `now` for every expiry decision. Default the system clock. */
  clock: check.clock,
  /** How long an expired session stays (for a sweeper that was down), ms. Default 3 600 000 (1 h). */
  expiryGraceMs: check.int(3_600_000, 0),
  /** `commandTimeout` of the clients the store creates, ms. Default 1 000. */
  commandTimeoutMs: check.int(1_000, 1, 600_000),
  /**
   * A session failing its integrity check: `true` (default) throws `SessionCorruptedError`;
   * `false` deletes it, counts it ({@link RedisStore.corruptSessionsDeleted}), answers absent.
   */
  failFastOnCorruption: check.flag(true),
  /** Called for every corrupted session found, in both modes (log it, count it). */
  onCorruption: check.fn<(info: CorruptionInfo) => void>(),
  /**
   * Frame format written: `2` (default; its check covers owner, version, times), `1` (what 0.2
   * reads: deploy with it first when upgrading from 0.2, then `2`), `3` (default when encrypting:
   * the check is keyed, so a frame forged in Redis is refused; `1`/`2` need `acceptPlaintext`).
   */
  frameFormat: check.oneOf([1, 2, 3], undefined),
  /**
   * The instance cache: an LRU of decoded (shared, frozen) sessions in front of `load`, kept
   * coherent by `CLIENT TRACKING`: `true` or sizes; default none. One more connection per
   * server; with a caller-owned client, every key read through it is tracked.
   */
  cache: check.accepting<boolean | SessionCacheOptions | undefined>()(check.toggle(CACHE_RULES)),
  /** Publish cache hits (`cache` on core's `SESSION_CHANNELS`). Default `true`. */
  telemetry: check.flag(true),
  /**
   * Most live sessions per user (default 100): a login past it retires the oldest, counted
   * ({@link RedisStore.sessionsEvictedByUserCap}) and reported to `onUserCapEviction`.
   */
  maxSessionsPerUser: check.int(100, 1),
  /** Called for each session evicted by `maxSessionsPerUser` (log it, count it). */
  onUserCapEviction: check.fn<(info: UserCapEviction) => void>(),
};

/** Options of {@link RedisStore}. Exactly one of `client` and `connection`. */
export type RedisStoreOptions = OptionsOf<typeof RULES>;

/** Defaults of {@link RedisStoreOptions} (`frameFormat`: without encryption). */
export const REDIS_STORE_DEFAULTS = Object.freeze({ ...check.defaults(RULES), frameFormat: 2 });

/** Check every option and apply defaults, before a client is opened. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveRedisStoreOptions(options: RedisStoreOptions) {
  const resolved = check.resolve(RULES, options);
  if (resolved.client === undefined && resolved.connection === undefined) {
    throw invalid('connection', 'pass either a client or connection options');
  }
  if (resolved.client !== undefined) {
    if (resolved.connection !== undefined) {
      throw invalid('client', 'pass either client or connection, not both');
    }
    if (options.commandTimeoutMs !== undefined) {
      throw invalid('commandTimeoutMs', "a client's own commandTimeout applies: set it there");
    }
  }
  return { ...resolved, frameFormat: frameFormatOf(resolved.frameFormat, resolved.codec) };
}

/** The frame format to write: keyed (`3`) under encryption unless a migration asks otherwise. */
function frameFormatOf(option: 1 | 2 | 3 | undefined, codec: SessionCodec): 1 | 2 | 3 {
  const keys = codec.frameKeys;
  const format = option ?? (keys === undefined ? REDIS_STORE_DEFAULTS.frameFormat : 3);
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
