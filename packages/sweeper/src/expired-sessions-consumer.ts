import { INSTRUMENTATION_SCOPE, createOptionChecks } from '@session-cluster/core';
import type { OptionsOf } from '@session-cluster/core';
import {
  KEY_PREFIX_PATTERN,
  RedisExpiryOutbox,
  openRedisConnection,
  resolveRedisConnection,
} from '@session-cluster/store-redis';
import type { RedisConnectionOptions } from '@session-cluster/store-redis';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Cluster, Redis } from 'ioredis';
import { WORKER_COMMAND_TIMEOUT_MS, duplicateForBullmq, quitClient } from './bullmq-clients.js';
import { expiryEvent, isExpiryBatchJobData, isSessionExpiredEvent } from './expiry-event.js';
import type { ExpiryBatchJobData, SessionExpiredEvent } from './expiry-event.js';
import { SWEEPER_DEFAULTS, queueNameRule, queuePrefixRule } from './sweeper-options.js';

/** What the application does with one expired session. Must be idempotent (at-least-once). */
export type ExpiredSessionHandler = (event: SessionExpiredEvent) => Promise<void> | void;

const check = createOptionChecks('consumeExpiredSessions');

const RULES = {
  /** The sessions' key prefix: the queue prefix is `{<prefix>:sweeper}`, as the sweeper's. Default `'sc'`. */
  prefix: check.matching(
    KEY_PREFIX_PATTERN,
    SWEEPER_DEFAULTS.prefix,
    '1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)',
  ),
  /** The sweeper's `queuePrefix`, when it set one. */
  queuePrefix: queuePrefixRule(check),
  /** The sweeper's `eventsQueueName`. Default `'session-expiries'`. */
  queueName: queueNameRule(check, SWEEPER_DEFAULTS.eventsQueueName),
  /** Handler calls in flight at once within one batch. Default 16. */
  concurrency: check.int(16, 1, 10_000),
  /** Batches handled at once by this process (the BullMQ Worker's `concurrency`). Default 1. */
  batchConcurrency: check.int(1, 1, 256),
  /** BullMQ `lockDuration`, ms: a crashed consumer's batch is handed on about this long after. Default 30 000. */
  lockDurationMs: check.int(30_000, 500, 3_600_000),
  /** BullMQ `stalledInterval`, ms. Default 30 000. */
  stalledIntervalMs: check.int(30_000, 100, 3_600_000),
  /** `BullMQOtel` on the Worker: the handler runs in the sweep's trace. Default `true`. */
  telemetry: check.flag(true),
};

/** Options of {@link consumeExpiredSessions}. */
export type ExpiredSessionsConsumerOptions = OptionsOf<typeof RULES>;

/** Defaults of {@link ExpiredSessionsConsumerOptions}. */
export const CONSUMER_DEFAULTS = check.defaults(RULES);

/** What a batch job resolves to: how many expiries this attempt handled. */
export interface ExpiryBatchOutcome {
  readonly handled: number;
}

/** A running consumer; `close()` it on shutdown. */
export interface ExpiredSessionsConsumer {
  /** The BullMQ Worker (its events: `failed`, `error`, `completed`, …). */
  readonly worker: Worker<ExpiryBatchJobData | SessionExpiredEvent, ExpiryBatchOutcome>;
  /** Resolves once the Worker is connected and fetching. */
  ready(): Promise<void>;
  /** Stop fetching, let the batches in hand finish, close the connections this consumer opened. Idempotent. */
  close(): Promise<void>;
}

/**
 * Consume the sweeper's expiry batches with a BullMQ Worker and run
 * `handler` once per expired session.
 *
 * A batch job refers to a batch in the store's outbox (where the sweep
 * recorded it); the consumer reads the batch there and acknowledges it
 * (removes it) once the handler has succeeded for every expiry in it, then
 * the job completes. When some calls fail, the outbox batch is cut down to
 * those expiries before the job fails, so BullMQ's retry (the sweeper's
 * `eventAttempts`, exponential backoff) runs the handler again for them
 * only; a batch that exhausts its attempts stays in the failed set holding
 * just the expiries that never succeeded (as job data; the outbox lets go
 * of it). A job whose batch is already acknowledged handles nothing.
 * Delivery is at-least-once: a consumer that dies mid-batch has the whole
 * remaining batch handed to another (BullMQ's stalled-job check), so make
 * the handler idempotent (`sessionIdHash` + `expiredAt` identify an
 * expiry).
 *
 * Also accepts the one-job-per-session events of earlier releases, so the
 * same consumer can drain an old `session-expired` queue.
 *
 * @param connection an ioredis client (duplicated with BullMQ's settings;
 *   yours stays open) or store-redis connection options
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 * @example
 * ```ts
 * const consumer = consumeExpiredSessions({ url: 'redis://127.0.0.1:6379' }, async (expiry) => {
 *   await audit.write(expiry.userId, expiry.sessionIdHash, expiry.expiredAt);
 * }, { concurrency: 32 });
 * process.once('SIGTERM', () => void consumer.close());
 * ```
 */
export function consumeExpiredSessions(
  connection: Redis | Cluster | RedisConnectionOptions,
  handler: ExpiredSessionHandler,
  options: ExpiredSessionsConsumerOptions = {},
): ExpiredSessionsConsumer {
  if (typeof handler !== 'function') throw check.invalid('handler', 'a function');
  const { prefix, queuePrefix, queueName, concurrency, telemetry, ...bullmq } = check.resolve(
    RULES,
    options,
  );
  const client = isIoredisClient(connection)
    ? duplicateForBullmq(connection, 'consumer', WORKER_COMMAND_TIMEOUT_MS)
    : bullmqClientFor(connection);
  const outbox = new RedisExpiryOutbox(client, WORKER_COMMAND_TIMEOUT_MS);
  const worker = new Worker<ExpiryBatchJobData | SessionExpiredEvent, ExpiryBatchOutcome>(
    queueName,
    (job) => handleBatch(job, handler, concurrency, outbox),
    {
      connection: client,
      prefix: queuePrefix ?? `{${prefix}:sweeper}`,
      concurrency: bullmq.batchConcurrency,
      lockDuration: bullmq.lockDurationMs,
      stalledInterval: bullmq.stalledIntervalMs,
      ...(telemetry ? { telemetry: new BullMQOtel({ tracerName: INSTRUMENTATION_SCOPE }) } : {}),
    },
  );
  let closing: Promise<void> | undefined;
  return {
    worker,
    ready: async () => {
      await worker.waitUntilReady();
    },
    close: () => {
      closing ??= (async () => {
        await worker.close();
        await quitClient(client);
      })();
      return closing;
    },
  };
}

type ExpiryJob = Job<ExpiryBatchJobData | SessionExpiredEvent, ExpiryBatchOutcome>;

/**
 * One attempt at a batch job: the handler for every expiry still to handle,
 * `concurrency` at a time. Where those are and where the failed ones are
 * kept for the retry depends on the job: the outbox batch it refers to, or
 * the expiries it carries.
 */
async function handleBatch(
  job: ExpiryJob,
  handler: ExpiredSessionHandler,
  concurrency: number,
  outbox: RedisExpiryOutbox,
): Promise<ExpiryBatchOutcome> {
  const data: unknown = job.data;
  if (isExpiryBatchJobData(data)) {
    return data.expiries === undefined
      ? handleOutboxBatch(job, data, handler, concurrency, outbox)
      : handleCarriedBatch(job, data, data.expiries, handler, concurrency);
  }
  if (isSessionExpiredEvent(data)) {
    const failures = await runEach([data], handler, 1);
    if (failures.length > 0) throw failedCalls(failures, 1);
    return { handled: 1 };
  }
  // Retrying cannot make it readable: fail it for good (kept for inspection).
  throw new UnrecoverableError('Not an expiry batch: nothing to hand to the handler');
}

/**
 * A job that refers to an outbox batch. The batch is acknowledged (removed
 * from the outbox) once every expiry in it was handled; on a failure it is
 * cut down to the failed expiries for the retry, or, on the last attempt,
 * they move into the failed job's data (nothing would ever retry the
 * outbox copy).
 */
async function handleOutboxBatch(
  job: ExpiryJob,
  data: ExpiryBatchJobData,
  handler: ExpiredSessionHandler,
  concurrency: number,
  outbox: RedisExpiryOutbox,
): Promise<ExpiryBatchOutcome> {
  const { prefix, bucket, batchId } = data;
  const batch = await outbox.read(prefix, bucket, batchId);
  // Already acknowledged: this job ran to the ack before (and stalled or
  // crashed before completing), or a republish outlived the dedupe window.
  if (batch === undefined) return { handled: 0 };
  const events = batch.expiries.map((expiry) => expiryEvent(expiry, data.publishedAt));
  const failures = await runEach(events, handler, concurrency);
  if (failures.length === 0) {
    await outbox.ack(prefix, bucket, batchId);
    return { handled: events.length };
  }
  if (isLastAttempt(job)) {
    await job.updateData({ ...data, expiries: failures.map((failure) => failure.event) });
    await outbox.ack(prefix, bucket, batchId);
  } else {
    const left = failures.map((failure) => batch.expiries[failure.index]);
    await outbox.keep(
      prefix,
      bucket,
      batchId,
      left.filter((expiry) => expiry !== undefined),
    );
  }
  throw failedCalls(failures, events.length);
}

/**
 * A job that carries its expiries (a page of the per-expiry outbox of
 * earlier releases, or a failed batch retried by hand): the failed ones
 * are written back as its data; once all succeeded the payload is dropped
 * (a rerun then finds no outbox batch and handles nothing).
 */
async function handleCarriedBatch(
  job: ExpiryJob,
  data: ExpiryBatchJobData,
  expiries: readonly SessionExpiredEvent[],
  handler: ExpiredSessionHandler,
  concurrency: number,
): Promise<ExpiryBatchOutcome> {
  const failures = await runEach(expiries, handler, concurrency);
  const { expiries: _handled, ...reference } = data;
  await job.updateData(
    failures.length === 0
      ? reference
      : { ...reference, expiries: failures.map((failure) => failure.event) },
  );
  if (failures.length > 0) throw failedCalls(failures, expiries.length);
  return { handled: expiries.length };
}

/** Whether BullMQ will not run this job again if this attempt fails. */
function isLastAttempt(job: ExpiryJob): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * The application's own errors, passed through untouched: they are not
 * session-layer failures, so no SessionError code would describe them.
 */
function failedCalls(failures: readonly HandlerFailure[], of: number): AggregateError {
  return new AggregateError(
    failures.map((failure) => failure.error),
    `${failures.length} of ${of} expired-session handler calls failed ` +
      '(the job retries only those)',
  );
}

interface HandlerFailure {
  readonly index: number;
  readonly event: SessionExpiredEvent;
  readonly error: unknown;
}

/** Run `handler` on every event, at most `concurrency` at once; the failures in input order. */
async function runEach(
  events: readonly SessionExpiredEvent[],
  handler: ExpiredSessionHandler,
  concurrency: number,
): Promise<HandlerFailure[]> {
  const failed: (HandlerFailure | undefined)[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let index = next++; index < events.length; index = next++) {
      const event = events[index] as SessionExpiredEvent;
      try {
        await handler(event);
      } catch (error) {
        failed[index] = { index, event, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, events.length) }, lane));
  return failed.filter((failure): failure is HandlerFailure => failure !== undefined);
}

function isIoredisClient(value: unknown): value is Redis | Cluster {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<Redis>).duplicate === 'function' &&
    typeof (value as Partial<Redis>).isCluster === 'boolean'
  );
}

/**
 * A BullMQ client for connection options: the store-redis client for them
 * (same parsing and checks as a store's), duplicated with BullMQ's
 * settings; the first one is only a template and is dropped at once.
 */
function bullmqClientFor(connection: RedisConnectionOptions): Redis | Cluster {
  const template = openRedisConnection(
    { connection: resolveRedisConnection(connection) },
    WORKER_COMMAND_TIMEOUT_MS,
  ).client;
  try {
    return duplicateForBullmq(template, 'consumer', WORKER_COMMAND_TIMEOUT_MS);
  } finally {
    template.disconnect();
  }
}
