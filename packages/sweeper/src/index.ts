export type { SweeperStats, SweepTotals } from './expiry-sweeper.js';
export { ExpirySweeper } from './expiry-sweeper.js';
export type { ExpirySweeperOptions, ResolvedSweeperOptions } from './sweeper-options.js';
export { QUEUE_PREFIX_PATTERN, SWEEPER_DEFAULTS } from './sweeper-options.js';
export { WORKER_COMMAND_TIMEOUT_MS } from './bullmq-clients.js';
export type { ExpirySweeperEvents, QueueFailure, SweepFailure } from './sweeper-events.js';
export type { BucketSweepContext, BucketSweepReport, ExpiryPublisher } from './bucket-sweep.js';
export { sweepOneBucket } from './bucket-sweep.js';
export type { ExpiryBatchJobData, SessionExpiredEvent } from './expiry-event.js';
export {
  EXPIRED_BATCH_NAME,
  EXPIRED_EVENT_NAME,
  expiryBatchId,
  expiryBatchJobId,
  expiryEvent,
  isExpiryBatchJobData,
  isSessionExpiredEvent,
} from './expiry-event.js';
export type { EventJobSettings } from './expiry-publisher.js';
export { EventsQueuePublisher } from './expiry-publisher.js';
export type {
  ExpiredSessionHandler,
  ExpiredSessionsConsumer,
  ExpiredSessionsConsumerOptions,
  ExpiryBatchOutcome,
} from './expired-sessions-consumer.js';
export { CONSUMER_DEFAULTS, consumeExpiredSessions } from './expired-sessions-consumer.js';
export type { SchedulerChanges, SweepJobData } from './sweep-schedulers.js';
export { SWEEP_JOB_NAME, installSweepSchedulers, sweepSchedulerId } from './sweep-schedulers.js';
