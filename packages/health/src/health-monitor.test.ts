import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConcurrentAccessError,
  ManualClock,
  SessionValidationError,
  StorageUnavailableError,
  generateSessionId,
  hashSessionId,
} from '@session-cluster/core';
import { HealthMonitor } from './health-monitor.js';
import type { HealthMonitorOptions } from './health-options.js';
import type { StatusChange } from './health-report.js';

const T0 = 1_700_000_000_000;

function newMonitor(options: HealthMonitorOptions = {}): {
  monitor: HealthMonitor;
  clock: ManualClock;
  changes: StatusChange[];
} {
  const clock = new ManualClock(T0);
  const monitor = new HealthMonitor({ clock, ...options });
  const changes: StatusChange[] = [];
  monitor.on('status', (change) => {
    changes.push(change);
  });
  return { monitor, clock, changes };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('HealthMonitor statistics', () => {
  it('reports exact rates, quantiles, failures by code, slow count and last error for a scripted sequence', () => {
    const { monitor, clock } = newMonitor({ slowThresholdMs: 95 });
    // load: 80 successes taking 1..80 ms.
    for (let ms = 1; ms <= 80; ms += 1) {
      clock.advance(10);
      monitor.record({ operation: 'load', durationMs: ms, ok: true });
    }
    // save: 10 successes taking 81..90 ms, then 10 failures taking 91..100 ms.
    for (let ms = 81; ms <= 90; ms += 1) {
      clock.advance(10);
      monitor.record({ operation: 'save', durationMs: ms, ok: true });
    }
    const failures = [
      new StorageUnavailableError(),
      new StorageUnavailableError(),
      new StorageUnavailableError('Timed out', { timeout: true }),
      new StorageUnavailableError(),
      new ConcurrentAccessError('version_conflict', 'stale version'),
      new StorageUnavailableError('Timed out', { timeout: true }),
      new StorageUnavailableError(),
      new Error('socket hang up'),
      new StorageUnavailableError(),
      new StorageUnavailableError('Redis is loading', { timeout: true }),
    ];
    for (const [i, error] of failures.entries()) {
      clock.advance(10);
      monitor.record({ operation: 'save', durationMs: 91 + i, ok: false, error });
    }
    const lastErrorAt = clock.now();
    clock.advance(5);

    const report = monitor.report();
    expect(report.checkedAt).toBe(T0 + 1_005);
    expect(report.overall).toEqual({
      count: 100,
      successRate: 0.9,
      failures: 10,
      failuresByCode: {
        INTERNAL: 1,
        STORAGE_TIMEOUT: 3,
        STORAGE_UNAVAILABLE: 5,
        VERSION_CONFLICT: 1,
      },
      latencyMs: { p50: 50, p95: 95, p99: 99 },
      slowCount: 5, // 96..100 ms; 95 ms is not longer than the threshold
      lastError: { code: 'STORAGE_TIMEOUT', message: 'Redis is loading', at: lastErrorAt },
    });
    expect(report.operations).toEqual({
      load: {
        count: 80,
        successRate: 1,
        failures: 0,
        failuresByCode: {},
        latencyMs: { p50: 40, p95: 76, p99: 80 },
        slowCount: 0,
        lastError: null,
      },
      save: {
        count: 20,
        successRate: 0.5,
        failures: 10,
        failuresByCode: {
          INTERNAL: 1,
          STORAGE_TIMEOUT: 3,
          STORAGE_UNAVAILABLE: 5,
          VERSION_CONFLICT: 1,
        },
        latencyMs: { p50: 90, p95: 99, p99: 100 },
        slowCount: 5,
        lastError: { code: 'STORAGE_TIMEOUT', message: 'Redis is loading', at: lastErrorAt },
      },
    });
    // Overall 0.9 passes; save alone (0.5 over 20) does not.
    expect(report.status).toBe('unhealthy');
    expect(report.reasons).toEqual(['operation save: success rate 0.500 below 0.8 (10 of 20 ok)']);
    expect(Object.keys(report.operations)).toEqual(['load', 'save']);
  });

  it('normalises anything thrown to a code; a failure without an error is INTERNAL', () => {
    const { monitor } = newMonitor();
    monitor.record({ operation: 'load', durationMs: 1, ok: false, error: 'a string' });
    expect(monitor.report().overall.lastError).toMatchObject({ code: 'INTERNAL' });
    monitor.record({ operation: 'load', durationMs: 1, ok: false });
    expect(monitor.report().overall.lastError).toMatchObject({
      code: 'INTERNAL',
      message: 'load failed (no error given)',
    });
    expect(monitor.report().overall.failuresByCode).toEqual({ INTERNAL: 2 });
  });

  it('never reports a raw session id', () => {
    const { monitor } = newMonitor();
    const id = generateSessionId();
    monitor.record({
      operation: 'save',
      durationMs: 3,
      ok: false,
      error: new Error(`WRONGTYPE for key sc:s:{${id}}`),
    });
    monitor.setDegraded(true, `failed on ${id}`);
    const json = JSON.stringify(monitor.report());
    expect(json).not.toContain(id);
    expect(json).toContain(`<sid:${hashSessionId(id)}>`);
  });

  it('evicts by count: only the last windowSize operations count', () => {
    const { monitor } = newMonitor({ windowSize: 5, minSamples: 5 });
    for (let ms = 1; ms <= 3; ms += 1) {
      monitor.record({
        operation: 'load',
        durationMs: ms,
        ok: false,
        error: new StorageUnavailableError(),
      });
    }
    for (let ms = 4; ms <= 8; ms += 1)
      monitor.record({ operation: 'load', durationMs: ms, ok: true });
    const { overall, operations } = monitor.report();
    expect(overall.count).toBe(5);
    expect(overall.successRate).toBe(1);
    expect(overall.failuresByCode).toEqual({});
    expect(overall.latencyMs).toEqual({ p50: 6, p95: 8, p99: 8 });
    expect(operations['load']?.count).toBe(5);
    // The last error outlives its evicted sample.
    expect(overall.lastError?.code).toBe('STORAGE_UNAVAILABLE');
  });

  it('evicts by time: samples older than windowMs drop out, per operation and overall', () => {
    const { monitor, clock } = newMonitor({ windowMs: 1_000 });
    monitor.record({
      operation: 'load',
      durationMs: 100,
      ok: false,
      error: new StorageUnavailableError(),
    });
    clock.advance(600);
    monitor.record({ operation: 'save', durationMs: 7, ok: true });
    clock.advance(400); // first sample is exactly windowMs old: still in
    expect(monitor.report().overall.count).toBe(2);
    clock.advance(1); // now older than windowMs
    const report = monitor.report();
    expect(report.overall).toMatchObject({ count: 1, successRate: 1, failures: 0 });
    expect(report.overall.latencyMs).toEqual({ p50: 7, p95: 7, p99: 7 });
    expect(report.operations['load']).toMatchObject({
      count: 0,
      successRate: null,
      failures: 0,
      latencyMs: { p50: null, p95: null, p99: null },
      lastError: { code: 'STORAGE_UNAVAILABLE', at: T0 },
    });
    clock.advance(600);
    expect(monitor.report().overall.count).toBe(0);
  });

  it('counts operations longer than slowThresholdMs as slow', () => {
    const { monitor } = newMonitor({ slowThresholdMs: 5_000 });
    for (const durationMs of [4_999, 5_000, 5_000.5, 12_000]) {
      monitor.record({ operation: 'update', durationMs, ok: true });
    }
    monitor.record({
      operation: 'load',
      durationMs: 6_000,
      ok: false,
      error: new StorageUnavailableError(),
    });
    const report = monitor.report();
    expect(report.operations['update']?.slowCount).toBe(2);
    expect(report.operations['load']?.slowCount).toBe(1);
    expect(report.overall.slowCount).toBe(3);
  });

  it('rejects a malformed sample with INVALID_ARGUMENT and records nothing', () => {
    const { monitor } = newMonitor();
    for (const sample of [
      { operation: '', durationMs: 1, ok: true },
      { operation: 'load', durationMs: -1, ok: true },
      { operation: 'load', durationMs: Number.NaN, ok: true },
      { operation: 'load', durationMs: Number.POSITIVE_INFINITY, ok: true },
    ]) {
      expect(() => {
        monitor.record(sample);
      }).toThrow(SessionValidationError);
    }
    expect(monitor.report().overall.count).toBe(0);
  });

  it('shows an instance cache when one reports, and only then', () => {
    const monitor = new HealthMonitor();
    expect(monitor.report().cache).toBeNull();
    const stats = {
      state: 'down' as const,
      entries: 2,
      bytes: 90,
      hits: 5,
      misses: 3,
      invalidations: 1,
      flushes: 1,
      evictions: 0,
    };
    monitor.reportCache(() => ({ ...stats, maxEntries: 10, racesLost: 0 }));
    expect(monitor.report().cache).toEqual(stats);
    // A cache that is down costs round trips, not correctness: no status change.
    expect(monitor.report().status).toBe('healthy');
    monitor.reportCache(undefined);
    expect(monitor.report().cache).toBeNull();
  });

  it('shows the write-backs a fallback still owes Redis, read at each report, degraded while any is owed', () => {
    const monitor = new HealthMonitor();
    const changes: unknown[] = [];
    monitor.on('status', (change) => changes.push(change));
    expect(monitor.report().pendingWriteBacks).toBeNull();
    let pending = 3;
    monitor.reportPendingWriteBacks(() => pending);
    // Those writes live in this process only until Redis takes them.
    expect(monitor.report()).toMatchObject({
      pendingWriteBacks: 3,
      status: 'degraded',
      reasons: ['3 degraded-mode write(s) not yet written back'],
    });
    pending = 0;
    expect(monitor.report().pendingWriteBacks).toBe(0);
    expect(monitor.report().status).toBe('healthy');
    expect(changes).toEqual([
      {
        from: 'healthy',
        to: 'degraded',
        reasons: ['3 degraded-mode write(s) not yet written back'],
      },
      { from: 'degraded', to: 'healthy', reasons: [] },
    ]);
    monitor.reportPendingWriteBacks(undefined);
    expect(monitor.report().pendingWriteBacks).toBeNull();
  });

  it('a record that finds write-backs newly pending (or no longer), or a recovery, emits the status change at once', () => {
    const monitor = new HealthMonitor();
    const changes: string[] = [];
    monitor.on('status', ({ to }) => changes.push(to));
    let pending = 0;
    monitor.reportPendingWriteBacks(() => pending);
    monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes).toEqual([]);
    // The call just recorded was served from memory and journaled.
    pending = 1;
    monitor.record({ operation: 'save', durationMs: 1, ok: true });
    expect(changes).toEqual(['degraded']);
    monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes).toEqual(['degraded']);
    pending = 0;
    monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes).toEqual(['degraded', 'healthy']);
    // Drained with no traffic after it: the recovery's report says so.
    pending = 2;
    monitor.record({ operation: 'save', durationMs: 1, ok: true });
    pending = 0;
    monitor.recordRecovery({
      written: 2,
      restored: 0,
      conflicts: 0,
      deleted: 0,
      skipped: 0,
      failed: 0,
      durationMs: 3,
    });
    expect(changes).toEqual(['degraded', 'healthy', 'degraded', 'healthy']);
  });

  it('has a stable, JSON-safe shape before anything happened', () => {
    const { monitor } = newMonitor();
    const report = monitor.report();
    expect(report).toEqual({
      status: 'healthy',
      reasons: [],
      checkedAt: T0,
      breaker: 'closed',
      degraded: false,
      degradedReason: null,
      probe: null,
      window: { size: 100, ms: 60_000 },
      overall: {
        count: 0,
        successRate: null,
        failures: 0,
        failuresByCode: {},
        latencyMs: { p50: null, p95: null, p99: null },
        slowCount: 0,
        lastError: null,
      },
      operations: {},
      cache: null,
      lastRecovery: null,
      pendingWriteBacks: null,
    });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe('HealthMonitor status', () => {
  it('goes healthy → degraded → healthy with setDegraded, emitting each transition', () => {
    const { monitor, changes } = newMonitor();
    monitor.setDegraded(true, 'redis unreachable');
    expect(monitor.report()).toMatchObject({
      status: 'degraded',
      degraded: true,
      degradedReason: 'redis unreachable',
      reasons: ['degraded mode: redis unreachable'],
    });
    monitor.setDegraded(false);
    expect(monitor.report()).toMatchObject({
      status: 'healthy',
      degraded: false,
      degradedReason: null,
      reasons: [],
    });
    expect(changes).toEqual([
      { from: 'healthy', to: 'degraded', reasons: ['degraded mode: redis unreachable'] },
      { from: 'degraded', to: 'healthy', reasons: [] },
    ]);
  });

  it('is degraded while the breaker is not closed', () => {
    const { monitor, changes } = newMonitor();
    for (const state of ['open', 'half-open', 'isolated'] as const) {
      monitor.setBreakerState(state);
      expect(monitor.report()).toMatchObject({
        status: 'degraded',
        breaker: state,
        reasons: [`circuit breaker ${state}`],
      });
    }
    monitor.setBreakerState('closed');
    expect(monitor.status()).toBe('healthy');
    // open → half-open → isolated stays degraded: one event in, one out.
    expect(changes.map(({ from, to }) => `${from}→${to}`)).toEqual([
      'healthy→degraded',
      'degraded→healthy',
    ]);
    expect(() => {
      monitor.setBreakerState('broken' as 'open');
    }).toThrow(SessionValidationError);
  });

  it('turns unhealthy below the success-rate threshold only once minSamples operations are in', () => {
    const { monitor, changes } = newMonitor({ minSamples: 10 });
    const fail = (): void => {
      monitor.record({
        operation: 'load',
        durationMs: 1,
        ok: false,
        error: new StorageUnavailableError(),
      });
    };
    for (let i = 0; i < 9; i += 1) fail();
    expect(monitor.status()).toBe('healthy');
    expect(changes).toEqual([]);
    fail(); // 10th sample: 0 / 10 < 0.8
    // Emitted from record() itself, before any report.
    expect(changes).toEqual([
      {
        from: 'healthy',
        to: 'unhealthy',
        reasons: [
          'overall success rate 0.000 below 0.8 (0 of 10 ok)',
          'operation load: success rate 0.000 below 0.8 (0 of 10 ok)',
        ],
      },
    ]);
    // Back to healthy exactly when successes reach 80 %: 40 / 50.
    for (let i = 0; i < 39; i += 1) monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes).toHaveLength(1);
    monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes).toHaveLength(2);
    expect(changes[1]).toEqual({ from: 'unhealthy', to: 'healthy', reasons: [] });
    expect(monitor.report().overall.successRate).toBe(0.8);
  });

  it('recovers when failures age out of the window', () => {
    const { monitor, clock, changes } = newMonitor({ windowMs: 10_000 });
    for (let i = 0; i < 10; i += 1) {
      monitor.record({
        operation: 'load',
        durationMs: 1,
        ok: false,
        error: new StorageUnavailableError(),
      });
    }
    expect(monitor.status()).toBe('unhealthy');
    clock.advance(10_001);
    // The next record evicts the failures before adding its sample.
    monitor.record({ operation: 'load', durationMs: 1, ok: true });
    expect(changes.map((c) => c.to)).toEqual(['unhealthy', 'healthy']);

    for (let i = 0; i < 10; i += 1) {
      monitor.record({
        operation: 'save',
        durationMs: 1,
        ok: false,
        error: new StorageUnavailableError(),
      });
    }
    clock.advance(10_001);
    // No traffic at all: the report notices.
    expect(monitor.report().status).toBe('healthy');
    expect(changes.map((c) => c.to)).toEqual(['unhealthy', 'healthy', 'unhealthy', 'healthy']);
  });

  it('puts unhealthy reasons before degraded ones', () => {
    const { monitor } = newMonitor({ minSamples: 1 });
    monitor.setBreakerState('open');
    monitor.setDegraded(true);
    monitor.record({
      operation: 'load',
      durationMs: 1,
      ok: false,
      error: new StorageUnavailableError(),
    });
    expect(monitor.report()).toMatchObject({
      status: 'unhealthy',
      reasons: [
        'overall success rate 0.000 below 0.8 (0 of 1 ok)',
        'operation load: success rate 0.000 below 0.8 (0 of 1 ok)',
        'degraded mode',
        'circuit breaker open',
      ],
    });
  });

  it('does not let a throwing status listener fail record()', () => {
    const { monitor } = newMonitor({ minSamples: 1 });
    const boom = new Error('listener bug');
    monitor.on('status', () => {
      throw boom;
    });
    const deferred: (() => void)[] = [];
    vi.spyOn(process, 'nextTick').mockImplementation((callback) => {
      deferred.push(callback as () => void);
    });
    expect(() => {
      monitor.record({
        operation: 'load',
        durationMs: 1,
        ok: false,
        error: new StorageUnavailableError(),
      });
    }).not.toThrow();
    vi.restoreAllMocks();
    expect(monitor.status()).toBe('unhealthy');
    // The listener's error is rethrown on the next tick, not swallowed.
    expect(deferred).toHaveLength(1);
    expect(() => {
      deferred[0]!();
    }).toThrow(boom);
  });
});

describe('HealthMonitor.recordRecovery', () => {
  it('shows the last recovery in the report without changing the status', () => {
    const { monitor } = newMonitor();
    const summary = {
      written: 10,
      restored: 2,
      conflicts: 3,
      deleted: 1,
      skipped: 0,
      failed: 0,
      durationMs: 12.5,
    };
    monitor.recordRecovery(summary);
    expect(monitor.report()).toMatchObject({ status: 'healthy', lastRecovery: summary });
    expect(monitor.report().lastRecovery?.at).toEqual(expect.any(Number));
  });

  it('rejects a bad summary with a typed SessionError', () => {
    const { monitor } = newMonitor();
    expect(() => {
      monitor.recordRecovery({
        written: -1,
        restored: 0,
        conflicts: 0,
        deleted: 0,
        skipped: 0,
        failed: 0,
        durationMs: 0,
      });
    }).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'written' }));
    expect(monitor.report().lastRecovery).toBeNull();
  });
});
