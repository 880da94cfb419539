import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { generateSessionId } from '@session-cluster/core';
import { RedisKeys, RedisStore } from '@session-cluster/store-redis';
import { EXPIRED_EVENT_NAME, PUBLISH_CHUNK, isSessionExpiredEvent } from '@session-cluster/sweeper';
import { startRedisServer } from '@session-cluster/testkit';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { quantile } from './load-runner.js';
import type {
  SweepWorkerConfig,
  SweepWorkerMessage,
  WorkerMemory,
} from './sweep-worker-process.js';

const MB = 1024 * 1024;
const TEMPLATE_USER = 'bench-template-user';
/** A small session: the sweep never decodes data, so its size barely matters (DEL of a string). */
const SWEEP_DATA = { cart: [17, 42], theme: 'dark', visits: 3 };

function mb(bytes: number): number {
  return Number((bytes / MB).toFixed(1));
}

function benchClient(url: string): Redis {
  return new Redis(url, {
    commandTimeout: 60_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    protocol: 2,
  });
}

/**
 * Write `sessions` expired sessions straight into Redis, in the store's own
 * format: one real session is created through `RedisStore.create` as a
 * template, its frame is read back and copied with the owner replaced
 * (header fields are US-separated tokens; the one equal to the template's
 * owner becomes the new owner), then SET + ZADD expiry bucket + ZADD user
 * index are pipelined 2 000 sessions at a time. Writing a million frames
 * through `create` (two round trips and a Lua call each) would take minutes.
 *
 * @returns when the sessions expire (they are due once this has passed)
 */
async function loadExpiredSessions(
  url: string,
  prefix: string,
  sessions: number,
  users: number,
): Promise<{ expiresAt: number; loadMs: number }> {
  const started = performance.now();
  const store = new RedisStore({ connection: { url }, prefix });
  const client = benchClient(url);
  try {
    const keys = new RedisKeys(prefix, store.bucketCount);
    const template = await store.create({
      id: generateSessionId(),
      userId: TEMPLATE_USER,
      data: SWEEP_DATA,
      expiresAt: Date.now() + 1_500,
    });
    const raw = await client.get(keys.session(template.id));
    if (raw === null) throw new Error('bench: the template session is missing');
    await store.delete(template.id);
    const bodyAt = raw.indexOf('\x1e');
    const header = (bodyAt < 0 ? raw : raw.slice(0, bodyAt)).split('\x1f');
    const body = bodyAt < 0 ? '' : raw.slice(bodyAt);
    const ownerField = header.indexOf(TEMPLATE_USER);
    if (ownerField < 0) throw new Error('bench: cannot find the owner in the frame header');
    const frameOf = (userId: string): string => {
      const fields = [...header];
      fields[ownerField] = userId;
      return fields.join('\x1f') + body;
    };
    const { expiresAt, createdAt } = template;
    const physical = expiresAt + 3_600_000;
    const chunk = 2_000;
    for (let start = 0; start < sessions; start += chunk) {
      const pipeline = client.pipeline();
      for (let i = start; i < Math.min(sessions, start + chunk); i += 1) {
        const id = generateSessionId();
        const userId = users === 0 ? '' : `u${i % users}`;
        pipeline.set(keys.session(id), frameOf(userId), 'PXAT', physical);
        pipeline.zadd(keys.expiryBucketOf(id), expiresAt, id);
        if (userId !== '') pipeline.zadd(keys.userIndex(userId), createdAt, id);
      }
      await pipeline.exec();
    }
    return { expiresAt, loadMs: Math.round(performance.now() - started) };
  } finally {
    client.disconnect();
    await store.close();
  }
}

/** A sweeper worker child process (see sweep-worker-process.ts). */
interface WorkerHandle {
  readonly child: ChildProcess;
  next<T extends SweepWorkerMessage['type']>(
    type: T,
    until?: (message: Extract<SweepWorkerMessage, { type: T }>) => boolean,
  ): Promise<Extract<SweepWorkerMessage, { type: T }>>;
  onProgress(listener: (message: Extract<SweepWorkerMessage, { type: 'progress' }>) => void): void;
  stop(): Promise<void>;
}

async function spawnWorker(config: SweepWorkerConfig): Promise<WorkerHandle> {
  // Same runtime flags as this process (tsx + source condition when run from source).
  const script = fileURLToPath(
    new URL(`./sweep-worker-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
  );
  const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', script], {
    env: { ...process.env, SWEEP_BENCH_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const listeners = new Set<(message: SweepWorkerMessage) => void>();
  child.on('message', (message: SweepWorkerMessage) => {
    for (const listener of [...listeners]) listener(message);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  const handle: WorkerHandle = {
    child,
    next: (type, until) =>
      new Promise((resolve, reject) => {
        const listener = (message: SweepWorkerMessage): void => {
          if (message.type !== type) return;
          const typed = message as Extract<SweepWorkerMessage, { type: typeof type }>;
          if (until !== undefined && !until(typed)) return;
          listeners.delete(listener);
          resolve(typed);
        };
        listeners.add(listener);
        void exited.then(() => {
          if (listeners.delete(listener)) reject(new Error('bench: the sweeper worker exited'));
        });
      }),
    onProgress: (listener) => {
      listeners.add((message) => {
        if (message.type === 'progress') listener(message);
      });
    },
    stop: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'exit' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
  await handle.next('ready');
  return handle;
}

/** One worker sweeping a backlog of expired sessions. */
export interface SweepThroughputResult {
  readonly sessions: number;
  readonly users: number;
  readonly publishEvents: boolean;
  readonly telemetry: boolean;
  readonly loadMs: number;
  /**
   * The sweep: from the start of the first job that found expiries to the
   * end of the last one (see the worker's `sweepWindowMs`).
   */
  readonly durationMs: number;
  /** `sessions` ÷ `durationMs`: what the bar is about. */
  readonly sweptPerSec: number;
  /**
   * Worker CPU from `start()` to the end, as a share of one core over the
   * same wall time: how far the worker itself is from being the limit.
   */
  readonly workerCpuPercent: number;
  /**
   * From `start()` to the last session swept, start-up included (connecting
   * and installing one job scheduler per bucket, a once-per-process cost).
   */
  readonly wallMs: number;
  /** Worker RSS after a full GC: at rest before the sweep, and after it. */
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  /** Highest RSS sampled during the sweep (every 100 ms, no GC). */
  readonly rssPeakMb: number;
  readonly heapBeforeMb: number;
  readonly heapAfterMb: number;
  /**
   * With `secondRound`: RSS and heap after GC once the same worker has swept
   * a second backlog of the same size (loaded while it runs): a leak grows
   * again, a warmed-up allocator does not.
   */
  readonly rssAfterSecondMb?: number;
  readonly heapAfterSecondMb?: number;
}

/**
 * Load `sessions` expired sessions (owned by `users` users), then let one
 * sweeper worker process (default options: 64 buckets, batches of 1 000,
 * concurrency 4) sweep them all through BullMQ. With `publishEvents`, every
 * expiry also goes through the outbox and becomes a BullMQ job (nobody
 * consumes them here). With `secondRound`, a second backlog is loaded and
 * swept by the same worker, for its memory only.
 */
export async function measureSweepThroughput(options: {
  readonly sessions: number;
  readonly users: number;
  readonly publishEvents: boolean;
  readonly telemetry: boolean;
  readonly secondRound?: boolean;
}): Promise<SweepThroughputResult> {
  const server = await startRedisServer();
  const prefix = `bs${randomUUID().slice(0, 6)}`;
  let worker: WorkerHandle | undefined;
  try {
    const { expiresAt, loadMs } = await loadExpiredSessions(
      server.url,
      prefix,
      options.sessions,
      options.users,
    );
    worker = await spawnWorker({
      url: server.url,
      prefix,
      publishEvents: options.publishEvents,
      concurrency: 4,
      batchSize: 1_000,
      intervalMs: 5_000,
      telemetry: options.telemetry,
    });
    worker.child.send({ type: 'measure' });
    const rest = (await worker.next('memory')).memory;
    await delay(Math.max(0, expiresAt + 10 - Date.now()));
    let peak = rest.rss;
    worker.onProgress((message) => {
      peak = Math.max(peak, message.rss);
    });
    const started = performance.now();
    worker.child.send({ type: 'start' });
    const done = await worker.next('progress', (message) => message.expired >= options.sessions);
    const wallMs = performance.now() - started;
    const durationMs = done.sweepWindowMs;
    worker.child.send({ type: 'measure' });
    const after: WorkerMemory = (await worker.next('memory')).memory;
    let second: WorkerMemory | undefined;
    if (options.secondRound === true) {
      await loadExpiredSessions(server.url, prefix, options.sessions, options.users);
      await worker.next('progress', (message) => message.expired >= 2 * options.sessions);
      worker.child.send({ type: 'measure' });
      second = (await worker.next('memory')).memory;
    }
    return {
      sessions: options.sessions,
      users: options.users,
      publishEvents: options.publishEvents,
      telemetry: options.telemetry,
      loadMs,
      durationMs: Math.round(durationMs),
      sweptPerSec: Math.round(options.sessions / (durationMs / 1000)),
      wallMs: Math.round(wallMs),
      workerCpuPercent: Math.round((100 * (after.cpuMicros - rest.cpuMicros)) / (wallMs * 1000)),
      rssBeforeMb: mb(rest.rss),
      rssAfterMb: mb(after.rss),
      rssPeakMb: mb(peak),
      heapBeforeMb: mb(rest.heapUsed),
      heapAfterMb: mb(after.heapUsed),
      ...(second === undefined
        ? {}
        : { rssAfterSecondMb: mb(second.rss), heapAfterSecondMb: mb(second.heapUsed) }),
    };
  } finally {
    await worker?.stop();
    await server.stop();
  }
}

/** The baseline: the store's own sweep loop, no BullMQ, no outbox, no events. */
export interface RawSweepResult {
  readonly sessions: number;
  readonly durationMs: number;
  readonly sweptPerSec: number;
}

/**
 * `RedisStore.sweepBucket(bucket, now, 1000)` over every bucket, 4 buckets
 * at a time, in this process: what one worker could do with no job queue
 * and no events (the floor of the sweeper's cost is this Lua call plus the
 * store's user-index trim).
 */
export async function measureRawStoreSweep(options: {
  readonly sessions: number;
  readonly users: number;
}): Promise<RawSweepResult> {
  const server = await startRedisServer();
  const prefix = `br${randomUUID().slice(0, 6)}`;
  const store = new RedisStore({ connection: { url: server.url }, prefix });
  try {
    const { expiresAt } = await loadExpiredSessions(
      server.url,
      prefix,
      options.sessions,
      options.users,
    );
    await delay(Math.max(0, expiresAt + 10 - Date.now()));
    const started = performance.now();
    let next = 0;
    let swept = 0;
    const lanes = Array.from({ length: 4 }, async () => {
      while (next < store.bucketCount) {
        const bucket = next;
        next += 1;
        for (;;) {
          const result = await store.sweepBucket(bucket, Date.now(), 1_000);
          swept += result.expired.length;
          if (!result.more) break;
        }
      }
    });
    await Promise.all(lanes);
    const durationMs = performance.now() - started;
    if (swept !== options.sessions) {
      throw new Error(`bench: the raw sweep found ${swept} of ${options.sessions} sessions`);
    }
    return {
      sessions: swept,
      durationMs: Math.round(durationMs),
      sweptPerSec: Math.round(swept / (durationMs / 1000)),
    };
  } finally {
    await store.close();
    await server.stop();
  }
}

/** How late `session.expired` events reach a consumer. */
export interface SweepLatencyResult {
  readonly sessions: number;
  readonly intervalMs: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The bar: interval + 1 s. */
  readonly barMs: number;
}

/**
 * Sessions expiring steadily over `spreadMs` (created through the store),
 * one sweeper worker process with the given interval, and a BullMQ
 * consumer in this process: latency = the consumer's receive time minus
 * the session's `expiresAt`.
 */
export async function measureSweepLatency(options: {
  readonly sessions: number;
  readonly spreadMs: number;
  readonly intervalMs: number;
}): Promise<SweepLatencyResult> {
  const server = await startRedisServer();
  const prefix = `bl${randomUUID().slice(0, 6)}`;
  const store = new RedisStore({ connection: { url: server.url }, prefix });
  const consumerClient = new Redis(server.url, {
    commandTimeout: 15_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: null,
    protocol: 2,
  });
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const consumer = new Worker(
    'session-expired',
    (job) => {
      const received = Date.now();
      if (!isSessionExpiredEvent(job.data)) return Promise.resolve();
      const key = `${job.data.sessionIdHash}@${job.data.expiredAt}`;
      if (seen.has(key)) duplicates += 1;
      seen.add(key);
      latencies.push(received - job.data.expiredAt);
      return Promise.resolve();
    },
    { connection: consumerClient, prefix: `{${prefix}:sweeper}`, concurrency: 50 },
  );
  let worker: WorkerHandle | undefined;
  try {
    await consumer.waitUntilReady();
    worker = await spawnWorker({
      url: server.url,
      prefix,
      publishEvents: true,
      concurrency: 4,
      batchSize: 1_000,
      intervalMs: options.intervalMs,
      telemetry: true,
    });
    worker.child.send({ type: 'start' });
    await worker.next('started');
    const first = Date.now() + 2_000;
    const step = options.spreadMs / options.sessions;
    for (let start = 0; start < options.sessions; start += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, options.sessions - start) }, (_, i) =>
          store.create({
            id: generateSessionId(),
            userId: `u${(start + i) % 100}`,
            data: SWEEP_DATA,
            expiresAt: Math.round(first + (start + i) * step),
          }),
        ),
      );
    }
    const deadline = first + options.spreadMs + options.intervalMs + 30_000;
    while (seen.size < options.sessions && Date.now() < deadline) await delay(100);
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      sessions: options.sessions,
      intervalMs: options.intervalMs,
      delivered: seen.size,
      duplicates,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      maxMs: sorted.at(-1) ?? Number.NaN,
      barMs: options.intervalMs + 1_000,
    };
  } finally {
    await worker?.stop();
    await consumer.close();
    consumerClient.disconnect();
    await store.close();
    await server.stop();
  }
}

/** What {@link measureRawBullmqAdd} reports. */
export interface RawBullmqAddResult {
  readonly jobs: number;
  readonly durationMs: number;
  readonly jobsPerSec: number;
}

/**
 * The ceiling of "one `session.expired` job per expired session": BullMQ
 * alone adding `jobs` prebuilt event jobs (the sweeper's job options: a
 * deterministic id, attempts with backoff, kept after completion) with
 * `addBulk` in chunks of `PUBLISH_CHUNK`, 4 chunks in flight as with the
 * worker's concurrency 4. No sweep, no hashing, no outbox: no sweeper that
 * publishes a job per session can publish faster than this.
 */
export async function measureRawBullmqAdd(options: {
  readonly jobs: number;
}): Promise<RawBullmqAddResult> {
  const server = await startRedisServer();
  const connection = benchClient(server.url);
  const queue = new Queue('bench-events', { connection, prefix: '{bench}' });
  try {
    const opts = {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3_600 },
      removeOnFail: { age: 86_400 },
    };
    const now = Date.now();
    const chunks: Parameters<typeof queue.addBulk>[0][] = [];
    for (let start = 0; start < options.jobs; start += PUBLISH_CHUNK) {
      const chunk: Parameters<typeof queue.addBulk>[0] = [];
      for (let i = start; i < Math.min(options.jobs, start + PUBLISH_CHUNK); i += 1) {
        const hash = i.toString(16).padStart(32, '0');
        chunk.push({
          name: EXPIRED_EVENT_NAME,
          data: {
            sessionIdHash: hash.slice(0, 12),
            userId: `user-${i >> 2}`,
            expiredAt: now,
            createdAt: now - 60_000,
            lateness: 5,
            bucket: i % 64,
          },
          opts: { ...opts, jobId: `${hash}-${now}` },
        });
      }
      chunks.push(chunk);
    }
    await queue.waitUntilReady();
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
          await queue.addBulk(chunk);
        }
      }),
    );
    const durationMs = performance.now() - started;
    const added = await queue.count();
    if (added !== options.jobs)
      throw new Error(`bench: BullMQ holds ${added} of ${options.jobs} jobs`);
    return {
      jobs: options.jobs,
      durationMs: Math.round(durationMs),
      jobsPerSec: Math.round(options.jobs / (durationMs / 1000)),
    };
  } finally {
    await queue.close();
    await connection.quit();
    await server.stop();
  }
}

/** The bars. */
const SWEEP_BARS = { sweptPerSec: 100_000, latencyOverIntervalMs: 1_000 } as const;

/**
 * The `--suite sweep` figures: the store's raw sweep (baseline), one
 * sweeper worker without and with events (with events: BullMQOtel on and
 * off), the worker's memory across the big sweep, and event latency.
 */
export async function runSweepSuite(options: {
  readonly sessions: number;
}): Promise<Record<string, unknown>> {
  const { sessions } = options;
  const users = Math.max(1, Math.round(sessions / 4));
  const eventSessions = Math.min(sessions, 200_000);
  console.log(
    `\nSweep: one sweeper worker process (64 buckets, batches of 1 000, concurrency 4), ` +
      `${sessions} expired sessions (4 per user) for the sweep, ${eventSessions} with events; ` +
      'each scenario on its own private redis-server',
  );
  const raw = await measureRawStoreSweep({ sessions, users });
  console.log('  raw RedisStore.sweepBucket loop (baseline):', raw);
  const rawAnonymous = await measureRawStoreSweep({ sessions, users: 0 });
  console.log('  the same, sessions without an owner (no user-index trim):', rawAnonymous);
  const sweepOnly = await measureSweepThroughput({
    sessions,
    users,
    publishEvents: false,
    telemetry: true,
    secondRound: true,
  });
  console.log('  sweeper, no events (publishEvents: false):', sweepOnly);
  const sweepOnlyAnonymous = await measureSweepThroughput({
    sessions,
    users: 0,
    publishEvents: false,
    telemetry: true,
  });
  console.log('  the same, sessions without an owner:', sweepOnlyAnonymous);
  const withEvents = await measureSweepThroughput({
    sessions: eventSessions,
    users: Math.max(1, Math.round(eventSessions / 4)),
    publishEvents: true,
    telemetry: true,
  });
  console.log('  sweeper + one session.expired job per session (outbox, BullMQOtel):', withEvents);
  const withEventsNoOtel = await measureSweepThroughput({
    sessions: eventSessions,
    users: Math.max(1, Math.round(eventSessions / 4)),
    publishEvents: true,
    telemetry: false,
  });
  console.log('  the same with telemetry: false:', withEventsNoOtel);
  const rawAdd = await measureRawBullmqAdd({ jobs: eventSessions });
  console.log('  raw BullMQ addBulk of as many event jobs (ceiling of a job per session):', rawAdd);
  const latency = await measureSweepLatency({
    sessions: 2_000,
    spreadMs: 20_000,
    intervalMs: 5_000,
  });
  console.log('  event latency (2 000 sessions expiring over 20 s, interval 5 s):', latency);

  const verdict = (ok: boolean): string => (ok ? 'meets' : 'below');
  const rows = [
    {
      figure: 'sessions swept/s, one worker, no events',
      value: sweepOnly.sweptPerSec,
      bar: `≥ ${SWEEP_BARS.sweptPerSec}`,
      verdict: verdict(sweepOnly.sweptPerSec >= SWEEP_BARS.sweptPerSec),
    },
    {
      figure: 'the same, sessions without an owner (no user-index trim)',
      value: sweepOnlyAnonymous.sweptPerSec,
      bar: `≥ ${SWEEP_BARS.sweptPerSec}`,
      verdict: verdict(sweepOnlyAnonymous.sweptPerSec >= SWEEP_BARS.sweptPerSec),
    },
    {
      figure: 'sessions swept + published/s, one worker',
      value: withEvents.sweptPerSec,
      bar: `≥ ${SWEEP_BARS.sweptPerSec}`,
      verdict: verdict(withEvents.sweptPerSec >= SWEEP_BARS.sweptPerSec),
    },
    {
      figure: 'sweeper (no events) ÷ raw store sweep',
      value: Number((sweepOnly.sweptPerSec / raw.sweptPerSec).toFixed(3)),
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: 'raw store sweep: owned ÷ anonymous sessions (cost of the user-index trim)',
      value: Number((raw.sweptPerSec / rawAnonymous.sweptPerSec).toFixed(3)),
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: 'with events ÷ without',
      value: Number((withEvents.sweptPerSec / sweepOnly.sweptPerSec).toFixed(3)),
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: 'raw BullMQ addBulk, event jobs/s (no sweep at all)',
      value: rawAdd.jobsPerSec,
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: 'with events ÷ raw BullMQ addBulk',
      value: Number((withEvents.sweptPerSec / rawAdd.jobsPerSec).toFixed(3)),
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: 'BullMQOtel on ÷ off (with events)',
      value: Number((withEvents.sweptPerSec / withEventsNoOtel.sweptPerSec).toFixed(3)),
      bar: '—',
      verdict: 'n/a',
    },
    {
      figure: `worker RSS after GC (MB): at rest → after ${sessions} → after ${2 * sessions}`,
      value:
        `${sweepOnly.rssBeforeMb} → ${sweepOnly.rssAfterMb} → ${sweepOnly.rssAfterSecondMb ?? '?'} ` +
        `(peak ${sweepOnly.rssPeakMb}; heap ${sweepOnly.heapBeforeMb} → ${sweepOnly.heapAfterMb} → ` +
        `${sweepOnly.heapAfterSecondMb ?? '?'})`,
      bar: 'flat',
      verdict: 'n/a',
    },
    {
      figure: 'event latency p99 (ms)',
      value: latency.p99Ms,
      bar: `≤ ${latency.barMs}`,
      verdict: verdict(latency.p99Ms <= latency.barMs && latency.delivered === latency.sessions),
    },
  ];
  console.log('Sweep figures (same run)');
  console.table(rows);
  return {
    raw,
    rawAnonymous,
    sweepOnly,
    sweepOnlyAnonymous,
    withEvents,
    withEventsNoOtel,
    rawAdd,
    latency,
    rows,
  };
}
