import { performance } from 'node:perf_hooks';
import { toStoreError } from '@session-cluster/store-redis';
import type { SweptExpiry } from '@session-cluster/store-redis';
import type { JobsOptions, Queue } from 'bullmq';
import type { ExpiryPublisher } from './bucket-sweep.js';
import { EXPIRED_EVENT_NAME, expiryEventJob } from './expiry-event.js';
import type { SessionExpiredEvent } from './expiry-event.js';

/**
 * Jobs per `addBulk`. One `addBulk` is one MULTI of as many BullMQ scripts:
 * small enough not to hold Redis for long, large enough to amortise round trips.
 */
export const PUBLISH_CHUNK = 500;

/** Settings of the event jobs (what a consumer's Worker gets). */
export interface EventJobSettings {
  readonly attempts: number;
  readonly backoffMs: number;
  readonly dedupeWindowMs: number;
  readonly keepFailedMs: number;
}

/**
 * Publishes expiries as `session.expired` jobs on the events queue (when
 * there is one) and then hands each event to `onEvent` (the local hook).
 *
 * Every job gets the expiry's deterministic id (see `expiryEventJob`) and is
 * kept `dedupeWindowMs` after completion: within that window, publishing
 * the same expiry again adds nothing. Consumers get at-least-once delivery
 * with `attempts` tries each (exponential backoff).
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
    private readonly queue: Queue | undefined,
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
   *   jobs (some may have been added: the caller does not acknowledge, and
   *   the republish is deduplicated)
   */
  public async publish(expiries: readonly SweptExpiry[], sweptAt: number): Promise<void> {
    const queue = this.queue;
    // Nobody would receive them: skip building events (a SHA-256 each, a
    // good part of the worker's CPU per swept session).
    if (queue === undefined && !this.wantsLocalEvents()) return;
    const jobs = expiries.map((expiry) => expiryEventJob(expiry, sweptAt));
    if (queue !== undefined) {
      for (let start = 0; start < jobs.length; start += PUBLISH_CHUNK) {
        const chunk = jobs.slice(start, start + PUBLISH_CHUNK).map((job) => ({
          name: EXPIRED_EVENT_NAME,
          data: job.event,
          opts: { ...this.jobOptions, jobId: job.jobId },
        }));
        const began = performance.now();
        try {
          await queue.addBulk(chunk);
        } catch (error) {
          throw toStoreError(error, {
            operation: 'publishExpired',
            elapsedMs: performance.now() - began,
            commandTimeoutMs: this.commandTimeoutMs,
          });
        }
      }
    }
    for (const job of jobs) this.onEvent(job.event);
  }
}
