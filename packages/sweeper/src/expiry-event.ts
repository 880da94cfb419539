import { createHash } from 'node:crypto';
import { hashSessionId } from '@session-cluster/core';
import type { ExpiryBatch, SweptExpiry } from '@session-cluster/store-redis';
import { FIELD_SEPARATOR } from '@session-cluster/store-redis';

/**
 * BullMQ job name of an expiry batch on the events queue: one job per sweep
 * batch, referring to that batch in the store's outbox (see
 * {@link ExpiryBatchJobData}).
 */
export const EXPIRED_BATCH_NAME = 'session.expired.batch';

/**
 * BullMQ job name of the one-job-per-session events that releases before
 * batched events published (data: one {@link SessionExpiredEvent}).
 * `consumeExpiredSessions` still accepts them, to drain an old queue.
 */
export const EXPIRED_EVENT_NAME = 'session.expired';

/**
 * A session expired and was swept: one element of an expiry batch (what
 * `consumeExpiredSessions` hands its handler), and the payload of the
 * sweeper's local `expired` event. Never carries the raw session id.
 */
export interface SessionExpiredEvent {
  /** `hashSessionId(id)`: the id's short hash, as in logs and spans. */
  readonly sessionIdHash: string;
  /** The session's owner, `null` for an anonymous session. */
  readonly userId: string | null;
  /** The session's expiry (epoch ms): with `sessionIdHash`, identifies this expiry. */
  readonly expiredAt: number;
  /** When the session was created (epoch ms), `null` when unknown. */
  readonly createdAt: number | null;
  /** ms between `expiredAt` and the sweep that published the event (≥ 0). */
  readonly lateness: number;
  /** The expiry bucket it was swept from. */
  readonly bucket: number;
}

/**
 * The data of one {@link EXPIRED_BATCH_NAME} job: a reference to an outbox
 * batch, not the batch. The expiries stay in the bucket's outbox, where the
 * sweep script recorded them, until `consumeExpiredSessions` has handled
 * them all (`RedisExpiryOutbox` of store-redis): written once, read once.
 */
export interface ExpiryBatchJobData {
  /** The store's key prefix (where the outbox is). */
  readonly prefix: string;
  /** The expiry bucket the batch was swept from. */
  readonly bucket: number;
  /** The outbox batch id (see `RedisStore.pendingBatches`). */
  readonly batchId: string;
  /** When the batch was published (epoch ms, the sweeper's clock). */
  readonly publishedAt: number;
  /** How many expiries the batch was published with. */
  readonly size: number;
  /**
   * The expiries themselves, only when the job carries them instead of the
   * outbox: a page of the per-expiry outbox of earlier releases (never in
   * the batch outbox), and a batch that exhausted its attempts (what never
   * succeeded, kept for inspection or a manual retry). Absent otherwise.
   */
  readonly expiries?: readonly SessionExpiredEvent[];
}

/**
 * The BullMQ job id of an expiry batch: `<bucket>-<batch id>`. Derived from
 * the outbox batch alone, so a retried or duplicated sweep job, or a worker
 * republishing a crashed worker's outbox, adds the same job id, and BullMQ
 * ignores an add whose job id exists.
 */
export function expiryBatchJobId(batch: Pick<ExpiryBatch, 'bucket' | 'id'>): string {
  return `${batch.bucket}-${batch.id}`;
}

/**
 * The id the sweep script gives a batch (sweepBucket-4.lua): the first 32
 * hex chars of sha1(`sid US expiresAt`) of its first expiry. For batches the
 * script did not record: the per-expiry outbox of earlier releases, and
 * sweeps without an outbox.
 */
export function expiryBatchId(expiries: readonly SweptExpiry[]): string {
  const first = expiries[0];
  if (first === undefined) return '';
  return createHash('sha1')
    .update(`${first.id}${FIELD_SEPARATOR}${first.expiresAt}`)
    .digest('hex')
    .slice(0, 32);
}

/** The event of one swept expiry, published at `publishedAt`. */
export function expiryEvent(expiry: SweptExpiry, publishedAt: number): SessionExpiredEvent {
  return {
    sessionIdHash: hashSessionId(expiry.id),
    userId: expiry.userId ?? null,
    expiredAt: expiry.expiresAt,
    createdAt: expiry.createdAt ?? null,
    lateness: Math.max(0, publishedAt - expiry.expiresAt),
    bucket: expiry.bucket,
  };
}

/**
 * True when `value` has the shape of a {@link SessionExpiredEvent} (what a
 * consumer should check before trusting job data).
 */
export function isSessionExpiredEvent(value: unknown): value is SessionExpiredEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  return (
    typeof event['sessionIdHash'] === 'string' &&
    (event['userId'] === null || typeof event['userId'] === 'string') &&
    typeof event['expiredAt'] === 'number' &&
    (event['createdAt'] === null || typeof event['createdAt'] === 'number') &&
    typeof event['lateness'] === 'number' &&
    typeof event['bucket'] === 'number'
  );
}

/** True when `value` has the shape of an {@link ExpiryBatchJobData}, any expiries it carries included. */
export function isExpiryBatchJobData(value: unknown): value is ExpiryBatchJobData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Record<string, unknown>;
  const expiries = data['expiries'];
  return (
    typeof data['prefix'] === 'string' &&
    typeof data['bucket'] === 'number' &&
    typeof data['batchId'] === 'string' &&
    typeof data['publishedAt'] === 'number' &&
    typeof data['size'] === 'number' &&
    (expiries === undefined || (Array.isArray(expiries) && expiries.every(isSessionExpiredEvent)))
  );
}
