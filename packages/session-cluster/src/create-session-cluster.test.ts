import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionValidationError, StorageUnavailableError } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import type { RecoveredEvent } from '@session-cluster/fallback';
import type { HealthStatus } from '@session-cluster/health';
import {
  expectSessionError,
  respCommand,
  startRedisServer,
  configErrorField,
} from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { RETIRED_FRAME } from '@session-cluster/store-redis';
import { Cluster, Redis } from 'ioredis';
import { createSessionCluster } from './create-session-cluster.js';
import type { SessionCluster } from './create-session-cluster.js';
import type { SessionClusterOptions } from './cluster-options.js';

let redis: RedisServerHandle;
let prefix: string;
const clusters: SessionCluster[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.stop();
});

afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.close()));
  if (redis.running) await respCommand(redis.port, ['FLUSHALL']);
});

/** A cluster tuned to notice an outage, and its end, within a few hundred ms. */
function startCluster(overrides: Partial<SessionClusterOptions> = {}): SessionCluster {
  const cluster = createSessionCluster({
    redis: { url: redis.url, commandTimeoutMs: 500 },
    prefix,
    breaker: { kind: 'consecutive', threshold: 3, halfOpenAfterMs: 100 },
    fallback: { timeoutMs: 500 },
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    ...overrides,
  });
  clusters.push(cluster);
  return cluster;
}

/** Keep traffic flowing (the breaker half-opens only on a call) until `done` holds. */
async function driveUntil(cluster: SessionCluster, id: string, done: () => boolean) {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 10 s');
    await cluster.manager.get(id);
    await delay(20);
  }
}

const fieldOf = configErrorField;

describe('createSessionCluster', () => {
  beforeAll(() => {
    prefix = `test:${randomUUID()}`;
  });

  it('refuses a bad option before opening any connection', async () => {
    const clientsBefore = String(await respCommand(redis.port, ['CLIENT', 'LIST']))
      .trim()
      .split('\n');
    expect(
      fieldOf(() =>
        createSessionCluster({ redis: { url: redis.url }, locks: { nodes: [redis.url, 'x'] } }),
      ),
    ).toBe('locks.nodes[1]');
    expect(
      fieldOf(() =>
        createSessionCluster({
          redis: { url: redis.url },
          breaker: { kind: 'consecutive', threshold: -1 },
        }),
      ),
    ).toBe('breaker.threshold');
    await delay(50);
    const clientsAfter = String(await respCommand(redis.port, ['CLIENT', 'LIST']))
      .trim()
      .split('\n');
    expect(clientsAfter).toHaveLength(clientsBefore.length);
  });

  it('refuses bad corruption and grace settings by their option path', () => {
    const bad: readonly [Partial<SessionClusterOptions>, string][] = [
      [{ session: { expiryGraceMs: -1 } }, 'session.expiryGraceMs'],
      [{ session: { maxPerUser: 0 } }, 'session.maxPerUser'],
      [
        { codec: { failFastOnCorruption: 'no' as unknown as boolean } },
        'codec.failFastOnCorruption',
      ],
      [{ codec: { onCorruption: 'log' as unknown as () => void } }, 'codec.onCorruption'],
      [{ codec: { frameFormat: 4 as unknown as 2 } }, 'codec.frameFormat'],
    ];
    for (const [options, field] of bad) {
      expect(fieldOf(() => createSessionCluster({ redis: { url: redis.url }, ...options }))).toBe(
        field,
      );
    }
  });

  // Options one part owns are checked by that part as the cluster builds it;
  // the error names the option as the cluster's caller wrote it.
  it.each([
    [{ redis: { commandTimeoutMs: 0 } }, 'redis.commandTimeoutMs'],
    [{ prefix: 'a{b}' }, 'prefix'],
    [{ buckets: 0 }, 'buckets'],
    [{ buckets: 20_000 }, 'buckets'],
    [{ locks: { ttlMs: 5 } }, 'locks.ttlMs'],
    [{ locks: { acquireTimeoutMs: -1 } }, 'locks.acquireTimeoutMs'],
    [{ session: { ttlMs: 0 } }, 'session.ttlMs'],
    [{ session: { rolling: 1 } }, 'session.rolling'],
    [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    [{ retry: { perOperation: { get: { jitter: 3 } } } }, 'retry.perOperation.get.jitter'],
    [{ update: { lock: 'request' } }, 'update.lock'],
    [{ update: { hotSessionTtlMs: -5 } }, 'update.hotSessionTtlMs'],
    [{ breaker: 'on' }, 'breaker'],
    [{ breaker: { kind: 'sometimes' } }, 'breaker.kind'],
    [{ breaker: { kind: 'consecutive', threshold: 0 } }, 'breaker.threshold'],
    [{ breaker: { kind: 'sampling', threshold: 1 } }, 'breaker.threshold'],
    [{ breaker: { kind: 'sampling', durationMs: 10 } }, 'breaker.durationMs'],
    [{ breaker: { kind: 'sampling', minimumRps: 0 } }, 'breaker.minimumRps'],
    [{ breaker: { kind: 'consecutive', halfOpenAfterMs: 0 } }, 'breaker.halfOpenAfterMs'],
    [{ fallback: { maxSessions: 0 } }, 'fallback.maxSessions'],
    [{ fallback: { timeoutMs: 1.5 } }, 'fallback.timeoutMs'],
    [{ fallback: { reconcile: { giveUpAfterMs: -1 } } }, 'fallback.reconcile.giveUpAfterMs'],
    [{ fallback: { reconcile: { closeDrainMs: 1.5 } } }, 'fallback.reconcile.closeDrainMs'],
    [{ health: { windowSize: 0 } }, 'health.windowSize'],
    [{ health: { slowThresholdMs: -1 } }, 'health.slowThresholdMs'],
    [{ health: { unhealthyBelowSuccessRate: 2 } }, 'health.unhealthyBelowSuccessRate'],
  ])('refuses %o through the part that owns it, naming %s', (options, field) => {
    const given = options as Partial<SessionClusterOptions> & { redis?: object };
    const build = () =>
      createSessionCluster({
        ...given,
        redis: { url: redis.url, ...given.redis },
      });
    expect(fieldOf(build)).toBe(field);
  });

  // The store checks `redis`, RedlockLocker `locks.nodes`; the facade only picks the shape.
  const url = 'redis://127.0.0.1:6390';
  it.each([
    [{ redis: { url: 'http://x' } }, 'redis.url'],
    [{ redis: { host: '', port: 1 } }, 'redis.host'],
    [{ redis: { host: 'h', port: 70_000 } }, 'redis.port'],
    [{ redis: { host: 'h', port: 1, password: 5 } }, 'redis.password'],
    [{ redis: { sentinels: [], name: 'm' } }, 'redis.sentinels'],
    [{ redis: { sentinels: [{ host: 's', port: 'x' }], name: 'm' } }, 'redis.sentinels[0].port'],
    [{ redis: { sentinels: [{ host: 's', port: 1 }] } }, 'redis.name'],
    [
      { redis: { cluster: { nodes: [{ host: 'a', port: 1 }, {}] } } },
      'redis.cluster.nodes[1].host',
    ],
    [{ redis: { cluster: {} } }, 'redis.cluster.nodes'],
    [{ redis: { client: {} } }, 'redis.client'],
    [{ redis: { url }, locks: { nodes: [] } }, 'locks.nodes'],
    [{ redis: { url }, locks: { nodes: [url, 'tcp://x'] } }, 'locks.nodes[1]'],
    [{ redis: { url }, locks: { nodes: [url, 'redis://127.0.0.1:6390/1'] } }, 'locks.nodes[1]'],
  ])(
    'refuses the connection option %o through the part that owns it, naming %s',
    (options, field) => {
      expect(fieldOf(() => createSessionCluster(options as SessionClusterOptions))).toBe(field);
    },
  );

  // The facade's own checks: which keys exist, its sections, `fallback.enabled`.
  const KEY = Buffer.alloc(32, 7).toString('base64');
  it.each([
    [null, 'options'],
    [{ redis: { url }, colour: 'blue' }, 'colour'],
    [{}, 'redis'],
    [{ redis: 'redis://x' }, 'redis'],
    [{ redis: { url, cluster: { nodes: [] } } }, 'redis'],
    [{ redis: { url, password: 'x' } }, 'redis.password'],
    [{ redis: { host: 'h' } }, 'redis.port'],
    [{ redis: { url }, locks: [] }, 'locks'],
    [{ redis: { url }, locks: { nodes: [url, { host: 'h' }] } }, 'locks.nodes[1].port'],
    [{ redis: { url }, locks: { retries: 1 } }, 'locks.retries'],
    [{ redis: { sentinels: [{ host: 's', port: 1 }], name: 'm' } }, 'locks.nodes'],
    [{ redis: { cluster: { nodes: [{ host: 'c', port: 1 }] } } }, 'locks.nodes'],
    [{ redis: { url }, update: 'always' }, 'update'],
    [{ redis: { url }, update: { hotTtl: 5 } }, 'update.hotTtl'],
    [{ redis: { url }, fallback: { enabled: 'yes' } }, 'fallback.enabled'],
    [{ redis: { url }, codec: { maxBytes: 0 } }, 'codec.maxBytes'],
    [{ redis: { url }, codec: { encryptionKeys: [] } }, 'codec.encryptionKeys'],
    [
      {
        redis: { url },
        codec: {
          encryptionKeys: [
            { id: 'k1', key: KEY },
            { id: 'k2', key: 'short' },
          ],
        },
      },
      'codec.encryptionKeys[1].key',
    ],
  ])('refuses %o naming %s', (options, field) => {
    expect(fieldOf(() => createSessionCluster(options as SessionClusterOptions))).toBe(field);
  });

  it('explains why a Cluster needs explicit lock nodes', () => {
    const client = new Cluster([{ host: '127.0.0.1', port: 7000 }], {
      lazyConnect: true,
      redisOptions: { commandTimeout: 500 },
    });
    try {
      createSessionCluster({ redis: { client }, cache: false });
      expect.fail('accepted a Cluster client without lock nodes');
    } catch (error) {
      expect(error).toBeInstanceOf(SessionValidationError);
      expect((error as SessionValidationError).details?.['field']).toBe('locks.nodes');
      expect((error as Error).message).toContain('one Redlock voter');
    } finally {
      client.disconnect();
    }
  });

  it('takes explicit lock nodes', async () => {
    const cluster = startCluster({ locks: { nodes: [redis.url] }, update: { lock: 'always' } });
    const { id } = await cluster.manager.create({ data: { n: 0 } });
    await cluster.manager.update(id, (data) => ({ ...data, n: 1 }));
    expect(cluster.manager.updateStats()).toMatchObject({ always: 1 });
  });

  it('builds the codec from codec options (encryption included)', async () => {
    const cluster = startCluster({
      codec: { maxBytes: 1_000, encryptionKeys: [{ id: 'k1', key: KEY }] },
    });
    const { id } = await cluster.manager.create({ data: { x: 1 } });
    await expect(cluster.manager.create({ data: { x: 'a'.repeat(1_000) } })).rejects.toThrow();
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      const [key] = await admin.keys(`${prefix}:s:*`);
      if (key === undefined) return expect.fail('no session key');
      expect(await admin.get(key)).toContain('e1:k1:');
      expect((await cluster.manager.get(id))?.data).toEqual({ x: 1 });
    } finally {
      admin.disconnect();
    }
  });

  it('hands the frame format to the Redis store (format 1 during an upgrade from 0.2)', async () => {
    const cluster = startCluster({ codec: { frameFormat: 1 } });
    const { id } = await cluster.manager.create({ data: { a: 1 } });
    await cluster.manager.patch(id, { set: { b: 2 } });
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      const [key] = await admin.keys(`${prefix}:s:*`);
      if (key === undefined) return expect.fail('no session key');
      expect((await admin.get(key))?.startsWith('SC1\x1f')).toBe(true);
      expect((await cluster.manager.get(id))?.data).toEqual({ a: 1, b: 2 });
    } finally {
      admin.disconnect();
    }
  });

  it('hands the per-user session cap to the Redis store', async () => {
    const cluster = startCluster({ session: { maxPerUser: 2 } });
    const created = [];
    for (let i = 0; i < 3; i++)
      created.push(await cluster.manager.create({ userId: 'dora', data: {} }));
    // Sessions created in the same millisecond tie: which one goes is not asserted.
    const left = await Promise.all(created.map((s) => cluster.manager.get(s.id)));
    expect(left.filter((s) => s === null)).toHaveLength(1);
    expect(await cluster.manager.listByUser('dora')).toHaveLength(2);
  });

  it('hands expiry grace and the corruption policy to the Redis store', async () => {
    const seen: string[] = [];
    const cluster = startCluster({
      session: { ttlMs: 60_000, expiryGraceMs: 5_000 },
      codec: {
        failFastOnCorruption: false,
        onCorruption: ({ sessionIdHash }) => seen.push(sessionIdHash),
      },
    });
    const { id } = await cluster.manager.create({ data: { a: 1 } });
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      const [key] = await admin.keys(`${prefix}:s:*`);
      if (key === undefined) return expect.fail('no session key');
      // Physical expiry is logical expiry plus the grace.
      expect(await admin.pttl(key)).toBeGreaterThan(60_000);
      expect(await admin.pttl(key)).toBeLessThanOrEqual(65_000);
      // Damage the data: the integrity check fails on the next read.
      const frame = (await admin.get(key)) ?? '';
      const damaged = frame.replace('"a"\x1f1', '"a"\x1f2');
      expect(damaged).not.toBe(frame);
      await admin.set(key, damaged, 'KEEPTTL');
      // failFastOnCorruption: false — gone, not an error; the hook saw it.
      expect(await cluster.manager.get(id)).toBeNull();
      expect(seen).toHaveLength(1);
      expect(seen[0]).not.toContain(id);
      // Deleted: only the tombstone of the retired id is left.
      expect(await admin.get(key)).toBe(RETIRED_FRAME);
    } finally {
      admin.disconnect();
    }
  });

  it("names the cluster's option path for a part's own checks", () => {
    const client = new Redis({ port: redis.port, lazyConnect: true });
    try {
      expect(fieldOf(() => createSessionCluster({ redis: { client } }))).toBe(
        'redis.client.options.commandTimeout',
      );
    } finally {
      client.disconnect();
    }
  });

  it('keeps an instance cache by default; sized or turned off by the cache option', async () => {
    expect(
      fieldOf(() => createSessionCluster({ redis: { url: redis.url }, cache: { maxEntries: 0 } })),
    ).toBe('cache.maxEntries');
    const cached = startCluster();
    const sized = startCluster({ cache: { maxEntries: 2 } });
    const off = startCluster({ cache: false });
    expect(off.redis.cacheStats()).toBeUndefined();
    const deadline = Date.now() + 3_000;
    while (
      cached.redis.cacheStats()?.state !== 'ready' ||
      sized.redis.cacheStats()?.state !== 'ready'
    ) {
      if (Date.now() > deadline) throw new Error('cache not ready within 3 s');
      await delay(5);
    }
    const session = await cached.manager.create({ data: { n: 1 } });
    await cached.manager.get(session.id);
    await cached.manager.get(session.id);
    expect(cached.redis.cacheStats()).toMatchObject({ entries: 1, hits: 1 });
    expect(sized.redis.cacheStats()?.maxEntries).toBe(2);
  });

  it('works end to end on a real redis-server, across two instances', async () => {
    const a = startCluster();
    const b = startCluster();
    const created = await a.manager.create({ userId: 'alice', data: { cart: [] } });
    await b.manager.update(created.id, (data) => ({ ...data, cart: [1] }));
    await a.manager.patch(created.id, { set: { theme: 'dark' } });
    const moved = await b.manager.regenerate(created.id);
    expect(await a.manager.get(created.id)).toBeNull();
    expect(await a.manager.get(moved.id)).toMatchObject({
      userId: 'alice',
      data: { cart: [1], theme: 'dark' },
    });
    expect((await b.manager.listByUser('alice')).map((s) => s.id)).toEqual([moved.id]);

    expect(a.manager.degraded).toBe(false);
    const report = a.health.report();
    expect(report.status).toBe('healthy');
    expect(Object.keys(report.operations)).toEqual(['create', 'get', 'patch']);
    expect((await a.health.check()).ok).toBe(true);
  });

  it('close() writes back what was written in memory before it closes the Redis clients', async () => {
    const a = startCluster();
    const b = startCluster();
    const lost: unknown[] = [];
    a.fallback!.on('writeBacksLost', (event) => lost.push(event));
    const isolation = a.fallback!.isolate();
    const created = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        a.manager.create({ userId: `user-${i % 5}`, data: { cart: [i] } }),
      ),
    );
    expect(await b.manager.get(created[0]!.id)).toBeNull();
    expect(a.health.report()).toMatchObject({ status: 'degraded', pendingWriteBacks: 300 });
    isolation.dispose();

    // Closed at once: the write-back the reset started is still under way.
    await a.close();

    expect(lost).toEqual([]);
    const stored = await Promise.all(created.map(({ id }) => b.manager.get(id)));
    expect(stored.map((session) => session?.data)).toEqual(created.map(({ data }) => data));
  });

  it("hands update's lock mode to the manager: on-conflict by default, always when asked", async () => {
    const byDefault = startCluster();
    const always = startCluster({ update: { lock: 'always' } });
    const { id } = await byDefault.manager.create({ data: { n: 0 } });
    await byDefault.manager.update(id, (data) => ({ ...data, n: 1 }));
    await always.manager.update(id, (data) => ({ ...data, n: 2 }));
    expect(byDefault.manager.updateStats()).toMatchObject({ optimistic: 1, always: 0 });
    expect(always.manager.updateStats()).toMatchObject({ optimistic: 0, always: 1 });
    expect(await byDefault.manager.get(id)).toMatchObject({ data: { n: 2 }, version: 3 });
  });

  it('survives a Redis outage: degraded, then recovered, with outage writes in Redis', async () => {
    const a = startCluster();
    const statuses: HealthStatus[] = [a.health.status()];
    a.health.on('status', ({ to }) => statuses.push(to));
    const recovered: RecoveredEvent[] = [];
    a.fallback?.on('recovered', (event) => recovered.push(event));
    const before = await a.manager.create({ data: { n: 0 } });
    // A session only another instance ever touched: this one never saw it.
    const unseen = await startCluster().manager.create({ data: { other: true } });

    await redis.kill();

    // Every call succeeds; sessions are now instance-local.
    const during: SessionRecord[] = [];
    for (let i = 0; i < 5; i += 1) {
      const session = await a.manager.create({ userId: 'bob', data: { i } });
      await a.manager.patch(session.id, { set: { patched: true } });
      during.push(await a.manager.update(session.id, (data) => ({ ...data, updated: i })));
    }
    expect(await a.manager.get(during[0]!.id)).toMatchObject({ data: during[0]!.data });
    expect(await a.manager.touch(during[1]!.id)).toBe(true);
    const regenerated = await a.manager.regenerate(during[4]!.id, { userId: 'bob' });
    expect(await a.manager.get(during[4]!.id)).toBeNull();
    // A session this instance held (it created it) is carried from its
    // instance cache; one it never saw is out of sight while degraded.
    expect(await a.manager.get(before.id)).toMatchObject({ data: { n: 0 } });
    expect(await a.manager.get(unseen.id)).toBeNull();

    expect(a.manager.degraded).toBe(true);
    expect(a.health.report()).toMatchObject({
      status: 'degraded',
      degraded: true,
      breaker: 'open',
    });
    expect(a.health.report().overall.failures).toBe(0);

    await redis.restart();
    await driveUntil(a, before.id, () => recovered.length > 0);

    expect(a.manager.degraded).toBe(false);
    expect(a.health.report()).toMatchObject({
      status: 'healthy',
      degraded: false,
      breaker: 'closed',
    });
    expect(statuses[0]).toBe('healthy');
    expect(statuses).toContain('degraded');
    expect(statuses.at(-1)).toBe('healthy');
    expect(statuses).not.toContain('unhealthy');
    expect(recovered[0]).toMatchObject({ conflicts: 0, failed: 0 });
    expect(recovered[0]!.written).toBeGreaterThanOrEqual(5);

    // Another instance, started after the outage, sees exactly what was written during it.
    const b = startCluster();
    for (const session of [...during.slice(0, 4), regenerated]) {
      expect(await b.manager.get(session.id)).toMatchObject({
        id: session.id,
        userId: 'bob',
        data: session.data,
      });
    }
    expect(await b.manager.get(during[4]!.id)).toBeNull();
    expect((await b.manager.listByUser('bob')).map((s) => s.id).sort()).toEqual(
      [...during.slice(0, 4), regenerated].map((s) => s.id).sort(),
    );
  });

  it('without the fallback an outage fails calls with STORAGE_UNAVAILABLE', async () => {
    const a = startCluster({ fallback: { enabled: false }, retry: { maxAttempts: 1 } });
    expect(a.fallback).toBeUndefined();
    const session = await a.manager.create({ data: {} });
    await redis.kill();
    try {
      await expectSessionError(
        a.manager.get(session.id),
        StorageUnavailableError,
        'STORAGE_UNAVAILABLE',
      );
      expect(a.manager.degraded).toBe(false);
    } finally {
      await redis.restart();
    }
    await driveUntilRedisAnswers(a, session.id);
  });
});

/** After a restart (empty Redis), wait until the store's client has reconnected. */
async function driveUntilRedisAnswers(cluster: SessionCluster, id: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await cluster.manager.get(id);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await delay(20);
    }
  }
}
