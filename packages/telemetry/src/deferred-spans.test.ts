import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { HrTime } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ManualClock } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { AsyncLocalContextManager } from '@session-cluster/testkit';
import { DeferredSpan, DeferredSpans } from './deferred-spans.js';
import { PooledIdGenerator } from './pooled-id-generator.js';
import { instrumentSessionCluster } from './session-instrumentation.js';
import { SessionSampler } from './session-sampler.js';

/** A provider over a {@link SessionSampler} at `ratio`, exporting to memory. */
function setUp(ratio: number) {
  const ids = new PooledIdGenerator();
  const sampler = new SessionSampler({ ratio, parentBased: true }, ids);
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    idGenerator: ids,
    sampler,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('test');
  return { ids, sampler, exporter, provider, tracer, batch: new DeferredSpans(tracer, ids) };
}

/** Nanoseconds from `from` to `to`. */
function nanosBetween(from: HrTime, to: HrTime): number {
  return (to[0] - from[0]) * 1e9 + (to[1] - from[1]);
}

/**
 * What a span exports, ids and parent left out, its times from its start:
 * the SDK turns a `performance.now()` time into wall-clock time with an
 * offset it reads from `Date.now()` (1 ms steps) when the span is made,
 * so two spans given the same times can differ by up to 1 ms on the wall.
 */
function exported(span: ReadableSpan) {
  return {
    name: span.name,
    kind: span.kind,
    attributes: span.attributes,
    events: span.events.map(({ time, ...event }) => ({
      ...event,
      atNs: nanosBetween(span.startTime, time),
    })),
    status: span.status,
    durationNs: nanosBetween(span.startTime, span.endTime),
  };
}

describe('DeferredSpan: a sampled span recorded as data and built on the SDK afterwards', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(() => {
    context.disable();
  });

  it('exports what the SDK span given the same calls exports: attributes, events and the exception in order, status, times', () => {
    const { tracer, batch, exporter } = setUp(1);
    const start = performance.now() - 5;
    const calls = (span: {
      setAttribute(key: string, value: string | number | boolean): unknown;
      setAttributes(attributes: Record<string, number>): unknown;
      addEvent(name: string, attributes?: Record<string, number>, time?: number): unknown;
      recordException(exception: { name: string; message: string }, time?: number): void;
      setStatus(status: { code: SpanStatusCode; message: string }): unknown;
      end(time?: number): void;
    }) => {
      span.setAttribute('session.operation', 'update');
      span.addEvent('session.lock.acquire', { 'session.lock.wait_ms': 1.5 }, start + 1);
      span.recordException({ name: 'StorageUnavailableError', message: 'down' }, start + 2);
      span.addEvent('session.retry', { 'session.retry.attempt': 1 }, start + 3);
      span.setAttributes({ 'session.attempts': 2 });
      span.setAttribute('session.degraded', true);
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'STORAGE_UNAVAILABLE: down' });
      span.end(start + 4);
    };
    calls(tracer.startSpan('session.update', { kind: SpanKind.INTERNAL, startTime: start }));
    const deferred = new DeferredSpan('session.update', ROOT_CONTEXT, start, undefined, batch);
    calls(deferred);
    expect(deferred.isRecording()).toBe(false);
    const [eager] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);

    batch.flush();
    const [, built] = exporter.getFinishedSpans();
    expect(built).toBeDefined();
    expect(exported(built!)).toEqual(exported(eager!));
    expect(built!.events.map((event) => event.name)).toEqual([
      'session.lock.acquire',
      'exception',
      'session.retry',
    ]);
  });

  it('is built at the end of the turn it ended in, without a flush, and only once', async () => {
    const { batch, exporter } = setUp(1);
    const span = new DeferredSpan('session.get', ROOT_CONTEXT, performance.now(), undefined, batch);
    span.end();
    span.end();
    expect(exporter.getFinishedSpans()).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['session.get']);
    batch.flush();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  it('its span context, asked while it runs (a reconciliation link), is the one it is exported with, under its parent', () => {
    const { tracer, batch, exporter } = setUp(1);
    const request = tracer.startSpan('request');
    const parent = trace.setSpan(ROOT_CONTEXT, request);
    const span = new DeferredSpan('session.update', parent, performance.now(), undefined, batch);
    const asked = span.spanContext();
    expect(span.spanContext()).toBe(asked);
    tracer.startSpan('session.reconcile', { root: true, links: [{ context: asked }] }).end();
    span.end();
    request.end();
    batch.flush();
    const spans = exporter.getFinishedSpans();
    const update = spans.find((s) => s.name === 'session.update')!;
    const reconcile = spans.find((s) => s.name === 'session.reconcile')!;
    expect(update.spanContext().spanId).toBe(asked.spanId);
    expect(update.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(asked.traceId).toBe(request.spanContext().traceId);
    expect(update.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(reconcile.links[0]?.context).toMatchObject({
      traceId: update.spanContext().traceId,
      spanId: update.spanContext().spanId,
    });
  });

  it('a new trace keeps the trace id its sampler decided on; the ids it hands the SDK go to no other span', () => {
    const { tracer, sampler, batch, exporter } = setUp(0.25);
    const ratio = new TraceIdRatioBasedSampler(0.25);
    const made: DeferredSpan[] = [];
    while (made.length < 20) {
      if (!sampler.willSample(ROOT_CONTEXT)) continue;
      const span = new DeferredSpan(
        'session.update',
        ROOT_CONTEXT,
        performance.now(),
        sampler.takeTraceId(ROOT_CONTEXT),
        batch,
      );
      if (made.length % 2 === 0) span.spanContext();
      span.end();
      made.push(span);
    }
    batch.flush();
    // Recording or not (the ratio decides), its ids are the generator's next.
    const after = tracer.startSpan('next', { root: true });
    after.end();
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'session.update');
    expect(spans).toHaveLength(20);
    for (const [i, span] of made.entries()) {
      const built = spans[i]!;
      expect(built.name).toBe('session.update');
      // What the SDK's own ratio sampler says of the exported id: sampled.
      expect(ratio.shouldSample(ROOT_CONTEXT, built.spanContext().traceId).decision).toBe(
        SamplingDecision.RECORD_AND_SAMPLED,
      );
      if (i % 2 === 0) expect(built.spanContext()).toMatchObject(span.spanContext());
    }
    const contexts = [...spans.map((s) => s.spanContext()), after.spanContext()];
    const traceIds = new Set(contexts.map((c) => c.traceId));
    const spanIds = new Set(contexts.map((c) => c.spanId));
    expect(traceIds.size).toBe(21);
    expect(spanIds.size).toBe(21);
  });

  it('under a context that suppresses tracing nothing is built, and its ids are not left for the next span', () => {
    const { tracer, batch, exporter } = setUp(1);
    const span = new DeferredSpan(
      'session.update',
      suppressTracing(ROOT_CONTEXT),
      performance.now(),
      'ab'.repeat(16),
      batch,
    );
    const asked = span.spanContext();
    span.end();
    batch.flush();
    const next = tracer.startSpan('next', { root: true });
    next.end();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['next']);
    expect(next.spanContext().traceId).not.toBe('ab'.repeat(16));
    expect(next.spanContext().spanId).not.toBe(asked.spanId);
  });

  it('through the session instrumentation: an operation is built once its turn ends, and close builds what is left', async () => {
    const { sampler, exporter, provider } = setUp(1);
    const instrumentation = instrumentSessionCluster({ tracerProvider: provider, sampler });
    const clock = new ManualClock();
    const manager = new SessionManager({
      store: new MemoryStore({ clock, cleanupIntervalMs: 0 }),
      locker: new MemoryLocker(),
      clock,
    });
    try {
      const { id } = await manager.create({ data: { n: 0 } });
      // Still the create's turn (promises only): recorded, not built yet.
      expect(exporter.getFinishedSpans()).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['session.create']);
      await manager.update(id, (data) => ({ ...data, n: 1 }));
      instrumentation.close();
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([
        'session.create',
        'session.update',
      ]);
    } finally {
      instrumentation.close();
      await manager.close();
      await provider.shutdown();
    }
  });
});
