import { ExpirySweeper } from '@session-cluster/sweeper';
import type { Logger } from 'pino';

/** A running sweeper: stop it on shutdown. */
export interface DemoSweeper {
  stop(): Promise<void>;
}

/**
 * The demo's expiry sweeper, run by the primary process: BullMQ job
 * schedulers (one per expiry bucket, every 5 s) and a worker that sweeps
 * expired sessions, keeps the indexes true and publishes one job per sweep
 * batch to the `session-expiries` queue, where an application would consume
 * it with `consumeExpiredSessions`. The demo has no consumer, so the jobs
 * wait there (small: one per batch);
 * `log` reports each expiry (id hash only) as the local hook sees it.
 */
export function startDemoSweeper(redisUrl: string, prefix: string, log: Logger): DemoSweeper {
  const sweeper = new ExpirySweeper({ connection: { url: redisUrl }, prefix });
  sweeper.on('expired', (event) => {
    log.info(
      { sessionIdHash: event.sessionIdHash, latenessMs: event.lateness },
      `sweeper: session ${event.sessionIdHash} expired`,
    );
  });
  sweeper.on('sweepFailed', (failure) => {
    log.warn(
      { bucket: failure.bucket, err: failure.error },
      'sweeper: a sweep failed; the next job of the bucket retries',
    );
  });
  const started = sweeper.start().catch((error: unknown) => {
    log.error({ err: error }, 'sweeper: not started');
  });
  return {
    async stop() {
      await started;
      await sweeper.close();
    },
  };
}
