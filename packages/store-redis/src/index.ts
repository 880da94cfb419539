export type {
  BucketSweepResult,
  ExpiryBatch,
  SweepBucketOptions,
  SweptExpiry,
} from './expiry-outbox.js';
export { RedisStore } from './redis-store.js';
export { RedisExpiryOutbox } from './expiry-outbox-client.js';
export type {
  CorruptionInfo,
  UserCapEviction,
  RedisAddress,
  RedisConnectionOptions,
  RedisStoreOptions,
} from './redis-store-options.js';
export type { ResolvedConnection } from './redis-store-options.js';
export { REDIS_STORE_DEFAULTS, resolveRedisConnection } from './redis-store-options.js';
export type { RedisConnection } from './redis-connection.js';
export { MAX_RECONNECT_DELAY_MS, openRedisConnection } from './redis-connection.js';
export type { SessionCacheOptions, SessionCacheState, SessionCacheStats } from './session-cache.js';
export { RETAINED_TTL_MS, SESSION_CACHE_DEFAULTS, TOKEN_CLOCK_SKEW_MS } from './session-cache.js';
export { INVALIDATION_CHANNEL } from './invalidation-tracking.js';
export type { RedisCallContext } from './redis-errors.js';
export { UNAVAILABLE_REPLY_PREFIXES, toStoreError } from './redis-errors.js';
export { KEY_PREFIX_PATTERN, MAX_BUCKETS, RedisKeys } from './redis-keys.js';
export type { StoreScriptName } from './redis-scripts.js';
export { STORE_SCRIPTS, scriptCommandName } from './redis-scripts.js';
export { STORE_REDIS_VERSION } from './version.js';
export { RedlockLocker } from './redlock-locker.js';
export type { RedlockLockerOptions, RedlockNode } from './redlock-options.js';
export { LOCK_PREFIX_PATTERN, MIN_LOCK_TTL_MS, REDLOCK_DEFAULTS } from './redlock-options.js';
export type { VoteSummary } from './redlock-vote-summary.js';
export type { CheckedHeaderFields } from './session-frame.js';
export {
  ENTRY_SEPARATOR,
  FIELD_SEPARATOR,
  FRAME_MAGIC,
  KEYED_FRAME_MAGIC,
  LEGACY_FRAME_MAGIC,
  RETIRED_FRAME,
  frameCheck,
  replaceFrameEntry,
} from './session-frame.js';
