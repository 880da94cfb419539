import { MAX_TIMER_MS, createOptionChecks } from '@session-cluster/core';
import { ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { DestinationStream, Level } from 'pino';
import type { CachedReadSpans } from './operation-tracing.js';

/** The Prometheus scrape endpoint of {@link TelemetryOptions.prometheus}. */
export interface PrometheusOptions {
  /** Port to listen on. Default `OTEL_EXPORTER_PROMETHEUS_PORT`, else 9464. */
  readonly port?: number | undefined;
  /** Interface to bind. Default `OTEL_EXPORTER_PROMETHEUS_HOST`, else all interfaces. */
  readonly host?: string | undefined;
  /** Path Prometheus scrapes. Default `/metrics`. */
  readonly endpoint?: string | undefined;
}

/**
 * Which auto-instrumentations to enable: http and express by default;
 * ioredis (a span per Redis command, nested under the session operation
 * spans) only when asked — it is most of the cost of tracing a session
 * call that takes one round trip.
 */
export interface InstrumentationSwitches {
  readonly http?: boolean | undefined;
  readonly express?: boolean | undefined;
  readonly ioredis?: boolean | undefined;
}

/** OTLP/HTTP encodings {@link startTelemetry} can export spans in. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/**
 * Batch span processor settings. Defaults: `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
 * `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`, else
 * {@link TELEMETRY_DEFAULTS}.
 */
export interface BatchOptions {
  /** Spans per export request. */
  readonly maxExportBatchSize?: number | undefined;
  /** Spans buffered before new ones are dropped. */
  readonly maxQueueSize?: number | undefined;
  /** Longest wait before a partial batch is exported, ms. */
  readonly scheduledDelayMillis?: number | undefined;
}

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** `service.name` of everything this process exports (what Jaeger lists). */
  readonly serviceName: string;
  /** `service.version`. */
  readonly serviceVersion?: string | undefined;
  /** More resource attributes (`deployment.environment.name`, …). */
  readonly resourceAttributes?: Readonly<Record<string, string | number | boolean>> | undefined;
  /**
   * Base URL of the OTLP/HTTP receiver; `/v1/traces` and `/v1/metrics` are
   * appended. Default: `OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)ENDPOINT`, else
   * `http://localhost:4318` (Jaeger's OTLP/HTTP port).
   */
  readonly otlpEndpoint?: string | undefined;
  /** Export spans. Default `true`, unless `OTEL_TRACES_EXPORTER=none`. */
  readonly traces?: boolean | undefined;
  /**
   * Push metrics over OTLP too. Default: only when `OTEL_METRICS_EXPORTER`
   * names `otlp` (Jaeger accepts traces only; point this at a collector).
   */
  readonly otlpMetrics?: boolean | undefined;
  /** Interval of OTLP metric pushes, ms. Default `OTEL_METRIC_EXPORT_INTERVAL`, else 60 000. */
  readonly metricIntervalMs?: number | undefined;
  /**
   * Serve metrics for Prometheus to scrape: `true` for the defaults, or
   * where. Default: on only when `OTEL_METRICS_EXPORTER` names `prometheus`.
   */
  readonly prometheus?: PrometheusOptions | boolean | undefined;
  /** Auto-instrumentations: http and express on, ioredis off by default. */
  readonly instrumentations?: InstrumentationSwitches | undefined;
  /**
   * Session store calls and lock acquire/release as child spans of each
   * `session.<operation>` span, instead of events on it. Default `false`.
   */
  readonly childSpans?: boolean | undefined;
  /**
   * Spans for `get` calls the instance cache answers: `'in-trace'` (default)
   * only inside a recording span (a traced request), where `session.get`
   * carries `session.cache.hit`; outside one a cached read starts no trace
   * of its own and is counted but not timed (a read that misses, retries or
   * fails still gets its span). `'always'`: a span for every `get`, as
   * before 0.3. See `instrumentSessionCluster`.
   */
  readonly cachedReadSpans?: CachedReadSpans | undefined;
  /**
   * How spans are encoded for OTLP/HTTP. Default
   * `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` when it names one of these, else
   * `http/protobuf` (cheaper to encode and smaller than JSON: see the README).
   */
  readonly otlpProtocol?: OtlpProtocol | undefined;
  /** Batch span processor settings. */
  readonly batch?: BatchOptions | undefined;
  /** Sampler. Default `OTEL_TRACES_SAMPLER`, else parent-based always-on. */
  readonly sampler?: Sampler | undefined;
  /**
   * Head sampling: trace this fraction of new traces, in (0, 1] (parent-based:
   * a request sampled upstream stays sampled). Shorthand for a
   * `ParentBasedSampler` over a `TraceIdRatioBasedSampler`; ignored when
   * `sampler` is given. Default: every trace (or `OTEL_TRACES_SAMPLER`).
   */
  readonly sampleRatio?: number | undefined;
  /** More span processors, run before the exporting one (e.g. an in-memory one in tests). */
  readonly spanProcessors?: readonly SpanProcessor[] | undefined;
  /** Level of the returned logger. Default `LOG_LEVEL`, else `info`. */
  readonly logLevel?: Level | undefined;
  /** Where the returned logger writes. Default stdout. */
  readonly logDestination?: DestinationStream | undefined;
}

/** {@link TelemetryOptions} checked, with the environment and defaults applied. */
export interface ResolvedTelemetryOptions {
  readonly serviceName: string;
  readonly serviceVersion: string | undefined;
  readonly resourceAttributes: Readonly<Record<string, string | number | boolean>>;
  readonly otlpEndpoint: string | undefined;
  readonly traces: boolean;
  readonly otlpMetrics: boolean;
  readonly metricIntervalMs: number;
  readonly prometheus:
    | { readonly port: number; readonly host: string | undefined; readonly endpoint: string }
    | undefined;
  readonly instrumentations: Required<{ [K in keyof InstrumentationSwitches]: boolean }>;
  readonly childSpans: boolean;
  readonly cachedReadSpans: CachedReadSpans;
  readonly otlpProtocol: OtlpProtocol;
  readonly batch: Required<{ [K in keyof BatchOptions]: number }>;
  readonly sampler: Sampler | undefined;
  readonly spanProcessors: readonly SpanProcessor[];
  readonly logLevel: Level | undefined;
  readonly logDestination: DestinationStream | undefined;
}

/** Defaults of {@link TelemetryOptions}. */
export const TELEMETRY_DEFAULTS: Readonly<{
  metricIntervalMs: number;
  otlpProtocol: OtlpProtocol;
  maxExportBatchSize: number;
  maxQueueSize: number;
  scheduledDelayMillis: number;
  prometheusPort: number;
  prometheusEndpoint: string;
}> = Object.freeze({
  metricIntervalMs: 60_000,
  otlpProtocol: 'http/protobuf',
  maxExportBatchSize: 512,
  maxQueueSize: 4096,
  scheduledDelayMillis: 1_000,
  prometheusPort: 9464,
  prometheusEndpoint: '/metrics',
});

const check = createOptionChecks('startTelemetry');
const invalid = check.invalid;
const optionalBoolean = check.boolean;

function envList(name: string): string[] {
  return (process.env[name] ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item.length > 0);
}

function envInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function resolvePrometheus(
  value: unknown,
  fromEnv: boolean,
): ResolvedTelemetryOptions['prometheus'] {
  if (value === false || (value === undefined && !fromEnv)) return undefined;
  if (value !== true && value !== undefined && (typeof value !== 'object' || value === null)) {
    throw invalid('prometheus', 'a boolean or { port, host, endpoint }');
  }
  const options: Record<string, unknown> =
    value === true || value === undefined ? {} : (value as Record<string, unknown>);
  const port =
    check.integer(options['port'], 'prometheus.port', 1, 65_535) ??
    envInteger('OTEL_EXPORTER_PROMETHEUS_PORT') ??
    TELEMETRY_DEFAULTS.prometheusPort;
  const host = options['host'] ?? process.env['OTEL_EXPORTER_PROMETHEUS_HOST'];
  if (host !== undefined && (typeof host !== 'string' || host.length === 0)) {
    throw invalid('prometheus.host', 'a host name or address');
  }
  const endpoint = options['endpoint'] ?? TELEMETRY_DEFAULTS.prometheusEndpoint;
  if (typeof endpoint !== 'string' || !endpoint.startsWith('/')) {
    throw invalid('prometheus.endpoint', "a path starting with '/'");
  }
  return { port, host, endpoint };
}

/**
 * Check {@link TelemetryOptions} and apply the standard environment
 * variables (`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`,
 * `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_EXPORTER_PROMETHEUS_*`) where an
 * option is absent.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 */
export function resolveTelemetryOptions(options: TelemetryOptions): ResolvedTelemetryOptions {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw invalid('options', 'an options object');
  }
  const { serviceName, serviceVersion, otlpEndpoint } = options;
  if (typeof serviceName !== 'string' || serviceName.trim() === '') {
    throw invalid('serviceName', 'a non-empty string');
  }
  if (serviceVersion !== undefined && typeof serviceVersion !== 'string') {
    throw invalid('serviceVersion', 'a string');
  }
  if (otlpEndpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(otlpEndpoint);
    } catch {
      throw invalid('otlpEndpoint', 'an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw invalid('otlpEndpoint', 'an http(s) URL');
    }
  }
  const resourceAttributes = options.resourceAttributes ?? {};
  if (typeof resourceAttributes !== 'object' || (resourceAttributes as unknown) === null) {
    throw invalid('resourceAttributes', 'an object of strings, numbers and booleans');
  }
  const metricsExporters = envList('OTEL_METRICS_EXPORTER');
  const traces =
    optionalBoolean(options.traces, 'traces') ?? !envList('OTEL_TRACES_EXPORTER').includes('none');
  const otlpMetrics =
    optionalBoolean(options.otlpMetrics, 'otlpMetrics') ?? metricsExporters.includes('otlp');
  const metricIntervalMs =
    check.integer(options.metricIntervalMs, 'metricIntervalMs', 1, MAX_TIMER_MS) ??
    envInteger('OTEL_METRIC_EXPORT_INTERVAL') ??
    TELEMETRY_DEFAULTS.metricIntervalMs;
  const switches = options.instrumentations ?? {};
  if (typeof switches !== 'object' || (switches as unknown) === null) {
    throw invalid('instrumentations', 'an object of booleans');
  }
  const { sampleRatio } = options;
  if (
    sampleRatio !== undefined &&
    (typeof sampleRatio !== 'number' || !(sampleRatio > 0 && sampleRatio <= 1))
  ) {
    throw invalid('sampleRatio', 'a number in (0, 1]');
  }
  const sampler =
    options.sampler ??
    (sampleRatio === undefined
      ? undefined
      : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRatio) }));
  const protocolFromEnv =
    process.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? process.env['OTEL_EXPORTER_OTLP_PROTOCOL'];
  // Widened: JavaScript callers may pass anything.
  const cachedReadSpans: string = options.cachedReadSpans ?? 'in-trace';
  if (cachedReadSpans !== 'in-trace' && cachedReadSpans !== 'always') {
    throw invalid('cachedReadSpans', "'in-trace' or 'always'");
  }
  const otlpProtocol = options.otlpProtocol ?? protocolFromEnv;
  if (
    options.otlpProtocol !== undefined &&
    otlpProtocol !== 'http/protobuf' &&
    otlpProtocol !== 'http/json'
  ) {
    throw invalid('otlpProtocol', "'http/protobuf' or 'http/json'");
  }
  const batch = options.batch ?? {};
  if (typeof batch !== 'object' || (batch as unknown) === null) {
    throw invalid('batch', 'an object of positive integers');
  }
  const maxQueueSize =
    check.integer(batch.maxQueueSize, 'batch.maxQueueSize', 1) ??
    envInteger('OTEL_BSP_MAX_QUEUE_SIZE') ??
    TELEMETRY_DEFAULTS.maxQueueSize;
  const maxExportBatchSize =
    check.integer(batch.maxExportBatchSize, 'batch.maxExportBatchSize', 1, maxQueueSize) ??
    Math.min(
      envInteger('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? TELEMETRY_DEFAULTS.maxExportBatchSize,
      maxQueueSize,
    );
  const spanProcessors = options.spanProcessors ?? [];
  if (!Array.isArray(spanProcessors)) throw invalid('spanProcessors', 'an array');
  return {
    serviceName,
    serviceVersion,
    resourceAttributes,
    otlpEndpoint,
    traces,
    otlpMetrics,
    metricIntervalMs,
    prometheus: resolvePrometheus(options.prometheus, metricsExporters.includes('prometheus')),
    instrumentations: {
      http: optionalBoolean(switches.http, 'instrumentations.http') ?? true,
      express: optionalBoolean(switches.express, 'instrumentations.express') ?? true,
      ioredis: optionalBoolean(switches.ioredis, 'instrumentations.ioredis') ?? false,
    },
    childSpans: optionalBoolean(options.childSpans, 'childSpans') ?? false,
    cachedReadSpans,
    otlpProtocol:
      otlpProtocol === 'http/json' || otlpProtocol === 'http/protobuf'
        ? otlpProtocol
        : TELEMETRY_DEFAULTS.otlpProtocol,
    batch: {
      maxExportBatchSize,
      maxQueueSize,
      scheduledDelayMillis:
        check.integer(batch.scheduledDelayMillis, 'batch.scheduledDelayMillis', 1, MAX_TIMER_MS) ??
        envInteger('OTEL_BSP_SCHEDULE_DELAY') ??
        TELEMETRY_DEFAULTS.scheduledDelayMillis,
    },
    sampler,
    spanProcessors,
    logLevel: options.logLevel,
    logDestination: options.logDestination,
  };
}
