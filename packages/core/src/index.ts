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
export type { Clock } from './clock.js';
export { systemClock, ManualClock } from './clock.js';
export {
  SESSION_ID_BYTES,
  SESSION_ID_LENGTH,
  generateSessionId,
  isValidSessionId,
  assertValidSessionId,
  hashSessionId,
} from './session-id.js';
export { MAX_USER_ID_LENGTH, isValidUserId, assertValidUserId } from './user-id.js';
export type { JsonValue, SessionData, SessionRecord, SessionPatch } from './session.js';
export type {
  CreateSessionInput,
  SaveSessionInput,
  PatchOptions,
  DeleteByUserOptions,
  ExpiredSession,
  SweepResult,
  SessionStore,
  SessionLock,
  LockOptions,
  SessionLocker,
} from './contracts.js';
export type {
  EncodedData,
  EncodedEntries,
  EncodedPatch,
  EncodedPatchEntries,
  SessionCodec,
} from './codec.js';
export type { SessionCodecOptions } from './session-codec.js';
export { DEFAULT_CODEC_LIMITS, createSessionCodec } from './session-codec.js';
export type { EncryptionKey, KeyRing, KeyRingOptions } from './key-ring.js';
export { MIN_SEALED_BYTES, createKeyRing, openWithKeyRing, sealWithKeyRing } from './key-ring.js';
export { parseStoredJson } from './parse-stored-json.js';
export { FORBIDDEN_KEYS } from './data-validation.js';
export type { RetryOptions, RetryEvent, RetryPolicyOptions } from './retry-policy.js';
export {
  DEFAULT_RETRY_OPTIONS,
  JitteredExponentialBackoff,
  createRetryPolicy,
  resolveRetryOptions,
  retryDelayMs,
} from './retry-policy.js';
export type { LockedUpdateOptions, SessionMutator } from './locked-update.js';
export { lockedUpdate } from './locked-update.js';
