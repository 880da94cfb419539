import { performance } from 'node:perf_hooks';
import { generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileDeferredEvent, WriteBacksLostEvent } from './fallback-events.js';
import type { ReconcileOptions } from './fallback-options.js';
import { TTL_MS, driveUntil, startRedisRig, until } from './redis-outage.test-helpers.js';
import type { RedisRig } from './redis-outage.test-helpers.js';

/*
 * close() is the last moment degraded-mode writes can reach Redis: the
 * journal and the secondary live in this process only. These pin what it
 * writes back, what it gives up on, and that what it gives up on is said.
 */

const rigs: RedisRig[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((rig) => rig.close()));
});

async function rig(reconcile?: ReconcileOptions): Promise<RedisRig> {
  const started = await startRedisRig(reconcile === undefined ? {} : { reconcile });
  rigs.push(started);
  return started;
}

/** Every `writeBacksLost` the rig's store emits. */
function lostEvents(r: RedisRig): WriteBacksLostEvent[] {
  const events: WriteBacksLostEvent[] = [];
  r.store.on('writeBacksLost', (event) => events.push(event));
  return events;
}

/** `count` sessions created while the store is isolated (served by the secondary, journaled). */
async function createIsolated(r: RedisRig, count: number): Promise<SessionRecord[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      r.store.create({
        id: generateSessionId(),
        userId: `user-${i % 7}`,
        data: { n: i },
        expiresAt: Date.now() + TTL_MS,
      }),
    ),
  );
}

/**
 * A write-back refused with `NOPERM` (scripts denied to the store's user),
 * then the store left alone: it waits, journaled, for its retry timer.
 */
async function refusedOnce(r: RedisRig, admin: Redis): Promise<SessionRecord> {
  const isolation = r.store.isolate();
  const [local] = await createIsolated(r, 1);
  await admin.acl('SETUSER', 'default', '-evalsha', '-eval');
  const deferred = new Promise<ReconcileDeferredEvent>((resolve) => {
    r.store.once('reconcileDeferred', resolve);
  });
  isolation.dispose();
  expect(await deferred).toMatchObject({ tries: 1, error: { code: 'INTERNAL' } });
  await until(() => r.store.recoveryState.kind === 'closed');
  expect(r.store.pendingReconciliation).toBe(1);
  return local as SessionRecord;
}

describe('FallbackStore.close() over a real redis-server', () => {
  it('writes back a write Redis refused for now once the refusal is lifted, without waiting for its retry timer', async () => {
    const r = await rig();
    const admin = new Redis(r.server.url);
    try {
      const lost = lostEvents(r);
      const local = await refusedOnce(r, admin);
      await admin.acl('SETUSER', 'default', '+@all');
      let closing = false;
      let recoveredInClose: boolean | undefined;
      r.store.once('recovered', () => {
        recoveredInClose = closing;
      });

      // The retry is due 0.8–1.2 s after the refusal, and close() clears its
      // timer: the write-back below is close()'s own.
      closing = true;
      await r.store.close();
      closing = false;

      expect(recoveredInClose).toBe(true);
      expect(lost).toEqual([]);
      expect(r.store.pendingReconciliation).toBe(0);
      expect(await r.observer().load(local.id)).toMatchObject({ data: { n: 0 } });
    } finally {
      await admin.quit();
    }
  });

  it('tries a write still refused once more, then reports it lost as refused', async () => {
    const r = await rig();
    const admin = new Redis(r.server.url);
    try {
      const lost = lostEvents(r);
      const deferred: ReconcileDeferredEvent[] = [];
      const local = await refusedOnce(r, admin);
      r.store.on('reconcileDeferred', (event) => deferred.push(event));

      await r.store.close();

      expect(deferred).toMatchObject([{ tries: 2, error: { code: 'INTERNAL' } }]);
      expect(lost).toEqual([{ entries: 1, revocations: 0, reason: 'refused' }]);
      await admin.acl('SETUSER', 'default', '+@all');
      expect(await r.observer().load(local.id)).toBeNull();
    } finally {
      await admin.quit();
    }
  });

  it('with Redis down, reports every journaled write and revocation lost as degraded, without waiting for the drain', async () => {
    const r = await rig({ closeDrainMs: 10_000 });
    const lost = lostEvents(r);
    await r.server.kill();
    await createIsolated(r, 1);
    await driveUntil(r.store, 'degraded');
    await createIsolated(r, 2);
    await r.store.deleteByUser('someone');

    // Nothing to wait for: the budget (10 s) is not spent.
    const started = performance.now();
    await r.store.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(lost).toEqual([{ entries: 3, revocations: 1, reason: 'degraded' }]);
  });

  it('with Redis back but the breaker still open (no call since), probes it and writes the journal back', async () => {
    // The idle probe would come 2 × halfOpenAfterMs (3 s) after the outage began.
    const r = await startRedisRig({
      breaker: { kind: 'consecutive', threshold: 5, halfOpenAfterMs: 1_500 },
    });
    rigs.push(r);
    const lost = lostEvents(r);
    await r.server.kill();
    await driveUntil(r.store, 'degraded');
    const sessions = await createIsolated(r, 3);
    await r.server.restart();
    expect(r.store.degraded).toBe(true);

    const started = performance.now();
    await r.store.close();

    // Within halfOpenAfterMs of the close, well inside the 5 s budget.
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(lost).toEqual([]);
    for (const session of sessions) {
      expect((await r.observer().load(session.id))?.data).toEqual(session.data);
    }
  });

  it('stops a write-back in progress at closeDrainMs and reports the rest lost as a timeout; what was written stays written', async () => {
    const r = await rig({ closeDrainMs: 1 });
    const lost = lostEvents(r);
    const isolation = r.store.isolate();
    const sessions = await createIsolated(r, 2_000);
    isolation.dispose(); // the breaker closes: a run starts writing back
    expect(r.store.recoveryState.kind).toBe('reconciling');

    await r.store.close();

    expect(lost).toHaveLength(1);
    const [event] = lost as [WriteBacksLostEvent];
    expect(event).toMatchObject({ revocations: 0, reason: 'timeout' });
    expect(event.entries).toBeGreaterThan(0);
    const stored = await Promise.all(sessions.map(({ id }) => r.observer().load(id)));
    const written = stored.filter((record) => record !== null);
    expect(written.length + event.entries).toBe(sessions.length);
    for (const record of written) {
      expect(record.data).toEqual(sessions.find(({ id }) => id === record.id)?.data);
    }
  });

  it('closeDrainMs 0 writes nothing back and reports the journal as no-drain', async () => {
    const r = await rig({ closeDrainMs: 0 });
    const lost = lostEvents(r);
    r.store.isolate();
    const [local] = await createIsolated(r, 1);

    await r.store.close();

    expect(lost).toEqual([{ entries: 1, revocations: 0, reason: 'no-drain' }]);
    expect(await r.observer().load((local as SessionRecord).id)).toBeNull();
  });
});
