import { MAX_TIMER_MS, createOptionChecks } from '@session-cluster/core';
import type { OptionsOf, SessionStore } from '@session-cluster/core';

const check = createOptionChecks('HealthMonitor');

const PROBE_RULES = {
  /** The store to probe with a real create → load → delete. */
  store: check.implementing<SessionStore>(
    ['create', 'load', 'delete'],
    'a SessionStore (create, load, delete)',
  ),
  /** TTL of the probe session, ms, above `probeTimeoutMs`, so a failed delete leaves little behind. Default 10 000. */
  ttlMs: check.int(10_000, 1, MAX_TIMER_MS),
};

const RULES = {
  /** Most recent operations kept per window (per operation, and overall). Default 100. */
  windowSize: check.int(100, 1),
  /** Samples older than this (ms) leave the window too. Default 60 000. */
  windowMs: check.int(60_000, 1),
  /** An operation taking longer than this (ms) counts as slow. Default 5 000. */
  slowThresholdMs: check.num(5_000, 'positive'),
  /** Unhealthy when a window's success rate is below this, in [0, 1] (0 disables). Default 0.8. */
  unhealthyBelowSuccessRate: check.num(0.8, 0, 1),
  /** The success-rate rule applies only to windows with at least this many samples. Default 10. */
  minSamples: check.int(10, 1),
  /** Time source for sample ages and timestamps (default: the system clock). */
  clock: check.clock,
  /** Store for {@link HealthMonitor.check}; without it `check()` is a configuration error. */
  probe: check.optional(check.section(PROBE_RULES)),
  /** A probe running longer than this (ms) fails with `STORAGE_TIMEOUT`. Default 2 000. */
  probeTimeoutMs: check.int(2_000, 1, MAX_TIMER_MS),
  /** Publish each probe on core's `SESSION_CHANNELS` (spans and metrics). Default `true`. */
  telemetry: check.flag(true),
};

/** What {@link HealthMonitor.check} probes. */
export type HealthProbeOptions = OptionsOf<typeof PROBE_RULES>;
/** Options of {@link HealthMonitor}. */
export type HealthMonitorOptions = OptionsOf<typeof RULES>;
/** Defaults of {@link HealthMonitorOptions}; `probeTtlMs` is the probe's `ttlMs`. */
export const HEALTH_MONITOR_DEFAULTS = Object.freeze({
  ...check.defaults(RULES),
  probeTtlMs: check.defaults(PROBE_RULES).ttlMs,
});

/** Check {@link HealthMonitorOptions} and apply defaults. @throws SessionValidationError `INVALID_CONFIG` */
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
