import {
  ATTR_ERROR_TYPE,
  ATTR_SESSION_BREAKER_STATE,
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_FALLBACK_ROUTE,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_RECONCILE_CONFLICTS,
  ATTR_SESSION_RECONCILE_DELETED,
  ATTR_SESSION_RECONCILE_ENTRIES,
  ATTR_SESSION_RECONCILE_FAILED,
  ATTR_SESSION_RECONCILE_REMAINING,
  ATTR_SESSION_RECONCILE_RESULT,
  ATTR_SESSION_RECONCILE_SKIPPED,
  ATTR_SESSION_RECONCILE_WRITTEN,
  BREAKER_STATE_VALUES,
  CONTEXT_KEY_FALLBACK_NOTE,
  EVENT_BREAKER_STATE_CHANGE,
  EVENT_FAILOVER,
  EVENT_RECONCILE_BATCH,
  EVENT_RECONCILE_CONFLICT,
  ATTR_SESSION_RECONCILE_CONFLICT_KEYS,
  ATTR_SESSION_ID_HASH,
  INSTRUMENTATION_SCOPE,
  METRIC_SESSION_BREAKER_STATE,
  METRIC_SESSION_DEGRADED,
  METRIC_SESSION_RECONCILED,
  SPAN_RECONCILE,
  exceptionForSpan,
  isSessionError,
} from '@session-cluster/core';
import type { FallbackNote, FallbackRoute } from '@session-cluster/core';
import type {
  Attributes,
  Counter,
  MeterProvider,
  ObservableCallback,
  ObservableGauge,
  Span,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { ReconcileConflictEvent, ReconcileCounts } from './fallback-events.js';
import type { OtelApi } from '@session-cluster/core';
import type { BreakerState } from './primary-policy.js';
import type { ReconcileOutcome } from './reconciler.js';
import { isTaskCancelled } from './storage-failure.js';

/** How the fallback store reports to OpenTelemetry (through `@opentelemetry/api`). */
export interface FallbackTelemetryOptions {
  /** `false`: no spans, attributes or metrics. Default `true`. */
  readonly enabled?: boolean | undefined;
  /** Where spans go; the global tracer provider when absent. */
  readonly tracerProvider?: TracerProvider | undefined;
  /** Where metrics go; the global meter provider at construction when absent. */
  readonly meterProvider?: MeterProvider | undefined;
}

/** What the telemetry reads from the store when metrics are collected. */
export interface FallbackState {
  readonly degraded: () => boolean;
  readonly breakerState: () => BreakerState;
}

const BREAKER_VALUES: Readonly<Record<BreakerState, number>> = {
  closed: BREAKER_STATE_VALUES.closed,
  'half-open': BREAKER_STATE_VALUES.half_open,
  open: BREAKER_STATE_VALUES.open,
  isolated: BREAKER_STATE_VALUES.isolated,
};

const TALLY_OUTCOMES = [
  ['written', 'written'],
  ['restored', 'restored'],
  ['deleted', 'deleted'],
  ['conflicts', 'conflict'],
  ['skipped', 'skipped'],
  ['failed', 'failed'],
] as const satisfies readonly (readonly [keyof ReconcileCounts, string])[];

/** The code a failover event names: the `SessionError` code, `STORAGE_TIMEOUT` for the call timeout. */
function failureCode(error: unknown): string {
  if (isSessionError(error)) return error.code;
  return isTaskCancelled(error) ? 'STORAGE_TIMEOUT' : 'INTERNAL';
}

/**
 * The fallback store's telemetry:
 * - on the active span (the manager's `session.store.<method>` span): how
 *   the call was routed (`session.fallback.route`, `session.degraded`), a
 *   `session.fallback.failover` event with the error code when the primary
 *   failed mid-call, and `session.fallback.breaker_state_change` events;
 *   and the operation's {@link FallbackNote} is marked when memory served it;
 * - a `session.reconcile` span per reconciliation run (a root span linked to
 *   the call that brought the primary back), with counts and a
 *   `session.reconcile.batch` event per batch;
 * - metrics: breaker state and degraded gauges, reconciled sessions by outcome.
 */
export class FallbackTelemetry {
  private readonly api: OtelApi;
  private readonly tracer: Tracer;
  private readonly reconciled: Counter;
  private readonly gauges: readonly (readonly [ObservableGauge, ObservableCallback])[];
  private readonly noteKey = Symbol.for(CONTEXT_KEY_FALLBACK_NOTE);
  private readonly outcomeAttributes: Readonly<Record<string, Attributes>>;
  private reconcileSpan: Span | undefined;

  public constructor(api: OtelApi, options: FallbackTelemetryOptions, state: FallbackState) {
    this.api = api;
    this.tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(
      INSTRUMENTATION_SCOPE,
    );
    const meter = (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(
      INSTRUMENTATION_SCOPE,
    );
    this.reconciled = meter.createCounter(METRIC_SESSION_RECONCILED, {
      description: 'Sessions handled by reconciliation after an outage, by outcome',
      unit: '{session}',
    });
    const outcomeAttributes: Record<string, Attributes> = {};
    for (const [, outcome] of TALLY_OUTCOMES) {
      outcomeAttributes[outcome] = Object.freeze({ [ATTR_SESSION_OUTCOME]: outcome });
    }
    this.outcomeAttributes = outcomeAttributes;
    const breakerGauge = meter.createObservableGauge(METRIC_SESSION_BREAKER_STATE, {
      description: 'Breaker guarding the primary store: 0 closed, 1 half-open, 2 open, 3 isolated',
      unit: '{state}',
    });
    const degradedGauge = meter.createObservableGauge(METRIC_SESSION_DEGRADED, {
      description: '1 while this instance serves sessions from memory (primary unavailable)',
      unit: '1',
    });
    const observeBreaker: ObservableCallback = (result) => {
      result.observe(BREAKER_VALUES[state.breakerState()]);
    };
    const observeDegraded: ObservableCallback = (result) => {
      result.observe(state.degraded() ? 1 : 0);
    };
    breakerGauge.addCallback(observeBreaker);
    degradedGauge.addCallback(observeDegraded);
    this.gauges = [
      [breakerGauge, observeBreaker],
      [degradedGauge, observeDegraded],
    ];
  }

  /**
   * Note how a call was routed. `failure` is the primary's error when it
   * failed mid-call (route `primary_failed_over`).
   */
  public routed(route: FallbackRoute, failure?: unknown): void {
    const { context, trace } = this.api;
    const active = context.active();
    // Last route wins: a call that failed over and was then answered by the
    // primary after all (a miss rechecked) was not served degraded.
    const note = active.getValue(this.noteKey) as FallbackNote | undefined;
    if (note !== undefined) note.servedDegraded = route !== 'primary';
    const span = trace.getSpan(active);
    if (span === undefined || !span.isRecording()) return;
    span.setAttribute(ATTR_SESSION_FALLBACK_ROUTE, route);
    span.setAttribute(ATTR_SESSION_DEGRADED, route !== 'primary');
    if (failure !== undefined) {
      span.addEvent(EVENT_FAILOVER, { [ATTR_ERROR_TYPE]: failureCode(failure) });
    }
  }

  /** The breaker moved: an event on the call that moved it (when one is traced). */
  public breakerChanged(state: BreakerState): void {
    const span = this.api.trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    span.addEvent(EVENT_BREAKER_STATE_CHANGE, { [ATTR_SESSION_BREAKER_STATE]: state });
  }

  /**
   * Run one reconciliation pass in a `session.reconcile` span: a root span
   * (it outlives the call that triggered it), linked to that call's span.
   * The pass runs with no span active: its Redis commands are not traced
   * one by one (10 000 sessions would be 30 000 spans); the span carries
   * the counts and one event per batch.
   */
  public async reconcile(
    pending: number,
    tally: Readonly<ReconcileCounts>,
    run: () => Promise<ReconcileOutcome>,
  ): Promise<ReconcileOutcome> {
    const { context, trace, ROOT_CONTEXT, SpanStatusCode } = this.api;
    const before = { ...tally };
    const trigger = trace.getActiveSpan()?.spanContext();
    const span = this.tracer.startSpan(SPAN_RECONCILE, {
      root: true,
      attributes: { [ATTR_SESSION_RECONCILE_ENTRIES]: pending },
      ...(trigger !== undefined && trace.isSpanContextValid(trigger)
        ? { links: [{ context: trigger }] }
        : {}),
    });
    this.reconcileSpan = span;
    let outcome: ReconcileOutcome;
    try {
      outcome = await context.with(ROOT_CONTEXT, run);
    } catch (error) {
      span.recordException(exceptionForSpan(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'reconciliation failed' });
      span.end();
      this.reconcileSpan = undefined;
      this.countReconciled(before, tally);
      throw error;
    }
    this.reconcileSpan = undefined;
    this.countReconciled(before, tally);
    span.setAttributes({
      [ATTR_SESSION_RECONCILE_RESULT]: outcome,
      [ATTR_SESSION_RECONCILE_WRITTEN]: tally.written - before.written,
      [ATTR_SESSION_RECONCILE_DELETED]: tally.deleted - before.deleted,
      [ATTR_SESSION_RECONCILE_CONFLICTS]: tally.conflicts - before.conflicts,
      [ATTR_SESSION_RECONCILE_SKIPPED]: tally.skipped - before.skipped,
      [ATTR_SESSION_RECONCILE_FAILED]: tally.failed - before.failed,
    });
    if (outcome === 'interrupted') {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: 'interrupted by a storage failure; the rest stays journaled',
      });
    }
    span.end();
    return outcome;
  }

  /** A reconciliation batch finished: an event on the run's span. */
  public reconcileProgress(tally: Readonly<ReconcileCounts>, remaining: number): void {
    const span = this.reconcileSpan;
    if (span === undefined || !span.isRecording()) return;
    span.addEvent(EVENT_RECONCILE_BATCH, {
      [ATTR_SESSION_RECONCILE_WRITTEN]: tally.written,
      [ATTR_SESSION_RECONCILE_DELETED]: tally.deleted,
      [ATTR_SESSION_RECONCILE_CONFLICTS]: tally.conflicts,
      [ATTR_SESSION_RECONCILE_REMAINING]: remaining,
    });
  }

  /** A session changed on both sides: an event on the run's span (the metric counts it by outcome `conflict`). */
  public reconcileConflict(event: ReconcileConflictEvent): void {
    const span = this.reconcileSpan;
    if (span === undefined || !span.isRecording()) return;
    span.addEvent(EVENT_RECONCILE_CONFLICT, {
      [ATTR_SESSION_ID_HASH]: event.sessionIdHash,
      [ATTR_SESSION_RECONCILE_CONFLICT_KEYS]: [...event.keys],
      [ATTR_SESSION_OUTCOME]: event.deleted
        ? 'deleted'
        : event.keys.length === 0
          ? 'primary_kept'
          : 'last_writer_wins',
    });
  }

  /** Stop observing the gauges (the store is closing). */
  public close(): void {
    for (const [gauge, callback] of this.gauges) gauge.removeCallback(callback);
  }

  private countReconciled(before: Readonly<ReconcileCounts>, after: Readonly<ReconcileCounts>) {
    for (const [field, outcome] of TALLY_OUTCOMES) {
      const delta = after[field] - before[field];
      if (delta > 0) this.reconciled.add(delta, this.outcomeAttributes[outcome]);
    }
  }
}
