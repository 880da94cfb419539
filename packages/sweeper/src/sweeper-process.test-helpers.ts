/**
 * A sweeper worker process for the multi-process tests: reads its
 * configuration from `SWEEPER_CHILD_CONFIG` (JSON), runs an ExpirySweeper
 * with a clock `clockOffsetMs` ahead of real time (so sessions are due
 * without the test sleeping), reports over IPC, and stops gracefully on an
 * `exit` message or SIGTERM. With `holdClock`, the clock runs on real time
 * until an `advance` message: several workers can all be running before
 * any session is due to them.
 */
import type { RedisConnectionOptions } from '@session-cluster/store-redis';
import { ExpirySweeper } from './expiry-sweeper.js';
import type { BucketSweepReport } from './bucket-sweep.js';

/** What the test passes in `SWEEPER_CHILD_CONFIG`. */
export interface SweeperChildConfig {
  readonly connection: RedisConnectionOptions;
  readonly prefix: string;
  readonly clockOffsetMs: number;
  readonly intervalMs: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  /** Real time until an `advance` message, then `clockOffsetMs` ahead. */
  readonly holdClock?: boolean;
}

/** Messages from the child. */
export type SweeperChildMessage =
  | { readonly type: 'ready'; readonly pid: number }
  | { readonly type: 'swept'; readonly report: BucketSweepReport }
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  | { readonly type: 'closed'; readonly expired: number; readonly published: number };

function send(message: SweeperChildMessage): void {
  process.send?.(message);
}

const config = JSON.parse(process.env['SWEEPER_CHILD_CONFIG'] ?? '{}') as SweeperChildConfig;
let offsetMs = config.holdClock === true ? 0 : config.clockOffsetMs;
const sweeper = new ExpirySweeper({
  connection: config.connection,
  prefix: config.prefix,
  clock: { now: () => Date.now() + offsetMs },
  intervalMs: config.intervalMs,
  batchSize: config.batchSize,
  concurrency: config.concurrency,
  lockDurationMs: config.lockDurationMs,
  stalledIntervalMs: config.stalledIntervalMs,
});
sweeper.on('swept', (report) => {
  if (report.published > 0 || report.orphans > 0) send({ type: 'swept', report });
});
sweeper.on('sweepFailed', ({ error }) => {
  send({ type: 'failed', code: error.code, message: error.message });
});

let stopping: Promise<void> | undefined;
function stop(): void {
  stopping ??= (async () => {
    await sweeper.close();
    const { expired, published } = sweeper.stats;
    send({ type: 'closed', expired, published });
    // Started with an IPC channel (see ipc-child.test-helpers.ts): let it close so the process can exit.
    process.disconnect();
    process.exitCode = 0;
  })();
}
process.on('message', (message: { type?: string }) => {
  if (message.type === 'exit') stop();
  if (message.type === 'advance') offsetMs = config.clockOffsetMs;
});
process.once('SIGTERM', stop);

await sweeper.start();
send({ type: 'ready', pid: process.pid });
