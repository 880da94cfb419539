import { createOptionChecks } from '@session-cluster/core';
import type { OptionChecks, OptionsOf } from '@session-cluster/core';
import { REDIS_STORE_DEFAULTS } from '@session-cluster/store-redis';
import type { RedisStore, RedisStoreOptions } from '@session-cluster/store-redis';

const check = createOptionChecks('ExpirySweeper');
const invalid = check.refuse;

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

const queueName = (fallback: string) =>
  check.accepting<string | undefined>()((value, field) =>
    checkQueueName(check, value, fallback, field),
  );

const RULES = {
  // The store checks its own options (`connection`, `prefix`, `buckets`): the sweeper builds it next.
  /** A caller-owned store whose sessions are swept (not closed by `close()`). */
  store: check.typed<RedisStore | undefined>(),
  /** Let the sweeper create (and own) its `RedisStore`, with `prefix` and `buckets`. */
  connection: check.typed<RedisStoreOptions['connection']>(),
  /** Key prefix of a sweeper-owned store (the application's). Default `'sc'`. */
  prefix: check.typed<string | undefined>(),
  /** Expiry buckets of a sweeper-owned store (the application's). Default 64. */
  buckets: check.typed<number | undefined>(),
  /**
   * BullMQ prefix of both queues: a Redis hash tag `{…}`, so they live in one
   * Cluster slot. Default `{<prefix>:sweeper}`.
   */
  queuePrefix: check.typed<string | undefined>(),
  /** Name of the sweep-job queue. Default `'session-sweep'`. */
  sweepQueueName: queueName('session-sweep'),
  /**
   * Queue of the expiry batch jobs. Default `'session-expiries'` (not the
   * per-session `'session-expired'` of earlier releases, whose consumers
   * would complete a batch job without handling it).
   */
  eventsQueueName: queueName('session-expiries'),
  /** Each bucket is swept once per interval (a job scheduler per bucket), ms. Default 5 000. */
  intervalMs: check.int(5_000, 50, 86_400_000),
  /** Index members examined per `sweepBucket` call, 1–10 000. Default 1 000. */
  batchSize: check.int(1_000, 1, 10_000),
  /** Most batches one sweep job takes (the rest waits for the next job). Default 100. */
  maxBatchesPerJob: check.int(100, 1, 1_000_000),
  /** Sweep jobs this process runs at once. Default 4. */
  concurrency: check.int(4, 1, 256),
  /** Run a BullMQ Worker here (default `true`); `false`: `start()` only installs the schedulers. */
  runWorker: check.flag(true),
  /**
   * Publish a job per sweep batch to the events queue (default `true`); off
   * when nobody consumes it. The local `expired` event is emitted either way.
   */
  publishEvents: check.flag(true),
  /** Attempts a consumer gets for each batch job (BullMQ `attempts`). Default 5. */
  eventAttempts: check.int(5, 1, 1_000),
  /** First retry delay of a batch job, exponential, ms. Default 1 000. */
  eventBackoffMs: check.int(1_000, 0, 86_400_000),
  /**
   * How long a completed batch job is kept, so republishing it is a no-op:
   * longer than any sweep-to-acknowledgement gap, ms. Default 3 600 000 (1 h).
   */
  dedupeWindowMs: check.int(3_600_000, 1_000),
  /** How long a failed batch job is kept, ms. Default 7 days. */
  keepFailedEventsMs: check.int(7 * 24 * 3_600_000, 1_000),
  /** BullMQ `lockDuration`: a killed worker's job moves on about this long after, ms. Default 30 000. */
  lockDurationMs: check.int(30_000, 500, 3_600_000),
  /** BullMQ `stalledInterval`, ms. Default 30 000. */
  stalledIntervalMs: check.int(30_000, 100, 3_600_000),
  /**
   * `commandTimeout` of the queue connection, ms. Default 5 000 (the
   * Worker's, which blocks, is {@link WORKER_COMMAND_TIMEOUT_MS}).
   */
  commandTimeoutMs: check.int(5_000, 100, 600_000),
  /** Bound on {@link ExpirySweeper.start}, ms (BullMQ waits for a connection forever). Default 30 000. */
  startTimeoutMs: check.int(30_000, 100, 3_600_000),
  /** Source of `now` for expiry decisions and lateness. Default the system clock. */
  clock: check.clock,
  /**
   * Trace context through BullMQ (`BullMQOtel`) and each job published on
   * core's `SESSION_CHANNELS` (a `session.sweep` span). Default `true`.
   */
  telemetry: check.flag(true),
};

/** Options of {@link ExpirySweeper}. Exactly one of `store` and `connection`. */
export type ExpirySweeperOptions = OptionsOf<typeof RULES>;

/** Defaults of {@link ExpirySweeperOptions}. */
export const SWEEPER_DEFAULTS = Object.freeze({
  ...check.defaults(RULES),
  prefix: REDIS_STORE_DEFAULTS.prefix,
});

/** {@link ExpirySweeperOptions} with defaults applied and every value checked. */
export type ResolvedSweeperOptions = Readonly<ReturnType<typeof resolveSweeperOptions>>;

/**
 * Check every option the sweeper owns and apply defaults.
 * @throws SessionValidationError `INVALID_CONFIG` naming the field
 */
export function resolveSweeperOptions(options: ExpirySweeperOptions) {
  const { store, connection, prefix, buckets, queuePrefix, ...resolved } = check.resolve(
    RULES,
    options,
  );
  if ((store === undefined) === (connection === undefined)) {
    throw invalid('store', 'pass exactly one of store and connection');
  }
  if (store !== undefined && (prefix ?? buckets) !== undefined) {
    throw invalid(
      'prefix',
      'prefix and buckets belong to the store: set them on the store you pass',
    );
  }
  if (resolved.sweepQueueName === resolved.eventsQueueName) {
    throw invalid('eventsQueueName', 'must differ from sweepQueueName');
  }
  if (resolved.dedupeWindowMs < 2 * resolved.intervalMs) {
    throw invalid('dedupeWindowMs', 'must be at least twice intervalMs');
  }
  // Derived from a prefix the store checks (RedisKeys); only a given one is checked here.
  const keyPrefix = store?.prefix ?? prefix ?? SWEEPER_DEFAULTS.prefix;
  return {
    ...resolved,
    queuePrefix:
      queuePrefix === undefined
        ? `{${keyPrefix}:sweeper}`
        : checkQueuePrefix(check, queuePrefix, keyPrefix),
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
