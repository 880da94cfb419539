import { afterEach, describe, expect, it } from 'vitest';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { SessionManager } from '@session-cluster/manager';
import { configErrorField, findFreePort, startOtlpReceiver } from '@session-cluster/testkit';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { resolveTelemetryOptions } from './telemetry-options.js';
import { startTelemetry } from './start-telemetry.js';
import type { Telemetry } from './start-telemetry.js';
import type { TelemetryOptions } from './telemetry-options.js';

describe('resolveTelemetryOptions', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('applies defaults and the standard environment variables', () => {
    delete process.env['OTEL_METRICS_EXPORTER'];
    delete process.env['OTEL_TRACES_EXPORTER'];
    delete process.env['OTEL_EXPORTER_OTLP_PROTOCOL'];
    delete process.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'];
    expect(resolveTelemetryOptions({ serviceName: 'a' })).toMatchObject({
      traces: true,
      otlpMetrics: false,
      prometheus: undefined,
      metricIntervalMs: 60_000,
      instrumentations: { http: true, express: true, ioredis: false },
      childSpans: false,
      cachedReadSpans: 'in-trace',
      otlpProtocol: 'http/protobuf',
      batch: { maxExportBatchSize: 512, maxQueueSize: 4096, scheduledDelayMillis: 1_000 },
    });
    process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
    expect(resolveTelemetryOptions({ serviceName: 'a' }).otlpProtocol).toBe('http/json');
    process.env['OTEL_METRICS_EXPORTER'] = 'otlp, prometheus';
    process.env['OTEL_TRACES_EXPORTER'] = 'none';
    process.env['OTEL_EXPORTER_PROMETHEUS_PORT'] = '9999';
    process.env['OTEL_METRIC_EXPORT_INTERVAL'] = '5000';
    expect(resolveTelemetryOptions({ serviceName: 'a' })).toMatchObject({
      traces: false,
      otlpMetrics: true,
      metricIntervalMs: 5_000,
      prometheus: { port: 9999, endpoint: '/metrics' },
    });
  });

  it.each([
    [undefined, undefined, { ratio: 1, parentBased: true }],
    ['always_on', undefined, { ratio: 1, parentBased: false }],
    ['always_off', undefined, { ratio: 0, parentBased: false }],
    ['parentbased_always_off', undefined, { ratio: 0, parentBased: true }],
    ['traceidratio', '0.25', { ratio: 0.25, parentBased: false }],
    ['parentbased_traceidratio', ' 0.1 ', { ratio: 0.1, parentBased: true }],
    // Blank: the SDK's default ratio, 1.
    ['parentbased_traceidratio', '', { ratio: 1, parentBased: true }],
    // Not built here: the SDK reads (and reports) these itself.
    ['parentbased_traceidratio', '1.5', undefined],
    ['traceidratio', 'half', undefined],
    ['jaeger_remote', undefined, undefined],
    ['bogus', undefined, undefined],
  ])('samples as OTEL_TRACES_SAMPLER=%s (ARG %s) says: %o', (name, argument, sampling) => {
    delete process.env['OTEL_TRACES_SAMPLER'];
    delete process.env['OTEL_TRACES_SAMPLER_ARG'];
    if (name !== undefined) process.env['OTEL_TRACES_SAMPLER'] = name;
    if (argument !== undefined) process.env['OTEL_TRACES_SAMPLER_ARG'] = argument;
    expect(resolveTelemetryOptions({ serviceName: 'a' }).sampling).toEqual(sampling);
  });

  it('sampleRatio samples new traces, parent-based, over the environment; a sampler of your own is not rebuilt', () => {
    process.env['OTEL_TRACES_SAMPLER'] = 'always_off';
    expect(resolveTelemetryOptions({ serviceName: 'a', sampleRatio: 0.1 }).sampling).toEqual({
      ratio: 0.1,
      parentBased: true,
    });
    const sampler = new AlwaysOnSampler();
    const resolved = resolveTelemetryOptions({ serviceName: 'a', sampler, sampleRatio: 0.1 });
    expect(resolved.sampling).toBeUndefined();
    expect(resolved.sampler).toBe(sampler);
  });

  it.each([
    ['serviceName', { serviceName: '' }],
    ['otlpEndpoint', { serviceName: 'a', otlpEndpoint: 'ftp://x' }],
    ['traces', { serviceName: 'a', traces: 'yes' }],
    ['prometheus.port', { serviceName: 'a', prometheus: { port: 70_000 } }],
    ['prometheus.endpoint', { serviceName: 'a', prometheus: { endpoint: 'metrics' } }],
    ['instrumentations.http', { serviceName: 'a', instrumentations: { http: 1 } }],
    ['sampleRatio', { serviceName: 'a', sampleRatio: 0 }],
    ['otlpProtocol', { serviceName: 'a', otlpProtocol: 'grpc' }],
    [
      'batch.maxExportBatchSize',
      { serviceName: 'a', batch: { maxQueueSize: 8, maxExportBatchSize: 9 } },
    ],
    ['childSpans', { serviceName: 'a', childSpans: 1 }],
    ['cachedReadSpans', { serviceName: 'a', cachedReadSpans: 'never' }],
  ])('refuses a bad %s', (field, options) => {
    expect(() => resolveTelemetryOptions(options as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', field }) as Error,
    );
  });
});

describe('startTelemetry options', () => {
  it('refuses a bad option at the call, before starting anything', () => {
    expect(configErrorField(() => startTelemetry({ serviceName: 'a', sampleRatio: 2 }))).toBe(
      'sampleRatio',
    );
    const misspelt = { serviceName: 'a', sampleratio: 0.5 } as TelemetryOptions;
    expect(configErrorField(() => startTelemetry(misspelt))).toBe('sampleratio');
  });
});

describe('startTelemetry with a Prometheus endpoint', () => {
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
  });

  it('serves the session metrics for scraping, and shutdown() is idempotent', async () => {
    const port = await findFreePort();
    telemetry = startTelemetry({
      serviceName: 'scraped',
      traces: false,
      prometheus: { port, host: '127.0.0.1' },
      instrumentations: { http: false, express: false, ioredis: false },
    });
    await telemetry.ready;
    expect(telemetry.prometheusUrl).toBe(`http://127.0.0.1:${port}/metrics`);
    const manager = new SessionManager({ store: new MemoryStore(), locker: new MemoryLocker() });
    const { id } = await manager.create({ data: {} });
    await manager.update(id, (data) => data, { lock: 'always' });
    await manager.close();
    const text = await (await fetch(telemetry.prometheusUrl!)).text();
    expect(text).toMatch(/session_operations_total\{[^}]*session_operation="create"[^}]*\} 1/);
    expect(text).toContain('session_lock_wait_duration_bucket');
    // The operation durations come from startTelemetry's own aggregation, through the reader.
    expect(text).toMatch(
      /session_operation_duration_count\{[^}]*session_operation="update"[^}]*\} 1\n/,
    );
    expect(text).toMatch(
      /session_operation_duration_bucket\{[^}]*session_operation="create"[^}]*le="\+Inf"\} 1\n/,
    );
    expect(text.match(/# TYPE session_operation_duration histogram/g)).toHaveLength(1);
    expect(text).toContain('service_name="scraped"');
    expect(text).not.toContain(id);
    await telemetry.shutdown();
    await telemetry.shutdown();
    telemetry = undefined;
  });
});

/** OTLP/JSON histogram data points of `name` in a metrics export body. */
function histogramPoints(body: unknown, name: string) {
  interface Point {
    attributes: { key: string; value: { stringValue?: string } }[];
    count: number | string;
    bucketCounts: (number | string)[];
  }
  const { resourceMetrics = [] } = body as {
    resourceMetrics?: {
      scopeMetrics: { metrics: { name: string; histogram?: { dataPoints: Point[] } }[] }[];
    }[];
  };
  return resourceMetrics
    .flatMap((resource) => resource.scopeMetrics)
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.name === name)
    .flatMap((metric) => metric.histogram?.dataPoints ?? [])
    .map((point) => ({
      operation: point.attributes.find((a) => a.key === 'session.operation')?.value.stringValue,
      count: Number(point.count),
      buckets: point.bucketCounts.reduce<number>((sum, n) => sum + Number(n), 0),
    }));
}

describe('startTelemetry pushing metrics over OTLP', () => {
  it('exports the operation durations it aggregates itself, once per operation', async () => {
    const receiver = await startOtlpReceiver();
    const telemetry = startTelemetry({
      serviceName: 'pushed',
      traces: false,
      otlpEndpoint: receiver.url,
      otlpMetrics: true,
      instrumentations: { http: false, express: false, ioredis: false },
    });
    try {
      const manager = new SessionManager({ store: new MemoryStore(), locker: new MemoryLocker() });
      const { id } = await manager.create({ data: {} });
      await manager.update(id, (data) => data);
      await manager.update(id, (data) => data);
      await manager.close();
      await telemetry.flush();
      const exports = receiver.requests.filter((request) => request.path === '/v1/metrics');
      expect(exports.length).toBeGreaterThanOrEqual(1);
      const points = histogramPoints(exports.at(-1)?.body, 'session.operation.duration');
      expect(points.find((point) => point.operation === 'update')).toEqual({
        operation: 'update',
        count: 2,
        buckets: 2,
      });
      expect(points.find((point) => point.operation === 'create')?.count).toBe(1);
      // One series per operation: not also the SDK's own histogram instrument.
      expect(points.filter((point) => point.operation === 'update')).toHaveLength(1);
    } finally {
      await telemetry.shutdown();
      await receiver.close();
    }
  });
});
