import { performance } from 'node:perf_hooks';
import { toStoreError } from '@session-cluster/store-redis';
import type { ExpiryBatch } from '@session-cluster/store-redis';
import type { JobsOptions, Queue } from 'bullmq';
import type { ExpiryPublisher } from './bucket-sweep.js';
import { EXPIRED_BATCH_NAME, expiryBatchJobId, expiryEvent } from './expiry-event.js';
import type { ExpiryBatchJobData, SessionExpiredEvent } from './expiry-event.js';

/** Settings of the event jobs (what a consumer's Worker gets). */
export interface EventJobSettings {
  readonly attempts: number;
  readonly backoffMs: number;
  readonly dedupeWindowMs: number;
  readonly keepFailedMs: number;
}

/**
 * Publishes each expiry batch as ONE `session.expired.batch` job on the
 * events queue (when there is one), then hands each event to `onEvent`
 * (the local hook).
 *
 * The job id is the outbox batch's (see `expiryBatchJobId`) and the job is
 * kept `dedupeWindowMs` after completion: within that window, publishing
 * the same batch again adds nothing. Consumers get at-least-once delivery
 * with `attempts` tries (exponential backoff); `consumeExpiredSessions`
 * retries only the expiries whose handler failed.
 */
export class EventsQueuePublisher implements ExpiryPublisher {
  private readonly jobOptions: JobsOptions;

  /**
   * @param queue the events queue; `undefined` publishes to the local hook only
   * @param commandTimeoutMs the queue client's timeout (tells a timeout from a refusal)
   * @param wantsLocalEvents whether anyone listens to the local hook; with no queue
   *   and no listener nothing is built
   */
  public constructor(
    private readonly queue: Queue<ExpiryBatchJobData> | undefined,
    settings: EventJobSettings,
    private readonly onEvent: (event: SessionExpiredEvent) => void,
    private readonly commandTimeoutMs: number,
    private readonly wantsLocalEvents: () => boolean = () => true,
  ) {
    this.jobOptions = {
      attempts: settings.attempts,
      backoff: { type: 'exponential', delay: settings.backoffMs },
      // BullMQ counts ages in seconds.
      removeOnComplete: { age: Math.ceil(settings.dedupeWindowMs / 1000) },
      removeOnFail: { age: Math.ceil(settings.keepFailedMs / 1000) },
    };
  }

  /**
   * @throws StorageUnavailableError when the events queue could not take the
   *   job (it may have been added: the caller does not acknowledge, and the
   *   republish under the same job id adds nothing)
   */
  public async publish(batch: ExpiryBatch, publishedAt: number): Promise<void> {
    const queue = this.queue;
    // Nobody would receive them: skip building events (a SHA-256 each).
    if (queue === undefined && !this.wantsLocalEvents()) return;
    const events = batch.expiries.map((expiry) => expiryEvent(expiry, publishedAt));
    if (queue !== undefined) {
      const data: ExpiryBatchJobData = {
        bucket: batch.bucket,
        batchId: batch.id,
        publishedAt,
        size: events.length,
        expiries: events,
      };
      const began = performance.now();
      try {
        await queue.add(EXPIRED_BATCH_NAME, data, {
          ...this.jobOptions,
          jobId: expiryBatchJobId(batch),
        });
      } catch (error) {
        throw toStoreError(error, {
          operation: 'publishExpired',
          elapsedMs: performance.now() - began,
          commandTimeoutMs: this.commandTimeoutMs,
        });
      }
    }
    for (const event of events) this.onEvent(event);
  }
}
