import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { ManualClock } from '@session-cluster/core';
import type { SessionLocker, SessionStore } from '@session-cluster/core';
import { RedisStore, RedlockLocker } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { describeManagerSuite } from './manager-suite.test-helpers.js';

let redis: RedisServerHandle;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.stop();
});

describeManagerSuite('RedisStore + RedlockLocker', () => {
  // A fresh key prefix per test: nothing one test wrote is visible to the next.
  const prefix = `test:${randomUUID()}`;
  const clock = new ManualClock();
  const opened: (SessionStore | SessionLocker)[] = [];
  return Promise.resolve({
    clock,
    connect: (options = {}) => {
      const store = new RedisStore({ connection: { url: redis.url }, prefix, clock });
      const locker = new RedlockLocker({
        nodes: [redis.url],
        prefix,
        ...(options.lockAcquireTimeoutMs === undefined
          ? { acquireTimeoutMs: 30_000 }
          : { acquireTimeoutMs: options.lockAcquireTimeoutMs }),
      });
      opened.push(store, locker);
      return { store, locker };
    },
    // Managers closed their stores and lockers; closing again is a no-op
    // that covers the ones a test opened without a manager.
    teardown: async () => {
      await Promise.all(opened.map((part) => part.close()));
    },
  });
});
