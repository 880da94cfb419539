import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SessionStream,
  TTL_MS,
  driveUntil,
  quantile,
  startRedisRig,
} from './redis-outage.test-helpers.js';
import type { RedisRig } from './redis-outage.test-helpers.js';

// Measurements against a real redis-server. The assertions are generous
// (shared CI machines are noisy); the figures are printed for the record.
// Bars from the issue: reconcile 10 000 sessions ≤ 2 s; p99 latency in the
// first second after a SIGKILL ≤ 250 ms with zero failures; the wrapper
// keeps ≥ 0.9× RedisStore.load throughput (a benchmark figure: `pnpm bench
// --suite resilience`; here, that it adds no Redis command).

const rigs: RedisRig[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((rig) => rig.close()));
});

function report(name: string, figures: Record<string, number | string>): void {
  const text = Object.entries(figures)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? value.toFixed(1) : value}`)
    .join(' ');
  console.info(`[measure] ${name}: ${text}`);
}

describe('FallbackStore measurements (real redis-server)', () => {
  it('reconciles 10 000 degraded-mode sessions into Redis', async () => {
    const rig = await startRedisRig();
    rigs.push(rig);
    await rig.server.kill();
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const id = generateSessionId();
      ids.push(id);
      await rig.store.create({
        id,
        userId: `user-${i % 1000}`,
        data: { i, cart: ['a', 'b'], name: 'degraded' },
        expiresAt: Date.now() + TTL_MS,
      });
    }
    expect(rig.store.pendingReconciliation).toBe(10_000);

    await rig.server.restart();
    const [recovered] = await driveUntil(rig.store, 'recovered', 30_000);
    report('reconcile 10k', {
      durationMs: recovered.durationMs,
      written: recovered.written,
      runs: recovered.runs,
      bar: '<= 2000 ms',
    });
    expect(recovered).toMatchObject({ written: 10_000, conflicts: 0, failed: 0, runs: 1 });
    expect(recovered.durationMs).toBeLessThan(10_000);

    const observer = rig.observer();
    const stored = await Promise.all(ids.map((id) => observer.load(id)));
    expect(stored.filter((record) => record === null)).toEqual([]);
    expect(stored[1234]?.data).toEqual({ i: 1234, cart: ['a', 'b'], name: 'degraded' });
  });

  it('failover: latency in the first second after Redis is SIGKILLed, with zero failures', async () => {
    const rig = await startRedisRig();
    rigs.push(rig);
    const stream = new SessionStream(rig.store, 16);
    await delay(300);
    const killedAt = performance.now();
    await rig.server.kill();
    await delay(1_100);
    await stream.stop();

    const firstSecond = stream.calls
      .filter((call) => call.startedAt >= killedAt && call.startedAt < killedAt + 1_000)
      .map((call) => call.ms);
    const p99 = quantile(firstSecond, 0.99);
    const afterKill = stream.sessions.filter((s) => s.startedAt > killedAt);
    report('failover first second', {
      calls: firstSecond.length,
      p50Ms: quantile(firstSecond, 0.5),
      p99Ms: p99,
      maxMs: Math.max(...firstSecond),
      failures: stream.failures.length,
      bar: 'p99 <= 250 ms, 0 failures',
    });
    expect(stream.failures).toEqual([]);
    expect(firstSecond.length).toBeGreaterThan(100);
    expect(p99).toBeLessThan(1_000);
    expect(afterKill.every((s) => s.complete)).toBe(true);
  });

  it('adds no Redis command to a load: FallbackStore.load sends what RedisStore.load sends', async () => {
    // The throughput ratio (bar >= 0.9) is a benchmark figure, measured by
    // `pnpm bench --suite resilience`; what a test can hold exactly is that
    // the wrapper costs no extra round trip or command.
    const rig = await startRedisRig();
    rigs.push(rig);
    const direct = new RedisStore({ connection: { url: rig.server.url }, prefix: rig.prefix });
    const admin = new Redis(rig.server.url, { commandTimeout: 2_000 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 200; i++) {
        const record = await direct.create({
          id: generateSessionId(),
          data: { i, profile: { name: 'x'.repeat(100) } },
          expiresAt: Date.now() + TTL_MS,
        });
        ids.push(record.id);
      }
      // Calls per command Redis has run, but for this probe's own INFO.
      const commandCalls = async (): Promise<Map<string, number>> => {
        const calls = new Map<string, number>();
        for (const [, name = '', count = '0'] of (await admin.info('commandstats')).matchAll(
          /cmdstat_([a-z|]+):calls=(\d+)/g,
        )) {
          if (name !== 'info') calls.set(name, Number(count));
        }
        return calls;
      };
      const sentBy = async (load: (id: string) => Promise<unknown>): Promise<object> => {
        const before = await commandCalls();
        const loaded = await Promise.all(ids.map(load));
        const after = await commandCalls();
        expect(loaded.every((record) => record !== null)).toBe(true);
        const sent: Record<string, number> = {};
        for (const [name, count] of after) {
          const delta = count - (before.get(name) ?? 0);
          if (delta > 0) sent[name] = delta;
        }
        return sent;
      };
      const alone = await sentBy((id) => direct.load(id));
      const wrapped = await sentBy((id) => rig.store.load(id));
      expect(alone).toEqual({ get: ids.length });
      expect(wrapped).toEqual(alone);
      expect(await rig.store.load(ids[7] ?? '')).toEqual(await direct.load(ids[7] ?? ''));
    } finally {
      await admin.quit();
      await direct.close();
    }
  });
});
