import { performance } from 'node:perf_hooks';
import type { Clock } from '@session-cluster/core';
import type { RedisStore, SweptExpiry } from '@session-cluster/store-redis';

/** What one sweep job of one bucket did. */
export interface BucketSweepReport {
  /** The bucket swept. */
  readonly bucket: number;
  /** Sessions this job found expired and removed. */
  readonly expired: number;
  /** Index members dropped because their session was already gone (no event: nothing is known). */
  readonly orphans: number;
  /** Expiries left unacknowledged by an earlier (crashed or concurrent) job, published again. */
  readonly republished: number;
  /** Events published by this job: `expired` + `republished`. */
  readonly published: number;
  /** Batches taken (non-empty outbox pages and sweep calls), at most `maxBatchesPerJob`. */
  readonly batches: number;
  /** True when due entries were left: the batch budget ran out or the sweeper is stopping. */
  readonly more: boolean;
  /** Wall time of the job, ms. */
  readonly durationMs: number;
}

/** Where a job's expiries go: the events queue and the local `expired` event. */
export interface ExpiryPublisher {
  /**
   * Publish one event per expiry. Resolves once they are durable (added to
   * the events queue); only then may the caller acknowledge them.
   */
  publish(expiries: readonly SweptExpiry[], sweptAt: number): Promise<void>;
}

/** What {@link sweepOneBucket} needs. */
export interface BucketSweepContext {
  readonly store: Pick<RedisStore, 'sweepBucket' | 'pendingExpired' | 'ackExpired' | 'listByUser'>;
  readonly publisher: ExpiryPublisher;
  readonly clock: Clock;
  readonly batchSize: number;
  readonly maxBatches: number;
  /**
   * Record each expiry in the bucket's outbox (pending set) atomically with
   * its removal, and acknowledge it after publishing: true when events go to
   * the events queue, whose delivery must survive a crash.
   */
  readonly useOutbox: boolean;
  /** Checked between batches: true once the sweeper is shutting down. */
  readonly stopping: () => boolean;
}

/**
 * One sweep job of one bucket.
 *
 * 1. **Outbox first.** Expiries an earlier job swept but did not acknowledge
 *    (it crashed between the sweep and the ack, or is still publishing them
 *    right now) are published again and acknowledged. Publishing is
 *    idempotent per expiry (deterministic job id), so racing a live job is
 *    harmless. On Cluster, a job that crashed right after its Lua call also
 *    never trimmed the user indexes (the store does that after the call
 *    there; on a standalone server the script does it), so the owners'
 *    indexes are repaired here through `listByUser`, which drops members
 *    whose session is gone.
 * 2. **Sweep.** Then batches of `sweepBucket(bucket, now, batchSize)`: one
 *    Lua call each, which re-checks every due session's expiry (a session
 *    touched meanwhile survives and its index score is fixed), deletes the
 *    expired ones with their index entry and records them in the outbox, in
 *    one atomic step — so each expiry is reported by exactly one call, ever,
 *    whatever the number of workers. Each batch is published, then
 *    acknowledged.
 *
 * At most `maxBatches` batches (an empty outbox read does not count), and none started once `stopping()` is
 * true: the work per job is bounded, and a shutdown finishes only the batch
 * in hand. Any failure rejects (the job fails); whatever was swept but not
 * acknowledged stays in the outbox for the bucket's next job.
 */
export async function sweepOneBucket(
  context: BucketSweepContext,
  bucket: number,
): Promise<BucketSweepReport> {
  const { store, publisher, clock, batchSize, maxBatches, useOutbox } = context;
  const started = performance.now();
  let batches = 0;
  let expired = 0;
  let orphans = 0;
  let republished = 0;
  let more = false;
  const budgetLeft = (): boolean => batches < maxBatches && !context.stopping();

  // Drained even when events are off: an outbox left by an earlier
  // configuration must not grow forever.
  for (;;) {
    if (!budgetLeft()) {
      more = true;
      break;
    }
    const pending = await store.pendingExpired(bucket, batchSize);
    if (pending.length === 0) break;
    batches += 1;
    await publisher.publish(pending, clock.now());
    await store.ackExpired(bucket, pending);
    await repairUserIndexes(store, pending);
    republished += pending.length;
    if (pending.length < batchSize) break;
  }

  while (!more) {
    if (!budgetLeft()) {
      more = true;
      break;
    }
    const now = clock.now();
    const result = await store.sweepBucket(bucket, now, batchSize, { pending: useOutbox });
    batches += 1;
    expired += result.expired.length;
    orphans += result.orphansRemoved;
    if (result.expired.length > 0) {
      await publisher.publish(result.expired, now);
      if (useOutbox) await store.ackExpired(bucket, result.expired);
    }
    if (!result.more) break;
  }

  return {
    bucket,
    expired,
    orphans,
    republished,
    published: expired + republished,
    batches,
    more,
    durationMs: performance.now() - started,
  };
}

/**
 * Let the store drop the stale user-index members of these expiries (its
 * `listByUser` removes members whose session is gone). Best effort: a
 * failure leaves a stale member that the next `listByUser` drops anyway.
 * Only on the outbox path, which runs after crashes, so rarely.
 */
async function repairUserIndexes(
  store: Pick<RedisStore, 'listByUser'>,
  expiries: readonly SweptExpiry[],
): Promise<void> {
  const owners = new Set<string>();
  for (const expiry of expiries) if (expiry.userId !== undefined) owners.add(expiry.userId);
  await Promise.allSettled([...owners].map((userId) => store.listByUser(userId)));
}
