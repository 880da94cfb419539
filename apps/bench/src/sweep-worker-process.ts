/**
 * One sweeper worker process for the sweep benchmark (spawned by
 * sweep-scenarios.ts with `--expose-gc`): its RSS is the worker's alone.
 *
 * IPC: → `ready` (memory at rest); ← `start` → `started`; while sweeping,
 * `progress` with the running totals every 100 ms; ← `measure` →
 * `memory` (after a full GC); ← `exit` → graceful close, exit 0.
 */
import { ExpirySweeper } from '@session-cluster/sweeper';

/** What the bench passes in `SWEEP_BENCH_CONFIG`. */
export interface SweepWorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly publishEvents: boolean;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly intervalMs: number;
  readonly telemetry: boolean;
}

/** Memory of the worker process, bytes. */
export interface WorkerMemory {
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap pages committed (used or not): what the heap holds of the RSS. */
  readonly heapTotal: number;
  /** Memory outside the V8 heap that JS objects hold (Buffers included). */
  readonly external: number;
  /** CPU time the process has used so far (user + system), µs. */
  readonly cpuMicros: number;
}

/** Messages from the worker. */
export type SweepWorkerMessage =
  | { readonly type: 'ready'; readonly memory: WorkerMemory }
  | { readonly type: 'started' }
  | {
      readonly type: 'progress';
      readonly expired: number;
      readonly published: number;
      /** RSS now (no GC), bytes. */
      readonly rss: number;
      /**
       * From the start of the first sweep job that found expiries to the end
       * of the last one, ms: the sweep itself, without the process start-up
       * (connecting, installing one job scheduler per bucket).
       */
      readonly sweepWindowMs: number;
      /** Epoch ms when that first job started (to time a consumer in another process). */
      readonly firstJobStartedAt: number;
    }
  | { readonly type: 'memory'; readonly memory: WorkerMemory };

const config = JSON.parse(process.env['SWEEP_BENCH_CONFIG'] ?? '{}') as SweepWorkerConfig;

function send(message: SweepWorkerMessage): void {
  process.send?.(message);
}

function memory(): WorkerMemory {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  const { user, system } = process.cpuUsage();
  return { rss, heapUsed, heapTotal, external, cpuMicros: user + system };
}

const sweeper = new ExpirySweeper({
  connection: { url: config.url },
  prefix: config.prefix,
  publishEvents: config.publishEvents,
  concurrency: config.concurrency,
  batchSize: config.batchSize,
  intervalMs: config.intervalMs,
  telemetry: config.telemetry,
});
let ticker: NodeJS.Timeout | undefined;
let firstJobStart = Number.POSITIVE_INFINITY;
let firstJobStartedAt = Number.POSITIVE_INFINITY;
let lastJobEnd = Number.NEGATIVE_INFINITY;
sweeper.on('swept', (report) => {
  if (report.published === 0) return;
  const end = performance.now();
  if (end - report.durationMs < firstJobStart) {
    firstJobStart = end - report.durationMs;
    firstJobStartedAt = Date.now() - report.durationMs;
  }
  lastJobEnd = Math.max(lastJobEnd, end);
});

process.on('message', (message: { type?: string }) => {
  switch (message.type) {
    case 'start':
      void sweeper.start().then(() => {
        send({ type: 'started' });
        ticker = setInterval(() => {
          const { expired, published } = sweeper.stats;
          send({
            type: 'progress',
            expired,
            published,
            rss: process.memoryUsage.rss(),
            sweepWindowMs: Math.max(0, lastJobEnd - firstJobStart),
            firstJobStartedAt,
          });
        }, 100);
      });
      break;
    case 'measure':
      send({ type: 'memory', memory: memory() });
      break;
    case 'exit':
      clearInterval(ticker);
      void sweeper.close().then(() => {
        process.disconnect();
      });
      break;
    default:
      break;
  }
});

// The store connects on construction; wait for it so "at rest" includes the connections.
await sweeper.store.ping();
send({ type: 'ready', memory: memory() });
