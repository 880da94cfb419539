import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { AsyncLocalStorage } from 'node:async_hooks';
import type {
  HealthProbeMessage,
  ProbeOutcome,
  SessionChannels,
  SweepMessage,
  SweepOutcome,
} from '@session-cluster/core';
import type { TracedOperation } from './operation-tracing.js';
import type { SessionMetrics } from './session-metrics.js';
import { markSpanFailed } from './span-failure.js';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_SYSTEM,
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_FALLBACK_ROUTE,
  ATTR_SESSION_HEALTH_LATENCY_MS,
  ATTR_SESSION_HEALTH_STATUS,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_SWEEP_BATCHES,
  ATTR_SESSION_SWEEP_BUCKET,
  ATTR_SESSION_SWEEP_EVENTS,
  ATTR_SESSION_SWEEP_EXPIRED,
  ATTR_SESSION_SWEEP_MORE,
  ATTR_SESSION_SWEEP_ORPHANS,
  ATTR_SESSION_SWEEP_REPUBLISHED,
  MESSAGING_SYSTEM_VALUE_BULLMQ,
  OUTCOME_ERROR,
  OUTCOME_OK,
  SPAN_HEALTH_PROBE,
  SPAN_SWEEP,
} from './semconv.js';
import { exceptionForSpan, sessionErrorAttributes } from './span-failure.js';

interface Traced {
  span?: Span;
  /** A recording probe's stand-in operation: where its store calls' routing lands. */
  routing?: TracedOperation;
}

/**
 * Health probes and sweep jobs as spans and metrics:
 * - each probe is a `session.health.probe` span (child of the active span,
 *   e.g. the `/readyz` request) with its latency, the error code when it
 *   failed and the health status after it; probes counted by outcome;
 * - each sweep job is a `session.sweep` span (bucket, expired, orphans,
 *   republished, events, batches); it is the active context while the job
 *   runs, so BullMQ's telemetry carries it into the expiry-event jobs;
 *   jobs and swept sessions are counted.
 */
export class ProbeAndSweepTracing {
  private readonly onProbeStart = (message: unknown): void => {
    this.beginProbe(message as HealthProbeMessage);
  };
  private readonly onProbeEnd = (message: unknown): void => {
    this.probed(message as HealthProbeMessage & Traced);
  };
  private readonly onSweepStart = (message: unknown): void => {
    this.beginSweep(message as SweepMessage);
  };
  private readonly onSweepEnd = (message: unknown): void => {
    this.swept(message as SweepMessage & Traced);
  };

  public constructor(
    private readonly tracer: Tracer,
    private readonly metrics: SessionMetrics,
    private readonly operations: AsyncLocalStorage<TracedOperation | undefined>,
    private readonly activeContext: AsyncLocalStorage<Context> | undefined,
    private readonly activateProbes: boolean,
  ) {}

  /** Start listening on `channels`. */
  public subscribe(channels: SessionChannels): void {
    // The probe's store calls report their routing to the probe span, as an
    // operation's do to the operation span (the probe is never finished as
    // one: `probed` sets the route).
    channels.healthProbe.start.bindStore(this.operations, (message) => {
      const span = this.beginProbe(message);
      if (!span.isRecording()) return undefined;
      const target: TracedOperation = {
        operation: 'get',
        sessionId: undefined,
        state: 'recording',
        span,
        storeCalls: false,
        storeCallSettled: undefined,
      };
      (message as HealthProbeMessage & Traced).routing = target;
      return target;
    });
    const active = this.activeContext;
    if (active !== undefined) {
      channels.sweep.start.bindStore(active, (message) =>
        trace.setSpan(context.active(), this.beginSweep(message)),
      );
      if (this.activateProbes) {
        channels.healthProbe.start.bindStore(active, (message) =>
          trace.setSpan(context.active(), this.beginProbe(message)),
        );
      }
    }
    channels.sweep.start.subscribe(this.onSweepStart);
    channels.sweep.asyncEnd.subscribe(this.onSweepEnd);
    channels.healthProbe.start.subscribe(this.onProbeStart);
    channels.healthProbe.asyncEnd.subscribe(this.onProbeEnd);
  }

  /** Stop listening on `channels`. */
  public unsubscribe(channels: SessionChannels): void {
    channels.healthProbe.start.unbindStore(this.operations);
    if (this.activeContext !== undefined) {
      channels.sweep.start.unbindStore(this.activeContext);
      channels.healthProbe.start.unbindStore(this.activeContext);
    }
    channels.sweep.start.unsubscribe(this.onSweepStart);
    channels.sweep.asyncEnd.unsubscribe(this.onSweepEnd);
    channels.healthProbe.start.unsubscribe(this.onProbeStart);
    channels.healthProbe.asyncEnd.unsubscribe(this.onProbeEnd);
  }

  private beginProbe(message: HealthProbeMessage): Span {
    const probe = message as HealthProbeMessage & Traced;
    probe.span ??= this.tracer.startSpan(SPAN_HEALTH_PROBE, {}, context.active());
    return probe.span;
  }

  private probed(probe: HealthProbeMessage & Traced): void {
    const span = probe.span;
    // Routed as an operation's store calls are: the last route, once, at the end.
    const route = probe.routing?.spanRoute;
    if (route !== undefined && span?.isRecording() === true) {
      span.setAttribute(ATTR_SESSION_FALLBACK_ROUTE, route);
      span.setAttribute(ATTR_SESSION_DEGRADED, route !== 'primary');
    }
    if (probe.error !== undefined) {
      this.metrics.probe(false);
      if (span?.isRecording() === true) markSpanFailed(span, probe.error);
      span?.end();
      return;
    }
    const result = probe.result as ProbeOutcome;
    this.metrics.probe(result.ok);
    if (span === undefined) return;
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR_SESSION_OUTCOME]: result.ok ? OUTCOME_OK : OUTCOME_ERROR,
        [ATTR_SESSION_HEALTH_LATENCY_MS]: result.latencyMs,
        [ATTR_SESSION_HEALTH_STATUS]: probe.status(),
      });
      if (result.error !== undefined) markSpanFailed(span, result.error);
    }
    span.end();
  }

  private beginSweep(message: SweepMessage): Span {
    const sweep = message as SweepMessage & Traced;
    sweep.span ??= this.tracer.startSpan(
      SPAN_SWEEP,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [ATTR_SESSION_SWEEP_BUCKET]: sweep.bucket,
          [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_BULLMQ,
          [ATTR_MESSAGING_DESTINATION_NAME]: sweep.queueName,
          ...(sweep.jobId === undefined ? {} : { [ATTR_MESSAGING_MESSAGE_ID]: sweep.jobId }),
        },
      },
      context.active(),
    );
    return sweep.span;
  }

  private swept(sweep: SweepMessage & Traced): void {
    const span = sweep.span;
    if (sweep.error !== undefined) {
      span?.setAttributes({
        ...sessionErrorAttributes(sweep.error),
        [ATTR_SESSION_OUTCOME]: OUTCOME_ERROR,
      });
      span?.recordException(exceptionForSpan(sweep.error));
      span?.setStatus({ code: SpanStatusCode.ERROR });
      this.metrics.sweep(false);
      span?.end();
      return;
    }
    const report = sweep.result as SweepOutcome;
    span?.setAttributes({
      [ATTR_SESSION_SWEEP_EXPIRED]: report.expired,
      [ATTR_SESSION_SWEEP_ORPHANS]: report.orphans,
      [ATTR_SESSION_SWEEP_REPUBLISHED]: report.republished,
      [ATTR_SESSION_SWEEP_EVENTS]: report.published,
      [ATTR_SESSION_SWEEP_BATCHES]: report.batches,
      [ATTR_SESSION_SWEEP_MORE]: report.more,
      [ATTR_SESSION_OUTCOME]: OUTCOME_OK,
    });
    this.metrics.sweptSessions(report.expired, sweep.bucket);
    this.metrics.sweep(true);
    span?.end();
  }
}
