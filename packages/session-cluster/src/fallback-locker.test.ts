import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  SessionNotFoundError,
  StorageUnavailableError,
  generateSessionId,
} from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';
import { MemoryLocker } from '@session-cluster/store-memory';
import { RedlockLocker } from '@session-cluster/store-redis';
import { expectSessionError, findFreePort, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { FallbackLocker, isLockServiceDown } from './fallback-locker.js';

let redis: RedisServerHandle;
let deadUrl: string;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  deadUrl = `redis://127.0.0.1:${await findFreePort()}`;
});

afterAll(async () => {
  await redis.stop();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((part) => part.close()));
});

function redlock(url: string, prefix: string, acquireTimeoutMs = 2_000): RedlockLocker {
  const locker = new RedlockLocker({ nodes: [url], prefix, acquireTimeoutMs });
  opened.push(locker);
  return locker;
}

function fallbackLocker(
  primary: RedlockLocker,
  degraded = false,
  onLockServiceDown?: (error: SessionError) => void,
): FallbackLocker {
  const locker = new FallbackLocker({
    primary,
    secondary: new MemoryLocker({ acquireTimeoutMs: 2_000 }),
    degraded: () => degraded,
    onLockServiceDown,
  });
  opened.push(locker);
  return locker;
}

describe('FallbackLocker', () => {
  it('takes the in-process lock when the lock nodes are unreachable, and it still excludes', async () => {
    const reported: string[] = [];
    const locker = fallbackLocker(redlock(deadUrl, `t:${randomUUID()}`), false, (error) => {
      reported.push(error.code);
      throw new Error('a broken listener does not fail the caller');
    });
    const id = generateSessionId();
    const order: string[] = [];
    const critical = (name: string) => async () => {
      order.push(`${name} in`);
      await new Promise((resolve) => setImmediate(resolve));
      order.push(`${name} out`);
      return name;
    };
    const results = await Promise.all([
      locker.using(id, critical('a')),
      locker.using(id, critical('b')),
    ]);
    expect(results).toEqual(['a', 'b']);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out']);

    const lock = await locker.acquire(id);
    expect(lock.sessionId).toBe(id);
    await lock.release();
    // Every switch is visible: counted and reported with the lock service's error.
    expect(locker.lockServiceFallbacks).toBe(3);
    expect(reported).toHaveLength(3);
    expect(
      reported.every((code) => code.startsWith('STORAGE_') || code === 'LOCK_NOT_ACQUIRED'),
    ).toBe(true);
  });

  it('uses the Redlock nodes while they answer, and only the in-process lock while degraded', async () => {
    const prefix = `t:${randomUUID()}`;
    const primary = redlock(redis.url, prefix);
    const probe = new Redis(redis.port);
    const id = generateSessionId();
    try {
      const held = (locker: FallbackLocker) =>
        locker.using(id, async () => (await probe.exists(primary.lockKey(id))) === 1);
      const answering = fallbackLocker(primary, false);
      expect(await held(answering)).toBe(true);
      expect(await held(fallbackLocker(primary, true))).toBe(false);
      // Degraded (store in memory) is not a lock-service outage: nothing to report.
      expect(answering.lockServiceFallbacks).toBe(0);
    } finally {
      probe.disconnect();
    }
  });

  it('passes contention through instead of falling back', async () => {
    const prefix = `t:${randomUUID()}`;
    const holder = redlock(redis.url, prefix);
    const locker = fallbackLocker(redlock(redis.url, prefix, 150));
    const id = generateSessionId();
    const lock = await holder.acquire(id);
    try {
      const error = await expectSessionError(
        locker.using(id, () => Promise.resolve('never')),
        ConcurrentAccessError,
        'LOCK_NOT_ACQUIRED',
      );
      expect(error.details?.['outcome']).toBe('timeout');
      await expectSessionError(locker.acquire(id), ConcurrentAccessError, 'LOCK_NOT_ACQUIRED');
    } finally {
      await lock.release();
    }
  });

  it('never runs the routine twice: its own storage failure is rethrown', async () => {
    const locker = fallbackLocker(redlock(redis.url, `t:${randomUUID()}`));
    let runs = 0;
    await expectSessionError(
      locker.using(generateSessionId(), () => {
        runs += 1;
        return Promise.reject(new StorageUnavailableError('store down'));
      }),
      StorageUnavailableError,
      'STORAGE_UNAVAILABLE',
    );
    expect(runs).toBe(1);
  });
});

describe('isLockServiceDown', () => {
  it('is true for storage outages and unreachable quorums only', () => {
    const votes = (outcome: string) =>
      new ConcurrentAccessError('lock_not_acquired', 'no', { details: { outcome } });
    expect(isLockServiceDown(new StorageUnavailableError())).toBe(true);
    expect(isLockServiceDown(new StorageUnavailableError('slow', { timeout: true }))).toBe(true);
    expect(isLockServiceDown(votes('quorum_unreachable'))).toBe(true);
    expect(isLockServiceDown(votes('contended'))).toBe(false);
    expect(isLockServiceDown(votes('timeout'))).toBe(false);
    expect(isLockServiceDown(new SessionNotFoundError())).toBe(false);
    expect(isLockServiceDown(new Error('ECONNREFUSED'))).toBe(false);
  });
});
