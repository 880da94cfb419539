import { ExpirySweeper, consumeExpiredSessions } from '@session-cluster/sweeper';
import type { Logger } from 'pino';

/** A running sweeper: stop it on shutdown. */
export interface DemoSweeper {
  stop(): Promise<void>;
}

/**
 * The demo's expiry sweeper, run by the primary process: BullMQ job
 * schedulers (one per expiry bucket, every 5 s) and a worker that sweeps
 * expired sessions, keeps the indexes true and publishes one job per sweep
 * batch to the `session-expiries` queue; and the consumer an application
 * runs (`consumeExpiredSessions`), which takes each batch and logs every
 * expiry it carries (id hash only) — so the demo's Redis keeps no batch
 * jobs nobody reads. Each sweep failure is logged.
 */
export function startDemoSweeper(redisUrl: string, prefix: string, log: Logger): DemoSweeper {
  const sweeper = new ExpirySweeper({ connection: { url: redisUrl }, prefix });
  sweeper.on('sweepFailed', (failure) => {
    log.warn(
      { bucket: failure.bucket, err: failure.error },
      'sweeper: a sweep failed; the next job of the bucket retries',
    );
  });
  const consumer = consumeExpiredSessions(
    { url: redisUrl },
    (expiry) => {
      log.info(
        {
          sessionIdHash: expiry.sessionIdHash,
          userId: expiry.userId,
          latenessMs: expiry.lateness,
        },
        `sweeper: session ${expiry.sessionIdHash} expired (expiry event consumed)`,
      );
    },
    { prefix },
  );
  const started = sweeper.start().catch((error: unknown) => {
    log.error({ err: error }, 'sweeper: not started');
  });
  return {
    async stop() {
      await started;
      await Promise.all([sweeper.close(), consumer.close()]);
    },
  };
}
