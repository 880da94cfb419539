import { SESSION_STORE_METHODS, createOptionChecks, isOptionsObject } from '@session-cluster/core';
import type { Clock, ResolvedOptions, SessionStore } from '@session-cluster/core';

/** Open the breaker after `threshold` storage failures in a row (a success resets the count). */
export interface ConsecutiveBreakerOptions {
  readonly kind: 'consecutive';
  /** Failures in a row that open the breaker. Integer ≥ 1, default 5. */
  readonly threshold?: number | undefined;
  /** How long the breaker stays open before one call probes the primary, ms. Default 2 000. */
  readonly halfOpenAfterMs?: number | undefined;
}

/** Open the breaker when over `threshold` of the last `durationMs`' calls failed, at ≥ `minimumRps`. */
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
   * Where sessions live while the primary is down: a `MemoryStore` you size
   * (closed by {@link FallbackStore.close}). Its calls must take effect when
   * made, as reconciliation moves a session off it within one tick.
   */
  readonly secondary: SessionStore;
  /** Default `{ kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 }`. */
  readonly breaker?: BreakerOptions | undefined;
  /** Bound on every primary call, after which the secondary serves it, ms. Default 1 000. */
  readonly timeoutMs?: number | undefined;
  /** Default `{ batchSize: 500, concurrency: 64 }`. */
  readonly reconcile?: ReconcileOptions | undefined;
  /** Time source of event timestamps and expiry checks during reconciliation. Default the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Which part of a primary whose parts fail separately holds a session
   * (Cluster: `RedisStore.partitionOf`). Each partition then has its own
   * breaker too, so one failed master sends only its sessions to the
   * secondary. Default: none (one breaker).
   */
  readonly partitionOf?: ((id: string) => string | undefined) | undefined;
  /** Publish routing, breaker changes and reconciliations on core's `SESSION_CHANNELS`. Default `true`. */
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

const check = createOptionChecks('FallbackStore');
const D = FALLBACK_DEFAULTS;
const BREAKER_RULES = {
  consecutive: {
    threshold: check.int(D.consecutiveThreshold, 1),
    halfOpenAfterMs: check.int(D.halfOpenAfterMs, 1),
  },
  sampling: {
    threshold: (value: unknown, field: string): number => {
      const ratio = value ?? D.samplingThreshold;
      if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1)) {
        throw check.invalid(field, 'a failure ratio in (0, 1)');
      }
      return ratio;
    },
    durationMs: check.int(D.samplingDurationMs, 100),
    minimumRps: check.num(D.samplingMinimumRps, 'positive'),
    halfOpenAfterMs: check.int(D.halfOpenAfterMs, 1),
  },
};

/** {@link BreakerOptions} with every default applied. */
export type ResolvedBreakerOptions = {
  [K in keyof typeof BREAKER_RULES]: { readonly kind: K } & ResolvedOptions<
    (typeof BREAKER_RULES)[K]
  >;
}[keyof typeof BREAKER_RULES];

function resolveBreaker(value: unknown, field: string): ResolvedBreakerOptions {
  const breaker = value ?? { kind: 'consecutive' };
  if (!isOptionsObject(breaker)) {
    throw check.invalid(field, "an object with kind 'consecutive' or 'sampling'");
  }
  const kind = breaker['kind'];
  if (kind !== 'consecutive' && kind !== 'sampling') {
    throw check.invalid(`${field}.kind`, "'consecutive' or 'sampling'");
  }
  return {
    kind,
    ...check.resolve(BREAKER_RULES[kind], breaker, `${field}.`),
  } as ResolvedBreakerOptions;
}

const STORE = check.implementing<SessionStore>(SESSION_STORE_METHODS, 'a SessionStore');
const RULES = {
  primary: STORE,
  secondary: STORE,
  breaker: resolveBreaker,
  timeoutMs: check.int(D.timeoutMs, 1),
  reconcile: check.section({
    batchSize: check.int(D.batchSize, 1),
    concurrency: check.int(D.concurrency, 1),
  }),
  clock: check.clock,
  partitionOf: check.fn<(id: string) => string | undefined>(),
  telemetry: check.flag(true),
};

/** {@link FallbackStoreOptions} with every default applied and every value checked. */
export type ResolvedFallbackOptions = ReturnType<typeof resolveFallbackOptions>;

/**
 * Apply defaults to {@link FallbackStoreOptions} and check every value.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad field
 *   (`primary`, `breaker.threshold`, `reconcile.batchSize`, …)
 */
export function resolveFallbackOptions(options: FallbackStoreOptions) {
  const { reconcile, ...resolved } = check.resolve(RULES, options);
  if (resolved.primary === resolved.secondary) {
    throw check.invalid('secondary', 'a store other than the primary');
  }
  return { ...resolved, ...reconcile };
}
