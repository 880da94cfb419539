export { FallbackStore, MISS_RECHECK_DELAY_MS } from './fallback-store.js';
export type {
  BreakerOptions,
  ConsecutiveBreakerOptions,
  FallbackStoreOptions,
  ReconcileOptions,
  ResolvedBreakerOptions,
  SamplingBreakerOptions,
} from './fallback-options.js';
export { FALLBACK_DEFAULTS, resolveFallbackOptions } from './fallback-options.js';
export type {
  DegradedEvent,
  FallbackStoreEvents,
  ReconcileConflictEvent,
  ReconcileCounts,
  ReconcileDeferredEvent,
  ReconcileFailedEvent,
  ReconcileProgressEvent,
  RecoveredEvent,
  WriteBacksLostEvent,
  WriteBacksLostReason,
} from './fallback-events.js';
export type { BreakerState } from './primary-policy.js';
export type { BreakerPhase, RecoveryState } from './recovery-machine.js';
export { isStorageFailure, shouldFailOver } from './storage-failure.js';
