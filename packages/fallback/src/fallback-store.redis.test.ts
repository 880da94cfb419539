import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileDeferredEvent, RecoveredEvent } from './fallback-events.js';
import {
  SessionStream,
  TTL_MS,
  driveUntil,
  driveWhile,
  startRedisRig,
  until,
} from './redis-outage.test-helpers.js';
import type { RedisRig } from './redis-outage.test-helpers.js';

const rigs: RedisRig[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((rig) => rig.close()));
});

async function rig(options: Parameters<typeof startRedisRig>[0] = {}): Promise<RedisRig> {
  const started = await startRedisRig(options);
  rigs.push(started);
  return started;
}

describe('FallbackStore over a real redis-server', () => {
  it('SIGKILL under a steady stream: no caller-visible failure, and what was written during the outage is in Redis after recovery', async () => {
    const r = await rig();
    const stream = new SessionStream(r.store, 8);
    await delay(200);

    const killedAt = performance.now();
    await r.server.kill();
    await delay(600);
    expect(r.store.degraded).toBe(true);
    const restartedAt = performance.now();
    await r.server.restart(); // same port, empty dataset (no persistence)

    const recovered = new Promise<RecoveredEvent>((resolve) => {
      r.store.once('recovered', resolve);
    });
    await until(() => !r.store.degraded && r.store.pendingReconciliation === 0, 15_000);
    await delay(100);
    await stream.stop();
    const report = await recovered;

    expect(stream.failures).toEqual([]);
    const duringOutage = stream.sessions.filter(
      (s) => s.startedAt > killedAt && s.startedAt < restartedAt,
    );
    const afterKill = stream.sessions.filter((s) => s.startedAt > killedAt);
    expect(duringOutage.length).toBeGreaterThan(20);
    // Only sessions that lived in Redis when it was killed can read as missing.
    expect(afterKill.filter((s) => s.missed)).toEqual([]);
    expect(report.written).toBeGreaterThanOrEqual(duringOutage.length);
    expect(report.conflicts).toBe(0);

    // Another instance (its own RedisStore) sees every one of them, with its last data.
    const observer = r.observer();
    const stored = await Promise.all(afterKill.map((s) => observer.load(s.id)));
    afterKill.forEach((session, i) => {
      expect(session.complete).toBe(true);
      expect(stored[i]?.data).toEqual(session.data);
    });
    expect(r.secondary.stats().total).toBe(0);
  });

  it('a session changed in Redis by another instance during the outage is a conflict: Redis keeps its data', async () => {
    const r = await rig();
    await r.server.kill();
    const local: SessionRecord = await r.store.create({
      id: generateSessionId(),
      data: { from: 'this instance, degraded' },
      expiresAt: Date.now() + TTL_MS,
    });
    await driveUntil(r.store, 'degraded');
    const other = await r.store.create({
      id: generateSessionId(),
      data: { from: 'this instance, no conflict' },
      expiresAt: Date.now() + TTL_MS,
    });

    // Redis is back; the other instance got there first (version 2 > base 0).
    await r.server.restart();
    const observer = r.observer();
    await until(() => observer.client.status === 'ready');
    await observer.create({
      id: local.id,
      data: { from: 'other instance' },
      expiresAt: local.expiresAt,
    });
    await observer.patch(local.id, { set: { again: true } });

    const [report] = await driveUntil(r.store, 'recovered');
    expect(report).toMatchObject({ written: 1, conflicts: 1 });
    expect(await observer.load(local.id)).toMatchObject({
      version: 2,
      data: { from: 'other instance', again: true },
    });
    expect(await r.store.load(local.id)).toMatchObject({ version: 2 });
    expect((await observer.load(other.id))?.data).toEqual(other.data);
  });

  it('a session logged out on another instance during the outage stays gone after reconciliation', async () => {
    const r = await rig();
    await r.server.kill();
    const local: SessionRecord = await r.store.create({
      id: generateSessionId(),
      userId: 'alice',
      data: { user: 'alice' },
      expiresAt: Date.now() + TTL_MS,
    });
    await driveUntil(r.store, 'degraded');

    // Redis is back; the visitor logs out through another instance first,
    // which retires the id although Redis never had it.
    await r.server.restart();
    const observer = r.observer();
    await until(() => observer.client.status === 'ready');
    expect(await observer.delete(local.id)).toBe(false);

    const [report] = await driveUntil(r.store, 'recovered');
    expect(report).toMatchObject({ written: 0, conflicts: 1 });
    expect(await observer.load(local.id)).toBeNull();
    expect(await r.store.load(local.id)).toBeNull();
    expect(await observer.listByUser('alice')).toEqual([]);
  });

  it('Redis killed again mid-reconciliation: the run stops, and after the second recovery nothing is lost', async () => {
    const r = await rig({
      // AOF with fsync per write: a SIGKILL loses no acknowledged write, so
      // what the first (interrupted) run wrote back survives the restart.
      serverArgs: ['--appendonly', 'yes', '--appendfsync', 'always'],
      breaker: { kind: 'consecutive', threshold: 3, halfOpenAfterMs: 150 },
      reconcile: { batchSize: 50, concurrency: 4 },
    });
    await r.server.kill();
    const created: SessionRecord[] = [];
    for (let i = 0; i < 2_000; i++) {
      created.push(
        await r.store.create({
          id: generateSessionId(),
          userId: `u${i % 50}`,
          data: { i, tag: 'degraded' },
          expiresAt: Date.now() + TTL_MS,
        }),
      );
    }
    expect(r.store.degraded).toBe(true);
    expect(r.store.pendingReconciliation).toBe(2_000);

    let secondKill: Promise<void> | undefined;
    r.store.once('reconcileProgress', () => {
      secondKill = r.server.kill();
    });
    const recoveries: RecoveredEvent[] = [];
    r.store.on('recovered', (event) => recoveries.push(event));
    await r.server.restart();
    await driveUntil(r.store, 'reconcileProgress');
    await secondKill;
    await until(() => !r.store.reconciling);

    const left = r.store.pendingReconciliation;
    expect(recoveries).toEqual([]);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(2_000);
    // A new outage: the breaker opens again. The sessions not yet written
    // back are exactly the ones this instance still serves from memory; the
    // others are in Redis (checked below, once it is back).
    await driveWhile(r.store, () => !r.store.degraded);
    const meanwhile = await Promise.all(created.map((s) => r.store.load(s.id)));
    const served = created.filter((_, i) => meanwhile[i] !== null);
    expect(served).toHaveLength(left);
    for (const session of served) {
      expect(meanwhile[created.indexOf(session)]?.data).toEqual(session.data);
    }

    await r.server.restart();
    const [report] = await driveUntil(r.store, 'recovered', 20_000);
    expect(report.runs).toBeGreaterThanOrEqual(2);
    // A write-back in flight at the kill may have landed without an answer:
    // retried, it meets itself in Redis (a conflict whose "winner" is the same data).
    expect(report.written + report.conflicts).toBe(2_000);

    const observer = r.observer();
    const stored = await Promise.all(created.map((s) => observer.load(s.id)));
    created.forEach((session, i) => {
      expect(stored[i]).toMatchObject({
        id: session.id,
        userId: session.userId,
        data: session.data,
      });
    });
    expect(r.store.pendingReconciliation).toBe(0);
    expect(r.secondary.stats().total).toBe(0);
  });

  it('a write-back Redis refuses for now (NOPERM) stays in memory, and a timer writes it back once the ACL is fixed, with no traffic', async () => {
    const r = await rig();
    const admin = new Redis(r.server.url);
    try {
      const isolation = r.store.isolate();
      const local = await r.store.create({
        id: generateSessionId(),
        userId: 'alice',
        data: { cart: 1 },
        expiresAt: Date.now() + TTL_MS,
      });
      await admin.acl('SETUSER', 'default', '-evalsha', '-eval');
      const deferred = new Promise<ReconcileDeferredEvent>((resolve) => {
        r.store.once('reconcileDeferred', resolve);
      });
      let recovered: RecoveredEvent | undefined;
      r.store.once('recovered', (event) => {
        recovered = event;
      });
      isolation.dispose();
      expect(await deferred).toMatchObject({ tries: 1, error: { code: 'INTERNAL' } });
      expect(r.store.pendingReconciliation).toBe(1);
      expect((await r.store.load(local.id))?.data).toEqual({ cart: 1 });

      await admin.acl('SETUSER', 'default', '+@all');
      // The next try is due 0.8–1.2 s after the refusal; nothing calls the store meanwhile.
      await until(() => recovered !== undefined, 5_000);
      expect(recovered).toMatchObject({ written: 1, failed: 0 });
      expect(await r.observer().load(local.id)).toMatchObject({ data: { cart: 1 } });
      expect(r.store.pendingReconciliation).toBe(0);
    } finally {
      await admin.quit();
    }
  });
});
