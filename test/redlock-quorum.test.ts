import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrentAccessError, lockedUpdate } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { RedlockLocker } from '@session-cluster/store-redis';
import { expectSessionError, startRedisNodes, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OPERATIONS,
  PROCESSES,
  TOTAL,
  expectAllSucceeded,
  reportBatch,
  runIncrements,
  workerConfigs,
} from './fixtures/scenario-batch.js';
import {
  createSession,
  freshPrefix,
  loadExisting,
  openStore,
} from './fixtures/scenario-session.js';
import { runWorkers } from './fixtures/worker-process.js';

/** What every lock failure in these scenarios must stay under. */
const FAIL_FAST_MS = 2_000;

describe('Redlock quorum with 3 nodes (store on a node of its own)', () => {
  let storeNode: RedisServerHandle;
  let lockNodes: RedisServerHandle[];
  const lockUrls = (): string[] => lockNodes.map((n) => n.url);

  beforeAll(async () => {
    [storeNode, lockNodes] = await Promise.all([startRedisServer(), startRedisNodes(3)]);
  });
  afterEach(async () => {
    await Promise.all(lockNodes.filter((n) => !n.running).map((n) => n.restart()));
  });
  afterAll(async () => {
    await Promise.all([storeNode, ...lockNodes].map((n) => n.stop()));
  });

  it('one node killed in the middle of the 300-increment run: still exactly 300', async () => {
    let killedAfterMs = Number.POSITIVE_INFINITY;
    const { outcome, counter, version } = await runIncrements({
      storeUrl: storeNode.url,
      lockUrls: lockUrls(),
      whileRunning: async () => {
        const go = performance.now();
        await sleep(100);
        await lockNodes[0]!.kill();
        killedAfterMs = performance.now() - go;
      },
    });
    reportBatch('locked increments, 3 lock nodes, one killed mid-run', outcome);
    // The kill landed while increments were still being made.
    expect(killedAfterMs).toBeLessThan(Math.max(...outcome.results.map((r) => r.elapsedMs)));
    expectAllSucceeded(outcome);
    expect(counter).toBe(TOTAL);
    expect(version).toBe(1 + TOTAL);
  });

  for (const updateLock of ['on-conflict', 'always'] as const) {
    it(`manager.update (lock: '${updateLock}'), one node killed mid-run: still exactly 300`, async () => {
      let killedAfterMs = Number.POSITIVE_INFINITY;
      const { outcome, counter, version } = await runIncrements({
        storeUrl: storeNode.url,
        lockUrls: lockUrls(),
        updateLock,
        whileRunning: async () => {
          const go = performance.now();
          await sleep(100);
          await lockNodes[0]!.kill();
          killedAfterMs = performance.now() - go;
        },
      });
      reportBatch(`manager.update, lock: '${updateLock}', 3 lock nodes, one killed`, outcome);
      expect(killedAfterMs).toBeLessThan(Math.max(...outcome.results.map((r) => r.elapsedMs)));
      expectAllSucceeded(outcome);
      expect(counter).toBe(TOTAL);
      expect(version).toBe(1 + TOTAL);
    });
  }

  it("two nodes killed: an uncontended manager.update succeeds with lock 'on-conflict' (no quorum needed) and fails fast with 'always'", async () => {
    const prefix = freshPrefix();
    const store = openStore(storeNode.url, prefix);
    const manager = new SessionManager({
      store,
      locker: new RedlockLocker({ nodes: lockUrls(), prefix }),
      telemetry: false,
    });
    try {
      const sessionId = await createSession(store, { counter: 7 });
      await Promise.all([lockNodes[0]!.kill(), lockNodes[1]!.kill()]);

      const written = await manager.update(sessionId, (data) => ({ ...data, counter: 8 }));
      expect(written).toMatchObject({ data: { counter: 8 }, version: 2 });

      const started = performance.now();
      await expectSessionError(
        manager.update(sessionId, (data) => ({ ...data, counter: 9 }), { lock: 'always' }),
        ConcurrentAccessError,
        'LOCK_NOT_ACQUIRED',
      );
      expect(performance.now() - started).toBeLessThan(FAIL_FAST_MS);
      expect(await loadExisting(store, sessionId)).toMatchObject({
        data: { counter: 8 },
        version: 2,
      });
    } finally {
      await manager.close();
    }
  });

  it("two nodes killed, 3 processes × 100 on one session (lock 'on-conflict'): each update succeeds or fails fast with LOCK_NOT_ACQUIRED; none is lost", async () => {
    const prefix = freshPrefix();
    const store = openStore(storeNode.url, prefix);
    try {
      const sessionId = await createSession(store, { counter: 0 });
      await Promise.all([lockNodes[1]!.kill(), lockNodes[2]!.kill()]);
      const outcome = await runWorkers(
        workerConfigs({
          storeUrl: storeNode.url,
          lockNodes: lockUrls(),
          prefix,
          sessionId,
          job: 'increment',
          operations: OPERATIONS,
          localQueue: true,
          acquireTimeoutMs: 60_000,
          updateLock: 'on-conflict',
          // Like the lockedUpdate scenario: no policy retry, so the bound
          // measures the lock's failure, not the backoff.
          maxAttempts: 1,
        }),
      );
      reportBatch("manager.update, lock: 'on-conflict', two lock nodes killed", outcome);
      let succeeded = 0;
      for (const result of outcome.results) {
        // Contended updates needed the lock, and there is no quorum for it.
        expect(Object.keys(result.errors)).toEqual(['LOCK_NOT_ACQUIRED']);
        expect(result.succeeded + (result.errors['LOCK_NOT_ACQUIRED'] ?? 0)).toBe(OPERATIONS);
        succeeded += result.succeeded;
      }
      // At least each process's first (optimistic) update got through.
      expect(succeeded).toBeGreaterThanOrEqual(1);
      expect(Math.max(...outcome.results.map((r) => r.elapsedMs))).toBeLessThan(FAIL_FAST_MS);
      // Every acknowledged increment is there, and nothing else.
      const record = await loadExisting(store, sessionId);
      expect(record.data).toEqual({ counter: succeeded });
      expect(record.version).toBe(1 + succeeded);
    } finally {
      await store.close();
    }
  });

  it('two nodes killed: LOCK_NOT_ACQUIRED at once, with the votes, and nothing written', async () => {
    const prefix = freshPrefix();
    const store = openStore(storeNode.url, prefix);
    const locker = new RedlockLocker({ nodes: lockUrls(), prefix });
    try {
      const sessionId = await createSession(store, { counter: 7 });
      await Promise.all([lockNodes[0]!.kill(), lockNodes[1]!.kill()]);

      const started = performance.now();
      const error = await expectSessionError(
        lockedUpdate(store, locker, sessionId, (data) => ({ ...data, counter: 8 })),
        ConcurrentAccessError,
        'LOCK_NOT_ACQUIRED',
      );
      expect(performance.now() - started).toBeLessThan(FAIL_FAST_MS);
      expect(error.details).toMatchObject({
        outcome: 'quorum_unreachable',
        membershipSize: 3,
        quorumSize: 2,
        votesFor: 1,
        nodesFailed: 2,
      });
      const record = await loadExisting(store, sessionId);
      expect(record.version).toBe(1);
      expect(record.data).toEqual({ counter: 7 });
    } finally {
      await Promise.all([locker.close(), store.close()]);
    }
  });

  it('two nodes killed: every one of 300 increments from 3 processes fails fast, none is written', async () => {
    const prefix = freshPrefix();
    const store = openStore(storeNode.url, prefix);
    try {
      const sessionId = await createSession(store, { counter: 0 });
      await Promise.all([lockNodes[1]!.kill(), lockNodes[2]!.kill()]);
      const outcome = await runWorkers(
        workerConfigs({
          storeUrl: storeNode.url,
          lockNodes: lockUrls(),
          prefix,
          sessionId,
          job: 'increment',
          operations: OPERATIONS,
          localQueue: true,
          acquireTimeoutMs: 60_000,
        }),
      );
      reportBatch('locked increments, 3 lock nodes, two killed (all must fail)', outcome);
      expect(outcome.results.map((r) => r.errors)).toEqual(
        Array(PROCESSES).fill({ LOCK_NOT_ACQUIRED: OPERATIONS }),
      );
      // Bounded by quorum arithmetic, not by the 60 s acquisition timeout.
      expect(Math.max(...outcome.results.map((r) => r.elapsedMs))).toBeLessThan(FAIL_FAST_MS);
      const record = await loadExisting(store, sessionId);
      expect(record.version).toBe(1);
      expect(record.data).toEqual({ counter: 0 });
    } finally {
      await store.close();
    }
  });
});
