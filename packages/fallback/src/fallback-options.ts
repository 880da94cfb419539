import {
  SESSION_STORE_METHODS,
  createOptionChecks,
  isOptionsObject as isObject,
  systemClock,
} from '@session-cluster/core';
import type { Clock, SessionStore } from '@session-cluster/core';

/**
 * Open the breaker after `threshold` storage failures in a row (a success
 * resets the count).
 */
export interface ConsecutiveBreakerOptions {
  readonly kind: 'consecutive';
  /** Failures in a row that open the breaker. Integer ≥ 1, default 5. */
  readonly threshold?: number | undefined;
  /** How long the breaker stays open before one call probes the primary, ms. Default 2 000. */
  readonly halfOpenAfterMs?: number | undefined;
}

/**
 * Open the breaker when more than `threshold` of the calls over the last
 * `durationMs` failed, once there are at least `minimumRps` calls per second.
 */
export interface SamplingBreakerOptions {
  readonly kind: 'sampling';
  /** Failure ratio that opens the breaker, in (0, 1). Default 0.5. */
  readonly threshold?: number | undefined;
  /** Sampling window, ms. Integer ≥ 100, default 10 000. */
  readonly durationMs?: number | undefined;
  /** Least call rate (per second) at which the ratio counts. > 0, default 5. */
  readonly minimumRps?: number | undefined;
  /** How long the breaker stays open before one call probes the primary, ms. Default 2 000. */
  readonly halfOpenAfterMs?: number | undefined;
}

/** Which circuit breaker guards the primary. */
export type BreakerOptions = ConsecutiveBreakerOptions | SamplingBreakerOptions;

/** How degraded-mode changes are written back to the primary on recovery. */
export interface ReconcileOptions {
  /** Journal entries taken per batch. Integer ≥ 1, default 500. */
  readonly batchSize?: number | undefined;
  /** Entries of a batch in flight at once. Integer ≥ 1, default 64. */
  readonly concurrency?: number | undefined;
}

/** Options of {@link FallbackStore}. */
export interface FallbackStoreOptions {
  /** The store of record (Redis). Every call to it goes through the breaker and the timeout. */
  readonly primary: SessionStore;
  /**
   * Where sessions live while the primary is unavailable: a `MemoryStore`
   * the caller creates (and sizes). Closed by {@link FallbackStore.close}.
   * Its calls must take effect when they are made (as `MemoryStore`'s do),
   * because reconciliation removes a session from it in the same tick in
   * which it stops routing that session's calls there.
   */
  readonly secondary: SessionStore;
  /** Default `{ kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 }`. */
  readonly breaker?: BreakerOptions | undefined;
  /**
   * Bound on every primary call, ms (cockatiel's aggressive timeout: the
   * caller is served by the secondary after this long even if the primary
   * never answers). Default 1 000.
   */
  readonly timeoutMs?: number | undefined;
  /** Default `{ batchSize: 500, concurrency: 64 }`. */
  readonly reconcile?: ReconcileOptions | undefined;
  /** Time source of event timestamps and expiry checks during reconciliation. Default the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Which part of the primary holds a session, for a primary whose parts
   * fail separately (Redis Cluster: `RedisStore.partitionOf`, one per expiry
   * bucket, i.e. per hash slot); `undefined` for one that fails as a whole.
   * With it, every session call also runs under its partition's own breaker
   * (same settings), and while the shared breaker is open, calls for a
   * partition whose breaker is closed still go to the primary: one failed
   * Cluster master sends its own sessions to the secondary, not everyone's.
   * Default: none (one breaker).
   */
  readonly partitionOf?: ((id: string) => string | undefined) | undefined;
  /**
   * Publish routing, breaker changes and reconciliation runs on core's
   * `SESSION_CHANNELS` (what `@session-cluster/telemetry` turns into
   * attributes, spans and gauges; free while nobody subscribes). `false`:
   * publish nothing. Default `true`.
   */
  readonly telemetry?: boolean | undefined;
}

/** Defaults of {@link FallbackStoreOptions}. */
export const FALLBACK_DEFAULTS = Object.freeze({
  consecutiveThreshold: 5,
  samplingThreshold: 0.5,
  samplingDurationMs: 10_000,
  samplingMinimumRps: 5,
  halfOpenAfterMs: 2_000,
  timeoutMs: 1_000,
  batchSize: 500,
  concurrency: 64,
});

/** {@link BreakerOptions} with every default applied. */
export type ResolvedBreakerOptions =
  | { readonly kind: 'consecutive'; readonly threshold: number; readonly halfOpenAfterMs: number }
  | {
      readonly kind: 'sampling';
      readonly threshold: number;
      readonly durationMs: number;
      readonly minimumRps: number;
      readonly halfOpenAfterMs: number;
    };

/** {@link FallbackStoreOptions} with every default applied and every value checked. */
export type ResolvedFallbackOptions = ReturnType<typeof resolveFallbackOptions>;

const check = createOptionChecks('FallbackStore');
const invalid = check.invalid;

function integer(value: unknown, fallback: number, min: number, field: string): number {
  return check.integer(value, field, min) ?? fallback;
}

function positive(value: unknown, fallback: number, field: string): number {
  return check.positiveNumber(value, field) ?? fallback;
}

function store(value: unknown, field: string): SessionStore {
  if (
    !isObject(value) ||
    SESSION_STORE_METHODS.some((method) => typeof value[method] !== 'function')
  ) {
    throw invalid(field, 'a SessionStore');
  }
  return value as unknown as SessionStore;
}

function resolveBreaker(value: unknown): ResolvedBreakerOptions {
  if (value === undefined) {
    return {
      kind: 'consecutive',
      threshold: FALLBACK_DEFAULTS.consecutiveThreshold,
      halfOpenAfterMs: FALLBACK_DEFAULTS.halfOpenAfterMs,
    };
  }
  if (!isObject(value)) throw invalid('breaker', "an object with kind 'consecutive' or 'sampling'");
  const halfOpenAfterMs = integer(
    value['halfOpenAfterMs'],
    FALLBACK_DEFAULTS.halfOpenAfterMs,
    1,
    'breaker.halfOpenAfterMs',
  );
  switch (value['kind']) {
    case 'consecutive':
      return {
        kind: 'consecutive',
        threshold: integer(
          value['threshold'],
          FALLBACK_DEFAULTS.consecutiveThreshold,
          1,
          'breaker.threshold',
        ),
        halfOpenAfterMs,
      };
    case 'sampling': {
      const threshold = value['threshold'] ?? FALLBACK_DEFAULTS.samplingThreshold;
      if (typeof threshold !== 'number' || !(threshold > 0 && threshold < 1)) {
        throw invalid('breaker.threshold', 'a failure ratio in (0, 1)');
      }
      return {
        kind: 'sampling',
        threshold,
        durationMs: integer(
          value['durationMs'],
          FALLBACK_DEFAULTS.samplingDurationMs,
          100,
          'breaker.durationMs',
        ),
        minimumRps: positive(
          value['minimumRps'],
          FALLBACK_DEFAULTS.samplingMinimumRps,
          'breaker.minimumRps',
        ),
        halfOpenAfterMs,
      };
    }
    default:
      throw invalid('breaker.kind', "'consecutive' or 'sampling'");
  }
}

/**
 * Apply defaults to {@link FallbackStoreOptions} and check every value.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad field
 *   (`primary`, `breaker.threshold`, `reconcile.batchSize`, …)
 */
export function resolveFallbackOptions(options: FallbackStoreOptions) {
  if (!isObject(options)) throw invalid('options', 'an object');
  const primary = store(options.primary, 'primary');
  const secondary = store(options.secondary, 'secondary');
  if (primary === secondary) throw invalid('secondary', 'a store other than the primary');
  const reconcile: unknown = options.reconcile ?? {};
  if (!isObject(reconcile)) throw invalid('reconcile', 'an object');
  const clock: unknown = options.clock ?? systemClock;
  if (!isObject(clock) || typeof clock['now'] !== 'function') {
    throw invalid('clock', 'an object with now(): number');
  }
  return {
    primary,
    secondary,
    breaker: resolveBreaker(options.breaker),
    timeoutMs: integer(options.timeoutMs, FALLBACK_DEFAULTS.timeoutMs, 1, 'timeoutMs'),
    batchSize: integer(
      reconcile['batchSize'],
      FALLBACK_DEFAULTS.batchSize,
      1,
      'reconcile.batchSize',
    ),
    concurrency: integer(
      reconcile['concurrency'],
      FALLBACK_DEFAULTS.concurrency,
      1,
      'reconcile.concurrency',
    ),
    clock: clock as unknown as Clock,
    partitionOf: resolvePartitionOf(options.partitionOf),
    telemetry: resolveTelemetry(options.telemetry),
  };
}

function resolvePartitionOf(value: unknown): ((id: string) => string | undefined) | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw invalid('partitionOf', 'a function');
  return value as ((id: string) => string | undefined) | undefined;
}

function resolveTelemetry(value: unknown): boolean {
  return check.telemetry(value);
}
