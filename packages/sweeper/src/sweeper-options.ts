import { createOptionChecks } from '@session-cluster/core';
import type { OptionChecks, OptionsOf } from '@session-cluster/core';
import { REDIS_STORE_DEFAULTS } from '@session-cluster/store-redis';
import type { RedisStore, RedisStoreOptions } from '@session-cluster/store-redis';

const check = createOptionChecks('ExpirySweeper');

/** A hash tag and nothing else: `{sc:sweeper}`. BullMQ adds `:<queue>:<key>` after it. */
export const QUEUE_PREFIX_PATTERN = /^\{[A-Za-z0-9_.:-]{1,64}\}$/;

/** Rule of `checks`: the queues' BullMQ prefix (absent: `undefined`). Shared with `consumeExpiredSessions`. */
export const queuePrefixRule = (checks: OptionChecks) =>
  checks.matching(
    QUEUE_PREFIX_PATTERN,
    undefined,
    'a Redis hash tag like {sc:sweeper} (1 to 64 of A-Z a-z 0-9 _ . : - in braces), ' +
      'so both queues live in one Redis Cluster slot',
  );

/** Rule of `checks`: a BullMQ queue name, `fallback` when absent. Shared with `consumeExpiredSessions`. */
export const queueNameRule = (checks: OptionChecks, fallback: string) =>
  checks.matching(
    /^[A-Za-z0-9_.-]{1,64}$/,
    fallback,
    '1 to 64 of A-Z a-z 0-9 _ . - (no colon: BullMQ separates keys with it)',
  );

const RULES = {
  /** A caller-owned store whose sessions are swept (not closed by `close()`). */
  store: check.typed<RedisStore | undefined>(),
  // Or a sweeper-owned store with the application's key layout: the store checks them.
  ...check.given<RedisStoreOptions>()('connection', 'prefix', 'buckets'),
  /** BullMQ prefix of both queues, a hash tag `{…}` (one Cluster slot). Default `{<prefix>:sweeper}`. */
  queuePrefix: queuePrefixRule(check),
  /** Name of the sweep-job queue. Default `'session-sweep'`. */
  sweepQueueName: queueNameRule(check, 'session-sweep'),
  /** Queue of the expiry batch jobs. Default `'session-expiries'` (not 0.2's `'session-expired'`). */
  eventsQueueName: queueNameRule(check, 'session-expiries'),
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
  /** Publish a job per sweep batch (default `true`); the local `expired` event is emitted either way. */
  publishEvents: check.flag(true),
  /** Attempts a consumer gets for each batch job (BullMQ `attempts`). Default 5. */
  eventAttempts: check.int(5, 1, 1_000),
  /** First retry delay of a batch job, exponential, ms. Default 1 000. */
  eventBackoffMs: check.int(1_000, 0, 86_400_000),
  /** How long a completed batch job is kept so republishing it is a no-op, ms. Default 1 h. */
  dedupeWindowMs: check.int(3_600_000, 1_000),
  /** How long a failed batch job is kept, ms. Default 7 days. */
  keepFailedEventsMs: check.int(7 * 24 * 3_600_000, 1_000),
  /** BullMQ `lockDuration`: a killed worker's job moves on about this long after, ms. Default 30 000. */
  lockDurationMs: check.int(30_000, 500, 3_600_000),
  /** BullMQ `stalledInterval`, ms. Default 30 000. */
  stalledIntervalMs: check.int(30_000, 100, 3_600_000),
  /** `commandTimeout` of the queue connection (not the blocking Worker's), ms. Default 5 000. */
  commandTimeoutMs: check.int(5_000, 100, 600_000),
  /** Bound on {@link ExpirySweeper.start}, ms (BullMQ waits for a connection forever). Default 30 000. */
  startTimeoutMs: check.int(30_000, 100, 3_600_000),
  /** Source of `now` for expiry decisions and lateness. Default the system clock. */
  clock: check.clock,
  /** Trace context through BullMQ and each job on core's `SESSION_CHANNELS`. Default `true`. */
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

/** Check every option the sweeper owns and apply defaults. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveSweeperOptions(options: ExpirySweeperOptions) {
  const { store, connection, prefix, buckets, queuePrefix, ...resolved } = check.resolve(
    RULES,
    options,
  );
  if ((store === undefined) === (connection === undefined)) {
    throw check.refuse('store', 'pass exactly one of store and connection');
  }
  if (store !== undefined && (prefix ?? buckets) !== undefined) {
    throw check.refuse('prefix', 'prefix and buckets belong to the store: set them on it');
  }
  if (resolved.sweepQueueName === resolved.eventsQueueName) {
    throw check.refuse('eventsQueueName', 'must differ from sweepQueueName');
  }
  if (resolved.dedupeWindowMs < 2 * resolved.intervalMs) {
    throw check.refuse('dedupeWindowMs', 'must be at least twice intervalMs');
  }
  // Derived from a prefix the store checks (RedisKeys); only a given one is checked here.
  const keyPrefix = store?.prefix ?? prefix ?? SWEEPER_DEFAULTS.prefix;
  return { ...resolved, queuePrefix: queuePrefix ?? `{${keyPrefix}:sweeper}` };
}
