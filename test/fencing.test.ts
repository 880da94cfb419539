import { ConcurrentAccessError, lockedUpdate } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { RedlockLocker } from '@session-cluster/store-redis';
import { expectSessionError, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  freshPrefix,
  loadExisting,
  openStore,
} from './fixtures/scenario-session.js';
import type { RedisStore } from '@session-cluster/store-redis';
import { startWorker } from './fixtures/worker-process.js';

/** Lease of the holder that stalls: short, so the scenario takes well under a second. */
const SHORT_LEASE_MS = 200;

describe('fencing: a holder whose lease ran out cannot overwrite a newer write', () => {
  let redis: RedisServerHandle;
  let store: RedisStore;
  let prefix: string;
  const lockers: RedlockLocker[] = [];

  const newLocker = (options: { autoExtend?: boolean } = {}): RedlockLocker => {
    const locker = new RedlockLocker({
      nodes: [redis.url],
      prefix,
      retryDelayMs: 10,
      retryJitterMs: 5,
      ...options,
    });
    lockers.push(locker);
    return locker;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    await Promise.all(lockers.splice(0).map((l) => l.close()));
    await store.close();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('a frozen process (SIGSTOP past its lease) gets VERSION_CONFLICT; the data is the newer holder’s', async () => {
    prefix = freshPrefix();
    store = openStore(redis.url, prefix);
    const sessionId = await createSession(store, { writer: 'nobody' });
    const stalled = await startWorker({
      worker: 0,
      storeUrl: redis.url,
      lockNodes: [redis.url],
      prefix,
      sessionId,
      job: 'stalled-holder',
      operations: 1,
      localQueue: true,
      acquireTimeoutMs: 5_000,
      ttlMs: SHORT_LEASE_MS,
    });
    try {
      stalled.send({ type: 'go' });
      const loaded = await stalled.next('loaded');
      expect(loaded.version).toBe(1);
      // Frozen like a long GC pause: no timers, no extensions, no I/O.
      stalled.child.kill('SIGSTOP');

      // B waits for A's lease to run out (nobody releases it), then writes.
      const started = performance.now();
      const written = await lockedUpdate(store, newLocker(), sessionId, (data) => ({
        ...data,
        writer: 'B',
      }));
      expect(performance.now() - started).toBeGreaterThan(SHORT_LEASE_MS / 2);
      expect(written.version).toBe(2);

      stalled.child.kill('SIGCONT');
      stalled.send({ type: 'continue' });
      const { result } = await stalled.next('result');
      expect(result.errors).toEqual({ VERSION_CONFLICT: 1 });
      expect(result.succeeded).toBe(0);

      const record = await loadExisting(store, sessionId);
      expect(record.data).toEqual({ writer: 'B' });
      expect(record.version).toBe(2);
    } finally {
      await stalled.stop();
    }
  });

  const modes = [
    ['always', 'always'],
    ['on-conflict', 'on-conflict'],
    // Mixed: the optimistic writer does not wait for the frozen holder's lock.
    ['always', 'on-conflict'],
  ] as const;
  for (const [updateLock, writerLock] of modes) {
    it(`manager.update: a frozen updater (lock: '${updateLock}') is fenced off by a newer write (lock: '${writerLock}')`, async () => {
      prefix = freshPrefix();
      store = openStore(redis.url, prefix);
      const sessionId = await createSession(store, { writer: 'nobody' });
      const stalled = await startWorker({
        worker: 0,
        storeUrl: redis.url,
        lockNodes: [redis.url],
        prefix,
        sessionId,
        job: 'stalled-holder',
        operations: 1,
        localQueue: true,
        acquireTimeoutMs: 5_000,
        ttlMs: SHORT_LEASE_MS,
        updateLock,
        // No policy retry: in 'always' mode the fenced save's own error is the result.
        maxAttempts: 1,
      });
      const writer = new SessionManager({
        store: openStore(redis.url, prefix),
        locker: new RedlockLocker({
          nodes: [redis.url],
          prefix,
          retryDelayMs: 10,
          retryJitterMs: 5,
        }),
        telemetry: false,
        update: { lock: writerLock },
      });
      try {
        stalled.send({ type: 'go' });
        expect((await stalled.next('loaded')).version).toBe(1);
        stalled.child.kill('SIGSTOP');

        const started = performance.now();
        const written = await writer.update(sessionId, (data) => ({ ...data, writer: 'B' }));
        const waitedMs = performance.now() - started;
        expect(written.version).toBe(2);
        if (writerLock === 'always') {
          // B waited for A's lease to run out.
          expect(waitedMs).toBeGreaterThan(SHORT_LEASE_MS / 2);
        } else {
          // B needs no lock while uncontended: it did not wait for A's, if A held one.
          expect(writer.updateStats()).toMatchObject({ optimistic: 1 });
          expect(waitedMs).toBeLessThan(SHORT_LEASE_MS);
        }

        stalled.child.kill('SIGCONT');
        stalled.send({ type: 'continue' });
        const { result } = await stalled.next('result');
        const record = await loadExisting(store, sessionId);
        if (updateLock === 'always') {
          expect(result.errors).toEqual({ VERSION_CONFLICT: 1 });
          expect(record.data).toEqual({ writer: 'B' });
          expect(record.version).toBe(2);
        } else {
          // The stale save was refused all the same; an optimistic conflict
          // is re-run at once (not a policy retry), on B's write: nothing lost.
          expect(result).toMatchObject({ succeeded: 1, errors: {} });
          expect(record.data).toEqual({ writer: 'worker-0', overwrote: 'B' });
          expect(record.version).toBe(3);
        }
      } finally {
        await Promise.all([stalled.stop(), writer.close()]);
      }
    });
  }

  it('in one process: a holder that cannot extend stalls past its lease and is fenced off', async () => {
    prefix = freshPrefix();
    store = openStore(redis.url, prefix);
    const sessionId = await createSession(store, { writer: 'nobody' });
    const holderA = newLocker({ autoExtend: false });
    const holderB = newLocker();

    let lostSignal: AbortSignal | undefined;
    let bWrite: Promise<unknown> | undefined;
    const aWrite = holderA.using(
      sessionId,
      async (signal) => {
        lostSignal = signal;
        const record = await loadExisting(store, sessionId);
        // A stalls (a real, short delay) while B takes over after the lease.
        bWrite = lockedUpdate(store, holderB, sessionId, (data) => ({ ...data, writer: 'B' }));
        await bWrite;
        return store.save(
          sessionId,
          { data: { writer: 'A' }, expiresAt: record.expiresAt },
          record.version,
        );
      },
      { ttlMs: SHORT_LEASE_MS },
    );
    await expectSessionError(aWrite, ConcurrentAccessError, 'VERSION_CONFLICT');
    await bWrite;
    // A was told its exclusivity was gone before it tried to write.
    expect(lostSignal?.aborted).toBe(true);
    expect((lostSignal?.reason as ConcurrentAccessError).code).toBe('LOCK_LOST');

    const record = await loadExisting(store, sessionId);
    expect(record.data).toEqual({ writer: 'B' });
    expect(record.version).toBe(2);
  });
});
