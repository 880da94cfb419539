import { metrics, trace } from '@opentelemetry/api';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE, SESSION_CHANNELS } from '@session-cluster/core';
import type { SessionEvent } from '@session-cluster/core';
import { contextStorage } from './context-storage.js';
import { FallbackTracing } from './fallback-tracing.js';
import { OperationTracing } from './operation-tracing.js';
import type { CachedReadSpans } from './operation-tracing.js';
import { ProbeAndSweepTracing } from './probe-and-sweep-tracing.js';
import { SessionMetrics } from './session-metrics.js';
import type { OperationDurations } from './operation-durations.js';
import type { RecordingSpans } from './recording-spans.js';
import type { SessionSampler } from './session-sampler.js';
import { DB_SYSTEM_VALUE_REDIS } from './semconv.js';

/** Options of {@link instrumentSessionCluster}. */
export interface SessionInstrumentationOptions {
  /** Where spans go. Default: the global tracer provider (followed even if registered later). */
  readonly tracerProvider?: TracerProvider | undefined;
  /** Where metrics go. Default: the global meter provider *now*: register the SDK first. */
  readonly meterProvider?: MeterProvider | undefined;
  /**
   * Store calls and lock acquire/release as child spans of the operation
   * span, instead of events on it. Default `false`: one span per operation.
   */
  readonly childSpans?: boolean | undefined;
  /**
   * Make operation spans the active context while they run, so spans other
   * instrumentations make inside them (ioredis's Redis command spans) are
   * their children. Costs an `AsyncLocalStorage` entry per operation.
   * Default `false`. Sweep jobs are always active (their trace goes into
   * the expiry-event jobs).
   */
  readonly activeSpans?: boolean | undefined;
  /**
   * Spans for `get` calls the instance cache answers (in a few µs, less than
   * the SDK takes to sample and drop a span):
   * - `'in-trace'` (default): only inside a recording span (a traced HTTP
   *   request, a job): there the `session.get` span is made as any other,
   *   with `session.cache.hit`. A `get` outside any recording span starts
   *   no trace of its own when the cache answers it; it gets its span
   *   (backdated to its start) as soon as it is known to be a miss, to
   *   retry or to fail. A cached read without a span is still counted in
   *   `session.operations` (and the store's `session.cache.hits`) but not in
   *   the `session.operation.duration` histogram.
   * - `'always'`: every `get` is a span (sampled like any other), timed in
   *   the histogram.
   */
  readonly cachedReadSpans?: CachedReadSpans | undefined;
  /**
   * `db.system` of store-call spans. Default `redis` (the store
   * `createSessionCluster` wires; the fallback's route says when memory answered).
   */
  readonly dbSystem?: string | undefined;
  /**
   * Aggregate `session.operation.duration` here instead of in the meter's
   * histogram instrument (cheaper per operation); your readers must then take
   * its producers (`metricProducers`), see {@link OperationDurations}.
   * `startTelemetry` does both. Default: the meter's histogram.
   */
  readonly operationDurations?: OperationDurations | undefined;
  /**
   * The sampler `tracerProvider` was given, when it is a
   * {@link SessionSampler} (with that provider's id generator): an operation
   * it drops is then dropped before the SDK is asked for a span (no ids,
   * no sampler call, no non-recording span; the SDK's own
   * `otel.sdk.span.*` self-metrics then do not count it). `startTelemetry`
   * passes its own. Default: every operation asks the SDK.
   */
  readonly sampler?: SessionSampler | undefined;
  /**
   * A {@link RecordingSpans} registered as a span processor of
   * `tracerProvider` (the provider every instrumentation of the app uses):
   * while no recording span is open, a cached `get` under `cachedReadSpans:
   * 'in-trace'` is counted without reading the active context (~30 ns of a
   * ~350 ns read). `startTelemetry` passes its own. Default: every cached
   * read looks at its context.
   */
  readonly recordingSpans?: RecordingSpans | undefined;
}

/** What {@link instrumentSessionCluster} returns. */
export interface SessionInstrumentation {
  /** Stop listening (spans of calls in progress still end). Idempotent. */
  close(): void;
}

/**
 * Subscribe to what the session packages publish (core's `SESSION_CHANNELS`)
 * and make OpenTelemetry spans and metrics of it:
 * - `session.<operation>` per manager call, with its phases (lock wait,
 *   store calls, fallback route) as events and attributes, or child spans
 *   with `childSpans`; retries and conflicts as events;
 * - `session.reconcile` per reconciliation run (a root span linked to the
 *   operation that brought the primary back);
 * - `session.health.probe` per probe, `session.sweep` per sweep job;
 * - the metrics: operations, errors, latency, retries, lock wait,
 *   escalations, reconciled, breaker state, degraded, probes, sweeps, swept.
 *
 * `startTelemetry` calls it; call it yourself only with an SDK of your own.
 * Session ids are hashed (`session.id_hash`), never recorded raw.
 *
 * @example
 * ```ts
 * const instrumentation = instrumentSessionCluster({ tracerProvider, childSpans: true });
 * // … on shutdown:
 * instrumentation.close();
 * ```
 */
export function instrumentSessionCluster(
  options: SessionInstrumentationOptions = {},
): SessionInstrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(
    INSTRUMENTATION_SCOPE,
  );
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(
    INSTRUMENTATION_SCOPE,
  );
  const sessionMetrics = new SessionMetrics(meter, options.operationDurations);
  const storage = contextStorage();
  const activeSpans = options.activeSpans === true;
  let fallbackTracing: FallbackTracing | undefined = undefined;
  const operations = new OperationTracing(tracer, sessionMetrics, {
    childSpans: options.childSpans === true,
    activeContext: activeSpans ? storage : undefined,
    degraded: () => fallbackTracing?.degraded() === true,
    dbSystem: options.dbSystem ?? DB_SYSTEM_VALUE_REDIS,
    cachedReadSpans: options.cachedReadSpans ?? 'in-trace',
    sampler: options.sampler,
    recordingSpans: options.recordingSpans,
  });
  const fallback = new FallbackTracing(tracer, meter, sessionMetrics, operations.current, storage);
  fallbackTracing = fallback;
  const probesAndSweeps = new ProbeAndSweepTracing(
    tracer,
    sessionMetrics,
    operations.current,
    storage,
    activeSpans,
  );
  const onEvent = (message: unknown): void => {
    const event = message as SessionEvent;
    operations.onEvent(event);
    fallback.onEvent(event);
  };
  const channels = SESSION_CHANNELS;
  operations.subscribe(channels);
  fallback.subscribe(channels);
  probesAndSweeps.subscribe(channels);
  channels.event.subscribe(onEvent);
  let closed = false;
  return {
    close: () => {
      if (closed) return;
      closed = true;
      channels.event.unsubscribe(onEvent);
      probesAndSweeps.unsubscribe(channels);
      fallback.unsubscribe(channels);
      operations.unsubscribe(channels);
    },
  };
}
