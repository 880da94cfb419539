import { MAX_TIMER_MS, createOptionChecks } from '@session-cluster/core';
import type { Clock, SessionStore } from '@session-cluster/core';

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

const check = createOptionChecks('HealthMonitor');
const D = HEALTH_MONITOR_DEFAULTS;
const RULES = {
  windowSize: check.int(D.windowSize, 1),
  windowMs: check.int(D.windowMs, 1),
  slowThresholdMs: check.num(D.slowThresholdMs, 'positive'),
  unhealthyBelowSuccessRate: check.num(D.unhealthyBelowSuccessRate, 0, 1),
  minSamples: check.int(D.minSamples, 1),
  clock: check.clock,
  probe: (value: unknown, field: string) =>
    value === undefined ? undefined : check.resolve(PROBE_RULES, value, `${field}.`),
  probeTimeoutMs: check.int(D.probeTimeoutMs, 1, MAX_TIMER_MS),
  telemetry: check.flag(true),
};
const PROBE_RULES = {
  store: check.implementing<SessionStore>(
    ['create', 'load', 'delete'],
    'a SessionStore (create, load, delete)',
  ),
  ttlMs: check.int(D.probeTtlMs, 1, MAX_TIMER_MS),
};

/** {@link HealthMonitorOptions} with every default applied and every value checked. */
export type ResolvedHealthOptions = ReturnType<typeof resolveHealthOptions>;

/**
 * Apply defaults and validate: what the {@link HealthMonitor} constructor runs.
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` names the bad option
 */
export function resolveHealthOptions(options: unknown) {
  const resolved = check.resolve(RULES, options === undefined ? {} : options);
  const { windowSize, minSamples, probe, probeTimeoutMs } = resolved;
  // A window never holds more than windowSize samples, so a larger minSamples
  // would silently switch the success-rate rule off.
  if (minSamples > windowSize) {
    throw check.refuse('minSamples', `${minSamples} must not exceed windowSize (${windowSize})`);
  }
  // The probe's session must outlive the probe that reads it.
  if (probe !== undefined && probe.ttlMs <= probeTimeoutMs) {
    throw check.refuse(
      'probe.ttlMs',
      `${probe.ttlMs} must exceed probeTimeoutMs (${probeTimeoutMs})`,
    );
  }
  return resolved;
}
