import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanKind, context, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import {
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM,
  ATTR_ERROR_TYPE,
  ATTR_SESSION_ATTEMPTS,
  ATTR_SESSION_BREAKER_STATE,
  ATTR_SESSION_CACHE_HIT,
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_FALLBACK_ROUTE,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_LOCK_ATTEMPTS,
  ATTR_SESSION_LOCK_HELD_MS,
  ATTR_SESSION_LOCK_MODE,
  ATTR_SESSION_LOCK_NODES_TOTAL,
  ATTR_SESSION_LOCK_NODES_VOTED,
  ATTR_SESSION_LOCK_QUORUM,
  ATTR_SESSION_LOCK_TTL_MS,
  ATTR_SESSION_LOCK_WAIT_MS,
  ATTR_SESSION_OPERATION,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_RETRY_ATTEMPT,
  ATTR_SESSION_RETRY_DELAY_MS,
  EVENT_BREAKER_STATE_CHANGE,
  EVENT_CONFLICT_RETRY,
  EVENT_FAILOVER,
  EVENT_LOCK_FALLBACK,
  EVENT_RETRY,
  OUTCOME_ERROR,
  OUTCOME_NOT_FOUND,
  SPAN_LOCK_ACQUIRE,
  SPAN_LOCK_RELEASE,
  SPAN_SESSION_PREFIX,
  SPAN_STORE_PREFIX,
  hashSessionId,
  isSessionError,
  isValidSessionId,
  toSessionError,
} from '@session-cluster/core';
import type {
  OperationMessage,
  SessionChannels,
  SessionEvent,
  SessionOperationName,
  SessionOutcome,
  StoreCallMessage,
} from '@session-cluster/core';
import { describeResult } from './operation-outcomes.js';
import type { SessionMetrics } from './session-metrics.js';
import { markSpanFailed } from './span-failure.js';

/** Attribute: time a store call took, ms (on its `session.store.<method>` event). */
export const ATTR_SESSION_STORE_DURATION_MS = 'session.store.duration_ms';

/** An operation message with what this subscriber hangs on it. */
export interface TracedOperation extends OperationMessage {
  span?: Span;
  /** Whether `span` records: only then is anything more built for it. */
  recording?: boolean;
  startedAt?: number;
  /** Some store call of the operation was served by the fallback (memory). */
  servedDegraded?: boolean;
  /** How the last store call was routed by the fallback store (cleared by the call's end). */
  route?: string;
  cacheHit?: boolean;
  /** The store call running now, when store calls get child spans. */
  storeSpan?: Span;
}

interface TracedStoreCall extends StoreCallMessage {
  operation?: TracedOperation;
  startedAt?: number;
  span?: Span;
}

const VOTE_ATTRIBUTES = [
  ['votesFor', ATTR_SESSION_LOCK_NODES_VOTED],
  ['membershipSize', ATTR_SESSION_LOCK_NODES_TOTAL],
  ['quorumSize', ATTR_SESSION_LOCK_QUORUM],
  ['attempts', ATTR_SESSION_LOCK_ATTEMPTS],
] as const;

/**
 * Vote counts a locker reports, added to `attributes`: Redlock's held lock
 * (`votes`) and its `LOCK_NOT_ACQUIRED` (`details`) carry `votesFor`,
 * `membershipSize`, `quorumSize`, `attempts`.
 */
function addVotes(attributes: Attributes, source: unknown): void {
  if (typeof source !== 'object' || source === null) return;
  const record = source as Record<string, unknown>;
  for (const [field, attribute] of VOTE_ATTRIBUTES) {
    const value = record[field];
    if (typeof value === 'number' && Number.isFinite(value)) attributes[attribute] = value;
  }
}

/** How {@link OperationTracing} shapes its spans. */
export interface OperationTracingOptions {
  /** Store calls and lock acquire/release as child spans instead of events on the operation span. */
  readonly childSpans: boolean;
  /**
   * The context manager's storage, to make operation (and, with
   * `childSpans`, store-call) spans the active context while they run:
   * what puts Redis command spans under them. Absent: not activated.
   */
  readonly activeContext: AsyncLocalStorage<Context> | undefined;
  /** Whether a fallback store serves from memory right now. */
  readonly degraded: () => boolean;
  /** `db.system` of store-call spans. */
  readonly dbSystem: string;
}

/**
 * Manager operations as spans and metrics: one `session.<operation>` span
 * per call (child of the active span, e.g. the HTTP request) carrying the
 * hashed session id, the outcome, `session.degraded`, the cache hit, the
 * lock mode; its phases — lock acquisition and release, each store call
 * and how the fallback routed it — as events on it (`session.lock.acquire`,
 * `session.store.load`, …), or as child spans with `childSpans`. Retries
 * and conflicts are events. Nothing is built for an operation whose span
 * does not record beyond the metrics.
 */
export class OperationTracing {
  /** The operation whose work is running (for the events published inside it). */
  public readonly current = new AsyncLocalStorage<TracedOperation | undefined>();
  private readonly spanNames = new Map<string, string>();
  private readonly operationSpanOptions: SpanOptions = { kind: SpanKind.INTERNAL };
  private readonly storeSpanOptions = new Map<string, SpanOptions>();
  private readonly onOperationEnd = (message: unknown): void => {
    this.finish(message as TracedOperation);
  };
  /**
   * `end` follows the synchronous part of the call; it carries an error only
   * when the call threw before returning its promise (an argument check), in
   * which case no asyncEnd follows: finish there.
   */
  private readonly onOperationSyncEnd = (message: unknown): void => {
    if ((message as TracedOperation).error !== undefined) this.finish(message as TracedOperation);
  };
  private readonly onStoreCallSyncEnd = (message: unknown): void => {
    if ((message as TracedStoreCall).error !== undefined) {
      this.endStoreCall(message as TracedStoreCall);
    }
  };
  private readonly onStoreCallStart = (message: unknown): void => {
    this.beginStoreCall(message as StoreCallMessage);
  };
  private readonly onStoreCallEnd = (message: unknown): void => {
    this.endStoreCall(message as TracedStoreCall);
  };

  public constructor(
    private readonly tracer: Tracer,
    private readonly metrics: SessionMetrics,
    private readonly options: OperationTracingOptions,
  ) {}

  /** Start listening on `channels`. */
  public subscribe(channels: SessionChannels): void {
    channels.operation.start.bindStore(this.current, (message) => this.begin(message));
    const active = this.options.activeContext;
    if (active !== undefined) {
      channels.operation.start.bindStore(active, (message) => {
        const span = this.begin(message).span;
        return span === undefined ? context.active() : trace.setSpan(context.active(), span);
      });
    }
    // asyncEnd follows a rejection too; a synchronous throw ends at `end`.
    channels.operation.asyncEnd.subscribe(this.onOperationEnd);
    channels.operation.end.subscribe(this.onOperationSyncEnd);
    channels.storeCall.start.subscribe(this.onStoreCallStart);
    channels.storeCall.asyncEnd.subscribe(this.onStoreCallEnd);
    channels.storeCall.end.subscribe(this.onStoreCallSyncEnd);
    if (active !== undefined && this.options.childSpans) {
      channels.storeCall.start.bindStore(active, (message) => {
        const span = this.beginStoreCall(message).span;
        return span === undefined ? context.active() : trace.setSpan(context.active(), span);
      });
    }
  }

  /** Stop listening on `channels`. */
  public unsubscribe(channels: SessionChannels): void {
    channels.operation.start.unbindStore(this.current);
    const active = this.options.activeContext;
    if (active !== undefined) {
      channels.operation.start.unbindStore(active);
      channels.storeCall.start.unbindStore(active);
    }
    channels.operation.asyncEnd.unsubscribe(this.onOperationEnd);
    channels.operation.end.unsubscribe(this.onOperationSyncEnd);
    channels.storeCall.start.unsubscribe(this.onStoreCallStart);
    channels.storeCall.asyncEnd.unsubscribe(this.onStoreCallEnd);
    channels.storeCall.end.unsubscribe(this.onStoreCallSyncEnd);
  }

  /** An event published inside an operation: retries, lock phases, routing, cache. */
  public onEvent(event: SessionEvent): void {
    const operation = this.current.getStore();
    switch (event.type) {
      case 'retry':
        this.retried(operation, event.retry.operation, event.retry);
        return;
      case 'lock_acquired':
        this.metrics.lockWaited(event.waitMs, event.error === undefined);
        if (operation?.recording === true) this.lockAcquired(operation, event);
        return;
      case 'escalation':
        this.metrics.escalated(event.reason);
        return;
      default:
    }
    if (operation?.recording !== true) {
      if (operation !== undefined && event.type === 'route') {
        operation.servedDegraded = event.route !== 'primary';
      }
      if (operation !== undefined && event.type === 'cache') operation.cacheHit = event.hit;
      return;
    }
    const span = operation.span as Span;
    switch (event.type) {
      case 'lock_released':
        this.lockReleased(operation, event.heldMs);
        return;
      case 'conflict_retry':
        span.addEvent(EVENT_CONFLICT_RETRY, {
          [ATTR_SESSION_RETRY_ATTEMPT]: event.attempt,
          [ATTR_ERROR_TYPE]: 'VERSION_CONFLICT',
        });
        return;
      case 'lock_mode':
        span.setAttribute(ATTR_SESSION_LOCK_MODE, event.mode);
        return;
      case 'cache':
        operation.cacheHit = event.hit;
        return;
      case 'route': {
        // Last route wins: a call that failed over and was then answered by
        // the primary after all (a miss rechecked) was not served degraded.
        operation.servedDegraded = event.route !== 'primary';
        operation.route = event.route;
        const target = operation.storeSpan ?? span;
        target.setAttribute(ATTR_SESSION_FALLBACK_ROUTE, event.route);
        target.setAttribute(ATTR_SESSION_DEGRADED, event.route !== 'primary');
        if (event.failure !== undefined) {
          target.addEvent(EVENT_FAILOVER, { [ATTR_ERROR_TYPE]: event.failure });
        }
        return;
      }
      case 'breaker':
        (operation.storeSpan ?? span).addEvent(EVENT_BREAKER_STATE_CHANGE, {
          [ATTR_SESSION_BREAKER_STATE]: event.state,
        });
        return;
      case 'lock_fallback':
        span.addEvent(EVENT_LOCK_FALLBACK, { [ATTR_ERROR_TYPE]: event.code });
        return;
      default:
    }
  }

  /** Start the operation's span, once (every bound store's transform asks for it). */
  private begin(message: OperationMessage): TracedOperation {
    const operation = message as TracedOperation;
    if (operation.startedAt !== undefined) return operation;
    operation.startedAt = performance.now();
    const span = this.tracer.startSpan(
      this.spanName(operation.operation),
      this.operationSpanOptions,
      context.active(),
    );
    operation.span = span;
    const recording = span.isRecording();
    operation.recording = recording;
    if (!recording) return operation;
    // Set here, not in the span options: the SDK sanitises option attributes
    // before it samples, which an unsampled operation should not pay for.
    span.setAttribute(ATTR_SESSION_OPERATION, operation.operation);
    const id = operation.sessionId;
    if (typeof id === 'string' && isValidSessionId(id)) {
      span.setAttribute(ATTR_SESSION_ID_HASH, hashSessionId(id));
    }
    return operation;
  }

  private finish(operation: TracedOperation): void {
    const durationMs = performance.now() - (operation.startedAt ?? performance.now());
    const span = operation.span;
    const recording = operation.recording === true ? span : undefined;
    let outcome: SessionOutcome;
    let errorCode: string | undefined;
    if (operation.error === undefined) {
      outcome = describeResult(operation.operation, operation.result, recording);
      if (operation.operation === 'cleanup_expired' && typeof operation.result === 'number') {
        this.metrics.sweptSessions(operation.result);
      }
    } else {
      errorCode = toSessionError(operation.error).code;
      outcome = errorCode === 'SESSION_NOT_FOUND' ? OUTCOME_NOT_FOUND : OUTCOME_ERROR;
    }
    this.metrics.operation(operation.operation, outcome, durationMs, errorCode);
    if (recording !== undefined) {
      recording.setAttribute(ATTR_SESSION_OUTCOME, outcome);
      recording.setAttribute(
        ATTR_SESSION_DEGRADED,
        operation.servedDegraded === true || this.options.degraded(),
      );
      if (operation.cacheHit !== undefined) {
        recording.setAttribute(ATTR_SESSION_CACHE_HIT, operation.cacheHit);
      }
      if (operation.error !== undefined) markSpanFailed(recording, operation.error);
    }
    span?.end();
  }

  private beginStoreCall(message: StoreCallMessage): TracedStoreCall {
    const call = message as TracedStoreCall;
    if (call.startedAt !== undefined) return call;
    const operation = this.current.getStore();
    // Marks the call begun (several transforms may ask); timed only when recorded.
    call.startedAt = 0;
    if (operation?.recording !== true) return call;
    call.startedAt = performance.now();
    call.operation = operation;
    operation.route = undefined;
    if (this.options.childSpans) {
      call.span = this.tracer.startSpan(
        `${SPAN_STORE_PREFIX}${call.method}`,
        this.storeOptions(call.method),
        trace.setSpan(ROOT_CONTEXT, operation.span as Span),
      );
      operation.storeSpan = call.span;
    }
    return call;
  }

  private endStoreCall(call: TracedStoreCall): void {
    const operation = call.operation;
    if (operation === undefined) return;
    if (call.span !== undefined) {
      if (call.error !== undefined) markSpanFailed(call.span, call.error);
      call.span.end();
      if (operation.storeSpan === call.span) operation.storeSpan = undefined;
      return;
    }
    const attributes: Attributes = {
      [ATTR_DB_OPERATION_NAME]: call.method,
      [ATTR_SESSION_STORE_DURATION_MS]: performance.now() - (call.startedAt ?? 0),
    };
    if (operation.route !== undefined) attributes[ATTR_SESSION_FALLBACK_ROUTE] = operation.route;
    if (call.error !== undefined) attributes[ATTR_ERROR_TYPE] = toSessionError(call.error).code;
    (operation.span as Span).addEvent(`${SPAN_STORE_PREFIX}${call.method}`, attributes);
  }

  private retried(
    operation: TracedOperation | undefined,
    fallbackName: string | undefined,
    retry: { attempt: number; delayMs: number; error: { code: string } },
  ): void {
    this.metrics.retry(operation?.operation ?? fallbackName ?? 'unknown', retry.error.code);
    if (operation?.recording !== true) return;
    const span = operation.span as Span;
    span.addEvent(EVENT_RETRY, {
      [ATTR_SESSION_RETRY_ATTEMPT]: retry.attempt,
      [ATTR_SESSION_RETRY_DELAY_MS]: retry.delayMs,
      [ATTR_ERROR_TYPE]: retry.error.code,
      [ATTR_SESSION_ERROR_CODE]: retry.error.code,
    });
    // Calls so far, counting the one about to be made: the last event leaves the total.
    span.setAttribute(ATTR_SESSION_ATTEMPTS, retry.attempt + 1);
  }

  private lockAcquired(
    operation: TracedOperation,
    event: Extract<SessionEvent, { type: 'lock_acquired' }>,
  ): void {
    const span = operation.span as Span;
    const attributes: Attributes = { [ATTR_SESSION_LOCK_WAIT_MS]: event.waitMs };
    if (event.ttlMs !== undefined) attributes[ATTR_SESSION_LOCK_TTL_MS] = event.ttlMs;
    addVotes(attributes, event.votes);
    if (event.error !== undefined && isSessionError(event.error)) {
      addVotes(attributes, event.error.details);
    }
    if (!this.options.childSpans) {
      // As an event the failure is named here; a child span is marked failed instead.
      if (event.error !== undefined) {
        attributes[ATTR_ERROR_TYPE] = toSessionError(event.error).code;
      }
      span.setAttribute(ATTR_SESSION_LOCK_WAIT_MS, event.waitMs);
      span.addEvent(SPAN_LOCK_ACQUIRE, attributes);
      return;
    }
    attributes[ATTR_SESSION_DEGRADED] = this.options.degraded();
    // Published once the wait is over: the span is made after the fact, from when it began.
    const lockSpan = this.tracer.startSpan(
      SPAN_LOCK_ACQUIRE,
      { attributes, startTime: performance.now() - event.waitMs },
      trace.setSpan(ROOT_CONTEXT, span),
    );
    if (event.error !== undefined) markSpanFailed(lockSpan, event.error);
    lockSpan.end();
  }

  private lockReleased(operation: TracedOperation, heldMs: number): void {
    const span = operation.span as Span;
    if (!this.options.childSpans) {
      span.addEvent(SPAN_LOCK_RELEASE, { [ATTR_SESSION_LOCK_HELD_MS]: heldMs });
      return;
    }
    this.tracer
      .startSpan(
        SPAN_LOCK_RELEASE,
        { attributes: { [ATTR_SESSION_LOCK_HELD_MS]: heldMs } },
        trace.setSpan(ROOT_CONTEXT, span),
      )
      .end();
  }

  private spanName(operation: SessionOperationName): string {
    let name = this.spanNames.get(operation);
    if (name === undefined) {
      name = `${SPAN_SESSION_PREFIX}${operation}`;
      this.spanNames.set(operation, name);
    }
    return name;
  }

  private storeOptions(method: string): SpanOptions {
    let options = this.storeSpanOptions.get(method);
    if (options === undefined) {
      options = {
        kind: SpanKind.INTERNAL,
        attributes: { [ATTR_DB_OPERATION_NAME]: method, [ATTR_DB_SYSTEM]: this.options.dbSystem },
      };
      this.storeSpanOptions.set(method, options);
    }
    return options;
  }
}
