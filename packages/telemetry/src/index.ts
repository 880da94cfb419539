export type { Telemetry } from './start-telemetry.js';
export { DEFAULT_OTLP_ENDPOINT, startTelemetry } from './start-telemetry.js';
export type { OtlpProtocol, TelemetryOptions } from './telemetry-options.js';
export { resolveTelemetryOptions } from './telemetry-options.js';
export type { LoggerOptions } from './logger.js';
export { createLogger } from './logger.js';
export { redisStatement } from './redis-statement.js';
export { SessionIdMaskingProcessor } from './session-id-masking-processor.js';
export { PooledIdGenerator } from './pooled-id-generator.js';
export { SessionSampler } from './session-sampler.js';
export { RecordingSpans } from './recording-spans.js';
export { OtlpProtobufSpanExporter, OtlpSpanSerializer } from './otlp-span-serializer.js';
export type { SessionSampling } from './session-sampler.js';
export { OperationDurations } from './operation-durations.js';
export { startTelemetryIfConfigured, telemetryRequested } from './start-telemetry-if-configured.js';
export type {
  SessionInstrumentation,
  SessionInstrumentationOptions,
} from './session-instrumentation.js';
export { instrumentSessionCluster } from './session-instrumentation.js';
export type { CachedReadSpans } from './operation-tracing.js';
export type { SessionErrorAttributes, SpanException } from './span-failure.js';
export { exceptionForSpan, sessionErrorAttributes } from './span-failure.js';
export type { SessionOutcome } from './semconv.js';
export {
  SPAN_SESSION_PREFIX,
  SPAN_LOCK_ACQUIRE,
  SPAN_LOCK_RELEASE,
  SPAN_STORE_PREFIX,
  SPAN_RECONCILE,
  SPAN_HEALTH_PROBE,
  SPAN_SWEEP,
  EVENT_FAILOVER,
  EVENT_RECONCILE_BATCH,
  EVENT_RECONCILE_CONFLICT,
  EVENT_RECONCILE_DEFERRED,
  ATTR_SESSION_RECONCILE_CONFLICT_KEYS,
  EVENT_RETRY,
  EVENT_BREAKER_STATE_CHANGE,
  EVENT_LOCK_FALLBACK,
  EVENT_CONFLICT_RETRY,
  ATTR_DB_SYSTEM,
  ATTR_DB_OPERATION_NAME,
  ATTR_ERROR_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_ID,
  DB_SYSTEM_VALUE_REDIS,
  MESSAGING_SYSTEM_VALUE_BULLMQ,
  ATTR_SESSION_OPERATION,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_NEW_ID_HASH,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_CACHE_HIT,
  ATTR_SESSION_FOUND,
  ATTR_SESSION_VERSION,
  ATTR_SESSION_COUNT,
  ATTR_SESSION_ATTEMPTS,
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_ERROR_CATEGORY,
  ATTR_SESSION_ERROR_SEVERITY,
  ATTR_SESSION_ERROR_RETRYABLE,
  ATTR_SESSION_RETRY_ATTEMPT,
  ATTR_SESSION_RETRY_DELAY_MS,
  ATTR_SESSION_LOCK_WAIT_MS,
  ATTR_SESSION_LOCK_TTL_MS,
  ATTR_SESSION_LOCK_NODES_VOTED,
  ATTR_SESSION_LOCK_NODES_TOTAL,
  ATTR_SESSION_LOCK_QUORUM,
  ATTR_SESSION_LOCK_ATTEMPTS,
  ATTR_SESSION_LOCK_HELD_MS,
  ATTR_SESSION_LOCK_MODE,
  ATTR_SESSION_LOCK_ESCALATION_REASON,
  ATTR_SESSION_FALLBACK_ROUTE,
  ATTR_SESSION_BREAKER_STATE,
  ATTR_SESSION_RECONCILE_ENTRIES,
  ATTR_SESSION_RECONCILE_WRITTEN,
  ATTR_SESSION_RECONCILE_DELETED,
  ATTR_SESSION_RECONCILE_CONFLICTS,
  ATTR_SESSION_RECONCILE_REMAINING,
  ATTR_SESSION_RECONCILE_SKIPPED,
  ATTR_SESSION_RECONCILE_FAILED,
  ATTR_SESSION_RECONCILE_RESULT,
  ATTR_SESSION_RECONCILE_TRIES,
  ATTR_SESSION_HEALTH_LATENCY_MS,
  ATTR_SESSION_HEALTH_STATUS,
  ATTR_SESSION_SWEEP_BUCKET,
  ATTR_SESSION_SWEEP_EXPIRED,
  ATTR_SESSION_SWEEP_BATCHES,
  ATTR_SESSION_SWEEP_MORE,
  ATTR_SESSION_SWEEP_EVENTS,
  ATTR_SESSION_SWEEP_ORPHANS,
  ATTR_SESSION_SWEEP_REPUBLISHED,
  OUTCOME_OK,
  OUTCOME_NOT_FOUND,
  OUTCOME_ERROR,
  METRIC_SESSION_OPERATIONS,
  METRIC_SESSION_ERRORS,
  METRIC_SESSION_OPERATION_DURATION,
  METRIC_SESSION_RETRIES,
  METRIC_SESSION_LOCK_WAIT,
  METRIC_SESSION_LOCK_ESCALATIONS,
  METRIC_SESSION_BREAKER_STATE,
  METRIC_SESSION_DEGRADED,
  METRIC_SESSION_SWEPT,
  METRIC_SESSION_SWEEPS,
  METRIC_SESSION_RECONCILED,
  METRIC_SESSION_HEALTH_PROBES,
  BREAKER_STATE_VALUES,
} from './semconv.js';
