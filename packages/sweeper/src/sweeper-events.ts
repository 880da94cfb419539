import type { SessionError } from '@session-cluster/core';
import type { BucketSweepReport } from './bucket-sweep.js';
import type { SchedulerChanges } from './sweep-schedulers.js';
import type { SessionExpiredEvent } from './expiry-event.js';

/** Payload of the `sweepFailed` event: a sweep job that failed. */
export interface SweepFailure {
  /** The bucket of the job, when its data was readable. */
  readonly bucket: number | undefined;
  /** Why (`STORAGE_UNAVAILABLE`, `STORAGE_TIMEOUT`, …). What it swept stays in the outbox. */
  readonly error: SessionError;
}

/** Payload of the `queueError` event: BullMQ reported a problem outside a job. */
export interface QueueFailure {
  /** Which BullMQ object reported it. */
  readonly source: 'sweep-queue' | 'events-queue' | 'worker';
  /** The error, as a `SessionError` (the BullMQ/ioredis error is its `cause`). */
  readonly error: SessionError;
}

/**
 * Events of {@link ExpirySweeper}. Listeners run synchronously and must not
 * throw (an exception becomes a process warning).
 */
export interface ExpirySweeperEvents {
  /**
   * A session expired and this process published its event (the local hook).
   * At-least-once per process that publishes it: a worker republishing a
   * crashed or concurrent worker's outbox emits it too. For one delivery per
   * expiry across the cluster, consume the events queue.
   */
  expired: [SessionExpiredEvent];
  /** A sweep job of this process finished. */
  swept: [BucketSweepReport];
  /** A sweep job of this process failed (the bucket's next job picks up what is left). */
  sweepFailed: [SweepFailure];
  /** A connection or scheduling error reported by a BullMQ queue or the worker. */
  queueError: [QueueFailure];
  /**
   * After a reconnect, schedulers were missing (Redis came back empty, or a
   * failover promoted a replica that never had them) and were put back.
   */
  schedulersRestored: [SchedulerChanges];
}
