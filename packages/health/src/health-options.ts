import { SessionValidationError, systemClock } from '@session-cluster/core';
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

/** Options with every default applied and every value checked. */
export interface ResolvedHealthOptions {
  readonly windowSize: number;
  readonly windowMs: number;
  readonly slowThresholdMs: number;
  readonly unhealthyBelowSuccessRate: number;
  readonly minSamples: number;
  readonly clock: Clock;
  readonly probe: { readonly store: SessionStore; readonly ttlMs: number } | undefined;
  readonly probeTimeoutMs: number;
  /** Whether probes are published on `SESSION_CHANNELS`. */
  readonly telemetry: boolean;
}

const STORE_METHODS_PROBED = ['create', 'load', 'delete'] as const;

/**
 * Apply defaults and validate.
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` names the bad option
 */
export function resolveHealthOptions(options: unknown): ResolvedHealthOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) {
    throw configError('options', `options must be an object, got ${kindOf(options)}`);
  }
  const raw = options as HealthMonitorOptions;
  const windowSize = integerOption(
    raw.windowSize,
    HEALTH_MONITOR_DEFAULTS.windowSize,
    'windowSize',
  );
  const windowMs = integerOption(raw.windowMs, HEALTH_MONITOR_DEFAULTS.windowMs, 'windowMs');
  const slowThresholdMs = positiveNumberOption(
    raw.slowThresholdMs,
    HEALTH_MONITOR_DEFAULTS.slowThresholdMs,
    'slowThresholdMs',
  );
  const unhealthyBelowSuccessRate = rateOption(raw.unhealthyBelowSuccessRate);
  const minSamples = integerOption(
    raw.minSamples,
    HEALTH_MONITOR_DEFAULTS.minSamples,
    'minSamples',
  );
  // A window never holds more than windowSize samples, so a larger minSamples
  // would silently switch the success-rate rule off.
  if (minSamples > windowSize) {
    throw configError(
      'minSamples',
      `minSamples (${minSamples}) must not exceed windowSize (${windowSize})`,
    );
  }
  const probeTimeoutMs = integerOption(
    raw.probeTimeoutMs,
    HEALTH_MONITOR_DEFAULTS.probeTimeoutMs,
    'probeTimeoutMs',
  );
  return {
    windowSize,
    windowMs,
    slowThresholdMs,
    unhealthyBelowSuccessRate,
    minSamples,
    clock: clockOption(raw.clock),
    probe: probeOption(raw.probe, probeTimeoutMs),
    probeTimeoutMs,
    telemetry: telemetryOption(raw.telemetry),
  };
}

function telemetryOption(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') {
    throw configError('telemetry', `telemetry must be a boolean, got ${kindOf(value)}`);
  }
  return value;
}

function probeOption(value: unknown, probeTimeoutMs: number): ResolvedHealthOptions['probe'] {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw configError('probe', `probe must be an object, got ${kindOf(value)}`);
  }
  const probe = value as HealthProbeOptions;
  const store: unknown = probe.store;
  if (typeof store !== 'object' || store === null) {
    throw configError('probe.store', `probe.store must be a SessionStore, got ${kindOf(store)}`);
  }
  for (const method of STORE_METHODS_PROBED) {
    if (typeof (store as Record<string, unknown>)[method] !== 'function') {
      throw configError('probe.store', `probe.store must be a SessionStore (no ${method} method)`);
    }
  }
  const ttlMs = integerOption(probe.ttlMs, HEALTH_MONITOR_DEFAULTS.probeTtlMs, 'probe.ttlMs');
  if (ttlMs <= probeTimeoutMs) {
    throw configError(
      'probe.ttlMs',
      `probe.ttlMs (${ttlMs}) must exceed probeTimeoutMs (${probeTimeoutMs})`,
    );
  }
  return { store: store as SessionStore, ttlMs };
}

function clockOption(value: unknown): Clock {
  if (value === undefined) return systemClock;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { now?: unknown }).now !== 'function'
  ) {
    throw configError('clock', 'clock must be an object with a now() method');
  }
  return value as Clock;
}

function integerOption(value: unknown, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw configError(field, `${field} must be an integer >= 1, got ${kindOf(value)}`);
  }
  return value;
}

function positiveNumberOption(value: unknown, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw configError(field, `${field} must be a finite number > 0, got ${kindOf(value)}`);
  }
  return value;
}

function rateOption(value: unknown): number {
  const field = 'unhealthyBelowSuccessRate';
  if (value === undefined) return HEALTH_MONITOR_DEFAULTS.unhealthyBelowSuccessRate;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw configError(field, `${field} must be a number in [0, 1], got ${kindOf(value)}`);
  }
  return value;
}

function configError(field: string, message: string): SessionValidationError {
  return new SessionValidationError(message, { code: 'INVALID_CONFIG', field });
}

/** Numbers are safe to echo in a message; anything else is described by its kind only. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'number' ? String(value) : typeof value;
}
