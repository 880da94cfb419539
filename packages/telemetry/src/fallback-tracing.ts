import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Meter, ObservableCallback, Span, Tracer } from '@opentelemetry/api';
import type {
  BreakerStateName,
  FallbackStateReader,
  ReconcileMessage,
  ReconcileTally,
  SessionChannels,
  SessionEvent,
} from '@session-cluster/core';
import type { TracedOperation } from './operation-tracing.js';
import type { SessionMetrics } from './session-metrics.js';
import {
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_RECONCILE_CONFLICTS,
  ATTR_SESSION_RECONCILE_CONFLICT_KEYS,
  ATTR_SESSION_RECONCILE_DELETED,
  ATTR_SESSION_RECONCILE_ENTRIES,
  ATTR_SESSION_RECONCILE_FAILED,
  ATTR_SESSION_RECONCILE_REMAINING,
  ATTR_SESSION_RECONCILE_RESULT,
  ATTR_SESSION_RECONCILE_SKIPPED,
  ATTR_SESSION_RECONCILE_TRIES,
  ATTR_SESSION_RECONCILE_WRITTEN,
  BREAKER_STATE_VALUES,
  EVENT_RECONCILE_BATCH,
  EVENT_RECONCILE_CONFLICT,
  EVENT_RECONCILE_DEFERRED,
  METRIC_SESSION_BREAKER_STATE,
  METRIC_SESSION_DEGRADED,
  SPAN_RECONCILE,
} from './semconv.js';
import { exceptionForSpan } from './span-failure.js';

const BREAKER_VALUES: Readonly<Record<BreakerStateName, number>> = {
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
] as const satisfies readonly (readonly [keyof ReconcileTally, string])[];

interface TracedReconcile extends ReconcileMessage {
  span?: Span;
}

/**
 * The fallback store's side: a `session.reconcile` span per reconciliation
 * run — a root span (it outlives the call that triggered it) linked to the
 * operation that brought the primary back — with its counts and one event
 * per batch and per conflict; the reconciled-sessions counter; and the
 * breaker-state and degraded gauges of every fallback store built while
 * subscribed. The run's own store calls are not traced one by one (10 000
 * sessions would be 30 000 spans): it runs in the root context.
 */
export class FallbackTracing {
  private readonly running = new AsyncLocalStorage<TracedReconcile | undefined>();
  private readonly stores = new Set<FallbackStateReader>();
  private readonly gauges: readonly (readonly [
    ReturnType<Meter['createObservableGauge']>,
    ObservableCallback,
  ])[];
  private readonly onReconcileEnd = (message: unknown): void => {
    this.finish(message as TracedReconcile);
  };

  public constructor(
    private readonly tracer: Tracer,
    meter: Meter,
    private readonly metrics: SessionMetrics,
    private readonly operations: AsyncLocalStorage<TracedOperation | undefined>,
    private readonly activeContext: AsyncLocalStorage<Context> | undefined,
  ) {
    const breakerGauge = meter.createObservableGauge(METRIC_SESSION_BREAKER_STATE, {
      description: 'Breaker guarding the primary store: 0 closed, 1 half-open, 2 open, 3 isolated',
      unit: '{state}',
    });
    const degradedGauge = meter.createObservableGauge(METRIC_SESSION_DEGRADED, {
      description: '1 while this instance serves sessions from memory (primary unavailable)',
      unit: '1',
    });
    const observeBreaker: ObservableCallback = (result) => {
      for (const store of this.stores) result.observe(BREAKER_VALUES[store.breakerState()]);
    };
    const observeDegraded: ObservableCallback = (result) => {
      for (const store of this.stores) result.observe(store.degraded() ? 1 : 0);
    };
    breakerGauge.addCallback(observeBreaker);
    degradedGauge.addCallback(observeDegraded);
    this.gauges = [
      [breakerGauge, observeBreaker],
      [degradedGauge, observeDegraded],
    ];
  }

  /** Whether any fallback store known to this subscriber serves from memory now. */
  public degraded(): boolean {
    for (const store of this.stores) if (store.degraded()) return true;
    return false;
  }

  /** Start listening on `channels`. */
  public subscribe(channels: SessionChannels): void {
    const start = channels.reconcile.start;
    start.bindStore(this.running, (message) => this.begin(message));
    // Events of the run must not land on the operation that triggered it.
    start.bindStore(this.operations, (message) => {
      this.begin(message);
      return undefined;
    });
    if (this.activeContext !== undefined) {
      start.bindStore(this.activeContext, (message) => {
        this.begin(message);
        return ROOT_CONTEXT;
      });
    }
    channels.reconcile.asyncEnd.subscribe(this.onReconcileEnd);
  }

  /** Stop listening on `channels` and observing the gauges. */
  public unsubscribe(channels: SessionChannels): void {
    const start = channels.reconcile.start;
    start.unbindStore(this.running);
    start.unbindStore(this.operations);
    if (this.activeContext !== undefined) start.unbindStore(this.activeContext);
    channels.reconcile.asyncEnd.unsubscribe(this.onReconcileEnd);
    for (const [gauge, callback] of this.gauges) gauge.removeCallback(callback);
    this.stores.clear();
  }

  /** Fallback-store events: stores built and closed, reconciliation progress. */
  public onEvent(event: SessionEvent): void {
    switch (event.type) {
      case 'fallback_opened':
        this.stores.add(event.store);
        return;
      case 'fallback_closed':
        this.stores.delete(event.store);
        return;
      case 'reconcile_batch': {
        const span = this.running.getStore()?.span;
        if (span === undefined || !span.isRecording()) return;
        span.addEvent(EVENT_RECONCILE_BATCH, {
          [ATTR_SESSION_RECONCILE_WRITTEN]: event.tally.written,
          [ATTR_SESSION_RECONCILE_DELETED]: event.tally.deleted,
          [ATTR_SESSION_RECONCILE_CONFLICTS]: event.tally.conflicts,
          [ATTR_SESSION_RECONCILE_REMAINING]: event.remaining,
        });
        return;
      }
      case 'reconcile_conflict': {
        const span = this.running.getStore()?.span;
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
        return;
      }
      case 'write_backs_lost':
        // Revocations count too: each is a user's sessions left undeleted on the primary.
        this.metrics.reconciledSessions('lost', event.entries + event.revocations);
        return;
      case 'reconcile_deferred': {
        this.metrics.reconciledSessions('deferred', 1);
        const span = this.running.getStore()?.span;
        if (span === undefined || !span.isRecording()) return;
        span.addEvent(EVENT_RECONCILE_DEFERRED, {
          ...(event.sessionIdHash === undefined
            ? {}
            : { [ATTR_SESSION_ID_HASH]: event.sessionIdHash }),
          [ATTR_SESSION_ERROR_CODE]: event.error.code,
          [ATTR_SESSION_RECONCILE_TRIES]: event.tries,
        });
        return;
      }
      default:
    }
  }

  /** Start the run's span, once, while the triggering call's context is still current. */
  private begin(message: ReconcileMessage): TracedReconcile {
    const run = message as TracedReconcile;
    if (run.span !== undefined) return run;
    const trigger = (this.operations.getStore()?.span ?? trace.getActiveSpan())?.spanContext();
    run.span = this.tracer.startSpan(SPAN_RECONCILE, {
      root: true,
      attributes: { [ATTR_SESSION_RECONCILE_ENTRIES]: run.entries },
      ...(trigger !== undefined && trace.isSpanContextValid(trigger)
        ? { links: [{ context: trigger }] }
        : {}),
    });
    return run;
  }

  private finish(run: TracedReconcile): void {
    const span = run.span;
    const { before, tally } = run;
    for (const [field, outcome] of TALLY_OUTCOMES) {
      this.metrics.reconciledSessions(outcome, tally[field] - before[field]);
    }
    if (span === undefined) return;
    if (run.error !== undefined) {
      span.recordException(exceptionForSpan(run.error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'reconciliation failed' });
      span.end();
      return;
    }
    span.setAttributes({
      [ATTR_SESSION_RECONCILE_RESULT]: String(run.result),
      [ATTR_SESSION_RECONCILE_WRITTEN]: tally.written - before.written,
      [ATTR_SESSION_RECONCILE_DELETED]: tally.deleted - before.deleted,
      [ATTR_SESSION_RECONCILE_CONFLICTS]: tally.conflicts - before.conflicts,
      [ATTR_SESSION_RECONCILE_SKIPPED]: tally.skipped - before.skipped,
      [ATTR_SESSION_RECONCILE_FAILED]: tally.failed - before.failed,
    });
    if (run.result === 'interrupted') {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: 'interrupted by a storage failure; the rest stays journaled',
      });
    }
    span.end();
  }
}
