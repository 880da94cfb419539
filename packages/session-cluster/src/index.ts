export type { SessionCluster } from './create-session-cluster.js';
export { createSessionCluster } from './create-session-cluster.js';
export type { LockNode, RedisOption, SessionClusterOptions } from './cluster-options.js';
export type { FallbackLockerOptions } from './fallback-locker.js';
export { FallbackLocker, isLockServiceDown } from './fallback-locker.js';
export { METRIC_SESSION_ACTIVE, countLiveSessions } from './active-sessions-gauge.js';
export {
  METRIC_SESSION_CACHE_BYTES,
  METRIC_SESSION_CACHE_ENTRIES,
  METRIC_SESSION_CACHE_HITS,
  METRIC_SESSION_CACHE_INVALIDATIONS,
  METRIC_SESSION_CACHE_MISSES,
  METRIC_SESSION_CACHE_RETAINED_BYTES,
  METRIC_SESSION_CACHE_STEP_BYTES,
} from './cache-metrics.js';
/** What `codec.onCorruption` receives. */
export type { CorruptionInfo } from '@session-cluster/store-redis';
// The error types every call can throw, so an app that installs only
// session-cluster can branch on them without a direct dependency on core.
export type {
  SessionErrorCode,
  SessionErrorCategory,
  SessionErrorSeverity,
  SessionErrorJSON,
} from '@session-cluster/core';
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
} from '@session-cluster/core';
