import {
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM,
  ATTR_ERROR_TYPE,
  ATTR_SESSION_ATTEMPTS,
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_LOCK_ESCALATION_REASON,
  ATTR_SESSION_LOCK_MODE,
  ATTR_SESSION_OPERATION,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_RETRY_ATTEMPT,
  ATTR_SESSION_RETRY_DELAY_MS,
  CONTEXT_KEY_FALLBACK_NOTE,
  ATTR_SESSION_CACHE_HIT,
  EVENT_CONFLICT_RETRY,
  EVENT_RETRY,
  INSTRUMENTATION_SCOPE,
  METRIC_SESSION_ERRORS,
  METRIC_SESSION_LOCK_ESCALATIONS,
  METRIC_SESSION_LOCK_WAIT,
  METRIC_SESSION_OPERATIONS,
  METRIC_SESSION_OPERATION_DURATION,
  METRIC_SESSION_RETRIES,
  METRIC_SESSION_SWEPT,
  OUTCOME_ERROR,
  OUTCOME_NOT_FOUND,
  OUTCOME_OK,
  SESSION_STORE_METHODS,
  SPAN_SESSION_PREFIX,
  SPAN_STORE_PREFIX,
  exceptionForSpan,
  hashSessionId,
  isValidSessionId,
  maskSessionIds,
  sessionErrorAttributes,
  toSessionError,
} from '@session-cluster/core';
import type {
  EscalationReason,
  FallbackNote,
  LockMode,
  RetryEvent,
  SessionError,
  SessionOperationName,
  SessionOutcome,
  SessionStore,
} from '@session-cluster/core';
import type {
  Attributes,
  Counter,
  Histogram,
  MeterProvider,
  Span,
  SpanOptions,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import { MANAGER_OPERATIONS } from './manager-options.js';
import type { OperationName } from './manager-options.js';
import type { OtelApi } from '@session-cluster/core';

/**
 * How the manager reports to OpenTelemetry. Spans and metrics go through
 * `@opentelemetry/api`: nothing is exported until the application registers
 * an SDK (e.g. `startTelemetry()` of `@session-cluster/telemetry`), and with
 * none registered the cost is a few no-op calls per operation.
 */
export interface ManagerTelemetryOptions {
  /**
   * `false`: no spans, no metrics, not even no-op API calls (the baseline
   * the tracing overhead is measured against). Default `true`.
   */
  readonly enabled?: boolean | undefined;
  /** Where spans go; the global tracer provider (followed even if registered later) when absent. */
  readonly tracerProvider?: TracerProvider | undefined;
  /**
   * Where metrics go; the global meter provider *at construction* when
   * absent: register the SDK before creating the manager.
   */
  readonly meterProvider?: MeterProvider | undefined;
  /** `db.system` of the store-call spans (`redis` …); left out when absent. */
  readonly dbSystem?: string | undefined;
}

/** Histogram buckets (seconds) for operation latency and lock wait: 0.5 ms to 5 s. */
const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/**
 * Store methods that get a span (the manager never enumerates sessions, nor
 * calls the outage fallback's own methods).
 */
export type TracedStoreMethod = Exclude<
  keyof SessionStore,
  'degraded' | 'close' | 'listSessionIds' | 'peekCached' | 'takeRetained' | 'merge' | 'forget'
>;

const TRACED_STORE_METHODS: readonly TracedStoreMethod[] = SESSION_STORE_METHODS.filter(
  (method): method is TracedStoreMethod => method !== 'close',
);

/** The telemetry name of each manager operation (`listByUser` → `list_by_user`). */
export const OPERATION_TELEMETRY_NAMES: Readonly<Record<OperationName, SessionOperationName>> =
  Object.freeze({
    create: 'create',
    get: 'get',
    update: 'update',
    patch: 'patch',
    touch: 'touch',
    regenerate: 'regenerate',
    delete: 'delete',
    listByUser: 'list_by_user',
    deleteByUser: 'delete_by_user',
    cleanupExpired: 'cleanup_expired',
    lock: 'lock',
  });

const OUTCOMES = [OUTCOME_OK, OUTCOME_NOT_FOUND, OUTCOME_ERROR] as const;

function perOperation<V>(build: (operation: OperationName) => V): Record<OperationName, V> {
  const out = {} as Record<OperationName, V>;
  for (const operation of MANAGER_OPERATIONS) out[operation] = build(operation);
  return out;
}

/**
 * Mark `span` failed: status ERROR, the `SessionError` code, category,
 * severity and retryability as attributes, and the exception (message with
 * session ids masked, no stack). No-op on a span that is not recording.
 */
export function markSpanFailed(api: OtelApi, span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const sessionError = toSessionError(error);
  span.setAttributes(sessionErrorAttributes(sessionError));
  span.recordException(exceptionForSpan(sessionError));
  span.setStatus({
    code: api.SpanStatusCode.ERROR,
    message: `${sessionError.code}: ${maskSessionIds(sessionError.message)}`,
  });
}

/**
 * The manager's spans and instruments. Built once per manager; every
 * attribute object that does not depend on the call is built here too, so
 * the hot path allocates nothing for telemetry beyond what the SDK does
 * (and, with no SDK, beyond the API's non-recording span).
 */
export class ManagerTelemetry {
  public readonly api: OtelApi;
  public readonly tracer: Tracer;
  private readonly degraded: () => boolean;
  private readonly operations: Counter;
  private readonly errors: Counter;
  private readonly duration: Histogram;
  private readonly retries: Counter;
  private readonly lockWait: Histogram;
  private readonly swept: Counter;
  private readonly escalations: Counter;
  private readonly spanNames: Readonly<Record<OperationName, string>>;
  private readonly spanOptions: Readonly<Record<OperationName, SpanOptions>>;
  private readonly outcomeAttributes: Readonly<
    Record<OperationName, Readonly<Record<SessionOutcome, Attributes>>>
  >;
  private readonly storeSpanOptions: Readonly<Record<TracedStoreMethod, SpanOptions>>;
  private readonly lockWaitAttributes: Readonly<Record<'ok' | 'error', Attributes>>;
  private readonly escalationAttributes: Readonly<Record<EscalationReason, Attributes>>;
  private readonly fallbackNoteKey = Symbol.for(CONTEXT_KEY_FALLBACK_NOTE);

  /**
   * @param degraded whether the store serves from its fallback right now
   *   (`store.degraded`), for the operation span's `session.degraded`
   */
  public constructor(api: OtelApi, options: ManagerTelemetryOptions, degraded: () => boolean) {
    this.api = api;
    this.degraded = degraded;
    this.tracer =
      options.tracerProvider === undefined
        ? api.trace.getTracer(INSTRUMENTATION_SCOPE)
        : options.tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    const meter = (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(
      INSTRUMENTATION_SCOPE,
    );
    this.operations = meter.createCounter(METRIC_SESSION_OPERATIONS, {
      description: 'Session operations, by operation and outcome',
      unit: '{operation}',
    });
    this.errors = meter.createCounter(METRIC_SESSION_ERRORS, {
      description: 'Failed session operations, by operation and SessionError code (error.type)',
      unit: '{error}',
    });
    this.duration = meter.createHistogram(METRIC_SESSION_OPERATION_DURATION, {
      description: 'Session operation latency, by operation and outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
    this.retries = meter.createCounter(METRIC_SESSION_RETRIES, {
      description: 'Retries of session operations, by operation and SessionError code',
      unit: '{retry}',
    });
    this.lockWait = meter.createHistogram(METRIC_SESSION_LOCK_WAIT, {
      description: 'Time spent waiting for a session lock, by outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
    this.swept = meter.createCounter(METRIC_SESSION_SWEPT, {
      description: 'Expired sessions removed (sweeper jobs and manager.cleanupExpired)',
      unit: '{session}',
    });
    this.escalations = meter.createCounter(METRIC_SESSION_LOCK_ESCALATIONS, {
      description:
        'Updates that took the session lock because the session was contended, by reason',
      unit: '{update}',
    });
    this.spanNames = perOperation((op) => `${SPAN_SESSION_PREFIX}${OPERATION_TELEMETRY_NAMES[op]}`);
    this.spanOptions = perOperation((op) => ({
      kind: api.SpanKind.INTERNAL,
      attributes: { [ATTR_SESSION_OPERATION]: OPERATION_TELEMETRY_NAMES[op] },
    }));
    this.outcomeAttributes = perOperation((op) => {
      const byOutcome = {} as Record<SessionOutcome, Attributes>;
      for (const outcome of OUTCOMES) {
        byOutcome[outcome] = Object.freeze({
          [ATTR_SESSION_OPERATION]: OPERATION_TELEMETRY_NAMES[op],
          [ATTR_SESSION_OUTCOME]: outcome,
        });
      }
      return byOutcome;
    });
    const storeSpanOptions = {} as Record<TracedStoreMethod, SpanOptions>;
    for (const method of TRACED_STORE_METHODS) {
      storeSpanOptions[method] = {
        kind: api.SpanKind.INTERNAL,
        attributes: {
          [ATTR_DB_OPERATION_NAME]: method,
          ...(options.dbSystem === undefined ? {} : { [ATTR_DB_SYSTEM]: options.dbSystem }),
        },
      };
    }
    this.storeSpanOptions = storeSpanOptions;
    this.lockWaitAttributes = {
      ok: Object.freeze({ [ATTR_SESSION_OUTCOME]: OUTCOME_OK }),
      error: Object.freeze({ [ATTR_SESSION_OUTCOME]: OUTCOME_ERROR }),
    };
    this.escalationAttributes = {
      conflict: Object.freeze({ [ATTR_SESSION_LOCK_ESCALATION_REASON]: 'conflict' }),
      hot: Object.freeze({ [ATTR_SESSION_LOCK_ESCALATION_REASON]: 'hot' }),
      local: Object.freeze({ [ATTR_SESSION_LOCK_ESCALATION_REASON]: 'local' }),
    };
  }

  /**
   * Start the span of a manager operation, as a child of the active span
   * (the HTTP request, typically). The id is hashed only when the span records.
   */
  public startOperation(operation: OperationName, id?: unknown): Span {
    const span = this.tracer.startSpan(this.spanNames[operation], this.spanOptions[operation]);
    if (typeof id === 'string' && span.isRecording() && isValidSessionId(id)) {
      span.setAttribute(ATTR_SESSION_ID_HASH, hashSessionId(id));
    }
    return span;
  }

  /**
   * Run `work` with `span` (a recording operation span) active, so lock,
   * store and Redis spans become its children, and a {@link FallbackNote}
   * in the context, which the fallback store marks when it serves a call
   * from memory. Sets `session.degraded` on the span when `work` settles.
   */
  public async runInOperation<T>(span: Span, work: () => Promise<T>): Promise<T> {
    const { context, trace } = this.api;
    const note: FallbackNote = { servedDegraded: false };
    const active = trace.setSpan(context.active(), span).setValue(this.fallbackNoteKey, note);
    try {
      return await context.with(active, work);
    } finally {
      span.setAttribute(ATTR_SESSION_DEGRADED, note.servedDegraded || this.degraded());
      if (note.cacheHit !== undefined) span.setAttribute(ATTR_SESSION_CACHE_HIT, note.cacheHit);
    }
  }

  /** Count a finished operation and end its span. */
  public endOperation(
    span: Span | undefined,
    operation: OperationName,
    durationMs: number,
    outcome: SessionOutcome,
  ): void {
    const attributes = this.outcomeAttributes[operation][outcome];
    this.operations.add(1, attributes);
    this.duration.record(durationMs / 1000, attributes);
    if (span === undefined) return;
    if (span.isRecording()) span.setAttribute(ATTR_SESSION_OUTCOME, outcome);
    span.end();
  }

  /** Count a failed operation (errors by code too), mark its span failed and end it. */
  public failOperation(
    span: Span | undefined,
    operation: OperationName,
    durationMs: number,
    error: SessionError,
  ): void {
    const outcome = error.code === 'SESSION_NOT_FOUND' ? OUTCOME_NOT_FOUND : OUTCOME_ERROR;
    const attributes = this.outcomeAttributes[operation][outcome];
    this.operations.add(1, attributes);
    this.duration.record(durationMs / 1000, attributes);
    this.errors.add(1, {
      [ATTR_SESSION_OPERATION]: OPERATION_TELEMETRY_NAMES[operation],
      [ATTR_ERROR_TYPE]: error.code,
    });
    if (span === undefined) return;
    if (span.isRecording()) {
      span.setAttribute(ATTR_SESSION_OUTCOME, outcome);
      markSpanFailed(this.api, span, error);
    }
    span.end();
  }

  /**
   * A retry is about to wait: count it, and add a `session.retry` event to
   * the active span (the operation's; the retry policy runs in its context).
   */
  public onRetry(event: RetryEvent): void {
    const operation = event.operation ?? 'unknown';
    this.retries.add(1, {
      [ATTR_SESSION_OPERATION]: Object.hasOwn(OPERATION_TELEMETRY_NAMES, operation)
        ? OPERATION_TELEMETRY_NAMES[operation as OperationName]
        : operation,
      [ATTR_ERROR_TYPE]: event.error.code,
    });
    const span = this.api.trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    span.addEvent(EVENT_RETRY, {
      [ATTR_SESSION_RETRY_ATTEMPT]: event.attempt,
      [ATTR_SESSION_RETRY_DELAY_MS]: event.delayMs,
      [ATTR_ERROR_TYPE]: event.error.code,
      [ATTR_SESSION_ERROR_CODE]: event.error.code,
    });
    // Calls so far, counting the one about to be made: the last event leaves the total.
    span.setAttribute(ATTR_SESSION_ATTEMPTS, event.attempt + 1);
  }

  /** True when the active span records: only then are child spans (lock, store) worth making. */
  public childSpansWanted(): boolean {
    const span = this.api.trace.getActiveSpan();
    return span !== undefined && span.isRecording();
  }

  /** Run a store call in a `session.store.<method>` span (child of the active span). */
  public async storeCall<T>(method: TracedStoreMethod, call: () => Promise<T>): Promise<T> {
    const { context, trace } = this.api;
    const span = this.tracer.startSpan(
      `${SPAN_STORE_PREFIX}${method}`,
      this.storeSpanOptions[method],
    );
    try {
      return await context.with(trace.setSpan(context.active(), span), call);
    } catch (error) {
      markSpanFailed(this.api, span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** Set `session.lock.mode` on the active span (the `update` operation's) for the attempt starting now. */
  public noteLockMode(mode: LockMode): void {
    const span = this.api.trace.getActiveSpan();
    if (span !== undefined && span.isRecording()) span.setAttribute(ATTR_SESSION_LOCK_MODE, mode);
  }

  /**
   * An optimistic `update` attempt met `VERSION_CONFLICT` and runs again at
   * once: a `session.conflict_retry` event on the active span. These are not
   * policy retries (no backoff), so they are not counted in `session.retries`.
   *
   * @param attempt 1-based number of the optimistic attempt that conflicted
   */
  public onConflictRetry(attempt: number): void {
    const span = this.api.trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    span.addEvent(EVENT_CONFLICT_RETRY, {
      [ATTR_SESSION_RETRY_ATTEMPT]: attempt,
      [ATTR_ERROR_TYPE]: 'VERSION_CONFLICT',
    });
  }

  /** Count an `update` that took the lock because the session was contended. */
  public recordEscalation(reason: EscalationReason): void {
    this.escalations.add(1, this.escalationAttributes[reason]);
  }

  /** Record how long a lock acquisition waited. */
  public recordLockWait(waitMs: number, ok: boolean): void {
    this.lockWait.record(waitMs / 1000, this.lockWaitAttributes[ok ? 'ok' : 'error']);
  }

  /** Count sessions removed by `cleanupExpired`. */
  public recordSwept(count: number): void {
    if (count > 0) this.swept.add(count);
  }
}
