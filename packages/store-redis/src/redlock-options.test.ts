import { SessionValidationError } from '@session-cluster/core';
import { configErrorField } from '@session-cluster/testkit';
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedlockLocker } from './redlock-locker.js';
import { REDLOCK_DEFAULTS, resolveRedlockOptions } from './redlock-options.js';
import type { RedlockLockerOptions } from './redlock-options.js';

const node = 'redis://127.0.0.1:1';

function configError(options: RedlockLockerOptions): SessionValidationError {
  try {
    resolveRedlockOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    return error as SessionValidationError;
  }
  return expect.fail('expected INVALID_CONFIG');
}

describe('resolveRedlockOptions', () => {
  it('applies the defaults', () => {
    const resolved = resolveRedlockOptions({ nodes: [node] });
    expect(resolved).toMatchObject(REDLOCK_DEFAULTS);
    expect(resolved.nodes).toEqual([node]);
  });

  it.each<[string, Partial<RedlockLockerOptions>]>([
    ['prefix', { prefix: 'a{b}' }],
    ['prefix', { prefix: '' }],
    ['ttlMs', { ttlMs: 5 }],
    ['ttlMs', { ttlMs: 1.5 }],
    ['ttlMs', { ttlMs: 2 ** 31 }],
    ['retryCount', { retryCount: -2 }],
    ['retryCount', { retryCount: 0.5 }],
    ['retryDelayMs', { retryDelayMs: -1 }],
    ['retryDelayMs', { retryDelayMs: Number.NaN }],
    ['retryJitterMs', { retryDelayMs: 10, retryJitterMs: 11 }],
    ['retryJitterMs', { retryJitterMs: -1 }],
    ['driftFactor', { driftFactor: 0.5 }],
    ['driftFactor', { driftFactor: -0.1 }],
    ['acquireTimeoutMs', { acquireTimeoutMs: 0 }],
    ['autoExtend', { autoExtend: 'yes' as unknown as boolean }],
    ['localQueue', { localQueue: 1 as unknown as boolean }],
    ['commandTimeoutMs', { commandTimeoutMs: 0 }],
    ['onError', { onError: 'log' as unknown as () => void }],
  ])('rejects a bad %s', (field, override) => {
    expect(configError({ nodes: [node], ...override }).field).toBe(field);
  });

  it('requires at least one node', () => {
    expect(configError({ nodes: [] }).field).toBe('nodes');
    expect(configError({} as RedlockLockerOptions).field).toBe('nodes');
  });

  it('names the bad node', () => {
    expect(configError({ nodes: [node, 'http://x'] }).field).toBe('nodes[1]');
    expect(configError({ nodes: ['not a url'] }).field).toBe('nodes[0]');
    expect(configError({ nodes: [42 as unknown as string] }).field).toBe('nodes[0]');
    expect(configError({ nodes: [{ sentinels: [], name: 'm' }] }).field).toBe('nodes[0]');
    // A node given by its address names its port (one server, said in full).
    expect(configError({ nodes: [{ host: 'h' }] }).field).toBe('nodes[0].port');
  });

  it('rejects the same node twice (it would vote twice)', () => {
    expect(configError({ nodes: [node, 'redis://127.0.0.1:2', node] }).field).toBe('nodes[2]');
  });

  it('rejects a Redis Cluster client: it is one voter however many masters it has', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    try {
      // The types already refuse a Cluster; JavaScript callers meet the runtime check.
      expect(configError({ nodes: [cluster as unknown as Redis] }).field).toBe('nodes[0]');
    } finally {
      cluster.disconnect();
    }
    await Promise.resolve();
  });

  it('is what the RedlockLocker constructor runs, before any client exists', () => {
    expect(configErrorField(() => new RedlockLocker({ nodes: [node], ttlMs: 5 }))).toBe('ttlMs');
    const misspelt = { nodes: [node], retries: 3 } as RedlockLockerOptions;
    expect(configErrorField(() => new RedlockLocker(misspelt))).toBe('retries');
  });
});
