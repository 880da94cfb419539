import { createHash } from 'node:crypto';
import type { SweptExpiry } from '@session-cluster/store-redis';

/** BullMQ job name of every expiry event on the events queue. */
export const EXPIRED_EVENT_NAME = 'session.expired';

/**
 * A session expired and was swept: the data of each `session.expired` job
 * on the events queue, and the payload of the sweeper's local `expired`
 * event. Never carries the raw session id.
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

/** An event ready to publish: its deterministic BullMQ job id and its data. */
export interface ExpiryEventJob {
  readonly jobId: string;
  readonly event: SessionExpiredEvent;
}

/**
 * The event of one swept expiry, with the job id that makes republishing
 * it a no-op: `<first 32 hex chars of sha256(id)>-<expiresAt>`. An expiry is
 * identified by its session id and expiry time, so a retried or duplicated
 * sweep job, or a worker republishing a crashed worker's outbox, adds the
 * same job id and BullMQ ignores the add while the first job exists.
 *
 * 128 bits of the digest, not the 48 of `sessionIdHash`: across a million
 * sessions expiring in the same millisecond, 48 bits would collide (and
 * silently swallow an event) with a probability near 0.2 %. The digest is
 * computed once: `sessionIdHash` is its first 12 hex chars, which is
 * exactly `hashSessionId` (checked by a test).
 */
export function expiryEventJob(expiry: SweptExpiry, sweptAt: number): ExpiryEventJob {
  const digest = createHash('sha256').update(expiry.id).digest('hex');
  return {
    jobId: `${digest.slice(0, 32)}-${expiry.expiresAt}`,
    event: {
      sessionIdHash: digest.slice(0, 12),
      userId: expiry.userId ?? null,
      expiredAt: expiry.expiresAt,
      createdAt: expiry.createdAt ?? null,
      lateness: Math.max(0, sweptAt - expiry.expiresAt),
      bucket: expiry.bucket,
    },
  };
}

/**
 * True when `value` has the shape of a {@link SessionExpiredEvent} (what a
 * consumer should check on `job.data` before trusting it).
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
