import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanKind, context, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import { isSessionError, toSessionError } from '@session-cluster/core';
import type {
  CachedReadMessage,
  OperationMessage,
  RetryEvent,
  SessionChannels,
  SessionEvent,
  SessionOperationName,
  StoreCallMessage,
  StoreCallSettled,
} from '@session-cluster/core';
import { describeResult } from './operation-outcomes.js';
import { SessionIdHashes } from './session-id-hashes.js';
import type { SessionSampler } from './session-sampler.js';
import type { SessionMetrics } from './session-metrics.js';
import { markSpanFailed } from './span-failure.js';
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
} from './semconv.js';
import type { SessionOutcome } from './semconv.js';

/** Attribute: time a store call took, ms (on its `session.store.<method>` event). */
export const ATTR_SESSION_STORE_DURATION_MS = 'session.store.duration_ms';

/**
 * Suffix of the operation span's attribute `session.store.<method>.duration_ms`:
 * the time its calls of that store method took, ms, summed, for the calls the
 * primary answered (a failed or fallback-served call is an event instead).
 */
const STORE_DURATION_SUFFIX = '.duration_ms';

/**
 * Where an operation's span stands:
 * - `recording`: its span records; its phases and attributes go on it;
 * - `unsampled`: the sampler dropped it (or it is not traced at all): only
 *   the metrics see it, and nothing is kept for it;
 * - `deferred`: a `get` started outside any recording span, under
 *   `cachedReadSpans: 'in-trace'`: no span yet, because an instance-cache
 *   hit will never get one; anything else it does (a miss, a retry, a
 *   store call ending, a failure) starts its span, backdated to its start;
 * - `cached`: a deferred `get` the instance cache answered: no span, ever
 *   (unless it fails), and no duration sample either.
 */
export type OperationSpanState = 'recording' | 'unsampled' | 'deferred' | 'cached';

/** How {@link OperationTracing} treats a `get` the instance cache answers. */
export type CachedReadSpans = 'in-trace' | 'always';

/** An operation message with what this subscriber hangs on it. */
export interface TracedOperation extends OperationMessage {
  /** Set once, by the first transform of the tracing channel's `start` (see {@link OperationSpanState}). */
  state?: OperationSpanState;
  /** The operation's span, only while it records. */
  span?: Span;
  startedAt?: number;
  /** A deferred operation's parent context: where its span starts if it gets one. */
  parent?: Context;
  /** A deferred operation's store call in progress, opened once the operation gets its span. */
  pendingCall?: TracedStoreCall;
  /** Some store call of the operation was served by the fallback (memory). */
  servedDegraded?: boolean;
  /** How the last store call was routed by the fallback store (cleared when the next call opens). */
  route?: string;
  /**
   * The last route not given to a store call's child span: the operation
   * span's `session.fallback.route`, set once when it ends (last wins), not
   * on every call.
   */
  spanRoute?: string;
  cacheHit?: boolean;
  /** The store call running now, when store calls get child spans. */
  storeSpan?: Span;
  /**
   * Time of the store calls the primary answered, ms, by the attribute
   * that carries it (`session.store.load.duration_ms`); set on the span once,
   * when it ends.
   */
  storeDurations?: Map<string, number>;
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
  /**
   * `in-trace`: a `get` started outside any recording span gets a span only
   * when the instance cache does not answer it; `always`: every `get` does.
   */
  readonly cachedReadSpans: CachedReadSpans;
  /** The tracer's sampler, when its decision can be known before a span is started. */
  readonly sampler: SessionSampler | undefined;
  /**
   * The recording spans open in the tracer's provider: while there are
   * none, a cached read under `in-trace` is counted without a look at its
   * context (see `RecordingSpans`).
   */
  readonly recordingSpans: { readonly open: number } | undefined;
}

/** `prefix` + `key` + `suffix`, built once per key and kept in `names`. */
function cachedName(names: Map<string, string>, key: string, prefix: string, suffix = ''): string {
  let name = names.get(key);
  if (name === undefined) {
    name = `${prefix}${key}${suffix}`;
    names.set(key, name);
  }
  return name;
}

/** `listByUser` → `list_by_user`: a retry event names the manager method, spans the operation. */
function operationName(method: string | undefined): string {
  return method === undefined ? 'unknown' : method.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Manager operations as spans and metrics: one `session.<operation>` span
 * per call (child of the active span, e.g. the HTTP request) carrying the
 * hashed session id, the outcome, `session.degraded`, the cache hit, the
 * lock mode; its phases as events on it — lock acquisition and release
 * (`session.lock.acquire`, `session.lock.release`), each store call that
 * failed or that the fallback served (`session.store.load`, …, with its
 * route) — and the store calls Redis answered as their time on the span
 * (`session.store.load.duration_ms`, summed per method); or every phase as
 * a child span with `childSpans`. Retries and conflicts are events.
 *
 * Cost invariants (an operation is a few µs when the instance cache
 * answers it):
 * - the sampling decision is taken before anything is built: an unsampled
 *   operation costs the sampler's call (with a {@link SessionSampler}, not
 *   even a span: its parent's flag, or one draw of random bytes), a
 *   timestamp and the metrics; its
 *   message is not put in {@link current} (the bound store keeps the value
 *   it had, which `AsyncLocalStorage.run` skips at no cost), it is not made
 *   the active context, its events find no operation and return at once,
 *   and it does not ask for its store calls (`storeCalls`), so the manager
 *   makes them unwrapped, with no message;
 * - a `get` the instance cache answers at once reaches it on the
 *   `cachedRead` channel, not as an operation (the manager publishes it
 *   after the fact: no tracing channel, no context switch); outside any
 *   recording span (`cachedReadSpans: 'in-trace'`) it asks no sampler,
 *   starts no trace of its own and is only counted (`session.operations`,
 *   and the store's `session.cache.hits`), not timed;
 * - a `get` that does come as an operation outside any recording span
 *   (a store without a synchronous cache) does not ask the sampler until
 *   it is known not to be an instance-cache hit (see {@link OperationSpanState}).
 */
export class OperationTracing {
  /** The operation whose work is running (for the events published inside it), when it is traced. */
  public readonly current = new AsyncLocalStorage<TracedOperation | undefined>();
  private readonly spanNames = new Map<string, string>();
  /** `session.store.<method>` by method: built once, not a string per store call. */
  private readonly storeNames = new Map<string, string>();
  /** `session.store.<method>.duration_ms` by method, built once. */
  private readonly storeDurationNames = new Map<string, string>();
  private readonly idHashes = new SessionIdHashes();
  private readonly operationSpanOptions: SpanOptions = { kind: SpanKind.INTERNAL };
  private readonly storeSpanOptions = new Map<string, SpanOptions>();
  private readonly deferCachedReads: boolean;
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
  /**
   * A `get` the instance cache answered synchronously (the manager's
   * `cachedRead` channel), in the caller's context: with
   * `cachedReadSpans: 'in-trace'` and no recording span around it, only
   * counted; else an operation span from its start to its end, sampled
   * like any other, with the cache hit on it.
   */
  private readonly onCachedRead = (message: unknown): void => {
    const read = message as CachedReadMessage;
    if (this.deferCachedReads && this.options.recordingSpans?.open === 0) {
      // No recording span open anywhere: this read is in none.
      this.metrics.cachedGet(read.result !== null);
      return;
    }
    const parent = context.active();
    if (this.deferCachedReads && trace.getSpan(parent)?.isRecording() !== true) {
      this.metrics.cachedGet(read.result !== null);
      return;
    }
    const operation: TracedOperation = {
      operation: 'get',
      sessionId: read.sessionId,
      result: read.result,
      startedAt: read.startedAt,
      cacheHit: true,
      storeCalls: false,
      storeCallSettled: undefined,
    };
    this.startSpan(operation, parent, read.startedAt);
    this.finish(operation, read.endedAt);
  };
  /** A recording operation's store call, timed by the publisher (`storeCallSettled`). */
  private readonly onStoreCallSettled: StoreCallSettled = (message, method, startedAt, error) => {
    const operation = message as TracedOperation;
    if (operation.state !== 'recording') return;
    // The route the fallback gave this call (route events come inside it);
    // cleared for the next call, as a published call's start clears it.
    const route = operation.route;
    operation.route = undefined;
    this.storeCallEnded(operation, method, performance.now() - startedAt, route, error);
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
  ) {
    this.deferCachedReads = options.cachedReadSpans === 'in-trace';
  }

  /** Start listening on `channels`. */
  public subscribe(channels: SessionChannels): void {
    // Unsampled: the store keeps `undefined` (what it holds outside any
    // traced operation), so `run` has nothing to switch. Inside a traced
    // operation it is switched to `undefined`: a nested unsampled call's
    // events must not land on the outer span.
    channels.operation.start.bindStore(this.current, (message) => {
      const operation = this.begin(message);
      return operation.state === 'unsampled' ? undefined : operation;
    });
    const active = this.options.activeContext;
    if (active !== undefined) {
      // Only a recording span is made active; otherwise the store keeps its
      // value (no switch). A deferred get is not active even once it gets
      // its span: Redis commands it sends after a miss have no parent span.
      channels.operation.start.bindStore(active, (message) => {
        const span = this.begin(message).span;
        return span === undefined ? active.getStore() : trace.setSpan(context.active(), span);
      });
    }
    channels.cachedRead.subscribe(this.onCachedRead);
    // asyncEnd follows a rejection too; a synchronous throw ends at `end`.
    channels.operation.asyncEnd.subscribe(this.onOperationEnd);
    channels.operation.end.subscribe(this.onOperationSyncEnd);
    channels.storeCall.start.subscribe(this.onStoreCallStart);
    channels.storeCall.asyncEnd.subscribe(this.onStoreCallEnd);
    channels.storeCall.end.subscribe(this.onStoreCallSyncEnd);
    if (active !== undefined && this.options.childSpans) {
      channels.storeCall.start.bindStore(active, (message) => {
        const span = this.beginStoreCall(message).span;
        return span === undefined ? active.getStore() : trace.setSpan(context.active(), span);
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
    channels.cachedRead.unsubscribe(this.onCachedRead);
    channels.operation.asyncEnd.unsubscribe(this.onOperationEnd);
    channels.operation.end.unsubscribe(this.onOperationSyncEnd);
    channels.storeCall.start.unsubscribe(this.onStoreCallStart);
    channels.storeCall.asyncEnd.unsubscribe(this.onStoreCallEnd);
    channels.storeCall.end.unsubscribe(this.onStoreCallSyncEnd);
  }

  /** An event published inside an operation: retries, lock phases, routing, cache. */
  public onEvent(event: SessionEvent): void {
    // Metrics count every operation, traced or not (no operation needed).
    switch (event.type) {
      case 'retry':
        this.metrics.retry(operationName(event.retry.operation), event.retry.error.code);
        break;
      case 'lock_acquired':
        this.metrics.lockWaited(event.waitMs, event.error === undefined);
        break;
      case 'escalation':
        this.metrics.escalated(event.reason);
        return;
      default:
    }
    const operation = this.current.getStore();
    if (operation === undefined) return;
    if (operation.state === 'deferred') {
      if (event.type === 'cache' && event.hit) {
        operation.state = 'cached';
        return;
      }
      // A miss, or anything else happening to it: the read is worth its span.
      this.materialize(operation);
    }
    if (operation.state !== 'recording') return;
    const span = operation.span as Span;
    switch (event.type) {
      case 'retry':
        this.retried(span, event.retry);
        return;
      case 'lock_acquired':
        this.lockAcquired(span, event);
        return;
      case 'lock_released':
        this.lockReleased(span, event.heldMs);
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
        const storeSpan = operation.storeSpan;
        if (storeSpan === undefined) {
          // The operation span's route and `session.degraded` are set once,
          // when it ends: an update routes two calls, and each setAttribute
          // is checked and counted by the SDK.
          operation.spanRoute = event.route;
        } else {
          storeSpan.setAttribute(ATTR_SESSION_FALLBACK_ROUTE, event.route);
          storeSpan.setAttribute(ATTR_SESSION_DEGRADED, event.route !== 'primary');
        }
        if (event.failure !== undefined) {
          (storeSpan ?? span).addEvent(EVENT_FAILOVER, { [ATTR_ERROR_TYPE]: event.failure });
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

  /**
   * Decide, once, what the operation gets (every bound store's transform
   * asks): a deferred `get`, or a span started now — sampled first, built
   * only when it records.
   */
  private begin(message: OperationMessage): TracedOperation {
    const operation = message as TracedOperation;
    if (operation.state !== undefined) return operation;
    operation.startedAt = performance.now();
    const parent = context.active();
    if (
      this.deferCachedReads &&
      operation.operation === 'get' &&
      trace.getSpan(parent)?.isRecording() !== true
    ) {
      operation.state = 'deferred';
      operation.parent = parent;
      // Its load is watched: a cache miss is what gives the read its span.
      operation.storeCalls = true;
      return operation;
    }
    this.startSpan(operation, parent, undefined);
    return operation;
  }

  /** Ask the sampler; set up the span only when it records. */
  private startSpan(
    operation: TracedOperation,
    parent: Context,
    startTime: number | undefined,
  ): void {
    // The sampler's decision, known without a span: nothing is made for a dropped operation.
    if (this.options.sampler?.willSample(parent) === false) {
      operation.state = 'unsampled';
      return;
    }
    const span = this.tracer.startSpan(
      this.spanName(operation.operation),
      startTime === undefined ? this.operationSpanOptions : { kind: SpanKind.INTERNAL, startTime },
      parent,
    );
    // A non-recording span is dropped here: ending it would do nothing.
    if (!span.isRecording()) {
      operation.state = 'unsampled';
      return;
    }
    operation.state = 'recording';
    operation.span = span;
    // Only a recording operation's store calls are watched: published, for
    // their child spans; else timed by the publisher (the common case: a
    // duration attribute, or an event when routed or failed), which costs it
    // a timestamp and a `then` per call instead of a `tracePromise`.
    if (this.options.childSpans) operation.storeCalls = true;
    else operation.storeCallSettled = this.onStoreCallSettled;
    // Set here, not in the span options: the SDK sanitises option attributes
    // before it samples, which an unsampled operation should not pay for.
    span.setAttribute(ATTR_SESSION_OPERATION, operation.operation);
    const idHash = this.idHashes.of(operation.sessionId);
    if (idHash !== undefined) span.setAttribute(ATTR_SESSION_ID_HASH, idHash);
  }

  /**
   * Give a deferred (or cached, failing) operation its span, from when it
   * started, and open the store call it is in the middle of.
   */
  private materialize(operation: TracedOperation): void {
    this.startSpan(operation, operation.parent ?? ROOT_CONTEXT, operation.startedAt);
    operation.parent = undefined;
    const call = operation.pendingCall;
    operation.pendingCall = undefined;
    if (call !== undefined && operation.state === 'recording')
      this.openStoreCall(operation, call, true);
  }

  /** End the operation's span (at `endedAt`, a `performance.now()` time, or now) and count it. */
  private finish(operation: TracedOperation, endedAt?: number): void {
    const state = operation.state;
    if (state === 'deferred' || (state === 'cached' && operation.error !== undefined)) {
      // Never known to be a cache hit (or failed after one): a failure is always traced.
      this.materialize(operation);
    }
    const span = operation.state === 'recording' ? operation.span : undefined;
    let outcome: SessionOutcome;
    let errorCode: string | undefined;
    if (operation.error === undefined) {
      outcome = describeResult(operation.operation, operation.result, span);
      if (operation.operation === 'cleanup_expired' && typeof operation.result === 'number') {
        this.metrics.sweptSessions(operation.result);
      }
    } else {
      errorCode = toSessionError(operation.error).code;
      outcome = errorCode === 'SESSION_NOT_FOUND' ? OUTCOME_NOT_FOUND : OUTCOME_ERROR;
    }
    // A cached read is counted, not timed: a histogram sample costs about a
    // tenth of the read (the SDK hashes the attribute set on every record).
    this.metrics.operation(
      operation.operation,
      outcome,
      operation.state === 'cached'
        ? undefined
        : (endedAt ?? performance.now()) - (operation.startedAt ?? performance.now()),
      errorCode,
    );
    if (span === undefined) return;
    span.setAttribute(ATTR_SESSION_OUTCOME, outcome);
    if (operation.spanRoute !== undefined) {
      span.setAttribute(ATTR_SESSION_FALLBACK_ROUTE, operation.spanRoute);
    }
    span.setAttribute(
      ATTR_SESSION_DEGRADED,
      operation.servedDegraded === true || this.options.degraded(),
    );
    if (operation.cacheHit !== undefined) {
      span.setAttribute(ATTR_SESSION_CACHE_HIT, operation.cacheHit);
    }
    if (operation.storeDurations !== undefined) {
      for (const [name, ms] of operation.storeDurations) span.setAttribute(name, ms);
    }
    if (operation.error !== undefined) markSpanFailed(span, operation.error);
    span.end(endedAt);
  }

  private beginStoreCall(message: StoreCallMessage): TracedStoreCall {
    const call = message as TracedStoreCall;
    if (call.startedAt !== undefined) return call;
    // Marks the call begun (several transforms may ask); timed only when it may be recorded.
    call.startedAt = 0;
    const operation = this.current.getStore();
    if (operation === undefined) return call;
    const state = operation.state;
    if (state === 'recording') {
      call.startedAt = performance.now();
      call.operation = operation;
      this.openStoreCall(operation, call, false);
    } else if (state === 'deferred') {
      // No clock read for a call that is most likely a cache hit: the
      // read's start stands for it (they are a few hundred ns apart).
      call.startedAt = operation.startedAt;
      call.operation = operation;
      operation.pendingCall = call;
    }
    return call;
  }

  /**
   * A store call of a recording operation begins: now, or (`backdated`, the
   * operation's span was started after it) at `call.startedAt`.
   */
  private openStoreCall(
    operation: TracedOperation,
    call: TracedStoreCall,
    backdated: boolean,
  ): void {
    operation.route = undefined;
    if (!this.options.childSpans) return;
    const options = this.storeOptions(call.method);
    call.span = this.tracer.startSpan(
      this.storeName(call.method),
      backdated ? { ...options, startTime: call.startedAt } : options,
      trace.setSpan(ROOT_CONTEXT, operation.span as Span),
    );
    operation.storeSpan = call.span;
  }

  private endStoreCall(call: TracedStoreCall): void {
    const operation = call.operation;
    if (operation === undefined) return;
    // A deferred read's call ended without a cache hit: it gets its span now.
    if (operation.state === 'deferred') this.materialize(operation);
    if (operation.pendingCall === call) operation.pendingCall = undefined;
    if (operation.state !== 'recording') return;
    if (call.span !== undefined) {
      if (call.error !== undefined) markSpanFailed(call.span, call.error);
      call.span.end();
      if (operation.storeSpan === call.span) operation.storeSpan = undefined;
      return;
    }
    const durationMs = performance.now() - (call.startedAt ?? 0);
    this.storeCallEnded(operation, call.method, durationMs, operation.route, call.error);
  }

  /** A recording operation's store call without a span of its own: an attribute or an event. */
  private storeCallEnded(
    operation: TracedOperation,
    method: string,
    durationMs: number,
    route: string | undefined,
    error: unknown,
  ): void {
    if (error === undefined && (route ?? 'primary') === 'primary') {
      // The common call (answered by Redis) is a number on the span: an event
      // per call was about a third of what a recorded update cost (its
      // timestamp, attribute checks and export: `--suite telemetry`).
      const name = this.storeDurationName(method);
      operation.storeDurations ??= new Map();
      operation.storeDurations.set(name, (operation.storeDurations.get(name) ?? 0) + durationMs);
      return;
    }
    const attributes: Attributes = {
      [ATTR_DB_OPERATION_NAME]: method,
      [ATTR_SESSION_STORE_DURATION_MS]: durationMs,
    };
    if (route !== undefined) attributes[ATTR_SESSION_FALLBACK_ROUTE] = route;
    if (error !== undefined) attributes[ATTR_ERROR_TYPE] = toSessionError(error).code;
    (operation.span as Span).addEvent(this.storeName(method), attributes);
  }

  private retried(span: Span, retry: RetryEvent): void {
    span.addEvent(EVENT_RETRY, {
      [ATTR_SESSION_RETRY_ATTEMPT]: retry.attempt,
      [ATTR_SESSION_RETRY_DELAY_MS]: retry.delayMs,
      [ATTR_ERROR_TYPE]: retry.error.code,
      [ATTR_SESSION_ERROR_CODE]: retry.error.code,
    });
    // Calls so far, counting the one about to be made: the last event leaves the total.
    span.setAttribute(ATTR_SESSION_ATTEMPTS, retry.attempt + 1);
  }

  private lockAcquired(span: Span, event: Extract<SessionEvent, { type: 'lock_acquired' }>): void {
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

  private lockReleased(span: Span, heldMs: number): void {
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
    return cachedName(this.spanNames, operation, SPAN_SESSION_PREFIX);
  }

  private storeName(method: string): string {
    return cachedName(this.storeNames, method, SPAN_STORE_PREFIX);
  }

  private storeDurationName(method: string): string {
    return cachedName(this.storeDurationNames, method, SPAN_STORE_PREFIX, STORE_DURATION_SUFFIX);
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
