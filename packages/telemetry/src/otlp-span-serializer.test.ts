import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Attributes, Tracer } from '@opentelemetry/api';
import { ExportResultCode, TraceState } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { OtlpProtobufSpanExporter, OtlpSpanSerializer } from './otlp-span-serializer.js';

/** Every shape of attribute value OTLP's AnyValue carries, and edge cases of each. */
const EDGE_ATTRIBUTES: Attributes = {
  'ascii.short': 'primary',
  'ascii.empty': '',
  'ascii.127': 'x'.repeat(127),
  'ascii.128': 'y'.repeat(128),
  'ascii.long': 'z'.repeat(20_000),
  'utf8.short': 'grüße ✓ 😀',
  'utf8.long': 'é'.repeat(300),
  'bool.true': true,
  'bool.false': false,
  'int.zero': 0,
  'int.small': 127,
  'int.two-bytes': 128,
  'int.u32': 4_294_967_295,
  'int.above-u32': 4_294_967_296,
  'int.max-safe': Number.MAX_SAFE_INTEGER,
  'int.negative': -1,
  'int.negative-large': -(2 ** 40) - 3,
  'int.huge': 2 ** 62,
  'double.fraction': 0.456,
  'double.negative': -12.5,
  'double.above-int64': 2 ** 64,
  'double.nan': Number.NaN,
  'double.infinity': Number.POSITIVE_INFINITY,
  'array.strings': ['a', 'ü', ''],
  'array.numbers': [1, 2.5, -3],
  'array.bools': [true, false],
  'array.empty': [],
  'array.with-null': ['a', null, 'b'],
  'ünïcode.key': 'value',
  // An AnyValue map (the SDK takes plain objects since 3.x): a KeyValueList, nested.
  'map.nested': { a: 'x', b: [1, { c: true }], d: {}, ü: 2.5 },
};

function provider(resource = resourceFromAttributes({ 'service.name': 'serializer-test' })): {
  tracer: (name: string, version?: string, schemaUrl?: string) => Tracer;
  spans: () => ReadableSpan[];
} {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    spanLimits: { attributeValueLengthLimit: 100_000, attributeCountLimit: 1_000 },
  });
  return {
    tracer: (name, version, schemaUrl) =>
      tracerProvider.getTracer(name, version, schemaUrl === undefined ? {} : { schemaUrl }),
    spans: () => exporter.getFinishedSpans(),
  };
}

function expectSameBytes(spans: ReadableSpan[]): void {
  const ours = new OtlpSpanSerializer().serializeRequest(spans);
  const reference = ProtobufTraceSerializer.serializeRequest(spans);
  expect(reference).toBeDefined();
  // Buffer.compare reports the first difference far faster than a deep equal of 100 kB.
  expect(Buffer.from(ours).equals(Buffer.from(reference!))).toBe(true);
  expect(ours.length).toBe(reference!.length);
}

describe('OtlpSpanSerializer', () => {
  it('writes the bytes the reference serializer writes for a session operation span', () => {
    const { tracer, spans } = provider();
    const span = tracer('@session-cluster/core', '0.3.0').startSpan('session.update');
    span.setAttributes({
      'session.operation': 'update',
      'session.id_hash': 'a1b2c3d4e5f60718',
      'session.outcome': 'ok',
      'session.fallback.route': 'primary',
      'session.degraded': false,
      'session.store.load.duration_ms': 0.123,
      'session.attempts': 1,
    });
    span.end();
    expectSameBytes(spans());
  });

  it('writes every attribute shape, events, links, status, trace state and remote parents as the reference does', () => {
    const { tracer, spans } = provider();
    const scoped = tracer('edge-scope', '1.2.3', 'https://opentelemetry.io/schemas/1.30.0');
    const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      traceState: new TraceState('vendor=value,other=x'),
    });
    for (const kind of [
      SpanKind.INTERNAL,
      SpanKind.SERVER,
      SpanKind.CLIENT,
      SpanKind.PRODUCER,
      SpanKind.CONSUMER,
    ]) {
      const span = scoped.startSpan(
        `edge ${kind} ✓`,
        {
          kind,
          attributes: EDGE_ATTRIBUTES,
          links: [
            {
              context: {
                traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
                spanId: '00f067aa0ba902b7',
                traceFlags: TraceFlags.NONE,
                isRemote: true,
                traceState: new TraceState('k=v'),
              },
              attributes: { 'link.reason': 'reconciled', 'link.count': 3 },
            },
            {
              context: {
                traceId: '4BF92F3577B34DA6A3CE929D0E0E4736',
                spanId: '00F067AA0BA902B7',
                traceFlags: TraceFlags.SAMPLED,
              },
            },
          ],
          startTime: [1_765_000_000, 123_456_789],
        },
        kind === SpanKind.INTERNAL ? ROOT_CONTEXT : remoteParent,
      );
      span.addEvent('no attributes', [1_765_000_000, 999_999_999]);
      span.addEvent('with attributes', { 'event.key': 'ü', 'event.n': 2 ** 33 });
      span.recordException(new Error('boom: sid=abc'));
      span.setStatus(
        kind === SpanKind.SERVER
          ? { code: SpanStatusCode.ERROR, message: 'failed ✗ '.repeat(20) }
          : { code: kind === SpanKind.CLIENT ? SpanStatusCode.OK : SpanStatusCode.UNSET },
      );
      span.end([4_294_967_296, 1]);
    }
    // The SDK kept every shape (a map is a KeyValueList on the wire), so the bytes compared cover them.
    expect(spans()[0]?.attributes).toEqual(EDGE_ATTRIBUTES);
    expectSameBytes(spans());
  });

  it('groups spans by resource and scope in first-seen order, with schema urls, as the reference does', () => {
    const first = provider(resourceFromAttributes({ 'service.name': 'a', 'host.id': 7 }));
    const second = provider(resourceFromAttributes({ 'service.name': 'b', ünï: true }));
    const tracers = [
      first.tracer('scope-1'),
      second.tracer('scope-1', '0.1.0', 'https://example.com/schema'),
      first.tracer('scope-2', '2.0.0'),
      first.tracer('scope-1'),
    ];
    for (let i = 0; i < 40; i++) tracers[i % tracers.length]!.startSpan(`span-${i}`).end();
    const interleaved: ReadableSpan[] = [];
    const a = first.spans();
    const b = second.spans();
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i]) interleaved.push(a[i]!);
      if (b[i]) interleaved.push(b[i]!);
    }
    expectSameBytes(interleaved);
  });

  it('grows past its first buffer and sizes the next request from the last', () => {
    const { tracer, spans } = provider();
    const big = tracer('big');
    // ~20 kB per span against a first guess of 512 bytes: the buffer grows mid-request.
    for (let i = 0; i < 8; i++)
      big.startSpan('big', { attributes: { blob: 'b'.repeat(20_000) } }).end();
    const serializer = new OtlpSpanSerializer();
    const once = serializer.serializeRequest(spans());
    const again = serializer.serializeRequest(spans());
    expect(
      Buffer.from(once).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans())!)),
    ).toBe(true);
    expect(Buffer.from(again).equals(Buffer.from(once))).toBe(true);
    // Each request is its own array: an export in flight is not overwritten by the next.
    expect(again.buffer).not.toBe(once.buffer);
  });

  it('serializes an empty request as the reference does', () => {
    expectSameBytes([]);
  });
});

interface ReceivedRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** A real OTLP/HTTP endpoint that keeps every request it receives. */
async function startReceiver(): Promise<{
  url: string;
  requests: ReceivedRequest[];
  close: () => Promise<void>;
}> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({
        method: req.method,
        url: req.url,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks),
      });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

function exportOnce(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => {
    exporter.export(spans, resolve);
  });
}

describe('OtlpProtobufSpanExporter', () => {
  it('sends an OTLP receiver the request the SDK protobuf exporter sends', async () => {
    const receiver = await startReceiver();
    try {
      const { tracer, spans } = provider();
      const scoped = tracer('@session-cluster/core', '0.3.0');
      for (let i = 0; i < 20; i++) {
        scoped.startSpan('session.update', { attributes: { 'session.attempts': i } }).end();
      }
      const ours = new OtlpProtobufSpanExporter({ url: receiver.url });
      const sdk = new OTLPTraceExporter({ url: receiver.url });
      const results = [await exportOnce(ours, spans()), await exportOnce(sdk, spans())];
      await Promise.all([ours.shutdown(), sdk.shutdown()]);

      expect(results.map((result) => result.code)).toEqual([
        ExportResultCode.SUCCESS,
        ExportResultCode.SUCCESS,
      ]);
      expect(receiver.requests).toHaveLength(2);
      const [fromOurs, fromSdk] = receiver.requests;
      expect(fromOurs!.method).toBe('POST');
      expect(fromOurs!.url).toBe('/v1/traces');
      expect(fromOurs!.contentType).toBe('application/x-protobuf');
      expect({ ...fromOurs, body: undefined }).toEqual({ ...fromSdk, body: undefined });
      expect(fromOurs!.body.length).toBeGreaterThan(20 * 50);
      expect(fromOurs!.body.equals(fromSdk!.body)).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('reports a failed export when the receiver refuses it', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(400).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { tracer, spans } = provider();
      tracer('scope').startSpan('refused').end();
      const exporter = new OtlpProtobufSpanExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
      const result = await exportOnce(exporter, spans());
      await exporter.shutdown();
      expect(result.code).toBe(ExportResultCode.FAILED);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  });
});
