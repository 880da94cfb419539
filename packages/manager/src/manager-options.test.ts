import { configErrorField } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_OPTIONS } from '@session-cluster/core';
import { HealthMonitor } from '@session-cluster/health';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { resolveManagerOptions } from './manager-options.js';
import { SessionManager } from './session-manager.js';
import type { SessionManagerOptions } from './manager-options.js';

const store = new MemoryStore({ cleanupIntervalMs: 0 });
const locker = new MemoryLocker();

function fieldOf(options: unknown): string | undefined {
  return configErrorField(() => resolveManagerOptions(options as SessionManagerOptions));
}

describe('resolveManagerOptions', () => {
  it('applies defaults', () => {
    const resolved = resolveManagerOptions({ store, locker });
    expect(resolved).toMatchObject({ ttlMs: 1_800_000, rolling: true, lockTtlMs: undefined });
    expect(resolved.retry.get).toEqual(DEFAULT_RETRY_OPTIONS);
    expect(resolved.retry.update).toEqual(DEFAULT_RETRY_OPTIONS);
    expect(resolved.update).toEqual({
      lock: 'on-conflict',
      hotSessionTtlMs: 2_000,
      maxHotSessions: 10_000,
    });
  });

  it('takes the update lock mode and hot-session memory', () => {
    const resolved = resolveManagerOptions({
      store,
      locker,
      update: { lock: 'always', hotSessionTtlMs: 0, maxHotSessions: 5 },
    });
    expect(resolved.update).toEqual({ lock: 'always', hotSessionTtlMs: 0, maxHotSessions: 5 });
  });

  it('merges per-operation retry settings over the base', () => {
    const resolved = resolveManagerOptions({
      store,
      locker,
      retry: { maxAttempts: 4, perOperation: { update: { maxAttempts: 10, baseDelayMs: 5 } } },
    });
    expect(resolved.retry.get).toMatchObject({ maxAttempts: 4, baseDelayMs: 100 });
    expect(resolved.retry.update).toMatchObject({ maxAttempts: 10, baseDelayMs: 5 });
  });

  it.each([
    [null, 'options'],
    [{ locker }, 'store'],
    [{ store, locker: {} }, 'locker'],
    [{ store, locker, health: { record: () => undefined } }, 'health'],
    [{ store, locker, ttlMs: 0 }, 'ttlMs'],
    [{ store, locker, ttlMs: 1.5 }, 'ttlMs'],
    [{ store, locker, rolling: 'yes' }, 'rolling'],
    [{ store, locker, lockTtlMs: -1 }, 'lockTtlMs'],
    [{ store, locker, clock: {} }, 'clock'],
    [{ store, locker, onRetry: 1 }, 'onRetry'],
    [{ store, locker, retry: 3 }, 'retry'],
    [{ store, locker, retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    [{ store, locker, retry: { jitter: 2 } }, 'retry.jitter'],
    [{ store, locker, retry: { maxAtempts: 5 } }, 'retry.maxAtempts'],
    [
      { store, locker, retry: { perOperation: { get: { tries: 2 } } } },
      'retry.perOperation.get.tries',
    ],
    [
      { store, locker, retry: { perOperation: { frobnicate: {} } } },
      'retry.perOperation.frobnicate',
    ],
    [{ store, locker, retry: { perOperation: { get: 5 } } }, 'retry.perOperation.get'],
    [
      { store, locker, retry: { perOperation: { update: { multiplier: 0.5 } } } },
      'retry.perOperation.update.multiplier',
    ],
    [{ store, locker, update: 'always' }, 'update'],
    [{ store, locker, update: { lock: 'request' } }, 'update.lock'],
    [{ store, locker, update: { hotSessionTtlMs: -1 } }, 'update.hotSessionTtlMs'],
    [{ store, locker, update: { maxHotSessions: 0 } }, 'update.maxHotSessions'],
  ])('rejects %o naming %s', (options, field) => {
    expect(fieldOf(options)).toBe(field);
  });

  it('accepts a HealthMonitor as the recorder', () => {
    const health = new HealthMonitor();
    expect(resolveManagerOptions({ store, locker, health }).health).toBe(health);
  });

  it('is what the SessionManager constructor runs', () => {
    expect(configErrorField(() => new SessionManager({ store, locker, ttlMs: 0 }))).toBe('ttlMs');
    const misspelt = { store, locker, ttl: 5 } as SessionManagerOptions;
    expect(configErrorField(() => new SessionManager(misspelt))).toBe('ttl');
  });
});
