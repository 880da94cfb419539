import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, TraceFlags, context, trace } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { ManualClock } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { AsyncLocalContextManager } from '@session-cluster/testkit';
import { PooledIdGenerator } from './pooled-id-generator.js';
import { SessionSampler } from './session-sampler.js';
import type { SessionSampling } from './session-sampler.js';
import { instrumentSessionCluster } from './session-instrumentation.js';

/** The SDK's own sampler for `sampling`: what a SessionSampler must agree with. */
function reference({ ratio, parentBased }: SessionSampling): Sampler {
  const root =
    ratio >= 1
      ? new AlwaysOnSampler()
      : ratio <= 0
        ? new AlwaysOffSampler()
        : new TraceIdRatioBasedSampler(ratio);
  return parentBased ? new ParentBasedSampler({ root }) : root;
}

/** A parent span context: none, or valid with random ids, local or remote, sampled or not. */
function parentContext(ids: PooledIdGenerator, kind: number): Context {
  if (kind === 0) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: ids.generateTraceId(),
    spanId: ids.generateSpanId(),
    traceFlags: kind % 2 === 1 ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: kind > 2,
  });
}

const SAMPLINGS: readonly SessionSampling[] = [0, 0.1, 0.5, 1].flatMap((ratio) => [
  { ratio, parentBased: true },
  { ratio, parentBased: false },
]);

describe('SessionSampler', () => {
  it.each(SAMPLINGS)(
    'knows before the span what the SDK sampler decides on the id it then gets: %o',
    (sampling) => {
      const ids = new PooledIdGenerator();
      const sampler = new SessionSampler(sampling, ids);
      const standard = reference(sampling);
      let roots = 0;
      let sampledRoots = 0;
      for (let i = 0; i < 4_000; i += 1) {
        const parent = parentContext(ids, i % 5);
        const predicted = sampler.willSample(parent);
        // What Tracer.startSpan does next: the parent's trace id, or a new one.
        const traceId = trace.getSpanContext(parent)?.traceId ?? ids.generateTraceId();
        const decide = (by: Sampler): SamplingDecision =>
          by.shouldSample(parent, traceId, 'session.update', SpanKind.INTERNAL, {}, []).decision;
        const decided = decide(sampler);
        expect(decided).toBe(decide(standard));
        expect(predicted).toBe(decided === SamplingDecision.RECORD_AND_SAMPLED);
        if (i % 5 === 0) {
          roots += 1;
          if (predicted) sampledRoots += 1;
        }
      }
      // New traces are sampled at the ratio (800 of them: ±0.07 is > 4 σ at 0.5).
      expect(Math.abs(sampledRoots / roots - sampling.ratio)).toBeLessThan(0.07);
    },
  );

  it('a dropped new trace leaves no id waiting: the next draw decides on a fresh id', () => {
    const ids = new PooledIdGenerator();
    const sampler = new SessionSampler({ ratio: 0.5, parentBased: true }, ids);
    const decisions = new Set<boolean>();
    for (let i = 0; i < 64; i += 1) decisions.add(sampler.willSample(ROOT_CONTEXT));
    expect(decisions).toEqual(new Set([true, false]));
  });

  it('clamps its ratio to [0, 1] and names the SDK sampler it is', () => {
    const ids = new PooledIdGenerator();
    expect(new SessionSampler({ ratio: 2, parentBased: true }, ids).ratio).toBe(1);
    expect(new SessionSampler({ ratio: -1, parentBased: true }, ids).ratio).toBe(0);
    expect(new SessionSampler({ ratio: Number.NaN, parentBased: false }, ids).ratio).toBe(0);
    expect(String(new SessionSampler({ ratio: 0.25, parentBased: true }, ids))).toBe(
      'SessionSampler{ParentBased{root=TraceIdRatioBased{0.25}, remoteParentSampled=AlwaysOnSampler, ' +
        'remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}}',
    );
  });
});

describe('SessionSampler given to instrumentSessionCluster (real SDK, SessionManager)', () => {
  const clock = new ManualClock();

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(() => {
    context.disable();
  });

  /** A provider over `sampler`'s id generator, counting the span ids the SDK asks it for. */
  function setUp(sampling: SessionSampling) {
    const ids = new PooledIdGenerator();
    let spanIds = 0;
    const counting = {
      generateTraceId: () => ids.generateTraceId(),
      generateSpanId: () => {
        spanIds += 1;
        return ids.generateSpanId();
      },
    };
    const sampler = new SessionSampler(sampling, ids);
    // Its own: shutting a provider down stops its exporter.
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({
      idGenerator: counting,
      sampler,
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const instrumentation = instrumentSessionCluster({ tracerProvider: provider, sampler });
    const manager = new SessionManager({
      store: new MemoryStore({ clock, cleanupIntervalMs: 0 }),
      locker: new MemoryLocker(),
      clock,
    });
    return {
      manager,
      provider,
      exporter,
      spanIds: () => spanIds,
      close: async () => {
        instrumentation.close();
        await manager.close();
        await provider.shutdown();
      },
    };
  }

  it('an operation the sampler drops asks the SDK for nothing (no span id drawn), and still updates', async () => {
    const { manager, exporter, spanIds, close } = setUp({ ratio: 0, parentBased: true });
    try {
      const { id } = await manager.create({ data: { n: 0 } });
      for (let i = 0; i < 5; i += 1) {
        await manager.update(id, (data) => ({ ...data, n: Number(data['n']) + 1 }));
      }
      expect(spanIds()).toBe(0);
      expect(exporter.getFinishedSpans()).toEqual([]);
      expect((await manager.get(id))?.data).toEqual({ n: 5 });
    } finally {
      await close();
    }
  });

  it('at a ratio, the operations it samples are exactly the spans the SDK records', async () => {
    const { manager, exporter, spanIds, close } = setUp({ ratio: 0.5, parentBased: true });
    try {
      const { id } = await manager.create({ data: { n: 0 } });
      const before = exporter.getFinishedSpans().length;
      expect(spanIds()).toBe(before);
      for (let i = 0; i < 200; i += 1) {
        await manager.update(id, (data) => ({ ...data, n: Number(data['n']) + 1 }));
      }
      const updates = exporter.getFinishedSpans().slice(before);
      expect(updates.every((span) => span.name === 'session.update')).toBe(true);
      // Each recorded span is one the prediction let through; none was started and dropped.
      expect(spanIds() - before).toBe(updates.length);
      expect(updates.length).toBeGreaterThan(60);
      expect(updates.length).toBeLessThan(140);
    } finally {
      await close();
    }
  });

  it('under an unsampled parent nothing is asked; under a sampled one the operation is its child', async () => {
    const { manager, provider, exporter, spanIds, close } = setUp({
      ratio: 1,
      parentBased: true,
    });
    try {
      const { id } = await manager.create({ data: {} });
      exporter.reset();
      const unsampledParent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: 'a'.repeat(32),
        spanId: 'b'.repeat(16),
        traceFlags: TraceFlags.NONE,
        isRemote: true,
      });
      const asked = spanIds();
      await context.with(unsampledParent, () => manager.update(id, (data) => data));
      expect(spanIds()).toBe(asked);
      expect(exporter.getFinishedSpans()).toEqual([]);

      const tracer = provider.getTracer('test');
      await tracer.startActiveSpan('request', async (request) => {
        await manager.update(id, (data) => data);
        request.end();
      });
      const spans = exporter.getFinishedSpans();
      const request = spans.find((span) => span.name === 'request');
      const update = spans.find((span) => span.name === 'session.update');
      expect(update?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    } finally {
      await close();
    }
  });
});
