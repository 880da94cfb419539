import { describe, expect, it } from 'vitest';
import { ManualClock, SessionValidationError, systemClock } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { HEALTH_MONITOR_DEFAULTS, resolveHealthOptions } from './health-options.js';
import type { HealthMonitorOptions } from './health-options.js';
import { HealthMonitor } from './health-monitor.js';

function configErrorOf(options: unknown): SessionValidationError {
  try {
    resolveHealthOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionValidationError);
    const validation = error as SessionValidationError;
    expect(validation.code).toBe('INVALID_CONFIG');
    return validation;
  }
  return expect.fail(`expected INVALID_CONFIG for ${JSON.stringify(options)}`);
}

describe('resolveHealthOptions', () => {
  it('applies the documented defaults', () => {
    expect(resolveHealthOptions(undefined)).toEqual({
      windowSize: 100,
      windowMs: 60_000,
      slowThresholdMs: 5_000,
      unhealthyBelowSuccessRate: 0.8,
      minSamples: 10,
      clock: systemClock,
      probe: undefined,
      probeTimeoutMs: 2_000,
      telemetry: true,
    });
    expect(HEALTH_MONITOR_DEFAULTS.probeTtlMs).toBe(10_000);
  });

  it('keeps valid values, including the probe with its default TTL', () => {
    const clock = new ManualClock(0);
    const store = new MemoryStore({ clock, cleanupIntervalMs: 0 });
    const resolved = resolveHealthOptions({
      windowSize: 5,
      windowMs: 1_000,
      slowThresholdMs: 0.5,
      unhealthyBelowSuccessRate: 0,
      minSamples: 5,
      clock,
      probe: { store },
      probeTimeoutMs: 100,
    });
    expect(resolved).toEqual({
      windowSize: 5,
      windowMs: 1_000,
      slowThresholdMs: 0.5,
      unhealthyBelowSuccessRate: 0,
      minSamples: 5,
      clock,
      probe: { store, ttlMs: 10_000 },
      probeTimeoutMs: 100,
      telemetry: true,
    });
  });

  it.each([
    ['options', 'nope'],
    ['options', null],
    ['windowSize', { windowSize: 0 }],
    ['windowSize', { windowSize: 1.5 }],
    ['windowSize', { windowSize: '100' }],
    ['windowMs', { windowMs: -1 }],
    ['windowMs', { windowMs: Number.POSITIVE_INFINITY }],
    ['slowThresholdMs', { slowThresholdMs: 0 }],
    ['slowThresholdMs', { slowThresholdMs: Number.NaN }],
    ['telemetry', { telemetry: 'yes' }],
    ['telemetry', { telemetry: {} }],
    ['unhealthyBelowSuccessRate', { unhealthyBelowSuccessRate: 1.01 }],
    ['unhealthyBelowSuccessRate', { unhealthyBelowSuccessRate: -0.1 }],
    ['minSamples', { minSamples: 0 }],
    ['minSamples', { windowSize: 5, minSamples: 6 }],
    ['clock', { clock: {} }],
    ['clock', { clock: Date.now }],
    ['probeTimeoutMs', { probeTimeoutMs: 0 }],
    ['probe', { probe: 'redis' }],
    ['probe.store', { probe: {} }],
    ['probe.store', { probe: { store: { create: () => null } } }],
    ['probe.ttlMs', { probe: { store: new MemoryStore({ cleanupIntervalMs: 0 }), ttlMs: 0 } }],
    [
      'probe.ttlMs',
      {
        probeTimeoutMs: 5_000,
        probe: { store: new MemoryStore({ cleanupIntervalMs: 0 }), ttlMs: 5_000 },
      },
    ],
  ])('rejects a bad %s', (field, options) => {
    expect(configErrorOf(options).field).toBe(field);
  });

  it('is what the HealthMonitor constructor runs', () => {
    expect(() => new HealthMonitor({ windowSize: -5 })).toThrow(SessionValidationError);
    expect(() => new HealthMonitor({ windowsize: 5 } as HealthMonitorOptions)).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', field: 'windowsize' }) as Error,
    );
  });
});
