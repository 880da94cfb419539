import { describe, expect, it } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, InstrumentType, MeterProvider } from '@opentelemetry/sdk-metrics';
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import { INSTRUMENTATION_SCOPE } from '@session-cluster/core';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { LATENCY_BUCKETS_S, OperationDurations } from './operation-durations.js';
import { instrumentSessionCluster } from './session-instrumentation.js';
import { CollectingReader } from './collecting-reader.test-helpers.js';

const UPDATE_OK: Attributes = Object.freeze({
  'session.operation': 'update',
  'session.outcome': 'ok',
});
const GET_OK: Attributes = Object.freeze({ 'session.operation': 'get', 'session.outcome': 'ok' });

/**
 * The same records through the SDK's own histogram instrument (as
 * `SessionMetrics` records without durations) and through
 * {@link OperationDurations}, each collected by a cumulative and a delta reader.
 */
function sideBySide() {
  const temporalities = [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA];
  const sdkReaders = temporalities.map(
    (t) => new CollectingReader({ aggregationTemporalitySelector: () => t }),
  );
  const histogram = new MeterProvider({ readers: sdkReaders })
    .getMeter(INSTRUMENTATION_SCOPE)
    .createHistogram('session.operation.duration', {
      description: 'Session operation latency, by operation and outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
    });
  const durations = new OperationDurations();
  const ourReaders = temporalities.map((t) => {
    const reader: MetricReader = new CollectingReader({
      aggregationTemporalitySelector: () => t,
      metricProducers: [
        durations.producer(() => reader.selectAggregationTemporality(InstrumentType.HISTOGRAM)),
      ],
    });
    return reader;
  });
  // A reader collects only once a MeterProvider has bound it; this one records nothing itself.
  new MeterProvider({ readers: ourReaders });
  return {
    record(seconds: number, attributes: Attributes): void {
      histogram.record(seconds, attributes);
      durations.record(seconds, attributes);
    },
    /** Each reader's `session.operation.duration` (descriptor, temporality, scope, points by operation). */
    async collect(kind: 'sdk' | 'ours', index: 0 | 1) {
      const reader = (kind === 'sdk' ? sdkReaders : ourReaders)[index]!;
      const { resourceMetrics } = await reader.collect();
      const found = resourceMetrics.scopeMetrics.flatMap((scope) =>
        scope.metrics
          .filter((metric) => metric.descriptor.name === 'session.operation.duration')
          .map((metric) => ({ scope: scope.scope.name, metric })),
      );
      return found.map(({ scope, metric }) => ({
        scope,
        // What a descriptor is (the SDK's also carries its instrument's type and advice).
        descriptor: {
          name: metric.descriptor.name,
          description: metric.descriptor.description,
          unit: metric.descriptor.unit,
          valueType: metric.descriptor.valueType,
        },
        temporality: metric.aggregationTemporality,
        points: [...metric.dataPoints]
          .map((point) => {
            // The SDK sums a cumulative series interval by interval: the last digits may differ.
            const value = point.value as { count: number; sum: number };
            return {
              attributes: point.attributes,
              value: { ...value, sum: Number(value.sum.toPrecision(12)) },
            };
          })
          .sort((a, b) =>
            String(a.attributes['session.operation']).localeCompare(
              String(b.attributes['session.operation']),
            ),
          ),
      }));
    },
  };
}

describe('OperationDurations', () => {
  it('collects what the SDK histogram collects: buckets (bounds inclusive), count, sum, min, max, cumulative and delta', async () => {
    const both = sideBySide();
    // On a bound, under the first, past the last, zero, and a negative one both drop.
    for (const seconds of [0.0005, 0.0004, 0.003, 5, 7, 0, -1, 0.001]) {
      both.record(seconds, UPDATE_OK);
    }
    both.record(0.02, GET_OK);
    both.record(0.25, GET_OK);

    for (const index of [0, 1] as const) {
      const ours = await both.collect('ours', index);
      expect(ours).toEqual(await both.collect('sdk', index));
      expect(ours).toHaveLength(1);
      expect(ours[0]?.scope).toBe(INSTRUMENTATION_SCOPE);
      expect(ours[0]?.descriptor).toMatchObject({ name: 'session.operation.duration', unit: 's' });
      const update = ours[0]?.points.find(
        (point) => point.attributes['session.operation'] === 'update',
      );
      expect(update?.value).toMatchObject({
        count: 7,
        min: 0,
        max: 7,
        buckets: { counts: [3, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1] },
      });
      expect(ours[0]?.points[0]?.value).toMatchObject({ count: 2, sum: 0.27 });
      expect(ours[0]?.temporality).toBe(
        index === 0 ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA,
      );
    }

    // A second interval: the cumulative reader keeps the totals, the delta one starts over
    // (and leaves out the operation with nothing new, as the SDK does).
    both.record(0.05, GET_OK);
    both.record(0.0001, GET_OK);
    for (const index of [0, 1] as const) {
      expect(await both.collect('ours', index)).toEqual(await both.collect('sdk', index));
    }
    const [cumulative] = await both.collect('ours', 0);
    expect(cumulative?.points.map((point) => (point.value as { count: number }).count)).toEqual([
      4, 7,
    ]);
    both.record(1, GET_OK);
    const [delta] = await both.collect('ours', 1);
    expect(delta?.points).toEqual([
      {
        attributes: GET_OK,
        value: expect.objectContaining({ count: 1, sum: 1, min: 1, max: 1 }) as unknown,
      },
    ]);
  });

  it('one series per attribute content, whatever objects carry it; past 2 000 series, the overflow one', async () => {
    const durations = new OperationDurations();
    const reader: MetricReader = new CollectingReader({
      metricProducers: [
        durations.producer(() => reader.selectAggregationTemporality(InstrumentType.HISTOGRAM)),
      ],
    });
    new MeterProvider({ readers: [reader] });
    durations.record(0.01, { 'session.operation': 'get', 'session.outcome': 'ok' });
    durations.record(0.02, { 'session.outcome': 'ok', 'session.operation': 'get' });
    for (let i = 0; i < 2_100; i += 1) durations.record(0.001, { 'session.operation': `op${i}` });
    const { resourceMetrics } = await reader.collect();
    const [metric] = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    const points = metric?.dataPoints ?? [];
    expect(points).toHaveLength(2_000);
    const count = (attributes: Attributes) =>
      (
        points.find((point) => JSON.stringify(point.attributes) === JSON.stringify(attributes))
          ?.value as { count: number } | undefined
      )?.count;
    expect(count({ 'session.operation': 'get', 'session.outcome': 'ok' })).toBe(2);
    // 1 998 sets of their own, the last 102 in the overflow series.
    expect(count({ 'session.operation': 'op1997' })).toBe(1);
    expect(count({ 'session.operation': 'op1998' })).toBeUndefined();
    expect(count({ 'otel.metric.overflow': true })).toBe(102);
  });

  it('a reader with nothing recorded gets no metric from it', async () => {
    const both = sideBySide();
    expect(await both.collect('ours', 0)).toEqual([]);
    expect(await both.collect('ours', 1)).toEqual([]);
  });
});

describe('instrumentSessionCluster with operationDurations (an SDK of your own)', () => {
  it('times operations through the reader’s producer, and the meter makes no histogram of its own', async () => {
    const durations = new OperationDurations();
    const reader: MetricReader = new CollectingReader({
      metricProducers: [
        durations.producer(() => reader.selectAggregationTemporality(InstrumentType.HISTOGRAM)),
      ],
    });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const instrumentation = instrumentSessionCluster({
      meterProvider,
      operationDurations: durations,
    });
    try {
      const manager = new SessionManager({ store: new MemoryStore(), locker: new MemoryLocker() });
      const { id } = await manager.create({ data: {} });
      await manager.update(id, (data) => ({ ...data, n: 1 }));
      await manager.close();
      const { resourceMetrics } = await reader.collect();
      const histograms = resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name === 'session.operation.duration');
      expect(histograms).toHaveLength(1);
      const counts: Record<string, number> = Object.fromEntries(
        histograms[0]!.dataPoints.map((point) => [
          String(point.attributes['session.operation']),
          (point.value as { count: number }).count,
        ]),
      );
      expect(counts).toEqual({ create: 1, update: 1 });
    } finally {
      instrumentation.close();
      await meterProvider.shutdown();
    }
  });
});
