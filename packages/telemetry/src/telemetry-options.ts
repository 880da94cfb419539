import { MAX_TIMER_MS, createOptionChecks, isOptionsObject } from '@session-cluster/core';
import type { OptionsOf } from '@session-cluster/core';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { DestinationStream, Level } from 'pino';
import type { CachedReadSpans } from './operation-tracing.js';
import type { SessionSampling } from './session-sampler.js';

/** OTLP/HTTP encodings {@link startTelemetry} can export spans in. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

const check = createOptionChecks('startTelemetry');

const envList = (name: string) =>
  (process.env[name] ?? '').split(',').map((item) => item.trim().toLowerCase());

function envInteger(name: string): number | undefined {
  const value = Number(process.env[name]?.trim() || Number.NaN);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * The sampler `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`) name,
 * as the SDK reads them (default `parentbased_always_on`), or undefined
 * for one this package does not build (`jaeger_remote`, a misspelling, a
 * bad ratio): the SDK then reads the variables itself, and reports them.
 */
function samplingFromEnv(): SessionSampling | undefined {
  const name = process.env['OTEL_TRACES_SAMPLER']?.trim() || 'parentbased_always_on';
  const parentBased = name.startsWith('parentbased_');
  switch (parentBased ? name.slice('parentbased_'.length) : name) {
    case 'always_on':
      return { ratio: 1, parentBased };
    case 'always_off':
      return { ratio: 0, parentBased };
    case 'traceidratio': {
      const argument = process.env['OTEL_TRACES_SAMPLER_ARG']?.trim() ?? '';
      const ratio = argument === '' ? 1 : Number(argument);
      return ratio >= 0 && ratio <= 1 ? { ratio, parentBased } : undefined;
    }
    default:
      return undefined;
  }
}

/** Rule: an integer in `[min, max]`; absent, the environment variable `name`, else `fallback`. */
const intOrEnv = <D extends number | undefined>(
  name: string,
  fallback: D,
  min: number,
  max?: number,
) =>
  check.accepting<number | undefined>()(
    (value, field): number | D =>
      check.integer(value, field, min, max) ?? envInteger(name) ?? fallback,
  );

const PROMETHEUS_RULES = {
  /** Port to listen on. Default `OTEL_EXPORTER_PROMETHEUS_PORT`, else 9464. */
  port: intOrEnv('OTEL_EXPORTER_PROMETHEUS_PORT', 9464, 1, 65_535),
  /** Interface to bind. Default `OTEL_EXPORTER_PROMETHEUS_HOST`, else all interfaces. */
  host: check.accepting<string | undefined>()(
    (value, field) =>
      check.matching(/./, undefined, 'a host name or address')(value, field) ??
      process.env['OTEL_EXPORTER_PROMETHEUS_HOST'],
  ),
  /** Path Prometheus scrapes. Default `/metrics`. */
  endpoint: check.matching(/^\//, '/metrics', "a path starting with '/'"),
};

const RULES = {
  /** `service.name` of everything this process exports (what Jaeger lists). */
  serviceName: check.accepting<string>()(check.matching(/\S/, undefined, 'a non-empty string')),
  /** `service.version`. */
  serviceVersion: check.string,
  /** More resource attributes (`deployment.environment.name`, …). */
  resourceAttributes: check.accepting<
    Readonly<Record<string, string | number | boolean>> | undefined
  >()((value, field) => {
    if (value !== undefined && !isOptionsObject(value)) {
      throw check.invalid(field, 'an object of strings, numbers and booleans');
    }
    return (value ?? {}) as Readonly<Record<string, string | number | boolean>>;
  }),
  /**
   * Base URL of the OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics` appended).
   * Default `OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)ENDPOINT`, else `http://localhost:4318`.
   */
  otlpEndpoint: check.accepting<string | undefined>()((value, field) => {
    if (value === undefined) return undefined;
    const url = typeof value === 'string' ? URL.parse(value) : null;
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      throw check.invalid(field, 'an http(s) URL');
    }
    return value as string;
  }),
  /** Export spans. Default `true`, unless `OTEL_TRACES_EXPORTER=none`. */
  traces: check.flag(undefined),
  /** Push metrics over OTLP too (to a collector: Jaeger takes traces only). Default: `OTEL_METRICS_EXPORTER` names `otlp`. */
  otlpMetrics: check.flag(undefined),
  /** Interval of OTLP metric pushes, ms. Default `OTEL_METRIC_EXPORT_INTERVAL`, else 60 000. */
  metricIntervalMs: intOrEnv('OTEL_METRIC_EXPORT_INTERVAL', 60_000, 1, MAX_TIMER_MS),
  /** Serve metrics for Prometheus: `true` or where. Default: `OTEL_METRICS_EXPORTER` names `prometheus`. */
  prometheus: check.toggle(PROMETHEUS_RULES),
  /** Auto-instrumentations: http and express on, ioredis off by default. */
  instrumentations: check.section({
    http: check.flag(true),
    express: check.flag(true),
    /** A span per Redis command: most of the cost. Default off. */
    ioredis: check.flag(false),
  }),
  /** Store calls and lock acquire/release as child spans of `session.<operation>`, not events. Default `false`. */
  childSpans: check.flag(false),
  /**
   * Spans for `get`s the instance cache answers: `'in-trace'` (default) only inside a traced
   * request (else counted; a miss or failure still gets one); `'always'`: every `get`.
   */
  cachedReadSpans: check.oneOf(['in-trace', 'always'] as CachedReadSpans[], 'in-trace'),
  /** Span encoding. Default `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, else `http/protobuf` (smaller, cheaper). */
  otlpProtocol: check.oneOf(['http/protobuf', 'http/json'] as OtlpProtocol[], undefined),
  /** Batch span processor settings; defaults: the `OTEL_BSP_*` variables, else those below. */
  batch: check.section({
    /** Spans per export request, at most `maxQueueSize`. Default 512. */
    maxExportBatchSize: check.int(undefined, 1),
    /** Spans buffered before new ones are dropped. Default 4 096. */
    maxQueueSize: intOrEnv('OTEL_BSP_MAX_QUEUE_SIZE', 4_096, 1),
    /** Longest wait before a partial batch is exported, ms. Default 1 000. */
    scheduledDelayMillis: intOrEnv('OTEL_BSP_SCHEDULE_DELAY', 1_000, 1, MAX_TIMER_MS),
  }),
  /** Sampler (typed only, as the logger options). Default `OTEL_TRACES_SAMPLER`, else parent-based always-on. */
  sampler: check.typed<Sampler | undefined>(),
  /** Trace this fraction of new traces, in (0, 1], parent-based; ignored with `sampler`. Default all. */
  sampleRatio: check.num(undefined, 'positive', 1),
  /** More span processors, run before the exporting one (e.g. an in-memory one in tests). */
  spanProcessors: check.accepting<readonly SpanProcessor[] | undefined>()(
    (value, field): readonly SpanProcessor[] => {
      if (value !== undefined && !Array.isArray(value)) throw check.invalid(field, 'an array');
      return (value ?? []) as readonly SpanProcessor[];
    },
  ),
  /** Level of the returned logger. Default `LOG_LEVEL`, else `info`. */
  logLevel: check.typed<Level | undefined>(),
  /** Where the returned logger writes. Default stdout. */
  logDestination: check.typed<DestinationStream | undefined>(),
};

/** Options of {@link startTelemetry}. */
export type TelemetryOptions = OptionsOf<typeof RULES>;

/**
 * Check {@link TelemetryOptions}; an absent one takes its standard `OTEL_*` variable.
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 */
export function resolveTelemetryOptions(options: TelemetryOptions) {
  const { serviceName, sampleRatio, prometheus, batch, otlpProtocol, ...resolved } = check.resolve(
    RULES,
    options,
  );
  if (serviceName === undefined) throw check.invalid('serviceName', 'a non-empty string');
  const metricsExporters = envList('OTEL_METRICS_EXPORTER');
  const protocolFromEnv =
    process.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? process.env['OTEL_EXPORTER_OTLP_PROTOCOL'];
  const { maxQueueSize } = batch;
  if ((batch.maxExportBatchSize ?? 0) > maxQueueSize) {
    throw check.invalid('batch.maxExportBatchSize', `an integer from 1 to ${maxQueueSize}`);
  }
  return {
    ...resolved,
    serviceName,
    traces: resolved.traces ?? !envList('OTEL_TRACES_EXPORTER').includes('none'),
    otlpMetrics: resolved.otlpMetrics ?? metricsExporters.includes('otlp'),
    // Absent: served when OTEL_METRICS_EXPORTER names it, with the defaults.
    prometheus:
      prometheus === false || (prometheus === undefined && !metricsExporters.includes('prometheus'))
        ? undefined
        : (prometheus ?? check.resolve(PROMETHEUS_RULES, {})),
    otlpProtocol:
      otlpProtocol ??
      (protocolFromEnv === 'http/json' || protocolFromEnv === 'http/protobuf'
        ? protocolFromEnv
        : 'http/protobuf'),
    batch: {
      maxExportBatchSize: Math.min(
        batch.maxExportBatchSize ?? envInteger('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512,
        maxQueueSize,
      ),
      maxQueueSize,
      scheduledDelayMillis: batch.scheduledDelayMillis,
    },
    /**
     * The sampler to build (a `SessionSampler`), unless `sampler` is given:
     * `sampleRatio`, else the one `OTEL_TRACES_SAMPLER` names; undefined,
     * the SDK makes its own from the environment.
     */
    sampling:
      resolved.sampler !== undefined
        ? undefined
        : sampleRatio === undefined
          ? samplingFromEnv()
          : { ratio: sampleRatio, parentBased: true },
  };
}
