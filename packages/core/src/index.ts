export type {
  SessionErrorCode,
  SessionErrorCategory,
  SessionErrorSeverity,
  SessionErrorOptions,
  SessionErrorJSON,
  ConcurrentAccessReason,
} from './errors.js';
export {
  SESSION_ERROR_TRAITS,
  SessionError,
  SessionNotFoundError,
  SessionExpiredError,
  SessionCorruptedError,
  StorageUnavailableError,
  ConcurrentAccessError,
  SessionValidationError,
  SessionSerializationError,
  SessionEncryptionError,
  isSessionError,
  isRetryableSessionError,
  toSessionError,
} from './errors.js';
export {
  RETIRED_ID_MIN_TTL_MS,
  isRetiredIdError,
  retiredIdError,
  retiredUntil,
} from './retired-ids.js';
export { versionConflictError } from './version-conflict.js';
export type { Clock } from './clock.js';
export { systemClock, ManualClock } from './clock.js';
export {
  SESSION_ID_BYTES,
  SESSION_ID_LENGTH,
  generateSessionId,
  isValidSessionId,
  assertValidSessionId,
  hashSessionId,
  maskSessionIds,
} from './session-id.js';
export { MAX_USER_ID_LENGTH, isValidUserId, assertValidUserId } from './user-id.js';
export { copySessionData } from './session.js';
export type { JsonValue, SessionData, SessionRecord, SessionPatch } from './session.js';
export type {
  CreateSessionInput,
  SaveSessionInput,
  LoadOptions,
  PatchOptions,
  DeleteByUserOptions,
  ExpiredSession,
  SweepResult,
  SessionStore,
  SessionLock,
  LockOptions,
  SessionLocker,
  SessionKeyChange,
  SessionMerge,
  SessionMergeResult,
} from './contracts.js';
export type {
  EncodedData,
  EncodedEntries,
  EncodedPatch,
  EncodedPatchEntries,
  SessionCodec,
} from './codec.js';
export type { SessionCodecOptions } from './session-codec.js';
export { DEFAULT_CODEC_LIMITS, createSessionCodec, redactedParseError } from './session-codec.js';
export type { FrameCheckKey, FrameKeys } from './frame-keys.js';
export { keyedFrameCheck, verifyKeyedFrameCheck } from './frame-keys.js';
export type { EncryptionKey, KeyRing, KeyRingOptions } from './key-ring.js';
export { MIN_SEALED_BYTES, createKeyRing, openWithKeyRing, sealWithKeyRing } from './key-ring.js';
export { parseStoredJson } from './parse-stored-json.js';
export { FORBIDDEN_KEYS, isPlainObject } from './data-validation.js';
export type {
  RetryOptions,
  RetryEvent,
  RetryPolicyHooks,
  RetryPolicyOptions,
} from './retry-policy.js';
export {
  DEFAULT_RETRY_OPTIONS,
  createRetryPolicy,
  retryPolicyOf,
  resolveRetryOptions,
  retryDelayMs,
} from './retry-policy.js';
export type { LockedUpdateOptions, SessionMutator } from './locked-update.js';
export { lockedUpdate, optimisticUpdate } from './locked-update.js';
export type {
  SessionOperationName,
  SessionOutcome,
  FallbackRoute,
  LockMode,
  EscalationReason,
} from './semconv.js';
export {
  INSTRUMENTATION_SCOPE,
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
  METRIC_SESSION_ACTIVE,
  METRIC_SESSION_CACHE_BYTES,
  METRIC_SESSION_CACHE_ENTRIES,
  METRIC_SESSION_CACHE_HITS,
  METRIC_SESSION_CACHE_INVALIDATIONS,
  METRIC_SESSION_CACHE_MISSES,
  METRIC_SESSION_SWEPT,
  METRIC_SESSION_SWEEPS,
  METRIC_SESSION_RECONCILED,
  METRIC_SESSION_HEALTH_PROBES,
  BREAKER_STATE_VALUES,
} from './semconv.js';
export type { SessionErrorAttributes, SpanException } from './error-attributes.js';
export { exceptionForSpan, sessionErrorAttributes } from './error-attributes.js';
export type {
  BreakerStateName,
  FallbackStateReader,
  HealthProbeMessage,
  OperationMessage,
  ProbeOutcome,
  CachedReadMessage,
  ReconcileMessage,
  ReconcileTally,
  SessionChannels,
  SessionEvent,
  StoreCallMessage,
  SweepMessage,
  SweepOutcome,
} from './session-channels.js';
export {
  CHANNEL_CACHED_READ,
  CHANNEL_EVENT,
  CHANNEL_HEALTH_PROBE,
  CHANNEL_OPERATION,
  CHANNEL_RECONCILE,
  CHANNEL_STORE_CALL,
  CHANNEL_SWEEP,
  SESSION_CHANNELS,
  SILENT_SESSION_CHANNELS,
  publishSessionEvent,
  sessionChannels,
} from './session-channels.js';
export { SESSION_STORE_METHODS } from './contracts.js';
export type {
  DefaultsOf,
  OptionChecks,
  OptionRule,
  OptionRules,
  OptionsOf,
  ResolvedOptions,
  UncheckedOptions,
} from './option-checks.js';
export { MAX_TIMER_MS, createOptionChecks, isOptionsObject } from './option-checks.js';
export {
  MAX_EPOCH_MS,
  assertEpochMs,
  assertObjectArgument,
  assertPositiveInteger,
  exceptIds,
  invalidArgument,
} from './argument-checks.js';
export { replayFirst } from './replay-first.js';
