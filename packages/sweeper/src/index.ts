export type { SweeperStats, SweepTotals } from './expiry-sweeper.js';
export { ExpirySweeper } from './expiry-sweeper.js';
export type { ExpirySweeperOptions, ResolvedSweeperOptions } from './sweeper-options.js';
export {
  QUEUE_PREFIX_PATTERN,
  SWEEPER_DEFAULTS,
  WORKER_COMMAND_TIMEOUT_MS,
} from './sweeper-options.js';
export type { ExpirySweeperEvents, QueueFailure, SweepFailure } from './sweeper-events.js';
export type { BucketSweepContext, BucketSweepReport, ExpiryPublisher } from './bucket-sweep.js';
export { sweepOneBucket } from './bucket-sweep.js';
export type { ExpiryEventJob, SessionExpiredEvent } from './expiry-event.js';
export { EXPIRED_EVENT_NAME, expiryEventJob, isSessionExpiredEvent } from './expiry-event.js';
export type { EventJobSettings } from './expiry-publisher.js';
export { EventsQueuePublisher, PUBLISH_CHUNK } from './expiry-publisher.js';
export type { SchedulerChanges, SweepJobData } from './sweep-schedulers.js';
export { SWEEP_JOB_NAME, installSweepSchedulers, sweepSchedulerId } from './sweep-schedulers.js';
export { ATTR_SESSION_SWEEP_ORPHANS, ATTR_SESSION_SWEEP_REPUBLISHED } from './sweep-telemetry.js';
