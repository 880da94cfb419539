import { afterAll, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ManualClock, StorageUnavailableError } from '@session-cluster/core';
import { HealthMonitor } from './health-monitor.js';
import { SwitchableStore } from './switchable-store.test-helpers.js';

describe('HealthMonitor probe spans (real SDK, InMemorySpanExporter)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  afterAll(() => provider.shutdown());

  function setup(): { monitor: HealthMonitor; store: SwitchableStore } {
    exporter.reset();
    const clock = new ManualClock(1_700_000_000_000);
    const store = new SwitchableStore(clock);
    store.stepMs = 3;
    const monitor = new HealthMonitor({
      clock,
      probe: { store },
      telemetry: { tracerProvider: provider },
    });
    return { monitor, store };
  }

  it('a passing probe is one session.health.probe span with latency, outcome and status', async () => {
    const { monitor } = setup();
    await monitor.check();
    const [span, ...rest] = exporter.getFinishedSpans();
    expect(rest).toEqual([]);
    expect(span?.name).toBe('session.health.probe');
    expect(span?.attributes).toEqual({
      'session.outcome': 'ok',
      'session.health.latency_ms': expect.any(Number) as unknown,
      'session.health.status': 'healthy',
    });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a failing probe sets ERROR status and the error code, category and severity', async () => {
    const { monitor, store } = setup();
    store.createError = new StorageUnavailableError('redis down');
    const result = await monitor.check();
    expect(result.ok).toBe(false);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes).toMatchObject({
      'session.outcome': 'error',
      'session.health.status': 'unhealthy',
      'session.error.code': 'STORAGE_UNAVAILABLE',
      'session.error.category': 'storage',
      'session.error.severity': 'high',
    });
    expect(span?.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('telemetry: false probes without spans', async () => {
    exporter.reset();
    const clock = new ManualClock(0);
    const monitor = new HealthMonitor({
      clock,
      probe: { store: new SwitchableStore(clock) },
      telemetry: false,
    });
    await monitor.check();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
