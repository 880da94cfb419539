import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { SESSION_CHANNELS, generateSessionId } from '@session-cluster/core';
import type { CachedReadMessage, SessionRecord } from '@session-cluster/core';
import { AsyncLocalContextManager } from '@session-cluster/testkit';
import { CollectingReader } from './collecting-reader.test-helpers.js';
import { RecordingSpans } from './recording-spans.js';
import { instrumentSessionCluster } from './session-instrumentation.js';

describe('RecordingSpans', () => {
  it('counts the recording spans open in its provider, and only those', async () => {
    const recording = new RecordingSpans();
    const provider = new TracerProvider({ spanProcessors: [recording] });
    const tracer = provider.getTracer('test');
    const a = tracer.startSpan('a');
    const b = tracer.startSpan('b');
    expect(recording.open).toBe(2);
    a.end();
    a.end();
    expect(recording.open).toBe(1);
    b.end();
    expect(recording.open).toBe(0);

    const unsampledCount = new RecordingSpans();
    const unsampled = new TracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [unsampledCount],
    });
    const dropped = unsampled.getTracer('test').startSpan('dropped');
    expect(unsampledCount.open).toBe(0);
    dropped.end();
    expect(unsampledCount.open).toBe(0);
    await Promise.all([provider.shutdown(), unsampled.shutdown()]);
  });
});

describe('a cached read with RecordingSpans given (real SDK, the real channels)', () => {
  const exporter = new InMemorySpanExporter();
  const recordingSpans = new RecordingSpans();
  const provider = new TracerProvider({
    spanProcessors: [recordingSpans, new SimpleSpanProcessor({ exporter })],
  });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const record = { id: generateSessionId(), version: 3, data: {} } as unknown as SessionRecord;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(async () => {
    context.disable();
    await Promise.all([provider.shutdown(), meterProvider.shutdown()]);
  });

  function read(): void {
    const now = performance.now();
    const message: CachedReadMessage = {
      operation: 'get',
      sessionId: record.id,
      result: record,
      startedAt: now,
      endedAt: now,
    };
    SESSION_CHANNELS.cachedRead.publish(message);
  }

  it('outside any span: counted, no span; inside a recording one: its session.get child', async () => {
    const instrumentation = instrumentSessionCluster({
      tracerProvider: provider,
      meterProvider,
      recordingSpans,
    });
    try {
      read();
      expect(recordingSpans.open).toBe(0);
      expect(exporter.getFinishedSpans()).toEqual([]);

      const tracer = provider.getTracer('test');
      tracer.startActiveSpan('request', (request) => {
        expect(recordingSpans.open).toBe(1);
        read();
        request.end();
      });
      const spans = exporter.getFinishedSpans();
      const get = spans.find((span) => span.name === 'session.get');
      const request = spans.find((span) => span.name === 'request');
      expect(get?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
      expect(get?.attributes['session.cache.hit']).toBe(true);

      const { resourceMetrics } = await reader.collect();
      const operations = resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .find((metric) => metric.descriptor.name === 'session.operations');
      const gets = operations?.dataPoints.find(
        (point) =>
          point.attributes['session.operation'] === 'get' &&
          point.attributes['session.outcome'] === 'ok',
      );
      // Both reads counted: the one outside any span too.
      expect(gets?.value).toBe(2);
    } finally {
      instrumentation.close();
    }
  });
});
