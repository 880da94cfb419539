/**
 * The telemetry names this package produces: span names, attribute keys,
 * event names and metric names, in one place, for dashboards, alerts and
 * their tests. Plain strings. The session packages themselves name none of
 * them: they publish on core's `SESSION_CHANNELS`, and this package turns
 * that into these spans and metrics. (The instance cache's and
 * `session.active`'s metric names are `session-cluster`'s, which observes
 * them itself.)
 *
 * Where an OpenTelemetry semantic convention exists it is used verbatim
 * (`db.system`, `error.type`, `messaging.*`); everything else lives under
 * `session.`. Attribute values never carry a raw session id: only
 * `hashSessionId`'s short hash (`session.id_hash`).
 *
 * Durations in metrics are seconds (OTel convention); durations in span
 * attributes and events are milliseconds, as the `_ms` suffix says.
 *
 * @module
 */
// ─── Span names ────────────────────────────────────────────────────────────

/** Prefix of every manager operation span: `session.create`, `session.update`, … */
export const SPAN_SESSION_PREFIX = 'session.';
/** Span of one lock acquisition (child of the operation span). */
export const SPAN_LOCK_ACQUIRE = 'session.lock.acquire';
/** Span of one lock release. */
export const SPAN_LOCK_RELEASE = 'session.lock.release';
/** Prefix of store-call spans: `session.store.load`, `session.store.save`, … */
export const SPAN_STORE_PREFIX = 'session.store.';
/** Span of one reconciliation run (degraded-mode writes replayed into the primary). */
export const SPAN_RECONCILE = 'session.reconcile';
/** Span of one health probe (a real round trip to the store). */
export const SPAN_HEALTH_PROBE = 'session.health.probe';
/** Span of one sweep job (one bucket, one or more batches). */
export const SPAN_SWEEP = 'session.sweep';

// ─── Event names ───────────────────────────────────────────────────────────

/** Span event added before each retry of an operation. */
export const EVENT_RETRY = 'session.retry';
/** Span event added when a store call fails over from the primary to the fallback. */
export const EVENT_FAILOVER = 'session.fallback.failover';
/** Span event added to the reconciliation span after each batch. */
export const EVENT_RECONCILE_BATCH = 'session.reconcile.batch';
/**
 * Span event added to the reconciliation span for a session changed on both
 * sides while degraded (its keys resolved last-writer-wins, or it stays deleted).
 */
export const EVENT_RECONCILE_CONFLICT = 'session.reconcile.conflict';
/**
 * Span event added to the reconciliation span for a write-back the primary
 * refused for now (`NOPERM`, an `ERR`): kept journaled and tried again later.
 */
export const EVENT_RECONCILE_DEFERRED = 'session.reconcile.deferred';
/** Refusals so far of a deferred write-back (int). */
export const ATTR_SESSION_RECONCILE_TRIES = 'session.reconcile.tries';
/** The top-level keys of a reconciliation conflict (string array). */
export const ATTR_SESSION_RECONCILE_CONFLICT_KEYS = 'session.reconcile.conflict_keys';
/** Span event added when the fallback's breaker changes state. */
export const EVENT_BREAKER_STATE_CHANGE = 'session.fallback.breaker_state_change';
/**
 * Span event added when an optimistic `update` attempt met `VERSION_CONFLICT`
 * and is run again at once (on fresh data, or under the lock: escalation).
 */
export const EVENT_CONFLICT_RETRY = 'session.conflict_retry';
/** Span event added when the lock nodes cannot be reached and an in-process lock is taken instead. */
export const EVENT_LOCK_FALLBACK = 'session.lock.fallback';

// ─── Attributes: OpenTelemetry semantic conventions ────────────────────────

/** OTel `db.system` (pre-1.26 name, what Jaeger and ioredis instrumentation show). */
export const ATTR_DB_SYSTEM = 'db.system';
/** OTel `db.operation.name`: the store method (`load`, `save`, …). */
export const ATTR_DB_OPERATION_NAME = 'db.operation.name';
/** OTel `error.type`: on failure, the `SessionError` code. */
export const ATTR_ERROR_TYPE = 'error.type';
/** OTel `messaging.system` (`bullmq` for sweep jobs and expiry events). */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
/** OTel `messaging.destination.name`: the queue name. */
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
/** OTel `messaging.message.id`: the job id. */
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id';

/** `db.system` value of the Redis store. */
export const DB_SYSTEM_VALUE_REDIS = 'redis';
/** `messaging.system` value of BullMQ queues. */
export const MESSAGING_SYSTEM_VALUE_BULLMQ = 'bullmq';

// ─── Attributes: session layer ─────────────────────────────────────────────

/** The manager operation (`update`, `list_by_user`, …); also a metric attribute. */
export const ATTR_SESSION_OPERATION = 'session.operation';
/** {@link hashSessionId} of the session id. Never the raw id. */
export const ATTR_SESSION_ID_HASH = 'session.id_hash';
/** Hash of the new id of a `regenerate`. */
export const ATTR_SESSION_NEW_ID_HASH = 'session.new_id_hash';
/** How the operation ended: see {@link SessionOutcome}. Also a metric attribute. */
export const ATTR_SESSION_OUTCOME = 'session.outcome';
/** True when the store served the call from its fallback (instance-local memory). */
export const ATTR_SESSION_DEGRADED = 'session.degraded';
/** Whether the instance cache answered the operation's load (absent without a cache). */
export const ATTR_SESSION_CACHE_HIT = 'session.cache.hit';
/** `get`: whether a live session was found. */
export const ATTR_SESSION_FOUND = 'session.found';
/** Version of the session after the operation. */
export const ATTR_SESSION_VERSION = 'session.version';
/** Sessions returned (`list_by_user`) or removed (`delete_by_user`, `cleanup_expired`). */
export const ATTR_SESSION_COUNT = 'session.count';
/** How many calls the operation took (1 = no retry). */
export const ATTR_SESSION_ATTEMPTS = 'session.attempts';

/** `SessionError` code of a failure (also in `error.type`). */
export const ATTR_SESSION_ERROR_CODE = 'session.error.code';
/** `SessionError` category (`client`, `storage`, `concurrency`, `security`, `internal`). */
export const ATTR_SESSION_ERROR_CATEGORY = 'session.error.category';
/** `SessionError` severity (`low` … `critical`). */
export const ATTR_SESSION_ERROR_SEVERITY = 'session.error.severity';
/** Whether the failure was retryable. */
export const ATTR_SESSION_ERROR_RETRYABLE = 'session.error.retryable';

/** Retry event: 1-based retry number (1 = the second call). */
export const ATTR_SESSION_RETRY_ATTEMPT = 'session.retry.attempt';
/** Retry event: backoff before this retry, ms. */
export const ATTR_SESSION_RETRY_DELAY_MS = 'session.retry.delay_ms';

/** Lock span: time from asking for the lock to holding it (or giving up), ms. */
export const ATTR_SESSION_LOCK_WAIT_MS = 'session.lock.wait_ms';
/** Lock span: lease length asked for, ms. */
export const ATTR_SESSION_LOCK_TTL_MS = 'session.lock.ttl_ms';
/** Lock span: how many lock nodes voted for us (Redlock), when the locker reports it. */
export const ATTR_SESSION_LOCK_NODES_VOTED = 'session.lock.nodes_voted';
/** Lock span: how many lock nodes there are. */
export const ATTR_SESSION_LOCK_NODES_TOTAL = 'session.lock.nodes_total';
/** Lock span: votes needed (quorum). */
export const ATTR_SESSION_LOCK_QUORUM = 'session.lock.quorum';
/** Lock span: acquisition attempts made by the locker. */
export const ATTR_SESSION_LOCK_ATTEMPTS = 'session.lock.attempts';
/**
 * `update` span: how the session lock was used (core's `LockMode`); the
 * mode of the last attempt.
 */
export const ATTR_SESSION_LOCK_MODE = 'session.lock.mode';
/** Escalation metric: why `update` took the lock (core's `EscalationReason`). */
export const ATTR_SESSION_LOCK_ESCALATION_REASON = 'session.lock.escalation_reason';
/** Lock release span: how long the lock was held, ms. */
export const ATTR_SESSION_LOCK_HELD_MS = 'session.lock.held_ms';

/** Fallback span: where the call went (core's `FallbackRoute`). */
export const ATTR_SESSION_FALLBACK_ROUTE = 'session.fallback.route';
/** Fallback: breaker state (`closed`, `open`, `half_open`, `isolated`). */
export const ATTR_SESSION_BREAKER_STATE = 'session.fallback.breaker_state';
/** Reconciliation: journaled sessions replayed. */
export const ATTR_SESSION_RECONCILE_ENTRIES = 'session.reconcile.entries';
/** Reconciliation: sessions written into the primary. */
export const ATTR_SESSION_RECONCILE_WRITTEN = 'session.reconcile.written';
/** Reconciliation: sessions deleted from the primary. */
export const ATTR_SESSION_RECONCILE_DELETED = 'session.reconcile.deleted';
/** Reconciliation: sessions skipped because the primary held a newer write. */
export const ATTR_SESSION_RECONCILE_CONFLICTS = 'session.reconcile.conflicts';
/** Reconciliation: sessions skipped because they expired before they could be written back. */
export const ATTR_SESSION_RECONCILE_SKIPPED = 'session.reconcile.skipped';
/** Reconciliation: sessions given up on (rejected by the primary, corrupted in memory). */
export const ATTR_SESSION_RECONCILE_FAILED = 'session.reconcile.failed';
/**
 * Reconciliation: how the run ended (`drained`, `interrupted` by another outage, `deferred` with
 * only write-backs refused for now left, `stopped` by close).
 */
export const ATTR_SESSION_RECONCILE_RESULT = 'session.reconcile.result';
/** Reconciliation: sessions left in the journal for the next run. */
export const ATTR_SESSION_RECONCILE_REMAINING = 'session.reconcile.remaining';

/** Health probe: round-trip latency, ms. */
export const ATTR_SESSION_HEALTH_LATENCY_MS = 'session.health.latency_ms';
/** Health probe/report: status (`healthy`, `degraded`, `unhealthy`). */
export const ATTR_SESSION_HEALTH_STATUS = 'session.health.status';

/** Sweep: bucket index swept by this job. */
export const ATTR_SESSION_SWEEP_BUCKET = 'session.sweep.bucket';
/** Sweep: sessions found expired and removed. */
export const ATTR_SESSION_SWEEP_EXPIRED = 'session.sweep.expired';
/** Sweep: batches taken. */
export const ATTR_SESSION_SWEEP_BATCHES = 'session.sweep.batches';
/** Sweep: true when the job stopped with due entries left (batch limit reached). */
export const ATTR_SESSION_SWEEP_MORE = 'session.sweep.more';
/** Sweep: expiry events published. */
export const ATTR_SESSION_SWEEP_EVENTS = 'session.sweep.events';
/** Sweep: expiry-index members dropped because their session was already gone. */
export const ATTR_SESSION_SWEEP_ORPHANS = 'session.sweep.orphans';
/** Sweep: outbox entries left unacknowledged by an earlier job, published again. */
export const ATTR_SESSION_SWEEP_REPUBLISHED = 'session.sweep.republished';

// ─── Attribute values ──────────────────────────────────────────────────────

/**
 * Values of {@link ATTR_SESSION_OUTCOME}: `ok`; `not_found` for a missing
 * session (`get` → null, `touch`/`delete` → false, `update` → not found);
 * `error` for any other failure.
 */
export type SessionOutcome = 'ok' | 'not_found' | 'error';
/** {@link SessionOutcome} `ok`. */
export const OUTCOME_OK = 'ok';
/** {@link SessionOutcome} `not_found`. */
export const OUTCOME_NOT_FOUND = 'not_found';
/** {@link SessionOutcome} `error`. */
export const OUTCOME_ERROR = 'error';

// ─── Metric names ──────────────────────────────────────────────────────────

/** Counter: manager operations, by `session.operation` and `session.outcome`. */
export const METRIC_SESSION_OPERATIONS = 'session.operations';
/** Counter: failed operations, by `session.operation` and `error.type` (the code). */
export const METRIC_SESSION_ERRORS = 'session.errors';
/** Histogram (s): operation latency, by `session.operation` and `session.outcome`. */
export const METRIC_SESSION_OPERATION_DURATION = 'session.operation.duration';
/** Counter: retries, by `session.operation` and `error.type`. */
export const METRIC_SESSION_RETRIES = 'session.retries';
/** Histogram (s): time spent waiting for a session lock, by `session.outcome`. */
export const METRIC_SESSION_LOCK_WAIT = 'session.lock.wait.duration';
/** Counter: `update`s that escalated to the session lock, by `session.lock.escalation_reason`. */
export const METRIC_SESSION_LOCK_ESCALATIONS = 'session.lock.escalations';
/** Gauge: breaker state of the fallback's primary (0 closed, 1 half-open, 2 open, 3 isolated). */
export const METRIC_SESSION_BREAKER_STATE = 'session.fallback.breaker.state';
/** Gauge: 1 while this instance serves from its fallback, else 0. */
export const METRIC_SESSION_DEGRADED = 'session.fallback.degraded';
/** Counter: sessions removed by expiry sweeps, by `session.sweep.bucket`. */
export const METRIC_SESSION_SWEPT = 'session.swept';
/** Counter: sweep jobs run, by `session.outcome`. */
export const METRIC_SESSION_SWEEPS = 'session.sweeps';
/**
 * Counter: sessions handled by reconciliation, by `session.outcome`
 * (`written`, `deleted`, `conflict`, `skipped`, `failed`).
 */
export const METRIC_SESSION_RECONCILED = 'session.reconciled';
/** Counter: health probes, by `session.outcome`. */
export const METRIC_SESSION_HEALTH_PROBES = 'session.health.probes';

/** Numeric values of {@link METRIC_SESSION_BREAKER_STATE}. */
export const BREAKER_STATE_VALUES = Object.freeze({
  closed: 0,
  half_open: 1,
  open: 2,
  isolated: 3,
} as const);
