import { performance } from 'node:perf_hooks';
import type { Clock, SweepOutcome } from '@session-cluster/core';
import type { ExpiryBatch, RedisStore } from '@session-cluster/store-redis';
import { expiryBatchId } from './expiry-event.js';

/** What one sweep job of one bucket did. */
export interface BucketSweepReport extends SweepOutcome {
  /** The bucket swept. */
  readonly bucket: number;
  /** Wall time of the job, ms. */
  readonly durationMs: number;
}

/** Where a job's expiries go: the events queue and the local `expired` event. */
export interface ExpiryPublisher {
  /**
   * Publish one batch: a reference to it when `inOutbox` (the consumer
   * reads it there), else the batch itself. Resolves once it is durable
   * (added to the events queue); only then may the caller mark it
   * published. Publishing the same batch (same bucket and id) again must
   * add nothing.
   *
   * @returns true when it went to the events queue (whose consumer
   *   acknowledges the outbox batch), false when only to the local hook
   *   (nobody will: the caller acknowledges it)
   */
  publish(batch: ExpiryBatch, publishedAt: number, inOutbox: boolean): Promise<boolean>;
}

/** What {@link sweepOneBucket} needs. */
export interface BucketSweepContext {
  readonly store: Pick<
    RedisStore,
    | 'sweepBucket'
    | 'pendingBatches'
    | 'markPublished'
    | 'ackBatch'
    | 'pendingExpired'
    | 'ackExpired'
  >;
  readonly publisher: ExpiryPublisher;
  readonly clock: Clock;
  readonly batchSize: number;
  readonly maxBatches: number;
  /**
   * Record each batch in the bucket's outbox atomically with its removal,
   * publish a reference to it and mark it published; its consumer
   * acknowledges it: true when events go to the events queue, whose
   * delivery must survive a crash.
   */
  readonly useOutbox: boolean;
  /** Checked between batches: true once the sweeper is shutting down. */
  readonly stopping: () => boolean;
}

/** Outbox batches read per round trip while draining. */
const OUTBOX_PAGE = 16;

/**
 * One sweep job of one bucket.
 *
 * 1. **Outbox first.** Batches an earlier job swept but did not mark
 *    published (it crashed between the sweep and the mark, or is still
 *    publishing them right now) are published again, under their own id,
 *    and marked published. A batch published twice is added once (its job
 *    id is its outbox id), so racing a live job is harmless; a batch a
 *    consumer already acknowledged is no longer returned. The per-expiry
 *    outbox of earlier releases is drained the same way, a page per batch.
 *    (Nothing else is left to repair: the sweep never trims user indexes,
 *    whose readers drop the members of swept sessions.)
 * 2. **Sweep.** Then batches of `sweepBucket(bucket, now, batchSize)`: one
 *    Lua call each, which re-checks every due session's expiry (a session
 *    touched meanwhile survives and its index score is fixed), deletes the
 *    expired ones with their expiry-index entry and records them in the outbox as
 *    one batch, in one atomic step — so each expiry is reported by exactly
 *    one call, ever, whatever the number of workers. Each batch is
 *    published (a reference: the expiries stay in the outbox until its
 *    consumer acknowledges them), then marked published, while the next
 *    one is swept.
 *
 * At most `maxBatches` batches (an empty outbox read does not count), and
 * none started once `stopping()` is true: the work per job is bounded, and a
 * shutdown finishes only the batch in hand. Any failure rejects (the job
 * fails); whatever was swept but not marked published stays among the
 * outbox's unpublished batches for the bucket's next job.
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
  const republish = async (
    batch: ExpiryBatch,
    inOutbox: boolean,
    ack: (queued: boolean) => Promise<unknown>,
  ): Promise<void> => {
    batches += 1;
    await ack(await publisher.publish(batch, clock.now(), inOutbox));
    republished += batch.expiries.length;
  };
  // An outbox batch on the events queue waits there for its consumer's
  // acknowledgement; one that went to the local hook only is done.
  const settle = (id: string, queued: boolean): Promise<boolean> =>
    queued ? store.markPublished(bucket, id) : store.ackBatch(bucket, id);

  // Drained even when events are off: an outbox left by an earlier
  // configuration must not stay forever.
  drain: for (;;) {
    if (!budgetLeft()) {
      more = true;
      break;
    }
    const page = await store.pendingBatches(bucket, Math.min(OUTBOX_PAGE, maxBatches - batches));
    if (page.length === 0) break;
    for (const batch of page) {
      if (!budgetLeft()) {
        more = true;
        break drain;
      }
      await republish(batch, true, (queued) => settle(batch.id, queued));
    }
  }
  while (!more) {
    if (!budgetLeft()) {
      more = true;
      break;
    }
    const pending = await store.pendingExpired(bucket, batchSize);
    if (pending.length === 0) break;
    // Not in the batch outbox: the job carries these expiries itself.
    await republish({ id: expiryBatchId(pending), bucket, expiries: pending }, false, () =>
      store.ackExpired(bucket, pending),
    );
    if (pending.length < batchSize) break;
  }

  // One batch published while the next is swept: the sweep call and the
  // publish (queue add, then mark) are round trips to different things, and
  // waiting for each in turn left both idle half the time. Depth one: at
  // most the batch being published and the one just swept are unpublished
  // (both republished by the next job if this one dies).
  let publishing: Promise<void> | undefined;
  try {
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
      await publishing;
      publishing = undefined;
      if (result.expired.length > 0) {
        const batch = {
          id: result.batchId ?? expiryBatchId(result.expired),
          bucket,
          expiries: result.expired,
        };
        const { batchId } = result;
        publishing = (async () => {
          const queued = await publisher.publish(batch, now, batchId !== undefined);
          if (batchId !== undefined) await settle(batchId, queued);
        })();
      }
      if (!result.more) break;
    }
    await publishing;
  } catch (error) {
    // Never leave a publish running unobserved; the first failure is the job's.
    await publishing?.catch(() => undefined);
    throw error;
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
