import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ManualClock,
  SessionValidationError,
  StorageUnavailableError,
  isValidSessionId,
} from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { HealthMonitor } from './health-monitor.js';
import type { StatusChange } from './health-report.js';
import { SwitchableStore } from './switchable-store.test-helpers.js';

const T0 = 1_700_000_000_000;

function setup(options: { probeTimeoutMs?: number; ttlMs?: number } = {}): {
  monitor: HealthMonitor;
  store: SwitchableStore;
  clock: ManualClock;
  changes: StatusChange[];
} {
  const clock = new ManualClock(T0);
  const store = new SwitchableStore(clock);
  const monitor = new HealthMonitor({
    clock,
    probe: { store, ttlMs: options.ttlMs },
    probeTimeoutMs: options.probeTimeoutMs,
  });
  const changes: StatusChange[] = [];
  monitor.on('status', (change) => {
    changes.push(change);
  });
  return { monitor, store, clock, changes };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('HealthMonitor.check', () => {
  it('round-trips a probe session through a real MemoryStore and leaves nothing behind', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryStore({ clock, cleanupIntervalMs: 0 });
    const existing = await store.create({
      id: 'A'.repeat(43),
      userId: 'user-1',
      data: { cart: [] },
      expiresAt: T0 + 60_000,
    });
    const before = store.stats().total;
    const monitor = new HealthMonitor({ clock, probe: { store } });

    const result = await monitor.check();

    expect(result).toEqual({ ok: true, latencyMs: 0 });
    expect(store.stats().total).toBe(before);
    expect(await store.load(existing.id)).toEqual(existing);
    const report = monitor.report();
    expect(report.probe).toEqual({ ok: true, latencyMs: 0, at: T0, error: null });
    expect(report.status).toBe('healthy');
    // The probe is not user traffic.
    expect(report.overall.count).toBe(0);
    expect(report.operations).toEqual({});
    await store.close();
  });

  it('creates a fresh, valid id without a user and with the configured short TTL', async () => {
    const { monitor, store } = setup({ ttlMs: 4_000 });
    await monitor.check();
    await monitor.check();
    const [first, second] = store.created;
    expect(isValidSessionId(first?.id)).toBe(true);
    expect(second?.id).not.toBe(first?.id);
    expect(first?.userId).toBeUndefined();
    expect(first?.expiresAt).toBe(T0 + 4_000);
    expect(store.calls.slice(0, 3)).toEqual([
      { op: 'create', id: first?.id },
      { op: 'load', id: first?.id },
      { op: 'delete', id: first?.id },
    ]);
  });

  it('measures latency on the monitor clock', async () => {
    const { monitor, store, clock } = setup();
    store.stepMs = 7; // create, load and delete each take 7 ms
    const result = await monitor.check();
    expect(result).toEqual({ ok: true, latencyMs: 21 });
    expect(monitor.report().probe).toEqual({
      ok: true,
      latencyMs: 21,
      at: clock.now(),
      error: null,
    });
  });

  it('is unhealthy with the code when create rejects, and healthy again after a good probe', async () => {
    const { monitor, store, changes } = setup();
    store.createError = new StorageUnavailableError('connect ECONNREFUSED 127.0.0.1:6379');

    const failed = await monitor.check();

    expect(failed.ok).toBe(false);
    expect(failed.error).toBeInstanceOf(StorageUnavailableError);
    expect(failed.error?.code).toBe('STORAGE_UNAVAILABLE');
    const report = monitor.report();
    expect(report.status).toBe('unhealthy');
    expect(report.reasons).toEqual(['probe failed: STORAGE_UNAVAILABLE']);
    expect(report.probe?.error).toEqual({
      code: 'STORAGE_UNAVAILABLE',
      message: 'connect ECONNREFUSED 127.0.0.1:6379',
    });
    expect(store.memory.stats().total).toBe(0);

    store.createError = undefined;
    expect((await monitor.check()).ok).toBe(true);
    expect(monitor.report()).toMatchObject({ status: 'healthy', reasons: [], probe: { ok: true } });
    expect(changes.map((c) => c.to)).toEqual(['unhealthy', 'healthy']);
  });

  it('normalises a non-session error from the store to INTERNAL', async () => {
    const { monitor, store } = setup();
    store.createError = new TypeError('driver bug');
    const result = await monitor.check();
    expect(result.error?.code).toBe('INTERNAL');
    expect(result.error?.operation).toBe('probe.create');
    expect(result.error?.cause).toBe(store.createError);
  });

  it('fails with SESSION_NOT_FOUND when the session cannot be read back, and still deletes it', async () => {
    const { monitor, store } = setup();
    store.loadReturnsNull = true;
    const result = await monitor.check();
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe('SESSION_NOT_FOUND');
    expect(store.calls.map((c) => c.op)).toEqual(['create', 'load', 'delete']);
    expect(store.memory.stats().total).toBe(0);
  });

  it('deletes the probe session even when load throws, and reports the load error', async () => {
    const { monitor, store } = setup();
    store.loadError = new StorageUnavailableError('read timed out', { timeout: true });
    const result = await monitor.check();
    expect(result.error?.code).toBe('STORAGE_TIMEOUT');
    expect(store.calls.map((c) => c.op)).toEqual(['create', 'load', 'delete']);
    expect(store.memory.stats().total).toBe(0);
  });

  it('fails with STORAGE_TIMEOUT after probeTimeoutMs, and cleans up when the store answers late', async () => {
    vi.useFakeTimers();
    const { monitor, store } = setup({ probeTimeoutMs: 2_000 });
    let openGate = (): void => undefined;
    store.createGate = new Promise((resolve) => {
      openGate = resolve;
    });
    let settled = false;
    const pending = monitor.check().then((result) => {
      settled = true;
      return result;
    });

    await vi.advanceTimersByTimeAsync(1_999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const result = await pending;
    expect(result.ok).toBe(false);
    expect(result.latencyMs).toBe(2_000);
    expect(result.error?.code).toBe('STORAGE_TIMEOUT');
    expect(monitor.report()).toMatchObject({
      status: 'unhealthy',
      reasons: ['probe failed: STORAGE_TIMEOUT'],
    });

    // The store finally answers: the abandoned round trip still deletes its session.
    openGate();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.calls.map((c) => c.op)).toEqual(['create', 'load', 'delete']);
    expect(store.memory.stats().total).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('shares one probe between concurrent calls', async () => {
    const { monitor, store } = setup();
    const [a, b] = await Promise.all([monitor.check(), monitor.check()]);
    expect(a).toBe(b);
    expect(store.created).toHaveLength(1);
    await monitor.check();
    expect(store.created).toHaveLength(2);
  });

  it('rejects with INVALID_CONFIG (probe) when no probe store is configured', async () => {
    const monitor = new HealthMonitor();
    expect(monitor.hasProbe).toBe(false);
    const error: unknown = await monitor.check().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).field).toBe('probe');
  });
});
