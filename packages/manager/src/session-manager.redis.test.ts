import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock, SESSION_CHANNELS } from '@session-cluster/core';
import { HealthMonitor } from '@session-cluster/health';
import type {
  CachedReadMessage,
  OperationMessage,
  SessionData,
  SessionLocker,
  SessionStore,
  StoreCallMessage,
  StoreCallSettled,
} from '@session-cluster/core';
import { RedisStore, RedlockLocker } from '@session-cluster/store-redis';
import { useRedisServer } from '@session-cluster/testkit';
import { describeManagerSuite } from './manager-suite.test-helpers.js';
import { SessionManager } from './session-manager.js';

const redis = useRedisServer();

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

describe('SessionManager.getCached over the instance cache', () => {
  it('answers a current cached copy synchronously, counted in health; undefined whenever only get can tell', async () => {
    const prefix = `test:${randomUUID()}`;
    const store = new RedisStore({ connection: { url: redis.url }, prefix, cache: true });
    const health = new HealthMonitor();
    const manager = new SessionManager({
      store,
      locker: new RedlockLocker({ nodes: [redis.url], prefix }),
      health,
    });
    try {
      for (let i = 0; i < 300 && store.cacheStats()?.state !== 'ready'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const session = await manager.create({ data: { n: 1 } });
      // Not read yet: only get can answer.
      expect(manager.getCached(session.id)).toBeUndefined();
      await manager.get(session.id);
      const gets = health.report().operations['get']?.count ?? 0;
      expect(manager.getCached(session.id)).toMatchObject({ id: session.id, data: { n: 1 } });
      expect(health.report().operations['get']?.count).toBe(gets + 1);
      // Read-your-writes: a copy older than the caller's version is not an answer.
      expect(manager.getCached(session.id, { minVersion: 2 })).toBeUndefined();
      // Bad arguments are get's to report.
      expect(manager.getCached('not an id')).toBeUndefined();
      expect(manager.getCached(session.id, { minVersion: -1 })).toBeUndefined();
      await expect(manager.get(session.id, { minVersion: -1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      // Someone listening on the operation channel alone sees every read
      // as an operation: get goes the asynchronous way, getCached declines.
      const operations: unknown[] = [];
      const onOperation = (message: unknown): void => {
        operations.push(message);
      };
      SESSION_CHANNELS.operation.start.subscribe(onOperation);
      try {
        expect(manager.getCached(session.id)).toBeUndefined();
        await manager.get(session.id);
        expect(operations).toMatchObject([{ operation: 'get', sessionId: session.id }]);

        // With a cachedRead subscriber too, a cached read is published there
        // once answered (and not as an operation), from both get and getCached.
        const reads: CachedReadMessage[] = [];
        const onCachedRead = (message: unknown): void => {
          reads.push(message as CachedReadMessage);
        };
        SESSION_CHANNELS.cachedRead.subscribe(onCachedRead);
        try {
          const answered = await manager.get(session.id);
          expect(manager.getCached(session.id)).toBe(answered);
          expect(operations).toHaveLength(1);
          expect(reads).toHaveLength(2);
          for (const read of reads) {
            expect(read).toMatchObject({ operation: 'get', sessionId: session.id });
            expect(read.result).toBe(answered);
            expect(read.endedAt).toBeGreaterThanOrEqual(read.startedAt);
          }
          // A read the cache cannot answer (a copy older than the caller's
          // version) is an operation, as before.
          expect(await manager.get(session.id, { minVersion: 2 })).toMatchObject({ version: 1 });
          expect(operations).toHaveLength(2);
          expect(reads).toHaveLength(2);
        } finally {
          SESSION_CHANNELS.cachedRead.unsubscribe(onCachedRead);
        }
      } finally {
        SESSION_CHANNELS.operation.start.unsubscribe(onOperation);
      }
      expect(manager.getCached(session.id)).toBeDefined();
    } finally {
      await manager.close();
    }
  });
});

describe('SessionManager store-call publication', () => {
  it("publishes an operation's store calls only when a subscriber asked for them at its start", async () => {
    const prefix = `test:${randomUUID()}`;
    const manager = new SessionManager({
      store: new RedisStore({ connection: { url: redis.url }, prefix }),
      locker: new RedlockLocker({ nodes: [redis.url], prefix }),
    });
    let ask = false;
    const onOperation = (message: unknown): void => {
      if (ask) (message as OperationMessage).storeCalls = true;
    };
    const calls: string[] = [];
    const onStoreCall = (message: unknown): void => {
      calls.push((message as StoreCallMessage).method);
    };
    SESSION_CHANNELS.operation.start.subscribe(onOperation);
    SESSION_CHANNELS.storeCall.start.subscribe(onStoreCall);
    try {
      const session = await manager.create({ data: { n: 0 } });
      const bump = (data: SessionData): SessionData => ({ ...data, n: Number(data['n']) + 1 });
      // Nobody asked (an unsampled trace): the calls are made, not published.
      await manager.update(session.id, bump);
      expect(calls).toEqual([]);
      ask = true;
      await manager.update(session.id, bump);
      expect(calls).toEqual(['load', 'save']);
      ask = false;
      await manager.patch(session.id, { set: { m: 1 } });
      expect(calls).toEqual(['load', 'save']);
      // Both updates and the patch were written all the same.
      expect(await manager.get(session.id)).toMatchObject({ version: 4, data: { n: 2, m: 1 } });
    } finally {
      SESSION_CHANNELS.storeCall.start.unsubscribe(onStoreCall);
      SESSION_CHANNELS.operation.start.unsubscribe(onOperation);
      await manager.close();
    }
  });

  it('times the store calls a subscriber asked only the times of, and publishes none of them', async () => {
    const prefix = `test:${randomUUID()}`;
    const manager = new SessionManager({
      store: new RedisStore({ connection: { url: redis.url }, prefix }),
      locker: new RedlockLocker({ nodes: [redis.url], prefix }),
    });
    const settled: { operation: string; method: string; ms: number; error: unknown }[] = [];
    const onSettled: StoreCallSettled = (operation, method, startedAt, error) => {
      settled.push({
        operation: operation.operation,
        method,
        ms: performance.now() - startedAt,
        error,
      });
    };
    const onOperation = (message: unknown): void => {
      (message as OperationMessage).storeCallSettled = onSettled;
    };
    const published: string[] = [];
    const onStoreCall = (message: unknown): void => {
      published.push((message as StoreCallMessage).method);
    };
    SESSION_CHANNELS.operation.start.subscribe(onOperation);
    SESSION_CHANNELS.storeCall.start.subscribe(onStoreCall);
    try {
      const session = await manager.create({ data: { n: 0 } });
      await manager.update(session.id, (data) => ({ ...data, n: Number(data['n']) + 1 }));
      expect(settled.map(({ operation, method }) => [operation, method])).toEqual([
        ['create', 'create'],
        ['update', 'load'],
        ['update', 'save'],
      ]);
      for (const call of settled) {
        expect(call.error).toBeUndefined();
        expect(call.ms).toBeGreaterThanOrEqual(0);
      }
      // A call that fails is reported with its error, and still fails for its caller.
      settled.length = 0;
      await expect(
        manager.patch(session.id, { set: { m: 1 } }, { expectedVersion: 1 }),
      ).rejects.toMatchObject({
        code: 'VERSION_CONFLICT',
      });
      expect(settled.map(({ method }) => method)).toEqual(['patch']);
      expect(settled[0]?.error).toMatchObject({ code: 'VERSION_CONFLICT' });
      expect(published).toEqual([]);
      expect(await manager.get(session.id)).toMatchObject({ version: 2, data: { n: 1 } });
    } finally {
      SESSION_CHANNELS.storeCall.start.unsubscribe(onStoreCall);
      SESSION_CHANNELS.operation.start.unsubscribe(onOperation);
      await manager.close();
    }
  });
});
