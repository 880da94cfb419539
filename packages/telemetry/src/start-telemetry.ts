import { randomUUID } from 'node:crypto';
import { diag } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InstrumentType, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import { redisStatement } from './redis-statement.js';
import { PooledIdGenerator } from './pooled-id-generator.js';
import { SessionSampler } from './session-sampler.js';
import { RecordingSpans } from './recording-spans.js';
import { OperationDurations } from './operation-durations.js';
import { instrumentSessionCluster } from './session-instrumentation.js';
import type { SessionInstrumentation } from './session-instrumentation.js';
import { OtlpProtobufSpanExporter } from './otlp-span-serializer.js';
import { SessionIdMaskingProcessor } from './session-id-masking-processor.js';
import { resolveTelemetryOptions } from './telemetry-options.js';
import type { TelemetryOptions } from './telemetry-options.js';

/** What {@link startTelemetry} started. */
export interface Telemetry {
  /** The OpenTelemetry Node SDK (registered globally). */
  readonly sdk: NodeSDK;
  /** Structured JSON logger carrying `trace_id`/`span_id` (see `createLogger`). */
  readonly logger: Logger;
  /** Where Prometheus scrapes (`http://host:port/metrics`), when that endpoint is on. */
  readonly prometheusUrl: string | undefined;
  /** Resolves once the Prometheus endpoint listens (at once when it is off). */
  readonly ready: Promise<void>;
  /** Export every finished span and the current metrics now, without stopping. */
  flush(): Promise<void>;
  /**
   * Flush everything, then stop exporting and remove the instrumentations'
   * global registrations. Idempotent; call it on SIGTERM before exiting.
   */
  shutdown(): Promise<void>;
}

/** OTLP/HTTP base endpoint when neither the option nor `OTEL_EXPORTER_OTLP_ENDPOINT` is set: Jaeger's. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

function signalUrl(base: string | undefined, signal: 'traces' | 'metrics'): string | undefined {
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

/**
 * Start OpenTelemetry for an application process: the Node SDK with
 * - the session layer's spans and metrics ({@link instrumentSessionCluster}:
 *   one `session.<operation>` span per call, its phases as events, or child
 *   spans with `childSpans`);
 * - traces exported over OTLP/HTTP (protobuf by default, or JSON) through a
 *   batch processor, to
 *   `otlpEndpoint`, else `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, else
 *   {@link DEFAULT_OTLP_ENDPOINT} (Jaeger); headers, timeout, compression,
 *   batch and sampler settings from the standard `OTEL_*` variables;
 * - session ids masked in every exported span ({@link SessionIdMaskingProcessor})
 *   and in Redis statements ({@link redisStatement});
 * - span ids from a random pool ({@link PooledIdGenerator}), at a sixth of
 *   the cost of the SDK's own, which every span pays, sampled or not;
 * - http and express auto-instrumentation, ioredis when asked (ESM apps:
 *   start node with `--import @session-cluster/telemetry/register`);
 * - metrics over OTLP and/or a Prometheus endpoint, when asked;
 * - a pino logger whose lines carry `trace_id`/`span_id`.
 *
 * Call it before anything imports ioredis or express, and before
 * `createSessionCluster` (whose meters are taken at creation).
 * `OTEL_SDK_DISABLED=true` starts nothing (the API stays a no-op).
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 * @example
 * ```ts
 * const telemetry = startTelemetry({ serviceName: 'shop', prometheus: { port: 9464 } });
 * const cluster = createSessionCluster({ redis: { url: process.env.REDIS_URL } });
 * process.once('SIGTERM', async () => { await cluster.close(); await telemetry.shutdown(); });
 * ```
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const resolved = resolveTelemetryOptions(options);
  const logger = createLogger({
    serviceName: resolved.serviceName,
    level: resolved.logLevel,
    destination: resolved.logDestination,
  });

  const protocol =
    process.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? process.env['OTEL_EXPORTER_OTLP_PROTOCOL'];
  if (resolved.traces && protocol !== undefined && protocol !== resolved.otlpProtocol) {
    // Jaeger and the OTel Collector take both OTLP/HTTP encodings on the same port.
    logger.warn(`OTLP protocol ${protocol} is not bundled; exporting ${resolved.otlpProtocol}`);
  }
  const spanProcessors: SpanProcessor[] = [...resolved.spanProcessors];
  if (resolved.traces) {
    const exporterOptions =
      resolved.otlpEndpoint === undefined
        ? {}
        : { url: signalUrl(resolved.otlpEndpoint, 'traces') };
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter:
          resolved.otlpProtocol === 'http/json'
            ? new OTLPJsonTraceExporter(exporterOptions)
            : new OtlpProtobufSpanExporter(exporterOptions),
        ...resolved.batch,
      }),
    );
  }

  // First, so that every other processor (and exporter) sees masked spans.
  if (spanProcessors.length > 0) spanProcessors.unshift(new SessionIdMaskingProcessor());
  const recordingSpans = new RecordingSpans();
  spanProcessors.push(recordingSpans);

  const metricReaders: MetricReader[] = [];
  // Each reader takes the operation durations as a producer, with its own temporality.
  const durations = new OperationDurations();
  const durationsFor = (reader: () => MetricReader) => [
    durations.producer(() => reader().selectAggregationTemporality(InstrumentType.HISTOGRAM)),
  ];
  if (resolved.otlpMetrics) {
    const otlp: MetricReader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(
        resolved.otlpEndpoint === undefined
          ? {}
          : { url: signalUrl(resolved.otlpEndpoint, 'metrics') },
      ),
      exportIntervalMillis: resolved.metricIntervalMs,
      metricProducers: durationsFor(() => otlp),
    });
    metricReaders.push(otlp);
  }
  let prometheus: PrometheusExporter | undefined;
  let prometheusUrl: string | undefined;
  if (resolved.prometheus !== undefined) {
    const { port, host, endpoint } = resolved.prometheus;
    const scraped: PrometheusExporter = new PrometheusExporter({
      port,
      host,
      endpoint,
      preventServerStart: true,
      metricProducers: durationsFor(() => scraped),
    });
    prometheus = scraped;
    metricReaders.push(scraped);
    prometheusUrl = `http://${host ?? 'localhost'}:${port}${endpoint}`;
  }

  const instrumentations: Instrumentation[] = [];
  if (resolved.instrumentations.http) {
    const scrapePath = resolved.prometheus?.endpoint;
    instrumentations.push(
      new HttpInstrumentation({
        // Prometheus scrapes are not traffic worth a trace each.
        ignoreIncomingRequestHook: (request) =>
          scrapePath !== undefined && (request.url ?? '').split('?')[0] === scrapePath,
      }),
    );
  }
  if (resolved.instrumentations.express) instrumentations.push(new ExpressInstrumentation());
  if (resolved.instrumentations.ioredis) {
    instrumentations.push(
      new IORedisInstrumentation({
        dbStatementSerializer: redisStatement,
        // A command outside any traced work (a health timer, the sweeper's
        // polling) would be a trace of its own: noise.
        requireParentSpan: true,
      }),
    );
  }

  const idGenerator = new PooledIdGenerator();
  // A standard sampler is built here rather than by the SDK: one the session
  // instrumentation can ask before it starts a span (see SessionSampler).
  const sessionSampler =
    resolved.sampling === undefined
      ? undefined
      : new SessionSampler(resolved.sampling, idGenerator);
  const sampler = resolved.sampler ?? sessionSampler;
  const sdk = new NodeSDK({
    // Also given apart: the SDK merges it last, over OTEL_SERVICE_NAME.
    serviceName: resolved.serviceName,
    resource: resourceFromAttributes({
      ...resolved.resourceAttributes,
      [ATTR_SERVICE_NAME]: resolved.serviceName,
      ...(resolved.serviceVersion === undefined
        ? {}
        : { [ATTR_SERVICE_VERSION]: resolved.serviceVersion }),
      'service.instance.id': randomUUID(),
    }),
    spanProcessors,
    metricReaders,
    // Logs go to stdout through pino; nothing is pushed to a logs endpoint
    // (Jaeger has none).
    logRecordProcessors: [],
    instrumentations,
    // Every span's ids are made before it is sampled: cheaper ones help unsampled work too.
    idGenerator,
    ...(sampler === undefined ? {} : { sampler }),
  });
  sdk.start();
  // After the SDK: the subscriber takes the registered providers and context manager.
  const instrumentation: SessionInstrumentation = instrumentSessionCluster({
    childSpans: resolved.childSpans,
    cachedReadSpans: resolved.cachedReadSpans,
    // Redis command spans belong under the operation spans: only then is
    // an operation worth making the active context.
    activeSpans: resolved.instrumentations.ioredis,
    operationDurations: durations,
    sampler: sessionSampler,
    recordingSpans,
  });

  const ready =
    prometheus === undefined
      ? Promise.resolve()
      : prometheus.startServer().catch((error: unknown) => {
          logger.error({ err: error }, 'Prometheus metrics endpoint failed to start');
          throw error;
        });
  // A failure is logged here and reported through `ready` when awaited.
  ready.catch(() => undefined);

  let stopping: Promise<void> | undefined;
  return {
    sdk,
    logger,
    prometheusUrl,
    ready,
    flush: async () => {
      await Promise.all([
        ...spanProcessors.map((processor) => processor.forceFlush()),
        ...metricReaders.map((reader) => reader.forceFlush()),
      ]);
    },
    shutdown: () => {
      stopping ??= (async () => {
        instrumentation.close();
        for (const auto of instrumentations) auto.disable();
        try {
          await sdk.shutdown();
        } catch (error) {
          diag.error('session-cluster telemetry: shutdown failed', error);
        }
        logger.flush();
      })();
      return stopping;
    },
  };
}
