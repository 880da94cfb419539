import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  INSTRUMENTATION_SCOPE,
  SessionValidationError,
  StorageUnavailableError,
  retryPolicyOf,
  sessionChannels,
  toSessionError,
} from '@session-cluster/core';
import type { SessionChannels } from '@session-cluster/core';
import { RedisStore, toStoreError } from '@session-cluster/store-redis';
import { Queue, Worker } from 'bullmq';
import type { Job, Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Cluster, Redis } from 'ioredis';
import { WORKER_COMMAND_TIMEOUT_MS, duplicateForBullmq, quitClient } from './bullmq-clients.js';
import { sweepOneBucket } from './bucket-sweep.js';
import type { BucketSweepContext, BucketSweepReport } from './bucket-sweep.js';
import type { ExpiryBatchJobData } from './expiry-event.js';
import { EventsQueuePublisher } from './expiry-publisher.js';
import { installSweepSchedulers } from './sweep-schedulers.js';
import type { SchedulerChanges, SweepJobData } from './sweep-schedulers.js';
import type { ExpirySweeperEvents, QueueFailure } from './sweeper-events.js';
import { resolveSweeperOptions } from './sweeper-options.js';
import type { ExpirySweeperOptions, ResolvedSweeperOptions } from './sweeper-options.js';

/**
 * How a scheduler restore that failed on a live connection is tried again.
 * The restore runs on every `ready` of the queue connection; an error reply
 * that means "not now" (LOADING from a server still loading its data,
 * READONLY from a replica being promoted, OOM, NOREPLICAS…) or a timeout
 * would otherwise leave the schedulers missing, so no bucket swept, until
 * the next reconnect. From 0.5 s, doubling, at most 30 s apart: ~5 min.
 */
const RESTORE_RETRY = retryPolicyOf({
  maxAttempts: 12,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
});

/** Running totals of one sweeper process (since construction). */
export interface SweeperStats {
  /** Sweep jobs finished (BullMQ jobs and on-demand `sweepBucket`/`sweepAll` calls). */
  readonly jobs: number;
  /** BullMQ sweep jobs of this process that failed (on-demand calls reject instead). */
  readonly failedJobs: number;
  /** Sessions found expired and removed. */
  readonly expired: number;
  /** Index members dropped because their session was already gone. */
  readonly orphans: number;
  /** Outbox entries published again (left by a crashed or concurrent job). */
  readonly republished: number;
  /** Events published (`expired` + `republished`). */
  readonly published: number;
}

/** Outcome of {@link ExpirySweeper.sweepAll}: every bucket once. */
export interface SweepTotals extends Omit<SweeperStats, 'jobs' | 'failedJobs'> {
  /** Buckets swept. */
  readonly buckets: number;
  /** True when some bucket had due entries left (its batch budget ran out). */
  readonly more: boolean;
  /** Wall time, ms. */
  readonly durationMs: number;
}

/**
 * The expiry sweeper: BullMQ job schedulers enqueue one sweep job per
 * expiry bucket per interval, a BullMQ Worker runs them, and each sweep
 * batch is published as one `session.expired.batch` job on the events queue
 * (consume it with {@link consumeExpiredSessions}); each expiry is also
 * emitted locally as `expired`.
 *
 * Any number of sweeper processes may run against one Redis: BullMQ gives
 * each job to one worker, a killed worker's job is handed to another
 * (stalled-job handling), and the sweep itself is one atomic Lua call per
 * batch that reports each expiry exactly once. Publishing goes through an
 * outbox (the bucket's outbox of batches, written by the same Lua call) and
 * job ids derived from the outbox batch, so a crash between sweeping and
 * publishing loses nothing and a republish adds nothing (within
 * `dedupeWindowMs`).
 *
 * @example
 * ```ts
 * const sweeper = new ExpirySweeper({ connection: { url: 'redis://127.0.0.1:6379' } });
 * sweeper.on('expired', (event) => audit(event.sessionIdHash, event.userId));
 * await sweeper.start();
 * process.once('SIGTERM', () => void sweeper.close());
 * ```
 */
export class ExpirySweeper extends EventEmitter<ExpirySweeperEvents> {
  /** The store whose sessions are swept. */
  public readonly store: RedisStore;
  /** The options in force, defaults applied. */
  public readonly options: ResolvedSweeperOptions;

  private readonly ownsStore: boolean;
  private readonly queueClient: Redis | Cluster;
  /** Whether the reconnect hook that puts lost schedulers back is installed. */
  private restoresSchedulers = false;
  /** The restore in progress, with its retries: one at a time (a reconnect meanwhile joins it). */
  private restoring: Promise<void> | undefined;
  /** Cancels a restore's pending retry when the sweeper closes. */
  private readonly restoreAbort = new AbortController();
  private readonly sweepQueue: Queue<SweepJobData>;
  private readonly eventsQueue: Queue<ExpiryBatchJobData> | undefined;
  private readonly bullTelemetry: Telemetry | undefined;
  private readonly channels: SessionChannels;
  private readonly sweepContext: BucketSweepContext;
  private workerClient: Redis | Cluster | undefined;
  private worker: Worker<SweepJobData, BucketSweepReport> | undefined;
  private starting: Promise<SchedulerChanges> | undefined;
  private closing: Promise<void> | undefined;
  /** Sweeps in progress (jobs and on-demand calls): close() lets them finish before the queues close. */
  private readonly running = new Set<Promise<unknown>>();
  private stopping = false;
  private totals: SweeperStats = {
    jobs: 0,
    failedJobs: 0,
    expired: 0,
    orphans: 0,
    republished: 0,
    published: 0,
  };

  /**
   * Checks every option and opens the queue connection; nothing is
   * scheduled or swept until {@link start}.
   *
   * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
   */
  public constructor(options: ExpirySweeperOptions) {
    super();
    this.options = resolveSweeperOptions(options);
    const { clock } = this.options;
    this.ownsStore = options.store === undefined;
    this.store =
      options.store ??
      new RedisStore({
        connection: options.connection,
        prefix: options.prefix,
        buckets: options.buckets,
        clock,
      });
    this.bullTelemetry = this.options.telemetry
      ? new BullMQOtel({ tracerName: INSTRUMENTATION_SCOPE })
      : undefined;
    this.channels = sessionChannels(this.options.telemetry);

    this.queueClient = duplicateForBullmq(
      this.store.client,
      'queue',
      this.options.commandTimeoutMs,
    );
    const queueOptions = {
      connection: this.queueClient,
      prefix: this.options.queuePrefix,
      ...(this.bullTelemetry === undefined ? {} : { telemetry: this.bullTelemetry }),
    };
    this.sweepQueue = new Queue<SweepJobData>(this.options.sweepQueueName, queueOptions);
    this.sweepQueue.on('error', (error) => {
      this.reportQueueError('sweep-queue', error);
    });
    if (this.options.publishEvents) {
      const eventsQueue = new Queue<ExpiryBatchJobData>(this.options.eventsQueueName, queueOptions);
      eventsQueue.on('error', (error) => {
        this.reportQueueError('events-queue', error);
      });
      this.eventsQueue = eventsQueue;
    }

    const publisher = new EventsQueuePublisher(
      this.eventsQueue,
      this.store.prefix,
      {
        attempts: this.options.eventAttempts,
        backoffMs: this.options.eventBackoffMs,
        dedupeWindowMs: this.options.dedupeWindowMs,
        keepFailedMs: this.options.keepFailedEventsMs,
      },
      (event) => {
        this.emitSafely('expired', event);
      },
      this.options.commandTimeoutMs,
      () => this.listenerCount('expired') > 0,
    );
    this.sweepContext = {
      store: this.store,
      publisher,
      clock,
      batchSize: this.options.batchSize,
      maxBatches: this.options.maxBatchesPerJob,
      useOutbox: this.options.publishEvents,
      stopping: () => this.stopping,
    };
  }

  /** Running totals of this process. */
  public get stats(): SweeperStats {
    return { ...this.totals };
  }

  /** The BullMQ queue of expiry batch jobs (`undefined` with `publishEvents: false`). */
  public get expiredEventsQueue(): Queue<ExpiryBatchJobData> | undefined {
    return this.eventsQueue;
  }

  /**
   * Install the job schedulers (one per bucket; extra ones removed) and, with
   * `runWorker`, start the Worker. Idempotent; a failed start may be retried.
   *
   * @returns how many schedulers were created/updated and removed
   * @throws StorageUnavailableError when Redis could not be reached
   */
  public start(): Promise<SchedulerChanges> {
    if (this.closing !== undefined) return Promise.reject(closedError('start'));
    this.starting ??= this.startOnce().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /**
   * Sweep one bucket now, in this process, exactly as a sweep job does
   * (outbox first, then bounded batches). Safe while workers run.
   *
   * @throws SessionValidationError `INVALID_ARGUMENT` for a bucket out of range
   * @throws StorageUnavailableError
   */
  public sweepBucket(bucket: number): Promise<BucketSweepReport> {
    if (this.closing !== undefined) return Promise.reject(closedError('sweepBucket'));
    return this.runSweep(bucket, undefined);
  }

  /**
   * Sweep every bucket once, now, in this process (an on-demand sweep with
   * events; the manager's `cleanupExpired()` sweeps without them).
   *
   * @throws StorageUnavailableError
   */
  public async sweepAll(): Promise<SweepTotals> {
    if (this.closing !== undefined) throw closedError('sweepAll');
    const started = performance.now();
    let expired = 0;
    let orphans = 0;
    let republished = 0;
    let more = false;
    for (let bucket = 0; bucket < this.store.bucketCount; bucket += 1) {
      const report = await this.runSweep(bucket, undefined);
      expired += report.expired;
      orphans += report.orphans;
      republished += report.republished;
      more ||= report.more;
    }
    return {
      buckets: this.store.bucketCount,
      expired,
      orphans,
      republished,
      published: expired + republished,
      more,
      durationMs: performance.now() - started,
    };
  }

  /**
   * Graceful stop: no new batches or jobs are started, the batch in hand and
   * the jobs in progress finish, then every connection the sweeper opened is
   * closed (a caller-owned store stays open). Idempotent.
   */
  public close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      this.restoreAbort.abort();
      // Worker.close() stops fetching and waits for the active jobs, which
      // stop at their next batch boundary.
      await this.worker?.close();
      // On-demand sweeps (sweepBucket/sweepAll) still publishing need the queues.
      await Promise.allSettled([...this.running]);
      await Promise.allSettled([this.sweepQueue.close(), this.eventsQueue?.close()]);
      const clients =
        this.workerClient === undefined
          ? [this.queueClient]
          : [this.queueClient, this.workerClient];
      await Promise.all(clients.map((client) => quitClient(client)));
      if (this.ownsStore) await this.store.close();
    })();
    return this.closing;
  }

  private async startOnce(): Promise<SchedulerChanges> {
    const began = performance.now();
    const budgetMs = this.options.startTimeoutMs;
    try {
      // BullMQ waits for its connection to be ready without any bound: a
      // Redis that is down would hold start() forever. Bound it, and fail
      // with a StorageUnavailableError the caller can act on.
      return await withDeadline(this.installAndRun(), budgetMs, () => {
        return new StorageUnavailableError(
          `The sweeper could not reach Redis within ${budgetMs} ms`,
          { operation: 'start', timeout: true, details: { startTimeoutMs: budgetMs } },
        );
      });
    } catch (error) {
      throw toStoreError(error, {
        operation: 'start',
        elapsedMs: performance.now() - began,
        commandTimeoutMs: this.options.commandTimeoutMs,
      });
    }
  }

  private async installAndRun(): Promise<SchedulerChanges> {
    const changes = await installSweepSchedulers(
      this.sweepQueue,
      this.store.bucketCount,
      this.options.intervalMs,
    );
    // The schedulers live in Redis. A server that comes back empty (no
    // persistence) or a promoted replica that never had them would stop
    // every sweep until each sweeper restarted: check them again on every
    // reconnect. Idempotent, so every process may do it.
    if (!this.restoresSchedulers) {
      this.restoresSchedulers = true;
      this.queueClient.on('ready', () => {
        void this.restoreSchedulers();
      });
    }
    if (this.options.runWorker && this.closing === undefined) {
      this.worker ??= this.createWorker();
      await this.worker.waitUntilReady();
    }
    return changes;
  }

  private restoreSchedulers(): Promise<void> {
    if (this.closing !== undefined) return Promise.resolve();
    this.restoring ??= this.restoreWithRetries().finally(() => {
      this.restoring = undefined;
    });
    return this.restoring;
  }

  private async restoreWithRetries(): Promise<void> {
    try {
      // Retried only when Redis said "not now" or did not answer
      // (StorageUnavailableError): a refusal (NOPERM, a bad command) is reported at once.
      const changes = await RESTORE_RETRY.execute(async () => {
        const began = performance.now();
        try {
          return await installSweepSchedulers(
            this.sweepQueue,
            this.store.bucketCount,
            this.options.intervalMs,
          );
        } catch (error) {
          throw toStoreError(error, {
            operation: 'restoreSchedulers',
            elapsedMs: performance.now() - began,
            commandTimeoutMs: this.options.commandTimeoutMs,
          });
        }
      }, this.restoreAbort.signal);
      if (changes.upserted + changes.removed > 0) this.emitSafely('schedulersRestored', changes);
    } catch (error) {
      // The last try's error, once the retries ran out (or the first, when
      // not retryable); nothing when close() cancelled the retries.
      this.reportQueueError('sweep-queue', error);
    }
  }

  private createWorker(): Worker<SweepJobData, BucketSweepReport> {
    this.workerClient = duplicateForBullmq(this.store.client, 'worker', WORKER_COMMAND_TIMEOUT_MS);
    const worker = new Worker<SweepJobData, BucketSweepReport>(
      this.options.sweepQueueName,
      (job) => this.processJob(job),
      {
        connection: this.workerClient,
        prefix: this.options.queuePrefix,
        concurrency: this.options.concurrency,
        lockDuration: this.options.lockDurationMs,
        stalledInterval: this.options.stalledIntervalMs,
        maxStalledCount: 1,
        ...(this.bullTelemetry === undefined ? {} : { telemetry: this.bullTelemetry }),
      },
    );
    worker.on('error', (error) => {
      this.reportQueueError('worker', error);
    });
    return worker;
  }

  private async processJob(job: Job<SweepJobData, BucketSweepReport>): Promise<BucketSweepReport> {
    const bucket = (job.data as Partial<SweepJobData> | undefined)?.bucket;
    try {
      return await this.runSweep(bucket, job.id);
    } catch (error) {
      this.totals = { ...this.totals, failedJobs: this.totals.failedJobs + 1 };
      const sessionError = toSessionError(error, { operation: 'sweep' });
      this.emitSafely('sweepFailed', {
        bucket: typeof bucket === 'number' ? bucket : undefined,
        error: sessionError,
      });
      throw sessionError;
    }
  }

  private async runSweep(bucket: unknown, jobId: string | undefined): Promise<BucketSweepReport> {
    if (
      typeof bucket !== 'number' ||
      !Number.isSafeInteger(bucket) ||
      bucket < 0 ||
      bucket >= this.store.bucketCount
    ) {
      throw new SessionValidationError(
        `bucket must be an integer from 0 to ${this.store.bucketCount - 1}`,
        { field: 'bucket', operation: 'sweep' },
      );
    }
    // Published as one traced call: a subscriber that makes its span the
    // active context here carries it (through BullMQOtel) into the event jobs.
    const channel = this.channels.sweep;
    const sweep = channel.hasSubscribers
      ? channel.tracePromise(() => sweepOneBucket(this.sweepContext, bucket), {
          bucket,
          queueName: this.options.sweepQueueName,
          jobId,
        })
      : sweepOneBucket(this.sweepContext, bucket);
    this.running.add(sweep);
    let report: BucketSweepReport;
    try {
      report = await sweep;
    } finally {
      this.running.delete(sweep);
    }
    this.count(report);
    this.emitSafely('swept', report);
    return report;
  }

  private count(report: BucketSweepReport): void {
    const t = this.totals;
    this.totals = {
      jobs: t.jobs + 1,
      failedJobs: t.failedJobs,
      expired: t.expired + report.expired,
      orphans: t.orphans + report.orphans,
      republished: t.republished + report.republished,
      published: t.published + report.published,
    };
  }

  private reportQueueError(source: QueueFailure['source'], error: unknown): void {
    // Closing connections report "Connection is closed": not news.
    if (this.closing !== undefined) return;
    this.emitSafely('queueError', {
      source,
      error: toStoreError(error, {
        operation: source,
        elapsedMs: 0,
        commandTimeoutMs: this.options.commandTimeoutMs,
      }),
    });
  }

  private emitSafely<K extends keyof ExpirySweeperEvents>(
    event: K,
    ...args: ExpirySweeperEvents[K]
  ): void {
    try {
      (this.emit as (event: K, ...args: ExpirySweeperEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      process.emitWarning(
        error instanceof Error ? error : String(error),
        'ExpirySweeperListenerWarning',
      );
    }
  }
}

/** `work`, or the error of `onTimeout` once `ms` passed (the work itself is not cancelled). */
async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(onTimeout());
    }, ms);
  });
  // The loser of the race must not become an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function closedError(operation: string): StorageUnavailableError {
  return new StorageUnavailableError('The sweeper is closed', {
    operation,
    details: { closed: true },
  });
}
