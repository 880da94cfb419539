import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_SYSTEM,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_SWEEP_BATCHES,
  ATTR_SESSION_SWEEP_BUCKET,
  ATTR_SESSION_SWEEP_EVENTS,
  ATTR_SESSION_SWEEP_EXPIRED,
  ATTR_SESSION_SWEEP_MORE,
  INSTRUMENTATION_SCOPE,
  MESSAGING_SYSTEM_VALUE_BULLMQ,
  METRIC_SESSION_SWEEPS,
  METRIC_SESSION_SWEPT,
  OUTCOME_ERROR,
  OUTCOME_OK,
  SPAN_SWEEP,
  exceptionForSpan,
  sessionErrorAttributes,
} from '@session-cluster/core';
import type { Counter, Span, Tracer } from '@opentelemetry/api';
import type { BucketSweepReport } from './bucket-sweep.js';
import { otelApi } from '@session-cluster/core';

/**
 * Sweep attribute: index members dropped because their session was already
 * gone. Not (yet) in core's semconv, which has no orphan count.
 */
export const ATTR_SESSION_SWEEP_ORPHANS = 'session.sweep.orphans';
/** Sweep attribute: outbox entries (left unacknowledged by an earlier job) republished. */
export const ATTR_SESSION_SWEEP_REPUBLISHED = 'session.sweep.republished';

/** Where a sweep job came from, for its span. */
export interface SweepJobRef {
  readonly bucket: number;
  readonly queueName: string;
  readonly jobId: string | undefined;
}

/**
 * The sweeper's spans and metrics, through `@opentelemetry/api` (no-ops
 * until an SDK is registered; nothing at all when the API is not installed
 * or telemetry is off).
 *
 * One `session.sweep` span per job, with the bucket, expired, orphans,
 * republished, events and batches as attributes. It is the active span
 * while the job publishes, so BullMQOtel carries it into the event jobs.
 */
export class SweepTelemetry {
  private readonly tracer: Tracer | undefined;
  private readonly swept: Counter | undefined;
  private readonly sweeps: Counter | undefined;

  public constructor(enabled: boolean) {
    if (!enabled || otelApi === undefined) return;
    this.tracer = otelApi.trace.getTracer(INSTRUMENTATION_SCOPE);
    const meter = otelApi.metrics.getMeter(INSTRUMENTATION_SCOPE);
    this.swept = meter.createCounter(METRIC_SESSION_SWEPT, {
      description: 'Expired sessions removed (sweeper jobs and manager.cleanupExpired)',
      unit: '{session}',
    });
    this.sweeps = meter.createCounter(METRIC_SESSION_SWEEPS, {
      description: 'Sweep jobs run',
      unit: '{job}',
    });
  }

  /** Run one sweep job inside its span; records the outcome and the counters. */
  public async inSweepSpan(
    job: SweepJobRef,
    work: () => Promise<BucketSweepReport>,
  ): Promise<BucketSweepReport> {
    const tracer = this.tracer;
    if (tracer === undefined || otelApi === undefined) return work();
    const api = otelApi;
    return tracer.startActiveSpan(
      SPAN_SWEEP,
      {
        kind: api.SpanKind.INTERNAL,
        attributes: {
          [ATTR_SESSION_SWEEP_BUCKET]: job.bucket,
          [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_BULLMQ,
          [ATTR_MESSAGING_DESTINATION_NAME]: job.queueName,
          ...(job.jobId === undefined ? {} : { [ATTR_MESSAGING_MESSAGE_ID]: job.jobId }),
        },
      },
      async (span: Span) => {
        try {
          const report = await work();
          span.setAttributes({
            [ATTR_SESSION_SWEEP_EXPIRED]: report.expired,
            [ATTR_SESSION_SWEEP_ORPHANS]: report.orphans,
            [ATTR_SESSION_SWEEP_REPUBLISHED]: report.republished,
            [ATTR_SESSION_SWEEP_EVENTS]: report.published,
            [ATTR_SESSION_SWEEP_BATCHES]: report.batches,
            [ATTR_SESSION_SWEEP_MORE]: report.more,
            [ATTR_SESSION_OUTCOME]: OUTCOME_OK,
          });
          this.swept?.add(report.expired, { [ATTR_SESSION_SWEEP_BUCKET]: job.bucket });
          this.sweeps?.add(1, { [ATTR_SESSION_OUTCOME]: OUTCOME_OK });
          return report;
        } catch (error) {
          span.setAttributes({
            ...sessionErrorAttributes(error),
            [ATTR_SESSION_OUTCOME]: OUTCOME_ERROR,
          });
          span.recordException(exceptionForSpan(error));
          span.setStatus({ code: api.SpanStatusCode.ERROR });
          this.sweeps?.add(1, { [ATTR_SESSION_OUTCOME]: OUTCOME_ERROR });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }
}
