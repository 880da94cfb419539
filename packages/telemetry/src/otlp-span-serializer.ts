import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import type { OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base/node-http';
import {
  ProtobufTraceSerializer,
  TraceExporterMetricsHelper,
} from '@opentelemetry/otlp-transformer';
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];
type ScopeWithAttributes = Scope & {
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
};

const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK = 0x100;
const SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK = 0x200;
const MIN_64_BIT_INT = -(2 ** 63);
const MAX_64_BIT_INT = 2 ** 63;
/** Wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A hex digit's value, as `@opentelemetry/otlp-transformer`'s `hexToBinary` reads it. */
function hexValue(charCode: number): number {
  if (charCode >= 48 && charCode <= 57) return charCode - 48;
  if (charCode >= 97 && charCode <= 102) return charCode - 87;
  return charCode - 55;
}

/** {@link hexValue} of every char code below 128, looked up instead of branched on. */
const HEX_VALUES = Int8Array.from({ length: 128 }, (_, code) => hexValue(code));

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/**
 * One growing buffer written front to back. A length-delimited message
 * reserves one byte for its length and, in the rare case its body is 128
 * bytes or more, moves the body up when it ends: one pass, where the
 * reference serializer runs a size-estimating pass over every span first.
 */
class SpanWriter {
  public pos = 0;
  private buf: Uint8Array;
  private view: DataView;
  private readonly encoder = new TextEncoder();

  public constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  public finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  public ensure(bytes: number): void {
    const needed = this.pos + bytes;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Opens a length-delimited body; returns where its length goes. */
  public begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Closes the body {@link begin} opened, writing its length (minimal varint). */
  public end(at: number): void {
    const length = this.pos - at - 1;
    if (length < 0x80) {
      this.buf[at] = length;
      return;
    }
    const size = varintSize(length);
    this.ensure(size - 1);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    this.pos += size - 1;
    let v = length;
    let i = at;
    while (v > 0x7f) {
      this.buf[i++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[i] = v;
  }

  public tag(field: number, wireType: number): void {
    const tag = (field << 3) | wireType;
    if (tag >= 0x80) {
      this.varint(tag);
      return;
    }
    this.ensure(1);
    this.buf[this.pos++] = tag;
  }

  /**
   * A varint; a number outside 0..2^32−1 as a 64-bit two's complement, the
   * way the reference serializer writes an `int64` attribute.
   */
  public varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 4294967296) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 4294967296) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 0x7f;
  }

  public fixed32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  public fixed64(low: number, high: number): void {
    this.ensure(8);
    this.view.setUint32(this.pos, low >>> 0, true);
    this.view.setUint32(this.pos + 4, high >>> 0, true);
    this.pos += 8;
  }

  public double(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** Nanoseconds since the epoch as `fixed64`, without floating-point loss. */
  public hrTime(time: HrTime): void {
    const seconds = time[0];
    const nanos = time[1];
    const lower16 = (seconds & 0xffff) * 1e9;
    const upper = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (lower16 >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0) + nanos;
    const high =
      Math.floor(lower16 / 4294967296) + ((upper / 0x10000) >>> 0) + Math.floor(low / 4294967296);
    this.fixed64(low >>> 0, high >>> 0);
  }

  public string(value: string): void {
    const length = value.length;
    if (length < 0x80) {
      // ASCII (every name and key we write): the length is the char count.
      this.ensure(length + 1);
      const buf = this.buf;
      const start = this.pos;
      buf[start] = length;
      let i = 0;
      for (; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === length) {
        this.pos = start + 1 + length;
        return;
      }
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.encoder.encodeInto(value, this.buf.subarray(this.pos)).written;
  }

  public bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** A hex id (trace or span id) as its bytes, without an intermediate array. */
  public hexBytes(hex: string): void {
    const length = Math.floor(hex.length / 2);
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 2 * length; i += 2) {
      const high = hex.charCodeAt(i);
      const low = hex.charCodeAt(i + 1);
      buf[pos++] =
        high < 0x80 && low < 0x80
          ? ((HEX_VALUES[high] ?? 0) << 4) | (HEX_VALUES[low] ?? 0)
          : (hexValue(high) << 4) | hexValue(low);
    }
    this.pos = pos;
  }

  /** Each own key of `attributes` as a `KeyValue` in `field`, in `for…in` order. */
  public attributes(attributes: Readonly<Record<string, unknown>>, field: number): void {
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
      this.tag(field, LENGTH_DELIMITED);
      const keyValue = this.begin();
      this.tag(1, LENGTH_DELIMITED);
      this.string(key);
      this.tag(2, LENGTH_DELIMITED);
      const anyValue = this.begin();
      this.anyValue(attributes[key]);
      this.end(anyValue);
      this.end(keyValue);
    }
  }

  public anyValue(value: unknown): void {
    if (typeof value === 'string') {
      this.tag(1, LENGTH_DELIMITED);
      this.string(value);
    } else if (typeof value === 'boolean') {
      this.tag(2, VARINT);
      this.varint(value ? 1 : 0);
    } else if (typeof value === 'number') {
      if (Number.isInteger(value) && value >= MIN_64_BIT_INT && value < MAX_64_BIT_INT) {
        this.tag(3, VARINT);
        this.varint(value);
      } else {
        this.tag(4, FIXED64);
        this.double(value);
      }
    } else if (value instanceof Uint8Array) {
      this.tag(7, LENGTH_DELIMITED);
      this.bytes(value);
    } else if (Array.isArray(value)) {
      this.tag(5, LENGTH_DELIMITED);
      const array = this.begin();
      for (const item of value as unknown[]) {
        this.tag(1, LENGTH_DELIMITED);
        const itemAt = this.begin();
        this.anyValue(item);
        this.end(itemAt);
      }
      this.end(array);
    } else if (typeof value === 'object' && value !== null) {
      // A KeyValueList: its entries are field 1, written as attributes are.
      this.tag(6, LENGTH_DELIMITED);
      const list = this.begin();
      this.attributes(value as Readonly<Record<string, unknown>>, 1);
      this.end(list);
    }
  }
}

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  let flags = (traceFlags & 0xff) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
  if (isRemote === true) flags |= SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
  return flags;
}

function writeEvent(w: SpanWriter, event: TimedEvent): void {
  const at = w.begin();
  w.tag(1, FIXED64);
  w.hrTime(event.time);
  w.tag(2, LENGTH_DELIMITED);
  w.string(event.name);
  if (event.attributes) w.attributes(event.attributes, 3);
  w.tag(4, VARINT);
  w.varint(event.droppedAttributesCount ?? 0);
  w.end(at);
}

/** Fields 1–3 of a Span and of a Span.Link alike: trace id, span id, trace state. */
function writeContext(w: SpanWriter, context: SpanContext): void {
  w.tag(1, LENGTH_DELIMITED);
  w.hexBytes(context.traceId);
  w.tag(2, LENGTH_DELIMITED);
  w.hexBytes(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    w.tag(3, LENGTH_DELIMITED);
    w.string(traceState);
  }
}

function writeLink(w: SpanWriter, link: Link): void {
  const at = w.begin();
  const context = link.context;
  writeContext(w, context);
  if (link.attributes) w.attributes(link.attributes, 4);
  w.tag(5, VARINT);
  w.varint(link.droppedAttributesCount ?? 0);
  w.tag(6, FIXED32);
  w.fixed32(spanFlags(context.traceFlags, context.isRemote));
  w.end(at);
}

function writeSpan(w: SpanWriter, span: ReadableSpan): void {
  const at = w.begin();
  const context = span.spanContext();
  writeContext(w, context);
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.tag(4, LENGTH_DELIMITED);
    w.hexBytes(parent.spanId);
  }
  w.tag(5, LENGTH_DELIMITED);
  w.string(span.name);
  // OTLP's SpanKind counts from UNSPECIFIED = 0; the API's from INTERNAL = 0.
  const kind = (span.kind as number | null | undefined) == null ? 0 : span.kind + 1;
  if (kind !== 0) {
    w.tag(6, VARINT);
    w.varint(kind);
  }
  w.tag(7, FIXED64);
  w.hrTime(span.startTime);
  w.tag(8, FIXED64);
  w.hrTime(span.endTime);
  w.attributes(span.attributes, 9);
  w.tag(10, VARINT);
  w.varint(span.droppedAttributesCount);
  for (const event of span.events) {
    w.tag(11, LENGTH_DELIMITED);
    writeEvent(w, event);
  }
  w.tag(12, VARINT);
  w.varint(span.droppedEventsCount);
  for (const link of span.links) {
    w.tag(13, LENGTH_DELIMITED);
    writeLink(w, link);
  }
  w.tag(14, VARINT);
  w.varint(span.droppedLinksCount);
  w.tag(15, LENGTH_DELIMITED);
  const status = w.begin();
  if (span.status.message) {
    w.tag(2, LENGTH_DELIMITED);
    w.string(span.status.message);
  }
  w.tag(3, VARINT);
  w.varint(span.status.code);
  w.end(status);
  w.tag(16, FIXED32);
  w.fixed32(spanFlags(context.traceFlags, parent?.isRemote));
  w.end(at);
}

function writeScope(w: SpanWriter, scope: Scope): void {
  w.tag(1, LENGTH_DELIMITED);
  const at = w.begin();
  w.tag(1, LENGTH_DELIMITED);
  w.string(scope.name);
  if (scope.version) {
    w.tag(2, LENGTH_DELIMITED);
    w.string(scope.version);
  }
  // Not in the SDK's type (yet), but written when present, as the reference does.
  const { attributes, droppedAttributesCount } = scope as ScopeWithAttributes;
  if (attributes) w.attributes(attributes, 3);
  if (droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint(droppedAttributesCount);
  }
  w.end(at);
}

function writeResource(w: SpanWriter, resource: Resource): void {
  w.tag(1, LENGTH_DELIMITED);
  const at = w.begin();
  w.attributes(resource.attributes, 1);
  w.tag(2, VARINT);
  w.varint(0);
  w.end(at);
}

/** Spans by resource, then by instrumentation scope (identity), in first-seen order. */
function groupSpans(spans: readonly ReadableSpan[]): Map<Resource, Map<Scope, ReadableSpan[]>> {
  const resources = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  for (const span of spans) {
    let scopes = resources.get(span.resource);
    if (scopes === undefined) {
      scopes = new Map();
      resources.set(span.resource, scopes);
    }
    const records = scopes.get(span.instrumentationScope);
    if (records === undefined) scopes.set(span.instrumentationScope, [span]);
    else records.push(span);
  }
  return resources;
}

/** Smallest buffer a request starts with. */
const MIN_BUFFER = 64 * 1024;

/**
 * OTLP/protobuf `ExportTraceServiceRequest` serializer producing the same
 * bytes as `@opentelemetry/otlp-transformer`'s `ProtobufTraceSerializer`
 * (a test compares them span for span), at about a third of its CPU per
 * span (`apps/bench`, docs/benchmarks.md): one pass into a buffer sized
 * from the previous request, ids written from their hex without an
 * intermediate array, ASCII names and keys copied without measuring them.
 *
 * The exporter's CPU is spent on the process's event loop at every batch:
 * with every trace exported it was the largest single part of a recorded
 * `update`'s telemetry cost. `startTelemetry` exports through it by default
 * (`otlpProtocol: 'http/protobuf'`); the response is read by the reference
 * deserializer.
 */
export class OtlpSpanSerializer implements ISerializer<
  ReadableSpan[],
  IExportTraceServiceResponse
> {
  /** Bytes per span in the last request, to size the next one's buffer. */
  private bytesPerSpan = 512;

  /** Serializes one export request; a new array each call (an export may be retried while the next is built). */
  public serializeRequest(spans: ReadableSpan[]): Uint8Array {
    const writer = new SpanWriter(
      Math.max(MIN_BUFFER, Math.ceil(spans.length * this.bytesPerSpan * 1.25)),
    );
    for (const [resource, scopes] of groupSpans(spans)) {
      writer.tag(1, LENGTH_DELIMITED);
      const resourceSpans = writer.begin();
      writeResource(writer, resource);
      for (const [scope, records] of scopes) {
        writer.tag(2, LENGTH_DELIMITED);
        const scopeSpans = writer.begin();
        writeScope(writer, scope);
        for (const span of records) {
          writer.tag(2, LENGTH_DELIMITED);
          writeSpan(writer, span);
        }
        if (scope.schemaUrl) {
          writer.tag(3, LENGTH_DELIMITED);
          writer.string(scope.schemaUrl);
        }
        writer.end(scopeSpans);
      }
      if (resource.schemaUrl) {
        writer.tag(3, LENGTH_DELIMITED);
        writer.string(resource.schemaUrl);
      }
      writer.end(resourceSpans);
    }
    if (spans.length > 0) this.bytesPerSpan = Math.ceil(writer.pos / spans.length);
    return writer.finish();
  }

  /** Reads the receiver's response (partial success) as the reference does. */
  public deserializeResponse(data: Uint8Array): IExportTraceServiceResponse {
    return ProtobufTraceSerializer.deserializeResponse(data);
  }
}

/**
 * OTLP/protobuf over HTTP span exporter, the SDK's
 * `@opentelemetry/exporter-trace-otlp-proto` `OTLPTraceExporter` with the
 * same configuration (options, `OTEL_EXPORTER_OTLP_*` variables, retries,
 * headers, self-metrics) and the same bytes on the wire, serialized by
 * {@link OtlpSpanSerializer}. `startTelemetry` exports through it when
 * `otlpProtocol` is `'http/protobuf'` (the default); an SDK of your own can
 * pass it to its `BatchSpanProcessor`.
 *
 * @example
 * ```ts
 * new BatchSpanProcessor({ exporter: new OtlpProtobufSpanExporter({ url: 'http://127.0.0.1:4318/v1/traces' }) });
 * ```
 */
export class OtlpProtobufSpanExporter
  extends OTLPExporterBase<ReadableSpan[]>
  implements SpanExporter
{
  public constructor(config: OTLPExporterNodeConfigBase = {}) {
    super(
      createOtlpHttpExportDelegate(
        // How the SDK's own OTLPTraceExporter (0.301) reads its options and the
        // OTEL_EXPORTER_OTLP_* variables; "removed in 2.0" names no replacement.
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- same configuration as the SDK's exporter
        convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
          'Content-Type': 'application/x-protobuf',
        }),
        new OtlpSpanSerializer(),
        // The component type the SDK's protobuf exporter reports its self-metrics under.
        'otlp_http_span_exporter',
        TraceExporterMetricsHelper,
        config.selfObsMeterProvider,
      ),
    );
  }
}
