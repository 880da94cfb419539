import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

/** An OTLP attribute value as decoded from OTLP/JSON. */
export type OtlpValue = string | number | boolean | null | readonly OtlpValue[];

/** One span as received, flattened out of its resource and scope. */
export interface OtlpSpan {
  /** 32 hex chars. */
  readonly traceId: string;
  /** 16 hex chars. */
  readonly spanId: string;
  /** 16 hex chars; `undefined` for a root span. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Readonly<Record<string, OtlpValue>>;
  readonly events: readonly {
    readonly name: string;
    readonly attributes: Readonly<Record<string, OtlpValue>>;
  }[];
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  /** OTLP `StatusCode`: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string | undefined };
  /** `service.name` of the resource that sent it. */
  readonly serviceName: string | undefined;
  /** Instrumentation scope (`@session-cluster`, `@opentelemetry/instrumentation-ioredis`, …). */
  readonly scope: string | undefined;
}

/** One request the receiver accepted, body decoded. */
export interface OtlpRequest {
  /** `/v1/traces`, `/v1/metrics` or `/v1/logs`. */
  readonly path: string;
  /** The OTLP/JSON body as parsed. */
  readonly body: unknown;
  /** The raw (decompressed) body text, for searching it. */
  readonly text: string;
}

/** A running receiver: see {@link startOtlpReceiver}. */
export interface OtlpReceiver {
  /** Base URL to give an exporter: `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Every span received so far, in arrival order. */
  readonly spans: readonly OtlpSpan[];
  /** Every accepted request (traces, metrics, logs). */
  readonly requests: readonly OtlpRequest[];
  /** Requests refused (not OTLP/JSON), as `<status> <content-type> <path>`. */
  readonly refused: readonly string[];
  /**
   * Resolve with all spans received once `done(spans)` holds; reject after
   * `timeoutMs` (default 10 000) with what arrived, for the failure message.
   */
  waitForSpans(
    done: (spans: readonly OtlpSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<readonly OtlpSpan[]>;
  /** Stop listening. */
  close(): Promise<void>;
}

interface RawKeyValue {
  readonly key: string;
  readonly value?: RawAnyValue;
}

interface RawAnyValue {
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly intValue?: number | string;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values?: readonly RawAnyValue[] };
  readonly bytesValue?: string;
}

interface RawSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind?: number;
  readonly startTimeUnixNano?: string | number;
  readonly endTimeUnixNano?: string | number;
  readonly attributes?: readonly RawKeyValue[];
  readonly events?: readonly {
    readonly name: string;
    readonly attributes?: readonly RawKeyValue[];
  }[];
  readonly links?: readonly { readonly traceId: string; readonly spanId: string }[];
  readonly status?: { readonly code?: number; readonly message?: string };
}

interface RawTraces {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly RawKeyValue[] };
    readonly scopeSpans?: readonly {
      readonly scope?: { readonly name?: string };
      readonly spans?: readonly RawSpan[];
    }[];
  }[];
}

function decodeValue(value: RawAnyValue | undefined): OtlpValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeValue);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}

function decodeAttributes(list: readonly RawKeyValue[] | undefined): Record<string, OtlpValue> {
  const out: Record<string, OtlpValue> = {};
  for (const { key, value } of list ?? []) out[key] = decodeValue(value);
  return out;
}

/** OTLP/JSON ids are hex; accept base64 too (some encoders use it). */
function hexId(id: string | undefined, hexLength: number): string | undefined {
  if (id === undefined || id === '') return undefined;
  if (id.length === hexLength && /^[0-9a-f]+$/i.test(id)) return id.toLowerCase();
  const hex = Buffer.from(id, 'base64').toString('hex');
  return hex.length === hexLength ? hex : id;
}

function decodeSpans(body: RawTraces): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const resource = decodeAttributes(resourceSpans.resource?.attributes);
    const serviceName = resource['service.name'];
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: hexId(span.traceId, 32) ?? '',
          spanId: hexId(span.spanId, 16) ?? '',
          parentSpanId: hexId(span.parentSpanId, 16),
          name: span.name,
          kind: span.kind ?? 0,
          startTimeUnixNano: String(span.startTimeUnixNano ?? '0'),
          endTimeUnixNano: String(span.endTimeUnixNano ?? '0'),
          attributes: decodeAttributes(span.attributes),
          events: (span.events ?? []).map((event) => ({
            name: event.name,
            attributes: decodeAttributes(event.attributes),
          })),
          links: (span.links ?? []).map((link) => ({
            traceId: hexId(link.traceId, 32) ?? '',
            spanId: hexId(link.spanId, 16) ?? '',
          })),
          status: { code: span.status?.code ?? 0, message: span.status?.message },
          serviceName: typeof serviceName === 'string' ? serviceName : undefined,
          scope: scopeSpans.scope?.name,
        });
      }
    }
  }
  return spans;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

const OTLP_PATHS = new Set(['/v1/traces', '/v1/metrics', '/v1/logs']);

/**
 * A real OTLP/HTTP receiver on a free port of 127.0.0.1, accepting what
 * Jaeger's OTLP endpoint (4318) accepts on `POST /v1/traces`, `/v1/metrics`
 * and `/v1/logs`, and decoding OTLP/JSON bodies (gzip or not): set
 * `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` in the exporting process.
 * Protobuf bodies are refused with 415 (recorded in `refused`), so a
 * misconfigured exporter fails loudly instead of silently.
 *
 * @example
 * ```ts
 * const receiver = await startOtlpReceiver();
 * // child process env: OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL=http/json
 * const spans = await receiver.waitForSpans((s) => s.some((x) => x.name === 'session.update'));
 * await receiver.close();
 * ```
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const requests: OtlpRequest[] = [];
  const refused: string[] = [];
  const waiters = new Set<() => void>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const contentType = request.headers['content-type'] ?? '';
    if (request.method !== 'POST' || !OTLP_PATHS.has(path)) {
      refused.push(`404 ${contentType} ${request.method ?? ''} ${path}`);
      response.writeHead(404).end();
      return;
    }
    if (!contentType.startsWith('application/json')) {
      refused.push(`415 ${contentType} ${path}`);
      response.writeHead(415, { 'content-type': 'text/plain' }).end('OTLP/JSON only');
      return;
    }
    const text = (await readBody(request)).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refused.push(`400 ${contentType} ${path}`);
      response.writeHead(400).end();
      return;
    }
    requests.push({ path, body, text });
    if (path === '/v1/traces') spans.push(...decodeSpans(body as RawTraces));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    for (const wake of waiters) wake();
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('receiver has no port');

  return {
    url: `http://127.0.0.1:${address.port}`,
    spans,
    requests,
    refused,
    waitForSpans: (done, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!done(spans)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(spans);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const names = spans.map((span) => span.name).join(', ');
          reject(
            new Error(
              `OTLP receiver: condition not met after ${timeoutMs} ms; ${spans.length} spans: ${names}` +
                (refused.length > 0 ? `; refused: ${refused.join('; ')}` : ''),
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
