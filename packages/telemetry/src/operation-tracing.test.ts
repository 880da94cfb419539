import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  ConcurrentAccessError,
  ManualClock,
  SESSION_CHANNELS,
  SessionNotFoundError,
  StorageUnavailableError,
  generateSessionId,
  hashSessionId,
} from '@session-cluster/core';
import type { StoreCallMessage } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import type { SessionManagerOptions } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import {
  AsyncLocalContextManager,
  HookedStore,
  expectSessionError,
} from '@session-cluster/testkit';
import { instrumentSessionCluster } from './session-instrumentation.js';
import type { SessionInstrumentation } from './session-instrumentation.js';
import { CollectingReader } from './collecting-reader.test-helpers.js';

describe('SessionManager operations as spans, store and lock calls as child spans (real SDK, InMemorySpanExporter)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('test');
  const clock = new ManualClock();
  let store: HookedStore;
  let manager: SessionManager;
  let instrumentation: SessionInstrumentation | undefined;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(async () => {
    context.disable();
    await provider.shutdown();
  });

  function setUp(options: Partial<SessionManagerOptions> = {}): void {
    store = new HookedStore(new MemoryStore({ clock, cleanupIntervalMs: 0 }));
    manager = new SessionManager({
      store,
      locker: new MemoryLocker(),
      clock,
      retry: { baseDelayMs: 0, jitter: 0 },
      ...options,
    });
  }

  beforeEach(() => {
    instrumentation = instrumentSessionCluster({ tracerProvider: provider, childSpans: true });
    setUp();
  });
  afterEach(async () => {
    instrumentation?.close();
    await manager.close();
    exporter.reset();
  });

  /** Run `work` under a root span, as an HTTP request span would be, and return the spans it made. */
  async function traced(work: () => Promise<unknown>): Promise<ReadableSpan[]> {
    exporter.reset();
    await tracer.startActiveSpan('request', async (root) => {
      try {
        await work().catch(() => undefined);
      } finally {
        root.end();
      }
    });
    return exporter.getFinishedSpans();
  }

  function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan {
    const span = spans.find((s) => s.name === name);
    if (span === undefined)
      throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(', ')}`);
    return span;
  }

  function parentOf(span: ReadableSpan): string | undefined {
    return span.parentSpanContext?.spanId;
  }

  /** Every span as the SDK would export it, as one string (attributes, events, status). */
  function serialised(spans: readonly ReadableSpan[]): string {
    return JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
        links: s.links,
      })),
    );
  }

  it("update (lock: 'always'): session.update → lock acquire, store load/save, lock release, with hashed id and version", async () => {
    const { id } = await manager.create({ data: { n: 1 } });
    const spans = await traced(() =>
      manager.update(id, (data) => ({ ...data, n: 2 }), { lock: 'always' }),
    );
    const request = byName(spans, 'request');
    const update = byName(spans, 'session.update');
    expect(parentOf(update)).toBe(request.spanContext().spanId);
    expect(update.attributes).toMatchObject({
      'session.operation': 'update',
      'session.id_hash': hashSessionId(id),
      'session.outcome': 'ok',
      'session.version': 2,
      'session.degraded': false,
      'session.lock.mode': 'always',
    });
    expect(update.status.code).toBe(SpanStatusCode.UNSET);
    const children = spans.filter((s) => parentOf(s) === update.spanContext().spanId);
    expect(children.map((s) => s.name)).toEqual([
      'session.lock.acquire',
      'session.store.load',
      'session.store.save',
      'session.lock.release',
    ]);
    const acquire = byName(spans, 'session.lock.acquire');
    expect(acquire.attributes['session.lock.wait_ms']).toEqual(expect.any(Number));
    expect(acquire.attributes['session.degraded']).toBe(false);
    expect(byName(spans, 'session.lock.release').attributes['session.lock.held_ms']).toEqual(
      expect.any(Number),
    );
    expect(byName(spans, 'session.store.save').attributes['db.operation.name']).toBe('save');
    expect(serialised(spans)).not.toContain(id);
  });

  it("update (lock: 'on-conflict', uncontended): store load and save only, session.lock.mode optimistic", async () => {
    const { id } = await manager.create({ data: { n: 1 } });
    const spans = await traced(() => manager.update(id, (data) => ({ ...data, n: 2 })));
    const update = byName(spans, 'session.update');
    expect(update.attributes).toMatchObject({
      'session.outcome': 'ok',
      'session.version': 2,
      'session.lock.mode': 'optimistic',
    });
    expect(update.events).toEqual([]);
    const children = spans.filter((s) => parentOf(s) === update.spanContext().spanId);
    expect(children.map((s) => s.name)).toEqual(['session.store.load', 'session.store.save']);
  });

  it('an escalated update: a session.conflict_retry event per conflict, then the lock, mode escalated', async () => {
    const { id } = await manager.create({ data: { n: 1 } });
    let runs = 0;
    const spans = await traced(() =>
      manager.update(id, async (data) => {
        runs += 1;
        // Another writer (untraced: the store under the manager) overtakes each optimistic run.
        if (runs <= 2) await store.patch(id, { set: { [`p${runs}`]: runs } });
        return { ...data, n: 2 };
      }),
    );
    const update = byName(spans, 'session.update');
    expect(update.attributes).toMatchObject({
      'session.outcome': 'ok',
      'session.version': 4,
      'session.lock.mode': 'escalated',
    });
    expect(update.attributes['session.attempts']).toBeUndefined();
    expect(update.events.map((e) => [e.name, e.attributes])).toEqual([
      ['session.conflict_retry', { 'session.retry.attempt': 1, 'error.type': 'VERSION_CONFLICT' }],
      ['session.conflict_retry', { 'session.retry.attempt': 2, 'error.type': 'VERSION_CONFLICT' }],
    ]);
    const children = spans.filter((s) => parentOf(s) === update.spanContext().spanId);
    expect(children.map((s) => s.name)).toEqual([
      'session.store.load',
      'session.store.save',
      'session.store.load',
      'session.store.save',
      'session.lock.acquire',
      'session.store.load',
      'session.store.save',
      'session.lock.release',
    ]);
    // Remembered as hot: the next update goes to the lock at once.
    const next = await traced(() => manager.update(id, (data) => data));
    expect(byName(next, 'session.update').attributes['session.lock.mode']).toBe('escalated');
    expect(next.some((s) => s.name === 'session.lock.acquire')).toBe(true);
  });

  it('each operation has its span, outcome and attributes; none carries a raw id', async () => {
    const { id } = await manager.create({ userId: 'u1', data: { a: 1 } });
    const other = await manager.create({ userId: 'u1', data: {} });
    const missing = generateSessionId();
    const anyString: unknown = expect.any(String);
    const cases: [string, () => Promise<unknown>, Record<string, unknown>][] = [
      [
        'session.create',
        () => manager.create({ data: {} }),
        { 'session.outcome': 'ok', 'session.version': 1, 'session.id_hash': anyString },
      ],
      ['session.get', () => manager.get(id), { 'session.found': true, 'session.outcome': 'ok' }],
      [
        'session.get',
        () => manager.get(missing),
        { 'session.found': false, 'session.outcome': 'not_found' },
      ],
      ['session.patch', () => manager.patch(id, { set: { b: 2 } }), { 'session.version': 2 }],
      ['session.touch', () => manager.touch(id), { 'session.found': true }],
      ['session.touch', () => manager.touch(missing), { 'session.outcome': 'not_found' }],
      ['session.list_by_user', () => manager.listByUser('u1'), { 'session.count': 2 }],
      ['session.delete', () => manager.delete(other.id), { 'session.found': true }],
      [
        'session.regenerate',
        () => manager.regenerate(id),
        { 'session.id_hash': hashSessionId(id), 'session.new_id_hash': anyString },
      ],
      ['session.delete_by_user', () => manager.deleteByUser('u1'), { 'session.count': 1 }],
      ['session.cleanup_expired', () => manager.cleanupExpired(), { 'session.count': 0 }],
    ];
    const seen: ReadableSpan[] = [];
    for (const [name, call, attributes] of cases) {
      const spans = await traced(call);
      const span = byName(spans, name);
      expect(span.attributes, name).toMatchObject({
        'session.operation': name.slice('session.'.length),
        'session.degraded': false,
        ...attributes,
      });
      seen.push(...spans);
    }
    const text = serialised(seen);
    for (const raw of [id, other.id, missing]) expect(text).not.toContain(raw);
  });

  it('a retried operation carries one session.retry event per retry, with attempt, delay and code', async () => {
    setUp({ retry: { baseDelayMs: 1, multiplier: 2, jitter: 0, maxAttempts: 3 } });
    const { id } = await manager.create({ data: {} });
    let failures = 2;
    store.hooks.load = () => {
      if (failures-- > 0) throw new StorageUnavailableError('blip', { timeout: true });
    };
    const spans = await traced(() => manager.get(id));
    const get = byName(spans, 'session.get');
    expect(get.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'session.retry',
        {
          'session.retry.attempt': 1,
          'session.retry.delay_ms': 1,
          'error.type': 'STORAGE_TIMEOUT',
          'session.error.code': 'STORAGE_TIMEOUT',
        },
      ],
      [
        'session.retry',
        {
          'session.retry.attempt': 2,
          'session.retry.delay_ms': 2,
          'error.type': 'STORAGE_TIMEOUT',
          'session.error.code': 'STORAGE_TIMEOUT',
        },
      ],
    ]);
    expect(get.attributes).toMatchObject({ 'session.attempts': 3, 'session.outcome': 'ok' });
    expect(get.status.code).toBe(SpanStatusCode.UNSET);
    // The failed store calls are spans of their own, marked failed.
    const loads = spans.filter((s) => s.name === 'session.store.load');
    expect(loads.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
  });

  it('a failure sets ERROR status, the SessionError code, category and severity, and a masked exception', async () => {
    setUp({ retry: { maxAttempts: 2, baseDelayMs: 0 } });
    const { id } = await manager.create({ data: {} });
    store.hooks.save = () => {
      // A driver message that quotes a key with the raw id in it.
      throw new ConcurrentAccessError('version_conflict', `stale write to app:s:${id}`);
    };
    const spans = await traced(() => manager.update(id, (data) => data));
    const update = byName(spans, 'session.update');
    expect(update.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: expect.stringContaining('VERSION_CONFLICT') as unknown,
    });
    expect(update.attributes).toMatchObject({
      'error.type': 'VERSION_CONFLICT',
      'session.error.code': 'VERSION_CONFLICT',
      'session.error.category': 'concurrency',
      'session.error.severity': 'medium',
      'session.error.retryable': true,
      'session.outcome': 'error',
      'session.attempts': 2,
    });
    const exception = update.events.find((e) => e.name === 'exception');
    expect(exception?.attributes?.['exception.message']).toBe(
      `stale write to app:s:<sid:${hashSessionId(id)}>`,
    );
    expect(serialised(spans)).not.toContain(id);
  });

  it('a missing session on update is outcome not_found with SESSION_NOT_FOUND', async () => {
    const spans = await traced(() => manager.update(generateSessionId(), (data) => data));
    expect(byName(spans, 'session.update').attributes).toMatchObject({
      'session.outcome': 'not_found',
      'session.error.code': 'SESSION_NOT_FOUND',
      'session.error.category': 'client',
    });
  });

  it('a lock that cannot be had ends the acquire span with LOCK_NOT_ACQUIRED and its wait', async () => {
    const locker = new MemoryLocker({ acquireTimeoutMs: 20 });
    setUp({ locker, retry: { maxAttempts: 1 } });
    const { id } = await manager.create({ data: {} });
    const held = await locker.acquire(id);
    const spans = await traced(() => manager.update(id, (data) => data, { lock: 'always' }));
    await held.release();
    const acquire = byName(spans, 'session.lock.acquire');
    expect(acquire.status.code).toBe(SpanStatusCode.ERROR);
    expect(acquire.attributes['session.error.code']).toBe('LOCK_NOT_ACQUIRED');
    expect(acquire.attributes['session.lock.wait_ms']).toBeGreaterThanOrEqual(15);
    expect(spans.some((s) => s.name === 'session.lock.release')).toBe(false);
  });

  it('an argument refused before any await (update with a bad id) still ends its span, failed', async () => {
    const spans = await traced(() => manager.update('nope', (data) => data));
    expect(byName(spans, 'session.update').attributes).toMatchObject({
      'session.outcome': 'error',
      'session.error.code': 'INVALID_SESSION_ID',
    });
  });

  it('an invalid id fails the span without hashing or echoing the input', async () => {
    const attack = 'x'.repeat(42) + '{';
    const spans = await traced(() => manager.get(attack));
    const get = byName(spans, 'session.get');
    expect(get.attributes['session.error.code']).toBe('INVALID_SESSION_ID');
    expect(get.attributes['session.id_hash']).toBeUndefined();
    expect(serialised(spans)).not.toContain(attack);
  });

  it('without a parent span operations are root spans; store and lock spans still nest', async () => {
    const { id } = await manager.create({ data: {} });
    exporter.reset();
    await manager.update(id, (data) => data);
    const spans = exporter.getFinishedSpans();
    const update = byName(spans, 'session.update');
    expect(parentOf(update)).toBeUndefined();
    expect(parentOf(byName(spans, 'session.store.save'))).toBe(update.spanContext().spanId);
  });

  it('telemetry: false makes no spans at all', async () => {
    setUp({ telemetry: false });
    const { id } = await manager.create({ data: {} });
    const spans = await traced(() => manager.update(id, (data) => data));
    expect(spans.map((s) => s.name)).toEqual(['request']);
  });

  it('a sampled-out operation makes no child spans and has no store call published', async () => {
    // An exporter of its own: shutting the provider down stops its exporter.
    const dropped = new InMemorySpanExporter();
    const unsampled = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: dropped })],
      sampler: new AlwaysOffSampler(),
    });
    instrumentation?.close();
    instrumentation = instrumentSessionCluster({ tracerProvider: unsampled, childSpans: true });
    setUp();
    const { id } = await manager.create({ data: {} });
    // Not asked for (`storeCalls`), its store calls are not even published.
    const published: string[] = [];
    const onStoreCall = (message: unknown): void => {
      published.push((message as StoreCallMessage).method);
    };
    SESSION_CHANNELS.storeCall.start.subscribe(onStoreCall);
    try {
      const spans = await traced(() => manager.update(id, (data) => data));
      expect(spans.map((s) => s.name)).toEqual(['request']);
      expect(published).toEqual([]);
    } finally {
      SESSION_CHANNELS.storeCall.start.unsubscribe(onStoreCall);
    }
    expect(dropped.getFinishedSpans()).toEqual([]);
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(await manager.get(id)).toMatchObject({ version: 2 });
    await unsampled.shutdown();
  });

  it('a sampled-out operation still counts its retries, under the operation’s name', async () => {
    const unsampled = new TracerProvider({ sampler: new AlwaysOffSampler() });
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    instrumentation?.close();
    instrumentation = instrumentSessionCluster({ tracerProvider: unsampled, meterProvider });
    setUp({ retry: { baseDelayMs: 0, jitter: 0, maxAttempts: 2 } });
    let failures = 1;
    store.hooks.listByUser = () => {
      if (failures-- > 0) throw new StorageUnavailableError('blip', { timeout: true });
    };
    await traced(() => manager.listByUser('u1'));
    const { resourceMetrics } = await reader.collect();
    const retries = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === 'session.retries');
    expect(retries?.dataPoints.map((point) => [point.attributes, point.value])).toEqual([
      [{ 'session.operation': 'list_by_user', 'error.type': 'STORAGE_TIMEOUT' }, 1],
    ]);
    await Promise.all([unsampled.shutdown(), meterProvider.shutdown()]);
  });

  it('outside any span a get that retries is a root span with its retries (no cache answered it)', async () => {
    setUp({ retry: { baseDelayMs: 0, jitter: 0, maxAttempts: 3 } });
    const { id } = await manager.create({ data: {} });
    let failures = 1;
    store.hooks.load = () => {
      if (failures-- > 0) throw new StorageUnavailableError('blip', { timeout: true });
    };
    exporter.reset();
    await manager.get(id);
    const spans = exporter.getFinishedSpans();
    const get = byName(spans, 'session.get');
    expect(parentOf(get)).toBeUndefined();
    expect(get.events.map((e) => e.name)).toEqual(['session.retry']);
    expect(get.attributes).toMatchObject({ 'session.attempts': 2, 'session.outcome': 'ok' });
    // The first load ended (failed) before the read had a span: it got one then, under the read.
    const loads = spans.filter((s) => s.name === 'session.store.load');
    expect(loads.map((s) => [parentOf(s), s.status.code])).toEqual([
      [get.spanContext().spanId, SpanStatusCode.ERROR],
      [get.spanContext().spanId, SpanStatusCode.UNSET],
    ]);
  });

  it('with nobody subscribed operations still work and make no spans', async () => {
    instrumentation?.close();
    setUp();
    const { id } = await manager.create({ data: { n: 1 } });
    await expect(manager.update(id, (d) => ({ ...d, n: 2 }))).resolves.toMatchObject({
      version: 2,
    });
    await expectSessionError(
      manager.update(generateSessionId(), (d) => d),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('SessionManager operations by default: one span each, its phases on it', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  let instrumentation: SessionInstrumentation;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
    instrumentation = instrumentSessionCluster({ tracerProvider: provider });
  });
  afterAll(async () => {
    instrumentation.close();
    context.disable();
    await provider.shutdown();
  });

  it("update (lock: 'always'): one session.update span; lock wait and release are its events, store calls their summed time", async () => {
    const manager = new SessionManager({
      store: new MemoryStore({ cleanupIntervalMs: 0 }),
      locker: new MemoryLocker(),
    });
    const { id } = await manager.create({ data: { n: 1 } });
    exporter.reset();
    await manager.update(id, (data) => ({ ...data, n: 2 }), { lock: 'always' });
    await manager.close();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['session.update']);
    const [update] = spans;
    expect(update?.attributes).toMatchObject({
      'session.id_hash': hashSessionId(id),
      'session.outcome': 'ok',
      'session.version': 2,
      'session.lock.mode': 'always',
      'session.lock.wait_ms': expect.any(Number) as unknown,
    });
    expect(update?.events.map((e) => e.name)).toEqual([
      'session.lock.acquire',
      'session.lock.release',
    ]);
    const { 'session.store.load.duration_ms': load, 'session.store.save.duration_ms': save } =
      update?.attributes ?? {};
    expect(load).toEqual(expect.any(Number));
    expect(save).toEqual(expect.any(Number));
  });

  it('a store call that failed stays an event (its error and route); the calls Redis answered are summed', async () => {
    let failures = 1;
    const store = new HookedStore(new MemoryStore({ cleanupIntervalMs: 0 }));
    const manager = new SessionManager({
      store,
      locker: new MemoryLocker(),
      retry: { baseDelayMs: 0, jitter: 0, maxAttempts: 2 },
    });
    const { id } = await manager.create({ data: { n: 1 } });
    store.hooks.load = () => {
      if (failures-- > 0) throw new StorageUnavailableError('blip', { timeout: true });
    };
    exporter.reset();
    expect(await manager.get(id)).toMatchObject({ version: 1 });
    await manager.update(id, (data) => ({ ...data, n: 2 }));
    await manager.update(id, (data) => ({ ...data, n: 3 }));
    await manager.close();
    const [get, ...updates] = exporter.getFinishedSpans();
    // The get's first load failed: an event with its error; the retried one a number.
    expect(get?.name).toBe('session.get');
    const failed = get?.events.find((e) => e.name === 'session.store.load');
    expect(failed?.attributes).toMatchObject({
      'db.operation.name': 'load',
      'error.type': 'STORAGE_TIMEOUT',
      'session.store.duration_ms': expect.any(Number) as unknown,
    });
    expect(get?.attributes['session.store.load.duration_ms']).toEqual(expect.any(Number));
    expect(updates.map((s) => s.events.filter((e) => e.name.startsWith('session.store.')))).toEqual(
      [[], []],
    );
    expect(updates.map((s) => typeof s.attributes['session.store.save.duration_ms'])).toEqual([
      'number',
      'number',
    ]);
  });
});
