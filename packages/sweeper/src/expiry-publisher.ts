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
 * (the local hook, only when it has listeners).
 *
 * A batch the sweep recorded in the outbox is published as a reference
 * (prefix, bucket, batch id): the consumer reads the expiries from the
 * outbox and acknowledges the batch there once it has handled them. Only a
 * batch that is not in the outbox (a page of the per-expiry outbox of
 * earlier releases) travels as job data.
 *
 * The job id is the outbox batch's (see `expiryBatchJobId`) and the job is
 * kept `dedupeWindowMs` after completion: within that window, publishing
 * the same batch again adds nothing (and after it, the new job finds the
 * batch already acknowledged and handles nothing). Consumers get
 * at-least-once delivery with `attempts` tries (exponential backoff);
 * `consumeExpiredSessions` retries only the expiries whose handler failed.
 */
export class EventsQueuePublisher implements ExpiryPublisher {
  private readonly jobOptions: JobsOptions;

  /**
   * @param queue the events queue; `undefined` publishes to the local hook only
   * @param prefix the store's key prefix, for the consumer to find the outbox
   * @param commandTimeoutMs the queue client's timeout (tells a timeout from a refusal)
   * @param wantsLocalEvents whether anyone listens to the local hook; events
   *   are built (a SHA-256 each) only for a listener
   */
  public constructor(
    private readonly queue: Queue<ExpiryBatchJobData> | undefined,
    private readonly prefix: string,
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
   *   job (it may have been added: the caller does not mark it published,
   *   and the republish under the same job id adds nothing)
   */
  public async publish(
    batch: ExpiryBatch,
    publishedAt: number,
    inOutbox: boolean,
  ): Promise<boolean> {
    const queue = this.queue;
    let events: SessionExpiredEvent[] | undefined;
    const eventsOf = (): SessionExpiredEvent[] =>
      (events ??= batch.expiries.map((expiry) => expiryEvent(expiry, publishedAt)));
    if (queue !== undefined) {
      const data: ExpiryBatchJobData = {
        prefix: this.prefix,
        bucket: batch.bucket,
        batchId: batch.id,
        publishedAt,
        size: batch.expiries.length,
        ...(inOutbox ? {} : { expiries: eventsOf() }),
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
    if (this.wantsLocalEvents()) for (const event of eventsOf()) this.onEvent(event);
    return queue !== undefined;
  }
}
