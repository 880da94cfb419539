import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { AsyncLocalContextManager, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { instrumentSessionCluster } from './session-instrumentation.js';
import type { SessionInstrumentation } from './session-instrumentation.js';
import { CollectingReader } from './collecting-reader.test-helpers.js';

/** Wait (5 ms steps, 3 s at most) until the cluster's instance cache serves. */
async function cacheReady(cluster: SessionCluster): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (cluster.redis.cacheStats()?.state !== 'ready') {
    if (Date.now() > deadline) throw new Error('cache not ready within 3 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('session-cluster telemetry through the real SDK (Redis, fallback, health)', () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = tracerProvider.getTracer('test');
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let redis: RedisServerHandle;
  let cluster: SessionCluster;
  let instrumentation: SessionInstrumentation;
  const rawIds: string[] = [];

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
    instrumentation = instrumentSessionCluster({ tracerProvider, meterProvider, childSpans: true });
    redis = await startRedisServer();
    cluster = createSessionCluster({
      redis: { url: redis.url },
      prefix: 'tel',
      retry: { baseDelayMs: 1 },
      telemetry: { meterProvider },
    });
  });
  afterAll(async () => {
    await cluster.close();
    await redis.stop();
    instrumentation.close();
    context.disable();
    await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
  });

  async function inRequest<T>(work: () => Promise<T>): Promise<{ result: T; root: string }> {
    return tracer.startActiveSpan('request', async (span) => {
      try {
        return { result: await work(), root: span.spanContext().spanId };
      } finally {
        span.end();
      }
    });
  }

  function named(name: string, under?: string): ReadableSpan[] {
    return exporter
      .getFinishedSpans()
      .filter(
        (s) => s.name === name && (under === undefined || s.parentSpanContext?.spanId === under),
      );
  }

  async function metrics(): Promise<MetricData[]> {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  }

  function points(all: readonly MetricData[], name: string): DataPoint<unknown>[] {
    const metric = all.find((m) => m.descriptor.name === name);
    if (metric === undefined) throw new Error(`no metric ${name}`);
    return metric.dataPoints;
  }

  it('a call served by the fallback says so on the operation and the store span, and reconciliation is traced', async () => {
    const before = await cluster.manager.create({ userId: 'ada', data: { n: 0 } });
    rawIds.push(before.id);
    exporter.reset();

    const isolation = cluster.fallback!.isolate();
    const { result: created, root } = await inRequest(() =>
      cluster.manager.create({ userId: 'ada', data: { n: 1 } }),
    );
    rawIds.push(created.id);
    const [create] = named('session.create', root);
    expect(create?.attributes).toMatchObject({
      'session.degraded': true,
      'session.id_hash': hashSessionId(created.id),
      'session.outcome': 'ok',
    });
    const [store] = named('session.store.create', create!.spanContext().spanId);
    expect(store?.attributes).toMatchObject({
      'db.system': 'redis',
      'session.fallback.route': 'secondary',
      'session.degraded': true,
    });

    const { result: read } = await inRequest(() => cluster.manager.get(created.id));
    expect(read?.data).toEqual({ n: 1 });
    expect(named('session.get')[0]?.attributes).toMatchObject({
      'session.degraded': true,
      'session.found': true,
    });

    // The lock is the in-process one while degraded: the acquire span says so.
    await inRequest(() =>
      cluster.manager.update(created.id, (data) => ({ ...data, n: 2 }), { lock: 'always' }),
    );
    expect(named('session.lock.acquire')[0]?.attributes['session.degraded']).toBe(true);

    const recovered = once(cluster.fallback!, 'recovered');
    isolation.dispose();
    await recovered;
    const [reconcile] = named('session.reconcile');
    expect(reconcile?.attributes).toMatchObject({
      'session.reconcile.result': 'drained',
      'session.reconcile.written': 1,
    });
    expect(await cluster.redis.load(created.id)).toMatchObject({ data: { n: 2 } });

    // Back on Redis: served by the primary again.
    const { root: after } = await inRequest(() => cluster.manager.get(before.id));
    expect(named('session.get', after)[0]?.attributes['session.degraded']).toBe(false);
  });

  it('a health probe is a child of the request that asked, routed through the fallback store', async () => {
    exporter.reset();
    const { root } = await inRequest(() => cluster.health.check());
    const [probe] = named('session.health.probe', root);
    expect(probe?.attributes).toMatchObject({
      'session.outcome': 'ok',
      'session.health.status': 'healthy',
      'session.fallback.route': 'primary',
    });
  });

  it('metrics: operations, errors, latency, lock wait, breaker, degraded, active, reconciled, probes', async () => {
    await expect(cluster.manager.update(generateSessionId(), (data) => data)).rejects.toMatchObject(
      { code: 'SESSION_NOT_FOUND' },
    );
    const all = await metrics();
    const names = all.map((m) => m.descriptor.name).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'session.operations',
        'session.errors',
        'session.operation.duration',
        'session.lock.wait.duration',
        'session.fallback.breaker.state',
        'session.fallback.degraded',
        'session.active',
        'session.reconciled',
        'session.health.probes',
      ]),
    );
    const creates = points(all, 'session.operations').find(
      (p) =>
        p.attributes['session.operation'] === 'create' && p.attributes['session.outcome'] === 'ok',
    );
    expect(creates?.value).toBe(2);
    const notFound = points(all, 'session.errors').find(
      (p) => p.attributes['error.type'] === 'SESSION_NOT_FOUND',
    );
    expect(notFound?.attributes['session.operation']).toBe('update');
    expect(notFound?.value).toBe(1);
    const latency = points(all, 'session.operation.duration').find(
      (p) => p.attributes['session.operation'] === 'get',
    );
    expect((latency?.value as { count: number }).count).toBeGreaterThanOrEqual(2);
    expect(
      (points(all, 'session.lock.wait.duration')[0]?.value as { count: number }).count,
    ).toBeGreaterThanOrEqual(1);
    expect(points(all, 'session.fallback.breaker.state')[0]?.value).toBe(0);
    expect(points(all, 'session.fallback.degraded')[0]?.value).toBe(0);
    // Both sessions are live in Redis (the degraded one was reconciled into it).
    expect(points(all, 'session.active')[0]?.value).toBe(2);
    const written = points(all, 'session.reconciled').find(
      (p) => p.attributes['session.outcome'] === 'written',
    );
    expect(written?.value).toBe(1);
    expect(points(all, 'session.health.probes')[0]?.attributes['session.outcome']).toBe('ok');
    const text = JSON.stringify(all);
    for (const id of rawIds) expect(text).not.toContain(id);
  });
  it('the instance cache: session.cache.hit on the get span, its metrics and its health', async () => {
    await cacheReady(cluster);
    const session = await cluster.manager.create({ data: { n: 1 } });
    rawIds.push(session.id);
    const { root: first } = await inRequest(() => cluster.manager.get(session.id));
    const { root: second } = await inRequest(() => cluster.manager.get(session.id));
    expect(named('session.get', first)[0]?.attributes['session.cache.hit']).toBe(false);
    expect(named('session.get', second)[0]?.attributes['session.cache.hit']).toBe(true);

    const all = await metrics();
    expect(points(all, 'session.cache.hits')[0]?.value).toBeGreaterThanOrEqual(1);
    expect(points(all, 'session.cache.misses')[0]?.value).toBeGreaterThanOrEqual(1);
    expect(points(all, 'session.cache.entries')[0]?.value).toBeGreaterThanOrEqual(1);
    expect(points(all, 'session.cache.invalidations')).toHaveLength(1);
    expect(points(all, 'session.cache.bytes')[0]?.value).toBeGreaterThan(0);
    // The two other pools the cache bounds by maxBytes, as cacheStats() shows them.
    const stats = cluster.redis.cacheStats();
    expect(points(all, 'session.cache.retained.bytes')[0]?.value).toBe(stats?.retainedBytes);
    expect(points(all, 'session.cache.steps.bytes')[0]?.value).toBe(stats?.stepBytes);
    expect(cluster.health.report().cache).toMatchObject({ state: 'ready' });
  });

  it('outside any span a cached read makes no span and is counted, not timed; a miss is a root span with its load', async () => {
    await cacheReady(cluster);
    const session = await cluster.manager.create({ data: { n: 1 } });
    rawIds.push(session.id);
    const getsOk = (all: readonly MetricData[], name: string): number => {
      const point = points(all, name).find(
        (p) =>
          p.attributes['session.operation'] === 'get' && p.attributes['session.outcome'] === 'ok',
      );
      const value = point?.value as number | { count: number } | undefined;
      return typeof value === 'number' ? value : (value?.count ?? 0);
    };
    const before = await metrics();
    exporter.reset();
    await context.with(ROOT_CONTEXT, async () => {
      await cluster.manager.get(session.id); // a miss
      await cluster.manager.get(session.id); // a hit
      await cluster.manager.get(session.id); // a hit
    });
    const spans = exporter.getFinishedSpans();
    const gets = named('session.get');
    expect(gets).toHaveLength(1);
    const [miss] = gets;
    expect(miss?.parentSpanContext).toBeUndefined();
    expect(miss?.attributes['session.cache.hit']).toBe(false);
    // The load began before the read was known to miss: its span is started then, under the read.
    const [load] = named('session.store.load', miss!.spanContext().spanId);
    expect(load?.attributes['session.fallback.route']).toBe('primary');
    expect(spans.filter((span) => span.name === 'session.store.load')).toEqual([load]);

    const after = await metrics();
    expect(getsOk(after, 'session.operations') - getsOk(before, 'session.operations')).toBe(3);
    expect(
      getsOk(after, 'session.operation.duration') - getsOk(before, 'session.operation.duration'),
    ).toBe(1);
  });

  it('a Redlock acquisition that gives up records its wait and the nodes’ votes', async () => {
    const contended = createSessionCluster({
      redis: { url: redis.url },
      prefix: 'tel',
      locks: { acquireTimeoutMs: 150 },
      retry: { maxAttempts: 1 },
      telemetry: { meterProvider },
    });
    try {
      const { id } = await contended.manager.create({ data: {} });
      rawIds.push(id);
      // Held by another instance's locker: the waiter polls Redis and is refused.
      const held = await cluster.locker.acquire(id);
      exporter.reset();
      await inRequest(() => contended.manager.update(id, (data) => data, { lock: 'always' })).catch(
        () => undefined,
      );
      await held.release();
      const [acquire] = named('session.lock.acquire');
      expect(acquire?.attributes).toMatchObject({
        'session.error.code': 'LOCK_NOT_ACQUIRED',
        'session.lock.nodes_total': 1,
        'session.lock.quorum': 1,
        'session.lock.nodes_voted': 0,
      });
      expect(acquire?.attributes['session.lock.attempts']).toBeGreaterThanOrEqual(2);
      expect(acquire?.attributes['session.lock.wait_ms']).toBeGreaterThanOrEqual(100);
    } finally {
      await contended.close();
    }
  });

  it('a write-back Redis refuses for now (NOPERM) ends the run deferred, with an event per refusal', async () => {
    const admin = new Redis(redis.url);
    const refusals: number[] = [];
    const isolation = cluster.fallback!.isolate();
    const created = await cluster.manager.create({ userId: 'ada', data: { n: 1 } });
    rawIds.push(created.id);
    exporter.reset();
    await admin.acl('SETUSER', 'default', '-evalsha', '-eval');
    try {
      cluster.fallback!.on('reconcileDeferred', (event) => refusals.push(event.tries));
      isolation.dispose();
      await expect.poll(() => named('session.reconcile').length).toBe(1);
    } finally {
      await admin.acl('SETUSER', 'default', '+@all');
      await admin.quit();
    }
    const [reconcile] = named('session.reconcile');
    expect(reconcile?.attributes).toMatchObject({
      'session.reconcile.result': 'deferred',
      'session.reconcile.written': 0,
      'session.reconcile.failed': 0,
    });
    expect(reconcile?.events.map((event) => [event.name, event.attributes])).toContainEqual([
      'session.reconcile.deferred',
      {
        'session.id_hash': hashSessionId(created.id),
        'session.error.code': 'INTERNAL',
        'session.reconcile.tries': 1,
      },
    ]);
    const deferredCount = points(await metrics(), 'session.reconciled').find(
      (point) => point.attributes['session.outcome'] === 'deferred',
    );
    // The created session, and the sessions the instance cache held, each refused once.
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.every((tries) => tries === 1)).toBe(true);
    expect(deferredCount?.value).toBe(refusals.length);
    // Still served from memory, with its write, until the next try; the health report counts it.
    expect((await cluster.manager.get(created.id))?.data).toEqual({ n: 1 });
    expect(cluster.health.report().pendingWriteBacks).toBe(refusals.length);
  });

  it('writes a cluster closes without writing back are counted lost', async () => {
    const closing = createSessionCluster({
      redis: { url: redis.url },
      prefix: 'tel',
      fallback: { reconcile: { closeDrainMs: 0 } },
      telemetry: { meterProvider },
    });
    const lost = async () =>
      Number(
        points(await metrics(), 'session.reconciled').find(
          (point) => point.attributes['session.outcome'] === 'lost',
        )?.value ?? 0,
      );
    const before = await lost();
    closing.fallback!.isolate();
    const created = await closing.manager.create({ userId: 'grace', data: { n: 1 } });
    rawIds.push(created.id);
    await closing.manager.deleteByUser('someone-else');
    await closing.close();
    // One session and one revocation never reached Redis.
    expect((await lost()) - before).toBe(2);
  });

  it('no span attribute, event or status anywhere carries a raw session id', () => {
    const text = JSON.stringify(
      exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status, s.links]),
    );
    expect(rawIds.length).toBeGreaterThan(0);
    for (const id of rawIds) expect(text).not.toContain(id);
  });
});
