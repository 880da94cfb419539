import { createOptionChecks } from '@session-cluster/core';
import type { Clock, OptionChecks } from '@session-cluster/core';
import type { RedisConnectionOptions, RedisStore } from '@session-cluster/store-redis';

const check = createOptionChecks('ExpirySweeper');
const invalid = check.refuse;

/** Options of {@link ExpirySweeper}. Exactly one of `store` and `connection`. */
export interface ExpirySweeperOptions {
  /** A caller-owned store whose sessions are swept (not closed by `close()`). */
  readonly store?: RedisStore | undefined;
  /** Let the sweeper create (and own) its `RedisStore`, with `prefix` and `buckets`. */
  readonly connection?: RedisConnectionOptions | undefined;
  /** Key prefix of a sweeper-owned store (the application's). Default `'sc'`. */
  readonly prefix?: string | undefined;
  /** Expiry buckets of a sweeper-owned store (the application's). Default 64. */
  readonly buckets?: number | undefined;
  /**
   * BullMQ prefix of both queues: a Redis hash tag `{…}`, so they live in one
   * Cluster slot. Default `{<prefix>:sweeper}`.
   */
  readonly queuePrefix?: string | undefined;
  /** Name of the sweep-job queue. Default `'session-sweep'`. */
  readonly sweepQueueName?: string | undefined;
  /**
   * Queue of the expiry batch jobs. Default `'session-expiries'` (not the
   * per-session `'session-expired'` of earlier releases, whose consumers
   * would complete a batch job without handling it).
   */
  readonly eventsQueueName?: string | undefined;
  /** Each bucket is swept once per interval (a job scheduler per bucket), ms. Default 5 000. */
  readonly intervalMs?: number | undefined;
  /** Index members examined per `sweepBucket` call, 1–10 000. Default 1 000. */
  readonly batchSize?: number | undefined;
  /** Most batches one sweep job takes (the rest waits for the next job). Default 100. */
  readonly maxBatchesPerJob?: number | undefined;
  /** Sweep jobs this process runs at once. Default 4. */
  readonly concurrency?: number | undefined;
  /** Run a BullMQ Worker here (default `true`); `false`: `start()` only installs the schedulers. */
  readonly runWorker?: boolean | undefined;
  /**
   * Publish a job per sweep batch to the events queue (default `true`); off
   * when nobody consumes it. The local `expired` event is emitted either way.
   */
  readonly publishEvents?: boolean | undefined;
  /** Attempts a consumer gets for each batch job (BullMQ `attempts`). Default 5. */
  readonly eventAttempts?: number | undefined;
  /** First retry delay of a batch job, exponential, ms. Default 1 000. */
  readonly eventBackoffMs?: number | undefined;
  /**
   * How long a completed batch job is kept, so republishing it is a no-op:
   * longer than any sweep-to-acknowledgement gap, ms. Default 3 600 000 (1 h).
   */
  readonly dedupeWindowMs?: number | undefined;
  /** How long a failed batch job is kept, ms. Default 7 days. */
  readonly keepFailedEventsMs?: number | undefined;
  /** BullMQ `lockDuration`: a killed worker's job moves on about this long after, ms. Default 30 000. */
  readonly lockDurationMs?: number | undefined;
  /** BullMQ `stalledInterval`, ms. Default 30 000. */
  readonly stalledIntervalMs?: number | undefined;
  /**
   * `commandTimeout` of the queue connection, ms. Default 5 000 (the
   * Worker's, which blocks, is {@link WORKER_COMMAND_TIMEOUT_MS}).
   */
  readonly commandTimeoutMs?: number | undefined;
  /** Bound on {@link ExpirySweeper.start}, ms (BullMQ waits for a connection forever). Default 30 000. */
  readonly startTimeoutMs?: number | undefined;
  /** Source of `now` for expiry decisions and lateness. Default the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Trace context through BullMQ (`BullMQOtel`) and each job published on
   * core's `SESSION_CHANNELS` (a `session.sweep` span). Default `true`.
   */
  readonly telemetry?: boolean | undefined;
}

/** Defaults of {@link ExpirySweeperOptions}. */
export const SWEEPER_DEFAULTS = Object.freeze({
  prefix: 'sc',
  sweepQueueName: 'session-sweep',
  eventsQueueName: 'session-expiries',
  intervalMs: 5_000,
  batchSize: 1_000,
  maxBatchesPerJob: 100,
  concurrency: 4,
  runWorker: true,
  publishEvents: true,
  eventAttempts: 5,
  eventBackoffMs: 1_000,
  dedupeWindowMs: 3_600_000,
  keepFailedEventsMs: 7 * 24 * 3_600_000,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  commandTimeoutMs: 5_000,
  startTimeoutMs: 30_000,
  telemetry: true,
});

/**
 * `commandTimeout` of the Worker's connections. BullMQ duplicates the
 * Worker's client for its blocking fetch (`BZPOPMIN` for up to 10 s, raced
 * against its own watchdog at 11 s), and ioredis applies `commandTimeout`
 * to blocking commands too: a shorter timeout would fail every idle wait.
 */
export const WORKER_COMMAND_TIMEOUT_MS = 15_000;

/** A hash tag and nothing else: `{sc:sweeper}`. BullMQ adds `:<queue>:<key>` after it. */
export const QUEUE_PREFIX_PATTERN = /^\{[A-Za-z0-9_.:-]{1,64}\}$/;

/** BullMQ queue names: no `:` (BullMQ's key separator). */
const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const D = SWEEPER_DEFAULTS;
const RULES = {
  sweepQueueName: (value: unknown, field: string) =>
    checkQueueName(check, value, D.sweepQueueName, field),
  eventsQueueName: (value: unknown, field: string) =>
    checkQueueName(check, value, D.eventsQueueName, field),
  intervalMs: check.int(D.intervalMs, 50, 86_400_000),
  batchSize: check.int(D.batchSize, 1, 10_000),
  maxBatchesPerJob: check.int(D.maxBatchesPerJob, 1, 1_000_000),
  concurrency: check.int(D.concurrency, 1, 256),
  runWorker: check.flag(D.runWorker),
  publishEvents: check.flag(D.publishEvents),
  eventAttempts: check.int(D.eventAttempts, 1, 1_000),
  eventBackoffMs: check.int(D.eventBackoffMs, 0, 86_400_000),
  dedupeWindowMs: check.int(D.dedupeWindowMs, 1_000),
  keepFailedEventsMs: check.int(D.keepFailedEventsMs, 1_000),
  lockDurationMs: check.int(D.lockDurationMs, 500, 3_600_000),
  stalledIntervalMs: check.int(D.stalledIntervalMs, 100, 3_600_000),
  commandTimeoutMs: check.int(D.commandTimeoutMs, 100, 600_000),
  startTimeoutMs: check.int(D.startTimeoutMs, 100, 3_600_000),
  clock: check.clock,
  telemetry: check.flag(D.telemetry),
};

/** {@link ExpirySweeperOptions} with defaults applied and every value checked. */
export type ResolvedSweeperOptions = Readonly<ReturnType<typeof resolveSweeperOptions>>;

/**
 * Check every option the sweeper owns and apply defaults. The store checks
 * its own (`connection`, `prefix`, `buckets`): the sweeper builds it next.
 * @throws SessionValidationError `INVALID_CONFIG` naming the field
 */
export function resolveSweeperOptions(options: ExpirySweeperOptions) {
  const resolved = check.resolve(RULES, options);
  if ((options.store === undefined) === (options.connection === undefined)) {
    throw invalid('store', 'pass exactly one of store and connection');
  }
  if (options.store !== undefined && (options.prefix ?? options.buckets) !== undefined) {
    throw invalid(
      'prefix',
      'prefix and buckets belong to the store: set them on the store you pass',
    );
  }
  const prefix = options.store?.prefix ?? options.prefix ?? D.prefix;
  if (resolved.sweepQueueName === resolved.eventsQueueName) {
    throw invalid('eventsQueueName', 'must differ from sweepQueueName');
  }
  if (resolved.dedupeWindowMs < 2 * resolved.intervalMs) {
    throw invalid('dedupeWindowMs', 'must be at least twice intervalMs');
  }
  return {
    ...resolved,
    // Derived from a prefix the store checks (RedisKeys); only a given one is checked here.
    queuePrefix:
      options.queuePrefix === undefined
        ? `{${prefix}:sweeper}`
        : checkQueuePrefix(check, options.queuePrefix, prefix),
  };
}

/**
 * The BullMQ prefix of the sweeper's queues: `value`, or `{<prefix>:sweeper}`.
 * @throws SessionValidationError `INVALID_CONFIG` (field `queuePrefix`)
 */
export function checkQueuePrefix(check: OptionChecks, value: unknown, prefix: string): string {
  const queuePrefix = value ?? `{${prefix}:sweeper}`;
  if (typeof queuePrefix !== 'string' || !QUEUE_PREFIX_PATTERN.test(queuePrefix)) {
    throw check.refuse(
      'queuePrefix',
      'expected a Redis hash tag like {sc:sweeper} (1 to 64 of A-Z a-z 0-9 _ . : - in braces), ' +
        'so both queues live in one Redis Cluster slot',
    );
  }
  return queuePrefix;
}

/**
 * A BullMQ queue name: `value`, or `fallback`.
 * @throws SessionValidationError `INVALID_CONFIG` (field `field`)
 */
export function checkQueueName(
  check: OptionChecks,
  value: unknown,
  fallback: string,
  field: string,
): string {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !QUEUE_NAME_PATTERN.test(name)) {
    throw check.refuse(
      field,
      'expected 1 to 64 of A-Z a-z 0-9 _ . - (no colon: BullMQ separates keys with it)',
    );
  }
  return name;
}
