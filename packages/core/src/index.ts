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
export type { EncodedData, EncodedPatch, SessionCodec } from './codec.js';
