import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ManualClock,
  SessionCorruptedError,
  SessionValidationError,
  StorageUnavailableError,
  generateSessionId,
} from '@session-cluster/core';
import type { CreateSessionInput, RetryEvent } from '@session-cluster/core';
import { HealthMonitor } from '@session-cluster/health';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { HookedStore, expectSessionError } from '@session-cluster/testkit';
import { SessionManager } from './session-manager.js';
import type { SessionManagerOptions } from './manager-options.js';

describe('SessionManager (unit, in memory)', () => {
  const clock = new ManualClock();
  let store: HookedStore;
  let locker: MemoryLocker;
  let manager: SessionManager;

  function setUp(options: Partial<SessionManagerOptions> = {}): void {
    store = new HookedStore(new MemoryStore({ clock, cleanupIntervalMs: 0 }));
    locker = new MemoryLocker();
    manager = new SessionManager({ store, locker, clock, ...options });
  }

  afterEach(async () => {
    vi.useRealTimers();
    await manager.close();
  });

  it('get hands minVersion to the store and refuses a bad one', async () => {
    setUp();
    const session = await manager.create({ data: { a: 1 } });
    const inner = vi.spyOn(MemoryStore.prototype, 'load');
    expect(await manager.get(session.id, { minVersion: 1 })).toMatchObject({ version: 1 });
    expect(inner).toHaveBeenLastCalledWith(session.id, { minVersion: 1 });
    await manager.get(session.id, {});
    expect(inner).toHaveBeenLastCalledWith(session.id, undefined);
    inner.mockRestore();
    for (const minVersion of [-1, 1.5, '2']) {
      await expectSessionError(
        manager.get(session.id, { minVersion } as never),
        SessionValidationError,
        'INVALID_ARGUMENT',
      );
    }
  });

  it('patch rolls the expiry unless told roll: false, and refuses a roll that is not a boolean', async () => {
    setUp({ ttlMs: 60_000 });
    const session = await manager.create({ data: { a: 1 } });
    clock.advance(10_000);
    await manager.patch(session.id, { set: { a: 2 } }, { roll: false });
    const kept = await manager.get(session.id);
    expect(kept).toMatchObject({ version: 2, expiresAt: session.expiresAt, data: { a: 2 } });
    await manager.patch(session.id, { set: { a: 3 } });
    expect((await manager.get(session.id))!.expiresAt).toBe(clock.now() + 60_000);
    for (const roll of ['no', 0, null]) {
      await expectSessionError(
        manager.patch(session.id, { set: { a: 4 } }, { roll } as never),
        SessionValidationError,
        'INVALID_ARGUMENT',
      );
    }
    expect(await manager.get(session.id)).toMatchObject({ version: 3, data: { a: 3 } });
  });

  it('get hands minVersionSince to the store with its minVersion, and refuses a bad one', async () => {
    setUp();
    const session = await manager.create({ data: { a: 1 } });
    const inner = vi.spyOn(MemoryStore.prototype, 'load');
    const since = Date.now() - 5_000;
    await manager.get(session.id, { minVersion: 2, minVersionSince: since });
    expect(inner).toHaveBeenLastCalledWith(session.id, { minVersion: 2, minVersionSince: since });
    // Without a minVersion there is nothing for it to qualify.
    await manager.get(session.id, { minVersionSince: since });
    expect(inner).toHaveBeenLastCalledWith(session.id, undefined);
    inner.mockRestore();
    for (const minVersionSince of [-1, Number.NaN, '0', 9e15]) {
      const error = await expectSessionError(
        manager.get(session.id, { minVersion: 1, minVersionSince } as never),
        SessionValidationError,
        'INVALID_ARGUMENT',
      );
      expect(error.field).toBe('options.minVersionSince');
    }
  });

  it('waits the backoff delay before a retry (fake timers)', async () => {
    vi.useFakeTimers();
    const retries: RetryEvent[] = [];
    setUp({
      retry: { baseDelayMs: 100, multiplier: 2, jitter: 0 },
      onRetry: (event) => retries.push(event),
    });
    const { id } = await manager.create({ data: { a: 1 } });
    let failures = 2;
    store.hooks.load = () => {
      if (failures-- > 0) throw new StorageUnavailableError('blip');
    };
    const reading = manager.get(id);
    await vi.advanceTimersByTimeAsync(99);
    expect(store.calls.load).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.calls.load).toBe(2);
    // Second retry: 200 ms after the second failure.
    await vi.advanceTimersByTimeAsync(199);
    expect(store.calls.load).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(reading).resolves.toMatchObject({ id, data: { a: 1 } });
    expect(retries.map((r) => [r.operation, r.attempt, r.delayMs, r.error.code])).toEqual([
      ['get', 1, 100, 'STORAGE_UNAVAILABLE'],
      ['get', 2, 200, 'STORAGE_UNAVAILABLE'],
    ]);
  });

  it('per-operation retry settings apply to their operation only', async () => {
    setUp({ retry: { maxAttempts: 1, baseDelayMs: 0, perOperation: { get: { maxAttempts: 3 } } } });
    const { id } = await manager.create({ data: {} });
    store.hooks.load = () => {
      throw new StorageUnavailableError('down');
    };
    store.hooks.touch = () => {
      throw new StorageUnavailableError('down');
    };
    await expectSessionError(manager.get(id), StorageUnavailableError, 'STORAGE_UNAVAILABLE');
    await expectSessionError(manager.touch(id), StorageUnavailableError, 'STORAGE_UNAVAILABLE');
    expect(store.calls.load).toBe(3);
    expect(store.calls.touch).toBe(1);
  });

  it('a retried create uses a fresh id for every attempt', async () => {
    setUp({ retry: { baseDelayMs: 0 } });
    const ids: string[] = [];
    store.hooks.create = (input) => {
      ids.push((input as CreateSessionInput).id);
      if (ids.length === 1) throw new StorageUnavailableError('timed out after writing?');
    };
    const created = await manager.create({ data: { a: 1 } });
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect(created.id).toBe(ids[1]);
  });

  it('corruption is not retried and counts as a failure', async () => {
    const health = new HealthMonitor();
    setUp({ health, retry: { baseDelayMs: 0 } });
    store.hooks.load = () => {
      throw new SessionCorruptedError('bad checksum', { operation: 'load' });
    };
    const error = await expectSessionError(
      manager.get(generateSessionId()),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
    expect(error).toMatchObject({ operation: 'get', details: { innerOperation: 'load' } });
    expect(store.calls.load).toBe(1);
    expect(health.report().operations['get']).toMatchObject({
      failures: 1,
      failuresByCode: { SESSION_CORRUPTED: 1 },
    });
  });

  it('a flood of client errors leaves the instance healthy', async () => {
    const health = new HealthMonitor({ minSamples: 10 });
    setUp({ health });
    for (let i = 0; i < 50; i += 1) {
      await manager.get('garbage').catch(() => undefined);
      await manager.patch(generateSessionId(), { set: { a: 1 } }).catch(() => undefined);
    }
    const report = manager.health();
    expect(report?.status).toBe('healthy');
    expect(report?.overall).toMatchObject({ count: 100, successRate: 1 });
  });

  it('a critical client error (INVALID_CONFIG in a request) counts as a failure', async () => {
    const health = new HealthMonitor();
    setUp({ health });
    store.hooks.load = () => {
      throw new SessionValidationError('codec: no key to decrypt with', {
        code: 'INVALID_CONFIG',
        field: 'codec',
      });
    };
    await expectSessionError(
      manager.get(generateSessionId()),
      SessionValidationError,
      'INVALID_CONFIG',
    );
    expect(health.report().operations['get']).toMatchObject({
      failures: 1,
      failuresByCode: { INVALID_CONFIG: 1 },
    });
  });

  it('health() is null without a HealthMonitor; a plain recorder still gets every call', async () => {
    const samples: unknown[] = [];
    setUp({
      health: {
        record: (sample) => samples.push(sample),
        setBreakerState: () => undefined,
        setDegraded: () => undefined,
      },
    });
    await manager.create({ data: {} });
    expect(manager.health()).toBeNull();
    expect(samples).toEqual([
      { operation: 'create', durationMs: expect.any(Number) as number, ok: true },
    ]);
  });

  it('degraded reflects store.degraded', () => {
    setUp();
    expect(manager.degraded).toBe(false);
    store.degraded = true;
    expect(manager.degraded).toBe(true);
  });

  it('withLock serialises sections of one session and passes fn errors through unchanged', async () => {
    setUp({ health: new HealthMonitor() });
    const { id } = await manager.create({ data: { n: 0 } });
    const order: string[] = [];
    const section = (name: string) =>
      manager.withLock(id, async (signal) => {
        expect(signal.aborted).toBe(false);
        order.push(`${name} in`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push(`${name} out`);
        return name;
      });
    await expect(Promise.all([section('a'), section('b')])).resolves.toEqual(['a', 'b']);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out']);
    const own = new TypeError('app error');
    await expect(manager.withLock(id, () => Promise.reject(own))).rejects.toBe(own);
    // A patch inside the held lock does not wait for it.
    await manager.withLock(id, () => manager.patch(id, { set: { n: 1 } }));
    expect((await manager.get(id))?.data).toEqual({ n: 1 });
    expect(manager.health()?.operations['lock']?.count).toBe(4);
  });

  it('close closes the store and the locker once', async () => {
    setUp();
    const closeLocker = vi.spyOn(locker, 'close');
    await Promise.all([manager.close(), manager.close()]);
    expect(store.calls.close).toBe(1);
    expect(closeLocker).toHaveBeenCalledTimes(1);
  });
});
