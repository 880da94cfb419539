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
export {
  DEFAULT_CODEC_LIMITS,
  checkSessionEntry,
  checkSessionKey,
  createSessionCodec,
  redactedParseError,
} from './session-codec.js';
export type { FrameCheckKey, FrameKeys } from './frame-keys.js';
export { keyedFrameCheck, verifyKeyedFrameCheck } from './frame-keys.js';
export type { EncryptionKey, KeyRing, KeyRingOptions } from './key-ring.js';
export { MIN_SEALED_BYTES, createKeyRing, openWithKeyRing, sealWithKeyRing } from './key-ring.js';
export { parseStoredJson } from './parse-stored-json.js';
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
  BreakerStateName,
  EscalationReason,
  FallbackRoute,
  LockMode,
  SessionOperationName,
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
  StoreCallSettled,
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
  INSTRUMENTATION_SCOPE,
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
  FORBIDDEN_KEYS,
  MAX_EPOCH_MS,
  assertEpochMs,
  assertFunction,
  assertObjectArgument,
  assertPatch,
  assertPlainRecord,
  assertPositiveInteger,
  exceptIds,
  invalidArgument,
  isPlainObject,
  loadOptions,
  optionalVersion,
} from './input-validation.js';
export { replayFirst } from './replay-first.js';
