import { SessionValidationError } from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import { decodeOutboxBatch, encodeOutboxExpiries } from './expiry-outbox.js';
import type { ExpiryBatch, SweptExpiry } from './expiry-outbox.js';
import { storeCall } from './redis-errors.js';
import { MAX_BUCKETS, RedisKeys } from './redis-keys.js';
import { RedisScripts } from './redis-scripts.js';

/**
 * HDEL the batch, then SREM its id from the unpublished set, in one MULTI
 * (same slot): a batch is never left in the outbox with nothing referring
 * to it, and an id left in the set without its batch is dropped by the next
 * `pendingBatches`.
 *
 * @returns whether the batch was still in the outbox
 */
export async function ackOutboxBatch(
  client: Redis | Cluster,
  keys: RedisKeys,
  bucket: number,
  batchId: string,
): Promise<boolean> {
  const replies = await client
    .multi()
    .hdel(keys.outboxBucket(bucket), batchId)
    .srem(keys.unpublishedBucket(bucket), batchId)
    .exec();
  const [error, removed] = replies?.[0] ?? [new Error('ackBatch: MULTI was discarded'), 0];
  if (error) throw error;
  return removed === 1;
}

/**
 * The consumer's side of the expiry outbox. An expiry batch job on the
 * events queue carries only a reference (store prefix, bucket, batch id);
 * the batch itself stays where the sweep script recorded it, in the
 * bucket's outbox, until the consumer has handled it. So each expiry is
 * written to Redis once (by the sweep) and read once (here), instead of
 * travelling again as job data.
 *
 * Not a store: no options but the client's, no session access. Used by
 * `consumeExpiredSessions` (`@session-cluster/sweeper`).
 */
export class RedisExpiryOutbox {
  private readonly scripts: RedisScripts;
  private readonly keys = new Map<string, RedisKeys>();

  /**
   * @param client any client of the store's Redis (a Cluster client on
   *   Cluster: the outboxes live in the buckets' slots)
   * @param commandTimeoutMs the client's `commandTimeout` (tells a timeout
   *   from a refusal in errors)
   */
  public constructor(
    private readonly client: Redis | Cluster,
    private readonly commandTimeoutMs: number,
  ) {
    this.scripts = new RedisScripts(client);
  }

  /**
   * The batch as the sweep recorded it (or as {@link keep} left it);
   * `undefined` when it is not there: already acknowledged, or a value the
   * sweep cannot have written.
   *
   * @param prefix the store's key prefix
   * @throws SessionValidationError `INVALID_ARGUMENT` for a bad prefix or bucket
   * @throws StorageUnavailableError
   */
  public async read(
    prefix: string,
    bucket: number,
    batchId: string,
  ): Promise<ExpiryBatch | undefined> {
    const keys = this.keysOf(prefix, bucket, 'readExpiryBatch');
    const value = await this.call('readExpiryBatch', () =>
      this.client.hget(keys.outboxBucket(bucket), batchId),
    );
    return value === null ? undefined : decodeOutboxBatch(bucket, batchId, value);
  }

  /**
   * Replace the batch with `expiries` (what is left to handle), only if it
   * is still in the outbox: a retry then reads just those.
   *
   * @returns whether it was still there
   * @throws SessionValidationError `INVALID_ARGUMENT`
   * @throws StorageUnavailableError
   */
  public async keep(
    prefix: string,
    bucket: number,
    batchId: string,
    expiries: readonly SweptExpiry[],
  ): Promise<boolean> {
    const keys = this.keysOf(prefix, bucket, 'keepExpiryBatch');
    if (expiries.length === 0) return this.ack(prefix, bucket, batchId);
    const kept = await this.call('keepExpiryBatch', () =>
      this.scripts.run(
        'keepExpiryBatch',
        [keys.outboxBucket(bucket)],
        [batchId, encodeOutboxExpiries(expiries)],
      ),
    );
    return kept === 1;
  }

  /**
   * Remove the batch for good: every expiry in it was handled. Idempotent.
   *
   * @returns whether it was still there
   * @throws SessionValidationError `INVALID_ARGUMENT`
   * @throws StorageUnavailableError
   */
  public async ack(prefix: string, bucket: number, batchId: string): Promise<boolean> {
    const keys = this.keysOf(prefix, bucket, 'ackExpiryBatch');
    return this.call('ackExpiryBatch', () => ackOutboxBatch(this.client, keys, bucket, batchId));
  }

  private keysOf(prefix: string, bucket: number, operation: string): RedisKeys {
    if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket >= MAX_BUCKETS) {
      throw new SessionValidationError(`bucket must be an integer from 0 to ${MAX_BUCKETS - 1}`, {
        field: 'bucket',
        operation,
      });
    }
    let keys = this.keys.get(prefix);
    if (keys === undefined) {
      try {
        // The outbox keys do not depend on the bucket count.
        keys = new RedisKeys(prefix, MAX_BUCKETS);
      } catch {
        throw new SessionValidationError('prefix is not a store key prefix', {
          field: 'prefix',
          operation,
        });
      }
      this.keys.set(prefix, keys);
    }
    return keys;
  }

  private call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    return storeCall({ operation, commandTimeoutMs: this.commandTimeoutMs }, send);
  }
}
