import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { Channel, TracingChannel } from 'node:diagnostics_channel';
import type { SessionError } from './errors.js';
import type { RetryEvent } from './retry-policy.js';
import type { SessionRecord } from './session.js';

/** Instrumentation scope name every session-cluster tracer and meter uses. */
export const INSTRUMENTATION_SCOPE = '@session-cluster';

/**
 * Manager operations as published on the operation channel (the telemetry
 * package gives each a `session.<operation>` span); `lock` is `withLock`, a
 * lock held across a whole request.
 */
export type SessionOperationName =
  | 'create'
  | 'get'
  | 'update'
  | 'patch'
  | 'touch'
  | 'regenerate'
  | 'delete'
  | 'list_by_user'
  | 'delete_by_user'
  | 'cleanup_expired'
  | 'lock';

/**
 * How a fallback store routed a call (`session.fallback.route` on its span): `primary` (breaker closed,
 * primary answered), `secondary` (served from memory while degraded),
 * `primary_failed_over` (primary failed during the call, memory answered).
 */
export type FallbackRoute = 'primary' | 'secondary' | 'primary_failed_over';

/**
 * How `update` used the session lock (`session.lock.mode`): `optimistic` (compare-and-set
 * without the lock), `escalated` (the lock taken because the session is
 * contended: after conflicts, or because it is remembered as hot), `always`
 * (the lock taken up front, `lock: 'always'`).
 */
export type LockMode = 'optimistic' | 'escalated' | 'always';

/**
 * Why `update` took the lock (`session.lock.escalation_reason`): `conflict` (the
 * optimistic attempts conflicted), `hot` (the session was remembered as hot,
 * so the lock was taken at once), `local` (another update of the session
 * was already running on this instance, so the lock was taken at once).
 */
export type EscalationReason = 'conflict' | 'hot' | 'local';

/**
 * What the session packages publish about their work, on
 * `node:diagnostics_channel`: one `TracingChannel` per kind of work
 * (start/end/asyncStart/asyncEnd/error around one call) and one plain
 * channel for the moments inside it (a retry, a lock acquired, a call routed
 * to memory, …). Anything may subscribe — `@session-cluster/telemetry` turns
 * them into OpenTelemetry spans and metrics, another APM can do the same —
 * and with nobody subscribed a publisher's whole cost is one
 * `hasSubscribers` read: messages are built only behind it.
 *
 * Publishers read back one thing only, what an operation's subscriber
 * asked at its start about its store calls: published on their tracing
 * channel (`OperationMessage.storeCalls`), or only timed
 * (`OperationMessage.storeCallSettled`). Subscribers may hang their own state on a message (a span)
 * and must not throw (diagnostics_channel
 * reports a subscriber's exception as an uncaught exception on the next
 * tick). Messages carry raw session ids where the work is about one
 * session: a subscriber that records them must hash them (`hashSessionId`).
 *
 * Events are published inside the work they belong to, so a subscriber
 * that binds an `AsyncLocalStorage` to a tracing channel's `start`
 * (`channel.start.bindStore`) finds the operation, store call or
 * reconciliation they belong to in its store.
 *
 * @module
 */

/** Name of the {@link OperationMessage} tracing channel: one manager call. */
export const CHANNEL_OPERATION = 'session-cluster:operation';
/** Name of the {@link StoreCallMessage} tracing channel: one store call a manager operation makes. */
export const CHANNEL_STORE_CALL = 'session-cluster:store';
/** Name of the {@link ReconcileMessage} tracing channel: one reconciliation run of the fallback store. */
export const CHANNEL_RECONCILE = 'session-cluster:reconcile';
/** Name of the {@link HealthProbeMessage} tracing channel: one health probe. */
export const CHANNEL_HEALTH_PROBE = 'session-cluster:health.probe';
/** Name of the {@link SweepMessage} tracing channel: one sweep job of the sweeper. */
export const CHANNEL_SWEEP = 'session-cluster:sweep';
/** Name of the {@link CachedReadMessage} channel: a `get` the instance cache answered at once. */
export const CHANNEL_CACHED_READ = 'session-cluster:cached-read';
/** Name of the {@link SessionEvent} channel: moments inside the work above. */
export const CHANNEL_EVENT = 'session-cluster:event';

/**
 * One manager call (`session.<operation>`). `result` and `error` are set by
 * the tracing channel: the call's return value, or what it failed with
 * before the manager wraps it (`toSessionError` gives the code the caller sees).
 */
export interface OperationMessage {
  readonly operation: SessionOperationName;
  /** The session the call is about (raw: hash it before recording), when it names one. */
  readonly sessionId: string | undefined;
  /**
   * Set `true` at `start` (a subscriber of it, or a store bound to it) to
   * have this operation's store calls published on the store-call channel;
   * the publisher starts as `false`, and an operation nobody asks for (an
   * unsampled trace) makes its store calls with no message and no wrapping.
   */
  storeCalls: boolean;
  /**
   * Set at `start`, in place of {@link storeCalls}, by a subscriber that
   * needs each store call's method, time and outcome but not the call in
   * a context of its own (no child span, no store bound to it): the
   * publisher then calls it as each store call of this operation settles
   * (after the call's promise settles, before its caller sees the result),
   * and publishes nothing on the store-call channel. The manager starts
   * it as `undefined` (a publisher that leaves it out times nothing); when
   * both are set, `storeCalls` wins.
   */
  storeCallSettled?: StoreCallSettled | undefined;
  result?: unknown;
  error?: unknown;
}

/**
 * {@link OperationMessage.storeCallSettled}: `operation` is the message the
 * call belongs to, `method` the `SessionStore` method, `startedAt` the
 * `performance.now()` the call began at, `error` what it failed with
 * (`undefined` when it succeeded). Must not throw.
 */
export type StoreCallSettled = (
  operation: OperationMessage,
  method: string,
  startedAt: number,
  error: unknown,
) => void;

/**
 * A manager `get` that the store's instance cache answered synchronously,
 * published once answered (plain channel, not a tracing channel: there is
 * no asynchronous work to wrap, and publishing it costs one `publish`).
 * Such a read is not published on the operation channel as well: the
 * manager answers it this way only while this channel has a subscriber or
 * the operation channel has none, so a subscriber of the operation channel
 * alone still sees every read there. Published in the caller's context: a
 * subscriber finds the caller's active span (e.g. the HTTP request) and may
 * record the read as a span of its own, `startedAt` to `endedAt`.
 */
export interface CachedReadMessage {
  readonly operation: 'get';
  /** The session read (raw: hash it before recording). */
  readonly sessionId: string;
  /** What `get` answered: the session, or null (known not to exist). */
  readonly result: SessionRecord | null;
  /** `performance.now()` when the read started and when it was answered. */
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * One store call of a manager operation (`load`, `save`, …), published only
 * inside an operation whose message asked for them (`storeCalls`).
 */
export interface StoreCallMessage {
  /** The `SessionStore` method. */
  readonly method: string;
  result?: unknown;
  error?: unknown;
}

/** Reconciliation counters, as the fallback store keeps them (running totals). */
export interface ReconcileTally {
  readonly written: number;
  readonly restored: number;
  readonly deleted: number;
  readonly conflicts: number;
  readonly skipped: number;
  readonly failed: number;
}

/**
 * One reconciliation run: degraded-mode writes replayed into the primary.
 * `result` is how it ended: `drained`, `interrupted` (another outage) or
 * `stopped` (close).
 */
export interface ReconcileMessage {
  /** Journal entries waiting when the run started. */
  readonly entries: number;
  /** The totals before the run (the run's own counts are `tally` − `before`). */
  readonly before: ReconcileTally;
  /** The live totals: read them when the run ends. */
  readonly tally: ReconcileTally;
  result?: unknown;
  error?: unknown;
}

/** What a health probe found (the health package's `ProbeResult`, structurally). */
export interface ProbeOutcome {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly error?: unknown;
}

/** One health probe: a real round trip to the store. `result` is a {@link ProbeOutcome}. */
export interface HealthProbeMessage {
  /** The health status, read once the probe settled (the monitor re-evaluates first). */
  readonly status: () => string;
  result?: unknown;
  error?: unknown;
}

/** What a sweep job did (what the sweeper's `BucketSweepReport` extends). */
export interface SweepOutcome {
  /** Sessions this job found expired and removed. */
  readonly expired: number;
  /** Index members dropped because their session was already gone (no event: nothing is known). */
  readonly orphans: number;
  /** Expiries left in the outbox by an earlier (crashed or concurrent) job, published again. */
  readonly republished: number;
  /** Events published by this job: `expired` + `republished`. */
  readonly published: number;
  /** Batches taken (non-empty outbox pages and sweep calls), at most `maxBatchesPerJob`. */
  readonly batches: number;
  /** True when due entries were left: the batch budget ran out or the sweeper is stopping. */
  readonly more: boolean;
}

/**
 * One sweep job (one bucket). `result` is a {@link SweepOutcome}. The job
 * publishes its expiry events inside the call: a subscriber that makes its
 * span the active one there carries the trace into the event jobs.
 */
export interface SweepMessage {
  readonly bucket: number;
  readonly queueName: string;
  readonly jobId: string | undefined;
  result?: unknown;
  error?: unknown;
}

/** Breaker states as the fallback store names them. */
export type BreakerStateName = 'closed' | 'half-open' | 'open' | 'isolated';

/** What a fallback store lets a subscriber read at any time (for gauges). */
export interface FallbackStateReader {
  readonly degraded: () => boolean;
  readonly breakerState: () => BreakerStateName;
}

/**
 * Moments inside the work of the tracing channels, published on
 * {@link CHANNEL_EVENT} while that work runs (so in its async context):
 * - `retry`: the retry policy is about to wait and call again;
 * - `conflict_retry`: an optimistic `update` met `VERSION_CONFLICT` and runs again at once;
 * - `lock_mode`: how the `update` attempt starting now uses the lock;
 * - `escalation`: an `update` took the lock because the session is contended;
 * - `lock_acquired`: a lock acquisition ended, held (`error` absent) or not;
 *   `votes` are the locker's vote counts when it reports them;
 * - `lock_released`: a held lock was given back (`heldMs` after it was acquired);
 * - `lock_fallback`: the lock nodes are down, an in-process lock is used instead;
 * - `cache`: the instance cache answered a load (`hit`) or sent it to Redis;
 * - `route`: how the fallback store routed a call (`failure`: the primary's
 *   error code when it failed mid-call);
 * - `breaker`: the fallback store's breaker changed state;
 * - `fallback_opened` / `fallback_closed`: a fallback store was built / closed;
 * - `reconcile_batch` / `reconcile_conflict`: progress of the reconciliation run;
 * - `reconcile_deferred`: a write-back the primary refused for now, kept for a later try;
 * - `write_backs_lost`: the fallback store closed with degraded-mode writes not written back.
 */
export type SessionEvent =
  | { readonly type: 'retry'; readonly retry: RetryEvent }
  | { readonly type: 'conflict_retry'; readonly attempt: number }
  | { readonly type: 'lock_mode'; readonly mode: LockMode }
  | { readonly type: 'escalation'; readonly reason: EscalationReason }
  | {
      readonly type: 'lock_acquired';
      readonly waitMs: number;
      readonly ttlMs: number | undefined;
      readonly votes: unknown;
      readonly error: unknown;
    }
  | { readonly type: 'lock_released'; readonly heldMs: number }
  | { readonly type: 'lock_fallback'; readonly code: string }
  | { readonly type: 'cache'; readonly hit: boolean }
  | { readonly type: 'route'; readonly route: FallbackRoute; readonly failure: string | undefined }
  | { readonly type: 'breaker'; readonly state: BreakerStateName }
  | { readonly type: 'fallback_opened'; readonly store: FallbackStateReader }
  | { readonly type: 'fallback_closed'; readonly store: FallbackStateReader }
  | { readonly type: 'reconcile_batch'; readonly tally: ReconcileTally; readonly remaining: number }
  | {
      readonly type: 'reconcile_conflict';
      readonly sessionIdHash: string;
      readonly keys: readonly string[];
      readonly deleted: boolean;
    }
  | {
      readonly type: 'reconcile_deferred';
      readonly sessionIdHash: string | undefined;
      readonly error: SessionError;
      readonly tries: number;
      readonly dueAt: number;
      readonly giveUpAt: number;
    }
  | {
      readonly type: 'write_backs_lost';
      readonly entries: number;
      readonly revocations: number;
      readonly reason: 'degraded' | 'timeout' | 'refused' | 'no-drain';
    };

/** The channels of {@link SESSION_CHANNELS}. */
export interface SessionChannels {
  readonly operation: TracingChannel<unknown, OperationMessage>;
  readonly storeCall: TracingChannel<unknown, StoreCallMessage>;
  readonly reconcile: TracingChannel<unknown, ReconcileMessage>;
  readonly healthProbe: TracingChannel<unknown, HealthProbeMessage>;
  readonly sweep: TracingChannel<unknown, SweepMessage>;
  readonly cachedRead: Channel<CachedReadMessage>;
  readonly event: Channel<SessionEvent>;
}

function channelsNamed(prefix: string): SessionChannels {
  return Object.freeze({
    operation: diagnosticsChannel.tracingChannel<unknown, OperationMessage>(
      `${prefix}${CHANNEL_OPERATION}`,
    ),
    storeCall: diagnosticsChannel.tracingChannel<unknown, StoreCallMessage>(
      `${prefix}${CHANNEL_STORE_CALL}`,
    ),
    reconcile: diagnosticsChannel.tracingChannel<unknown, ReconcileMessage>(
      `${prefix}${CHANNEL_RECONCILE}`,
    ),
    healthProbe: diagnosticsChannel.tracingChannel<unknown, HealthProbeMessage>(
      `${prefix}${CHANNEL_HEALTH_PROBE}`,
    ),
    sweep: diagnosticsChannel.tracingChannel<unknown, SweepMessage>(`${prefix}${CHANNEL_SWEEP}`),
    cachedRead: diagnosticsChannel.channel(
      `${prefix}${CHANNEL_CACHED_READ}`,
    ) as Channel<CachedReadMessage>,
    event: diagnosticsChannel.channel(`${prefix}${CHANNEL_EVENT}`) as Channel<SessionEvent>,
  });
}

/**
 * The process-wide channels. `diagnostics_channel` keys channels by name,
 * so two copies of this package (or any other code) asking for the same
 * name share them.
 */
export const SESSION_CHANNELS: SessionChannels = channelsNamed('');

/**
 * Channels nobody subscribes to (named `silent:session-cluster:…`): what a
 * part built with `telemetry: false` publishes on, so it costs one
 * `hasSubscribers` read per call even while a subscriber listens to
 * {@link SESSION_CHANNELS}.
 */
export const SILENT_SESSION_CHANNELS: SessionChannels = channelsNamed('silent:');

/** {@link SESSION_CHANNELS} when `publish`, else {@link SILENT_SESSION_CHANNELS}. */
export function sessionChannels(publish: boolean): SessionChannels {
  return publish ? SESSION_CHANNELS : SILENT_SESSION_CHANNELS;
}

/**
 * Publish a {@link SessionEvent} on `channels` when anyone listens. For hot
 * paths, check `channels.event.hasSubscribers` first so the event is not
 * even built.
 */
export function publishSessionEvent(channels: SessionChannels, event: SessionEvent): void {
  if (channels.event.hasSubscribers) channels.event.publish(event);
}
