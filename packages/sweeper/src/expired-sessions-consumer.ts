import { INSTRUMENTATION_SCOPE, createOptionChecks } from '@session-cluster/core';
import { KEY_PREFIX_PATTERN, openRedisConnection } from '@session-cluster/store-redis';
import type { RedisConnectionOptions } from '@session-cluster/store-redis';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Cluster, Redis } from 'ioredis';
import { duplicateForBullmq, quitClient } from './bullmq-clients.js';
import { isExpiryBatchJobData, isSessionExpiredEvent } from './expiry-event.js';
import type { ExpiryBatchJobData, SessionExpiredEvent } from './expiry-event.js';
import {
  SWEEPER_DEFAULTS,
  WORKER_COMMAND_TIMEOUT_MS,
  checkQueueName,
  checkQueuePrefix,
} from './sweeper-options.js';

/** What the application does with one expired session. Must be idempotent (at-least-once). */
export type ExpiredSessionHandler = (event: SessionExpiredEvent) => Promise<void> | void;

/** Options of {@link consumeExpiredSessions}. */
export interface ExpiredSessionsConsumerOptions {
  /** The sessions' key prefix: the queue prefix is `{<prefix>:sweeper}`, as the sweeper's. Default `'sc'`. */
  readonly prefix?: string | undefined;
  /** The sweeper's `queuePrefix`, when it set one. */
  readonly queuePrefix?: string | undefined;
  /** The sweeper's `eventsQueueName`. Default `'session-expiries'`. */
  readonly queueName?: string | undefined;
  /** Handler calls in flight at once within one batch. Default 16. */
  readonly concurrency?: number | undefined;
  /** Batches handled at once by this process (the BullMQ Worker's `concurrency`). Default 1. */
  readonly batchConcurrency?: number | undefined;
  /** BullMQ `lockDuration`, ms: a crashed consumer's batch is handed on about this long after. Default 30 000. */
  readonly lockDurationMs?: number | undefined;
  /** BullMQ `stalledInterval`, ms. Default 30 000. */
  readonly stalledIntervalMs?: number | undefined;
  /** `BullMQOtel` on the Worker: the handler runs in the sweep's trace. Default `true`. */
  readonly telemetry?: boolean | undefined;
}

/** Defaults of {@link ExpiredSessionsConsumerOptions}. */
export const CONSUMER_DEFAULTS = Object.freeze({
  concurrency: 16,
  batchConcurrency: 1,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  telemetry: true,
});

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

const check = createOptionChecks('consumeExpiredSessions');

/**
 * Consume the sweeper's expiry batches with a BullMQ Worker and run
 * `handler` once per expired session.
 *
 * A batch job completes once the handler has succeeded for every expiry in
 * it. When some calls fail, the job's data is cut down to those expiries
 * (`job.updateData`) before the job fails, so BullMQ's retry (the sweeper's
 * `eventAttempts`, exponential backoff) runs the handler again for them
 * only; a batch that exhausts its attempts stays in the failed set holding
 * just the expiries that never succeeded. Delivery is at-least-once: a
 * consumer that dies mid-batch has the whole remaining batch handed to
 * another (BullMQ's stalled-job check), so make the handler idempotent
 * (`sessionIdHash` + `expiredAt` identify an expiry).
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
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw check.invalid('options', 'an options object');
  }
  const prefix = options.prefix ?? SWEEPER_DEFAULTS.prefix;
  if (typeof prefix !== 'string' || !KEY_PREFIX_PATTERN.test(prefix)) {
    throw check.invalid('prefix', '1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)');
  }
  const queuePrefix = checkQueuePrefix(check, options.queuePrefix, prefix);
  const queueName = checkQueueName(
    check,
    options.queueName,
    SWEEPER_DEFAULTS.eventsQueueName,
    'queueName',
  );
  const concurrency =
    check.integer(options.concurrency, 'concurrency', 1, 10_000) ?? CONSUMER_DEFAULTS.concurrency;
  const batchConcurrency =
    check.integer(options.batchConcurrency, 'batchConcurrency', 1, 256) ??
    CONSUMER_DEFAULTS.batchConcurrency;
  const lockDuration =
    check.integer(options.lockDurationMs, 'lockDurationMs', 500, 3_600_000) ??
    CONSUMER_DEFAULTS.lockDurationMs;
  const stalledInterval =
    check.integer(options.stalledIntervalMs, 'stalledIntervalMs', 100, 3_600_000) ??
    CONSUMER_DEFAULTS.stalledIntervalMs;
  const telemetry = check.boolean(options.telemetry, 'telemetry') ?? CONSUMER_DEFAULTS.telemetry;

  const client = isIoredisClient(connection)
    ? duplicateForBullmq(connection, 'consumer', WORKER_COMMAND_TIMEOUT_MS)
    : bullmqClientFor(connection);
  const worker = new Worker<ExpiryBatchJobData | SessionExpiredEvent, ExpiryBatchOutcome>(
    queueName,
    (job) => handleBatch(job, handler, concurrency),
    {
      connection: client,
      prefix: queuePrefix,
      concurrency: batchConcurrency,
      lockDuration,
      stalledInterval,
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

/**
 * One attempt at a batch job: the handler for every expiry still in it,
 * `concurrency` at a time; the failed ones are written back as the job's
 * data before the job fails, so the retry runs only them.
 */
async function handleBatch(
  job: Job<ExpiryBatchJobData | SessionExpiredEvent, ExpiryBatchOutcome>,
  handler: ExpiredSessionHandler,
  concurrency: number,
): Promise<ExpiryBatchOutcome> {
  const data: unknown = job.data;
  let expiries: readonly SessionExpiredEvent[];
  if (isExpiryBatchJobData(data)) expiries = data.expiries;
  else if (isSessionExpiredEvent(data)) expiries = [data];
  // Retrying cannot make it readable: fail it for good (kept for inspection).
  else throw new UnrecoverableError('Not an expiry batch: nothing to hand to the handler');

  const failures = await runEach(expiries, handler, concurrency);
  if (failures.length === 0) {
    // The completed job stays `dedupeWindowMs` so that a republished batch
    // adds nothing; only its id matters for that. Dropping the payload
    // shrinks that memory from ~110 bytes per expiry to ~1 KB per batch.
    if (isExpiryBatchJobData(data) && data.expiries.length > 0) {
      await job.updateData({ ...data, expiries: [] });
    }
    return { handled: expiries.length };
  }
  if (isExpiryBatchJobData(data)) {
    await job.updateData({ ...data, expiries: failures.map((failure) => failure.event) });
  }
  // The application's own errors, passed through untouched: they are not
  // session-layer failures, so no SessionError code would describe them.
  throw new AggregateError(
    failures.map((failure) => failure.error),
    `${failures.length} of ${expiries.length} expired-session handler calls failed ` +
      '(the job retries only those)',
  );
}

interface HandlerFailure {
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
        failed[index] = { event, error };
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
  const template = openRedisConnection({ connection }, WORKER_COMMAND_TIMEOUT_MS).client;
  try {
    return duplicateForBullmq(template, 'consumer', WORKER_COMMAND_TIMEOUT_MS);
  } finally {
    template.disconnect();
  }
}
