import {
  ATTR_SESSION_HEALTH_LATENCY_MS,
  ATTR_SESSION_HEALTH_STATUS,
  ATTR_SESSION_OUTCOME,
  INSTRUMENTATION_SCOPE,
  METRIC_SESSION_HEALTH_PROBES,
  OUTCOME_ERROR,
  OUTCOME_OK,
  SPAN_HEALTH_PROBE,
  exceptionForSpan,
  maskSessionIds,
  sessionErrorAttributes,
} from '@session-cluster/core';
import type {
  Attributes,
  Counter,
  MeterProvider,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { OtelApi } from '@session-cluster/core';
import type { HealthStatus, ProbeResult } from './health-report.js';

/** How the health monitor reports to OpenTelemetry (through `@opentelemetry/api`). */
export interface HealthTelemetryOptions {
  /** `false`: no probe spans or metrics. Default `true`. */
  readonly enabled?: boolean | undefined;
  /** Where spans go; the global tracer provider when absent. */
  readonly tracerProvider?: TracerProvider | undefined;
  /** Where metrics go; the global meter provider at construction when absent. */
  readonly meterProvider?: MeterProvider | undefined;
}

/**
 * Probe spans and metrics: each {@link HealthMonitor.check} is a
 * `session.health.probe` span (child of the active span, e.g. the `/readyz`
 * request) with the probe's store calls as children, its latency, the
 * error code when it failed and the health status after it; probes are
 * counted by outcome (`session.health.probes`).
 */
export class HealthTelemetry {
  private readonly api: OtelApi;
  private readonly tracer: Tracer;
  private readonly probes: Counter;
  private readonly outcomes: Readonly<Record<'ok' | 'error', Attributes>> = {
    ok: Object.freeze({ [ATTR_SESSION_OUTCOME]: OUTCOME_OK }),
    error: Object.freeze({ [ATTR_SESSION_OUTCOME]: OUTCOME_ERROR }),
  };

  public constructor(api: OtelApi, options: HealthTelemetryOptions) {
    this.api = api;
    this.tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(
      INSTRUMENTATION_SCOPE,
    );
    this.probes = (options.meterProvider ?? api.metrics.getMeterProvider())
      .getMeter(INSTRUMENTATION_SCOPE)
      .createCounter(METRIC_SESSION_HEALTH_PROBES, {
        description: 'Health probes of the session store, by outcome',
        unit: '{probe}',
      });
  }

  /**
   * Run one probe in its span. `status` is read after the probe settled
   * (the monitor re-evaluates first).
   */
  public async probe(
    run: () => Promise<ProbeResult>,
    status: () => HealthStatus,
  ): Promise<ProbeResult> {
    const { context, trace, SpanStatusCode } = this.api;
    const span = this.tracer.startSpan(SPAN_HEALTH_PROBE);
    try {
      const result = await context.with(trace.setSpan(context.active(), span), run);
      this.probes.add(1, this.outcomes[result.ok ? 'ok' : 'error']);
      if (span.isRecording()) {
        span.setAttributes({
          [ATTR_SESSION_OUTCOME]: result.ok ? OUTCOME_OK : OUTCOME_ERROR,
          [ATTR_SESSION_HEALTH_LATENCY_MS]: result.latencyMs,
          [ATTR_SESSION_HEALTH_STATUS]: status(),
        });
        if (result.error !== undefined) {
          span.setAttributes(sessionErrorAttributes(result.error));
          span.recordException(exceptionForSpan(result.error));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: `${result.error.code}: ${maskSessionIds(result.error.message)}`,
          });
        }
      }
      return result;
    } finally {
      span.end();
    }
  }
}
