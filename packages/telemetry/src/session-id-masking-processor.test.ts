import { afterAll, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { SessionIdMaskingProcessor } from './session-id-masking-processor.js';

describe('SessionIdMaskingProcessor', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SessionIdMaskingProcessor(), new SimpleSpanProcessor({ exporter })],
  });
  afterAll(() => provider.shutdown());

  it('masks ids in attributes, events, status and name before any exporter sees the span', () => {
    const sid = generateSessionId();
    const masked = `<sid:${hashSessionId(sid)}>`;
    const span = provider.getTracer('t').startSpan(`GET /s/${sid}`, {
      attributes: { 'url.path': `/s/${sid}/cart`, short: 'ok', count: 3 },
    });
    span.addEvent('exception', { 'exception.message': `no key app:s:${sid}` });
    span.setStatus({ code: SpanStatusCode.ERROR, message: `failed for ${sid}` });
    span.end();
    const [exported] = exporter.getFinishedSpans();
    expect(exported?.name).toBe(`GET /s/${masked}`);
    expect(exported?.attributes).toEqual({
      'url.path': `/s/${masked}/cart`,
      short: 'ok',
      count: 3,
    });
    expect(exported?.events[0]?.attributes).toEqual({
      'exception.message': `no key app:s:${masked}`,
    });
    expect(exported?.status.message).toBe(`failed for ${masked}`);
    expect(JSON.stringify(exported?.attributes)).not.toContain(sid);
  });
});
