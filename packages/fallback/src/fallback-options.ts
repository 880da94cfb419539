import {
  MAX_TIMER_MS,
  SESSION_STORE_METHODS,
  createOptionChecks,
  isOptionsObject,
} from '@session-cluster/core';
import type { OptionsOf, ResolvedOptions, SessionStore } from '@session-cluster/core';

const check = createOptionChecks('FallbackStore');

// Both kinds of breaker half-open alike.
const HALF_OPEN = {
  /** How long the breaker stays open before one call probes the primary, ms. Default 2 000. */
  halfOpenAfterMs: check.int(2_000, 1),
};

const BREAKER_RULES = {
  consecutive: {
    kind: check.typed<'consecutive'>(),
    /** Failures in a row that open the breaker. Integer ≥ 1, default 5. */
    threshold: check.int(5, 1),
    ...HALF_OPEN,
  },
  sampling: {
    kind: check.typed<'sampling'>(),
    /** Failure ratio that opens the breaker, in (0, 1). Default 0.5. */
    threshold: check.num(0.5, 'positive', 1, true),
    /** Sampling window, ms. Integer ≥ 100, default 10 000. */
    durationMs: check.int(10_000, 100),
    /** Least call rate (per second) at which the ratio counts. > 0, default 5. */
    minimumRps: check.num(5, 'positive'),
    ...HALF_OPEN,
  },
};
type BreakerKind = keyof typeof BREAKER_RULES;

/** Open the breaker after `threshold` storage failures in a row (a success resets the count). */
export type ConsecutiveBreakerOptions = OptionsOf<typeof BREAKER_RULES.consecutive>;
/** Open the breaker when over `threshold` of the last `durationMs`' calls failed, at ≥ `minimumRps`. */
export type SamplingBreakerOptions = OptionsOf<typeof BREAKER_RULES.sampling>;
/** Which circuit breaker guards the primary. */
export type BreakerOptions = ConsecutiveBreakerOptions | SamplingBreakerOptions;
/** {@link BreakerOptions} with every default applied. */
export type ResolvedBreakerOptions = {
  [K in BreakerKind]: ResolvedOptions<(typeof BREAKER_RULES)[K]>;
}[BreakerKind];

function resolveBreaker(value: unknown, field: string): ResolvedBreakerOptions {
  const breaker = value ?? { kind: 'consecutive' };
  if (!isOptionsObject(breaker)) {
    throw check.invalid(field, "an object with kind 'consecutive' or 'sampling'");
  }
  const kind = breaker['kind'];
  if (kind !== 'consecutive' && kind !== 'sampling') {
    throw check.invalid(`${field}.kind`, "'consecutive' or 'sampling'");
  }
  return check.resolve(BREAKER_RULES[kind], breaker, `${field}.`);
}

const RECONCILE_RULES = {
  /** Journal entries taken per batch. Integer ≥ 1, default 500. */
  batchSize: check.int(500, 1),
  /** Entries of a batch in flight at once. Integer ≥ 1, default 64. */
  concurrency: check.int(64, 1),
  /** How long a write-back refused for now (`NOPERM`, an `ERR`) is retried before it is let go, ms. Default 1 h; 0: at once. */
  giveUpAfterMs: check.int(3_600_000, 0),
  /**
   * How long `close()` may still write the journal back (a run in progress goes on, else one last
   * pass tries every entry), ms. Default 5 000; 0: not at all. What is left is lost (`writeBacksLost`).
   */
  closeDrainMs: check.int(5_000, 0, MAX_TIMER_MS),
};

const STORE = check.implementing<SessionStore>(SESSION_STORE_METHODS, 'a SessionStore');
const RULES = {
  /** The store of record (Redis). Every call to it goes through the breaker and the timeout. */
  primary: STORE,
  /**
   * Where sessions live while the primary is down: a `MemoryStore` you size (closed by
   * {@link FallbackStore.close}), whose calls take effect when made (reconciliation relies on it).
   */
  secondary: STORE,
  /** Default `{ kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 }`. */
  breaker: check.accepting<BreakerOptions | undefined>()(resolveBreaker),
  /** Bound on every primary call, after which the secondary serves it, ms. Default 1 000. */
  timeoutMs: check.int(1_000, 1),
  /** How degraded-mode changes are written back on recovery. Defaults below. */
  reconcile: check.section(RECONCILE_RULES),
  /** Time source of event timestamps and expiry checks during reconciliation. Default the system clock. */
  clock: check.clock,
  /**
   * Which part of a primary (Cluster: `RedisStore.partitionOf`) holds a session: each then has its
   * own breaker, so a failed master sends only its sessions to the secondary. Default: one breaker.
   */
  partitionOf: check.fn<(id: string) => string | undefined>(),
  /** Publish routing, breaker changes and reconciliations on core's `SESSION_CHANNELS`. Default `true`. */
  telemetry: check.flag(true),
};

/** How degraded-mode changes are written back to the primary on recovery. */
export type ReconcileOptions = OptionsOf<typeof RECONCILE_RULES>;
/** Options of {@link FallbackStore}. */
export type FallbackStoreOptions = OptionsOf<typeof RULES>;

const { reconcile: reconcileDefaults, ...defaults } = check.defaults(RULES);

/** Defaults of {@link FallbackStoreOptions}, `reconcile`'s flattened as they resolve. */
export const FALLBACK_DEFAULTS = Object.freeze({ ...defaults, ...reconcileDefaults });

/** Check {@link FallbackStoreOptions} and apply defaults. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveFallbackOptions(options: FallbackStoreOptions) {
  const { reconcile, ...resolved } = check.resolve(RULES, options);
  if (resolved.primary === resolved.secondary) {
    throw check.invalid('secondary', 'a store other than the primary');
  }
  return { ...resolved, ...reconcile };
}
