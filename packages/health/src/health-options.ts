import {
  MAX_TIMER_MS,
  createOptionChecks,
  isOptionsObject,
  systemClock,
} from '@session-cluster/core';
import type { Clock, SessionStore, UncheckedOptions } from '@session-cluster/core';

/** What {@link HealthMonitor.check} probes. */
export interface HealthProbeOptions {
  /** The store to probe with a real create → load → delete. */
  readonly store: SessionStore;
  /**
   * TTL of the probe session in ms (default 10 000), so a probe that cannot
   * delete its session leaves nothing behind for long. Must exceed
   * `probeTimeoutMs`: the session must outlive the probe that reads it.
   */
  readonly ttlMs?: number | undefined;
}

/** Options of {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  /** Most recent operations kept per window (per operation, and overall). Default 100. */
  readonly windowSize?: number | undefined;
  /** Samples older than this (ms) leave the window too. Default 60 000. */
  readonly windowMs?: number | undefined;
  /** An operation taking longer than this (ms) counts as slow. Default 5 000. */
  readonly slowThresholdMs?: number | undefined;
  /** Unhealthy when a window's success rate is below this, in [0, 1] (0 disables). Default 0.8. */
  readonly unhealthyBelowSuccessRate?: number | undefined;
  /** The success-rate rule applies only to windows with at least this many samples. Default 10. */
  readonly minSamples?: number | undefined;
  /** Time source for sample ages and timestamps (default: the system clock). */
  readonly clock?: Clock | undefined;
  /** Store for {@link HealthMonitor.check}; without it `check()` is a configuration error. */
  readonly probe?: HealthProbeOptions | undefined;
  /** A probe running longer than this (ms) fails with `STORAGE_TIMEOUT`. Default 2 000. */
  readonly probeTimeoutMs?: number | undefined;
  /**
   * Publish each probe on core's `SESSION_CHANNELS` (what
   * `@session-cluster/telemetry` turns into probe spans and metrics; free
   * while nobody subscribes). `false`: publish nothing. Default `true`.
   */
  readonly telemetry?: boolean | undefined;
}

/** Defaults of {@link HealthMonitorOptions}. */
export const HEALTH_MONITOR_DEFAULTS = Object.freeze({
  windowSize: 100,
  windowMs: 60_000,
  slowThresholdMs: 5_000,
  unhealthyBelowSuccessRate: 0.8,
  minSamples: 10,
  probeTimeoutMs: 2_000,
  probeTtlMs: 10_000,
});

const STORE_METHODS_PROBED = ['create', 'load', 'delete'] as const;

const check = createOptionChecks('HealthMonitor');

/** {@link HealthMonitorOptions} with every default applied and every value checked. */
export type ResolvedHealthOptions = ReturnType<typeof resolveHealthOptions>;

/**
 * Apply defaults and validate: what the {@link HealthMonitor} constructor runs.
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` names the bad option
 */
export function resolveHealthOptions(options: unknown) {
  const raw: UncheckedOptions = options === undefined ? {} : checkedObject(options, 'options');
  const defaults = HEALTH_MONITOR_DEFAULTS;
  const windowSize = check.integer(raw['windowSize'], 'windowSize', 1) ?? defaults.windowSize;
  const minSamples = check.integer(raw['minSamples'], 'minSamples', 1) ?? defaults.minSamples;
  // A window never holds more than windowSize samples, so a larger minSamples
  // would silently switch the success-rate rule off.
  if (minSamples > windowSize) {
    throw check.refuse('minSamples', `${minSamples} must not exceed windowSize (${windowSize})`);
  }
  const rate = raw['unhealthyBelowSuccessRate'];
  if (rate !== undefined && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) {
    throw check.invalid('unhealthyBelowSuccessRate', 'a number in [0, 1]');
  }
  const probeTimeoutMs =
    check.integer(raw['probeTimeoutMs'], 'probeTimeoutMs', 1, MAX_TIMER_MS) ??
    defaults.probeTimeoutMs;
  return {
    windowSize,
    windowMs: check.integer(raw['windowMs'], 'windowMs', 1) ?? defaults.windowMs,
    slowThresholdMs:
      check.positiveNumber(raw['slowThresholdMs'], 'slowThresholdMs') ?? defaults.slowThresholdMs,
    unhealthyBelowSuccessRate: rate ?? defaults.unhealthyBelowSuccessRate,
    minSamples,
    clock: clockOption(raw['clock']),
    probe: probeOption(raw['probe'], probeTimeoutMs),
    probeTimeoutMs,
    telemetry: check.telemetry(raw['telemetry']),
  };
}

function checkedObject(value: unknown, field: string): UncheckedOptions {
  if (!isOptionsObject(value)) throw check.invalid(field, 'an object');
  return value;
}

function probeOption(
  value: unknown,
  probeTimeoutMs: number,
): { readonly store: SessionStore; readonly ttlMs: number } | undefined {
  if (value === undefined) return undefined;
  const probe = checkedObject(value, 'probe');
  const store = probe['store'];
  if (!isOptionsObject(store) || STORE_METHODS_PROBED.some((m) => typeof store[m] !== 'function')) {
    throw check.invalid('probe.store', `a SessionStore (${STORE_METHODS_PROBED.join(', ')})`);
  }
  const ttlMs =
    check.integer(probe['ttlMs'], 'probe.ttlMs', 1, MAX_TIMER_MS) ??
    HEALTH_MONITOR_DEFAULTS.probeTtlMs;
  if (ttlMs <= probeTimeoutMs) {
    throw check.refuse('probe.ttlMs', `${ttlMs} must exceed probeTimeoutMs (${probeTimeoutMs})`);
  }
  return { store: store as unknown as SessionStore, ttlMs };
}

function clockOption(value: unknown): Clock {
  if (value === undefined) return systemClock;
  if (!isOptionsObject(value) || typeof value['now'] !== 'function') {
    throw check.invalid('clock', 'an object with a now() method');
  }
  return value as unknown as Clock;
}
