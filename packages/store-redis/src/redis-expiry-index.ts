import type { Clock, ExpiredSession, SweepResult } from '@session-cluster/core';
import {
  SessionValidationError,
  assertEpochMs,
  assertObjectArgument,
  assertPositiveInteger,
} from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import {
  decodeOutboxBatch,
  decodeSweepReply,
  legacyPendingEntry,
  legacyPendingMember,
} from './expiry-outbox.js';
import type {
  BucketSweepResult,
  ExpiryBatch,
  SweepBucketOptions,
  SweptExpiry,
} from './expiry-outbox.js';
import type { RedisKeys } from './redis-keys.js';
import type { ScriptArg, StoreScriptName } from './redis-scripts.js';
import { ackOutboxBatch } from './expiry-outbox-client.js';
import { scoredMembers } from './script-reply.js';
import { anyMemberOf } from './user-index-score.js';
import type { SessionCache } from './session-cache.js';

/**
 * What the two halves of a `RedisStore` share: one connection, one set of
 * scripts, one cache and one `close()` that waits for both halves' calls.
 * The session half owns it; the expiry half borrows it.
 */
export interface StoreChannel {
  readonly client: Redis | Cluster;
  readonly keys: RedisKeys;
  readonly clock: Clock;
  /** The instance cache; a sweep deletes through the tracked client, so it is told here. */
  readonly cache: SessionCache | undefined;
  /** One Redis round trip; every failure leaves as a SessionError. */
  command<T>(operation: string, sessionId: string | undefined, send: () => Promise<T>): Promise<T>;
  /** One store script (see redis-scripts.ts). */
  script(
    operation: string,
    name: StoreScriptName,
    sessionId: string | undefined,
    keys: readonly string[],
    args: readonly ScriptArg[],
  ): Promise<unknown>;
  /** Count a public call as in flight, so the store's close() waits for it. */
  track<T>(operation: string, work: () => Promise<T>): Promise<T>;
}

/**
 * The expiry half of a `RedisStore`: the per-bucket expiry index, its sweep
 * and the outbox of swept batches the sweeper publishes from. The session
 * half (CRUD) writes the index in the same scripts as the sessions; this
 * half reads and drains it. `RedisStore` hands its public sweep methods here.
 */
export class RedisExpiryIndex {
  /** Where {@link sweepExpired} resumes: the bucket the previous call stopped in. */
  private sweepCursor = 0;

  public constructor(
    private readonly channel: StoreChannel,
    /** Number of expiry buckets (`crc32(id) % bucketCount`). */
    public readonly bucketCount: number,
  ) {}

  /**
   * {@link SessionStore.sweepExpired}: visits the buckets round-robin (continuing where the previous call
   * stopped) and examines at most `limit` due index members in total.
   * Unlike {@link sweepBucket} (the sweeper's path), it also drops each
   * expiry from its owner's user index after each call, one call per owner
   * (on Cluster the indexes are in other slots): the `SessionStore`
   * contract's sweep leaves no index entry behind, and this slower,
   * sweeper-less path (`manager.cleanupExpired`) can afford that.
   */
  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.channel.track('sweepExpired', async () => {
      assertSweepArgs(now, limit);
      const buckets = this.bucketCount;
      const due = await Promise.all(
        Array.from({ length: buckets }, (_, bucket) =>
          this.channel.command('sweepExpired', undefined, () =>
            this.channel.client.zcount(this.channel.keys.expiryBucket(bucket), '-inf', now),
          ),
        ),
      );
      const expired: ExpiredSession[] = [];
      let remaining = limit;
      const start = this.sweepCursor;
      try {
        for (let step = 0; step < buckets; step++) {
          const bucket = (start + step) % buckets;
          if ((due[bucket] ?? 0) === 0) continue;
          if (remaining === 0) {
            this.sweepCursor = bucket;
            return { expired, more: true };
          }
          let more = true;
          while (more && remaining > 0) {
            const result = await this.sweepBucketUnchecked(bucket, now, remaining);
            expired.push(...result.expired);
            await this.trimUserIndexes(result.expired);
            remaining -= result.examined;
            more = result.more;
          }
          if (more) {
            this.sweepCursor = bucket;
            return { expired, more: true };
          }
          this.sweepCursor = (bucket + 1) % buckets;
        }
      } catch (error) {
        // Sessions already swept are deleted: their reports must not be lost
        // with the error. Hand them over; the next call meets the error again.
        if (expired.length === 0) throw error;
        return { expired, more: true };
      }
      return { expired, more: false };
    });
  }

  /**
   * Sweep one expiry bucket: atomically remove up to `limit` due sessions
   * (re-checking each one's expiry, so a session touched meanwhile survives)
   * in one Lua call, on every topology. The owners' user indexes are left
   * alone: their readers drop the members of sessions that are gone, and an
   * index expires by itself with the last of its sessions (see
   * sweepBucket-4.lua). Each expiry is reported by exactly one call, ever: safe to run
   * from many workers at once. With `pending`, the expiries are also
   * recorded as one batch in the bucket's outbox (`batchId`).
   *
   * @param bucket 0 ≤ bucket < {@link bucketCount}
   * @param now epoch ms: sessions with expiresAt ≤ now are due
   * @param limit most index members to examine
   * @throws SessionValidationError `INVALID_ARGUMENT`
   * @throws StorageUnavailableError
   */
  public sweepBucket(
    bucket: number,
    now: number,
    limit: number,
    options?: SweepBucketOptions,
  ): Promise<BucketSweepResult> {
    return this.channel.track('sweepBucket', async () => {
      this.assertBucket(bucket, 'sweepBucket');
      assertSweepArgs(now, limit);
      if (options !== undefined) assertObjectArgument(options, 'options', 'sweepBucket');
      return this.sweepBucketUnchecked(bucket, now, limit, options?.pending === true);
    });
  }

  /**
   * Batches of one bucket swept with `pending: true` and not marked
   * published yet: the ones whose publisher died (or is still publishing
   * them: publish each under its `id`, so a batch published twice is added
   * once). Each is read back whole, exactly as its sweep recorded it (or as
   * `RedisExpiryOutbox.keep` left it).
   *
   * @param limit most batches to return
   * @throws SessionValidationError `INVALID_ARGUMENT`
   * @throws StorageUnavailableError
   */
  public pendingBatches(bucket: number, limit: number): Promise<ExpiryBatch[]> {
    return this.channel.track('pendingBatches', async () => {
      this.assertBucket(bucket, 'pendingBatches');
      assertSweepArgs(0, limit);
      const { client, keys } = this.channel;
      const unpublished = keys.unpublishedBucket(bucket);
      const outbox = keys.outboxBucket(bucket);
      // The set is small: it holds only batches between their sweep and
      // their publication (each job stops at its first failed publish).
      // Ids dropped below (gone or unreadable) leave the set, so each round
      // that drops one draws again from a smaller set: a page is short only
      // when the set holds fewer batches, never because of what it dropped.
      const found = new Map<string, ExpiryBatch>();
      for (let dropped = true; dropped && found.size < limit;) {
        const ids = (
          await this.channel.command('pendingBatches', undefined, () =>
            client.srandmember(unpublished, limit),
          )
        ).filter((id) => !found.has(id));
        if (ids.length === 0) break;
        const values = await this.channel.command('pendingBatches', undefined, () =>
          client.hmget(outbox, ...ids),
        );
        const gone: string[] = [];
        const unreadable: string[] = [];
        ids.forEach((id, i) => {
          const value = values[i];
          // Gone: a consumer already acknowledged it (the publisher died after
          // publishing, before marking it published).
          if (value === null || value === undefined) gone.push(id);
          else {
            const batch = decodeOutboxBatch(bucket, id, value);
            if (batch === undefined) unreadable.push(id);
            else if (found.size < limit) found.set(id, batch);
          }
        });
        // Only the sweep script writes the outbox: a field it cannot have
        // written would be retried by every sweep of the bucket forever.
        if (unreadable.length > 0) {
          await this.channel.command('pendingBatches', undefined, () =>
            client.hdel(outbox, ...unreadable),
          );
        }
        dropped = gone.length + unreadable.length > 0;
        if (dropped) {
          await this.channel.command('pendingBatches', undefined, () =>
            client.srem(unpublished, ...gone, ...unreadable),
          );
        }
      }
      const batches = [...found.values()];
      return batches;
    });
  }

  /**
   * Mark a batch published: its reference is on the events queue, and the
   * batch stays in the outbox until a consumer acknowledges it
   * (`RedisExpiryOutbox.ack`). {@link pendingBatches} no longer
   * returns it. Idempotent.
   *
   * @returns whether it was still unpublished
   * @throws StorageUnavailableError
   */
  public markPublished(bucket: number, batchId: string): Promise<boolean> {
    return this.channel.track('markPublished', async () => {
      this.assertBucket(bucket, 'markPublished');
      const removed = await this.channel.command('markPublished', undefined, () =>
        this.channel.client.srem(this.channel.keys.unpublishedBucket(bucket), batchId),
      );
      return removed === 1;
    });
  }

  /**
   * Remove a batch from its bucket's outbox for good: its expiries were
   * handled (or handed to a local listener only, which acknowledges
   * nothing). Idempotent.
   *
   * @returns whether it was still there
   * @throws StorageUnavailableError
   */
  public ackBatch(bucket: number, batchId: string): Promise<boolean> {
    return this.channel.track('ackBatch', async () => {
      this.assertBucket(bucket, 'ackBatch');
      const { client, keys } = this.channel;
      const removed = await this.channel.command('ackBatch', undefined, () =>
        ackOutboxBatch(client, keys, bucket, batchId),
      );
      return removed;
    });
  }

  /**
   * Expiries left in the per-expiry outbox that releases before batched
   * expiry events wrote (this release never writes it), oldest expiry
   * first: a sweeper drains them once after an upgrade, so nothing an older
   * sweeper swept and did not publish is lost.
   *
   * @param limit most entries to return
   * @throws SessionValidationError `INVALID_ARGUMENT`
   * @throws StorageUnavailableError
   */
  public pendingExpired(bucket: number, limit: number): Promise<SweptExpiry[]> {
    return this.channel.track('pendingExpired', async () => {
      this.assertBucket(bucket, 'pendingExpired');
      assertSweepArgs(0, limit);
      const reply = await this.channel.command('pendingExpired', undefined, () =>
        this.channel.client.zrange(
          this.channel.keys.pendingBucket(bucket),
          '0',
          String(limit - 1),
          'WITHSCORES',
        ),
      );
      return scoredMembers(reply, 'pendingExpired').map(([member, expiresAt]) =>
        legacyPendingEntry(bucket, member, expiresAt),
      );
    });
  }

  /**
   * Remove published expiries from the per-expiry outbox of earlier
   * releases (see {@link pendingExpired}). Idempotent.
   *
   * @returns how many were still pending
   * @throws StorageUnavailableError
   */
  public ackExpired(bucket: number, expiries: readonly SweptExpiry[]): Promise<number> {
    return this.channel.track('ackExpired', async () => {
      this.assertBucket(bucket, 'ackExpired');
      if (expiries.length === 0) return 0;
      const members = expiries.map(legacyPendingMember);
      return this.channel.command('ackExpired', undefined, () =>
        this.channel.client.zrem(this.channel.keys.pendingBucket(bucket), ...members),
      );
    });
  }

  /**
   * Ids of the sessions live by the expiry index (score > now), bucket by
   * bucket. For administration and express-session's `all`/`ids`/`length`/
   * `clear`: it reads every bucket whole, so it costs O(sessions); never put
   * it on a request path. A session whose index entry is stale may be
   * missing until its next write (see the index invariant in the README).
   *
   * @throws StorageUnavailableError
   */
  public listSessionIds(): Promise<string[]> {
    return this.channel.track('listSessionIds', async () => {
      const now = this.channel.clock.now();
      const buckets = await Promise.all(
        Array.from({ length: this.bucketCount }, (_, bucket) =>
          this.channel.command('listSessionIds', undefined, () =>
            this.channel.client.zrangebyscore(
              this.channel.keys.expiryBucket(bucket),
              `(${now}`,
              '+inf',
            ),
          ),
        ),
      );
      return buckets.flat();
    });
  }

  /**
   * Drop swept sessions from their owners' indexes (see {@link sweepExpired}).
   * Best effort: the sessions are gone and reported, and a member left
   * behind is dropped by the index's next reader or goes with the index.
   */
  private async trimUserIndexes(expired: readonly SweptExpiry[]): Promise<void> {
    const byUser = new Map<string, ScriptArg[]>();
    for (const { id, userId, createdAt } of expired) {
      if (userId === undefined) continue;
      const members = byUser.get(userId) ?? [];
      // Expired: no later write can index this creation again.
      members.push(id, createdAt === undefined ? '' : anyMemberOf(createdAt));
      byUser.set(userId, members);
    }
    await Promise.allSettled(
      [...byUser].map(([userId, members]) =>
        this.channel.script(
          'sweepExpired',
          'removeUserIndexMembers',
          undefined,
          [this.channel.keys.userIndex(userId)],
          members,
        ),
      ),
    );
  }

  private assertBucket(bucket: unknown, operation: string): asserts bucket is number {
    if (
      typeof bucket !== 'number' ||
      !Number.isSafeInteger(bucket) ||
      bucket < 0 ||
      bucket >= this.bucketCount
    ) {
      throw new SessionValidationError(
        `bucket must be an integer from 0 to ${this.bucketCount - 1}`,
        { field: 'bucket', operation },
      );
    }
  }

  private async sweepBucketUnchecked(
    bucket: number,
    now: number,
    limit: number,
    pending = false,
  ): Promise<BucketSweepResult> {
    const raw = await this.channel.script(
      'sweepBucket',
      'sweepBucket',
      undefined,
      [
        this.channel.keys.expiryBucket(bucket),
        this.channel.keys.sessionKeyPrefix(bucket),
        this.channel.keys.outboxBucket(bucket),
        this.channel.keys.unpublishedBucket(bucket),
      ],
      [now, limit, pending ? 'pending' : ''],
    );
    const result = decodeSweepReply(raw, bucket);
    // Deleted through the tracked client: Redis does not tell this instance
    // (NOLOOP). The cached copy is expired by now anyway, unless the caller's
    // `now` runs ahead of the store clock.
    if (this.channel.cache !== undefined)
      for (const swept of result.expired) this.channel.cache.invalidate(swept.id);
    return result;
  }
}

function assertSweepArgs(now: unknown, limit: unknown): void {
  assertEpochMs(now, 'now', 'sweepExpired');
  assertPositiveInteger(limit, 'limit', 'sweepExpired');
}
