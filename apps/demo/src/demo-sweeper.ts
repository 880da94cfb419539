import { ExpirySweeper } from '@session-cluster/sweeper';

/** A running sweeper: stop it on shutdown. */
export interface DemoSweeper {
  stop(): Promise<void>;
}

/**
 * The demo's expiry sweeper, run by the primary process: BullMQ job
 * schedulers (one per expiry bucket, every 5 s) and a worker that sweeps
 * expired sessions, keeps the indexes true and publishes a
 * `session.expired` event per session to the `session-expired` queue, where
 * an application would consume it with its own BullMQ Worker. The demo has
 * no consumer, so completed events are kept only for the dedupe window;
 * `say` reports each expiry (id hash only) as the local hook sees it.
 */
export function startDemoSweeper(
  redisUrl: string,
  prefix: string,
  say: (line: string) => void,
): DemoSweeper {
  const sweeper = new ExpirySweeper({ connection: { url: redisUrl }, prefix });
  sweeper.on('expired', (event) => {
    say(`sweeper: session ${event.sessionIdHash} expired (${String(event.lateness)} ms late)`);
  });
  sweeper.on('sweepFailed', (failure) => {
    say(
      `sweeper: a sweep of bucket ${String(failure.bucket ?? '?')} failed: ${failure.error.message}`,
    );
  });
  const started = sweeper.start().catch((error: unknown) => {
    say(`sweeper: not started (${error instanceof Error ? error.message : String(error)})`);
  });
  return {
    async stop() {
      await started;
      await sweeper.close();
    },
  };
}
