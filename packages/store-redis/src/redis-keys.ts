import { crc32 } from 'node:zlib';
import { SessionValidationError } from '@session-cluster/core';

/** What a key prefix may contain: no braces (they would change the hash tag), no spaces. */
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Most expiry buckets: one per Redis Cluster slot (a bucket is a hash tag). */
export const MAX_BUCKETS = 16_384;

/**
 * The Redis key layout of one store. Every name is built here and nowhere
 * else, and only from ids the caller has already validated.
 *
 * A session's hash tag is its **expiry bucket** (`{<prefix>:<bucket>}`), not
 * its id: the session hash, its expiry-index entry and the sweep of that
 * bucket then live in one slot, so every script that keeps them consistent
 * runs on Redis Cluster (a `{sid}` tag would scatter one sweep over many slots).
 *
 * - `<prefix>:s:{<prefix>:<bucket>}:<sid>` STRING, the framed session (source of truth;
 *   layout in `lua/frame.lua`)
 * - `<prefix>:exp:{<prefix>:<bucket>}` ZSET sid → expiresAt, same slot
 * - `<prefix>:outbox:{<prefix>:<bucket>}` HASH of swept expiry batches not yet handled by a consumer, same slot
 * - `<prefix>:unpub:{<prefix>:<bucket>}` SET, ids of the outbox batches not yet published, same slot
 * - `<prefix>:pend:{<prefix>:<bucket>}` ZSET, the per-expiry outbox of earlier releases (drained, no longer written)
 * - `<prefix>:u:{<base64url(userId)>}` ZSET sid → createdAt, the user index (its own slot);
 *   expires with the latest physical expiry of the sessions indexed in it
 *   (see indexUserSession-1.lua). The sweep does not trim it: its readers
 *   drop members whose session is gone.
 */
export class RedisKeys {
  public readonly prefix: string;
  public readonly buckets: number;

  /**
   * @param prefix validated against {@link KEY_PREFIX_PATTERN}
   * @param buckets how many expiry buckets sessions are spread over (checked
   *   by the store's options, not here)
   * @throws SessionValidationError `INVALID_CONFIG` (field `prefix`)
   */
  public constructor(prefix: string, buckets: number) {
    if (typeof prefix !== 'string' || !KEY_PREFIX_PATTERN.test(prefix)) {
      throw new SessionValidationError(
        'prefix: expected 1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces: they would change the hash tag)',
        { code: 'INVALID_CONFIG', field: 'prefix' },
      );
    }
    this.prefix = prefix;
    this.buckets = buckets;
  }

  /** The bucket of a (validated) session id: `crc32(sid) % buckets`. Stable across processes. */
  public bucketOf(sessionId: string): number {
    return crc32(sessionId) % this.buckets;
  }

  /** The session key of a (validated) session id. */
  public session(sessionId: string): string {
    return `${this.sessionKeyPrefix(this.bucketOf(sessionId))}${sessionId}`;
  }

  /** What every session key of `bucket` starts with (the sid follows). */
  public sessionKeyPrefix(bucket: number): string {
    return `${this.prefix}:s:{${this.prefix}:${bucket}}:`;
  }

  /**
   * The session id of a session key of this prefix, `undefined` for any
   * other key (an invalidation names every key a connection read).
   */
  public sessionIdOfKey(key: string): string | undefined {
    const start = `${this.prefix}:s:{${this.prefix}:`;
    if (!key.startsWith(start)) return undefined;
    const close = key.indexOf('}:', start.length);
    return close === -1 ? undefined : key.slice(close + 2);
  }

  /** The expiry index of `bucket`. */
  public expiryBucket(bucket: number): string {
    return `${this.prefix}:exp:{${this.prefix}:${bucket}}`;
  }

  /** Expiry batches of `bucket` swept and not yet acknowledged by a consumer (see sweepBucket-4.lua). */
  public outboxBucket(bucket: number): string {
    return `${this.prefix}:outbox:{${this.prefix}:${bucket}}`;
  }

  /** Ids of the outbox batches of `bucket` not yet published (see sweepBucket-4.lua). */
  public unpublishedBucket(bucket: number): string {
    return `${this.prefix}:unpub:{${this.prefix}:${bucket}}`;
  }

  /**
   * The per-expiry outbox that releases before batched expiry events wrote
   * (ZSET `sid US userId US createdAt` → expiresAt). Only read and drained now,
   * so nothing a crashed older sweeper left behind is lost in an upgrade.
   */
  public pendingBucket(bucket: number): string {
    return `${this.prefix}:pend:{${this.prefix}:${bucket}}`;
  }

  /** The expiry index a (validated) session id belongs to. */
  public expiryBucketOf(sessionId: string): string {
    return this.expiryBucket(this.bucketOf(sessionId));
  }

  /**
   * The user index of a (validated) user id. base64url keeps any user id
   * (braces, colons, spaces, non-ASCII) out of the hash-tag syntax.
   */
  public userIndex(userId: string): string {
    return `${this.userIndexPrefix()}${Buffer.from(userId, 'utf8').toString('base64url')}}`;
  }

  /**
   * What every user index key starts with; base64url(userId) and `}` follow
   * (for tooling that scans the indexes).
   */
  public userIndexPrefix(): string {
    return `${this.prefix}:u:{`;
  }

  /**
   * The Pub/Sub channel on which a store announces the ids it deleted, so
   * that every instance's cache stops keeping a copy of them for an outage
   * (see `SessionCache.noteGone`). A channel, not a key: no slot on Cluster.
   */
  public get revocationChannel(): string {
    return `${this.prefix}:revoked`;
  }

  /** A pattern matching every key of this prefix (for tests and tooling; never used by the store). */
  public get scanPattern(): string {
    return `${this.prefix}:*`;
  }
}
