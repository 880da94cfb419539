import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { generateSessionId } from '@session-cluster/core';
import { RedisKeys, RedisStore } from '@session-cluster/store-redis';
import type { RedisConnectionOptions } from '@session-cluster/store-redis';
import { EXPIRED_EVENT_NAME, consumeExpiredSessions } from '@session-cluster/sweeper';
import type { ExpiredSessionsConsumer } from '@session-cluster/sweeper';
import { startRedisCluster, startRedisServer } from '@session-cluster/testkit';
import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
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

function perSessionUs(cpuSeconds: number, sessions: number): number {
  return Number(((cpuSeconds * 1e6) / sessions).toFixed(2));
}

function waitingPercent(waitingSeconds: number, wallMs: number): number {
  return Math.round((100 * waitingSeconds * 1000) / wallMs);
}

function oneMinuteLoad(): number {
  return Number((loadavg()[0] ?? Number.NaN).toFixed(2));
}

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

/** Where a scenario's sessions live: one private redis-server or a private 3-master Cluster. */
interface BenchRedis {
  readonly connection: RedisConnectionOptions;
  /** A loader client, auto-pipelined (on Cluster, ioredis groups commands per node). */
  client(): Redis | Cluster;
  /**
   * CPU seconds the Redis main thread(s) have used so far (every master on
   * Cluster): far less sensitive to a busy machine than rates are, since a
   * descheduled server uses no CPU.
   */
  cpuSeconds(): Promise<number>;
  /**
   * Seconds the Redis main thread(s) have so far spent runnable but
   * waiting for a CPU (Linux `/proc/<pid>/schedstat`; NaN elsewhere): how
   * much other processes on this machine held Redis back, which no rate
   * or CPU figure shows by itself (Cluster: the mean over masters).
   */
  waitingSeconds(): Promise<number>;
  /** Counters of `INFO` (every master's summed on Cluster), for a scenario's diagnostics. */
  counters(): Promise<RedisCounters>;
  stop(): Promise<void>;
}

/**
 * What one Redis did, summed over masters: per-command calls and µs from
 * `INFO commandstats` (`evalsha` is the sweep script), keys Redis expired by
 * itself (`expired_keys`: active and lazy expiry, work outside any command),
 * and memory.
 */
export interface RedisCounters {
  readonly commands: Readonly<Record<string, { calls: number; usec: number }>>;
  readonly expiredKeys: number;
  readonly usedMemoryMb: number;
  readonly keys: number;
}

async function nodeCounters(node: Redis): Promise<RedisCounters> {
  const info = await node.info('all');
  const commands: Record<string, { calls: number; usec: number }> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands[match[1] ?? ''] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    commands,
    expiredKeys: field('expired_keys'),
    usedMemoryMb: mb(field('used_memory')),
    keys: Number(/^db0:keys=(\d+)/m.exec(info)?.[1] ?? 0),
  };
}

function sumCounters(all: readonly RedisCounters[]): RedisCounters {
  const commands: Record<string, { calls: number; usec: number }> = {};
  for (const one of all) {
    for (const [name, stat] of Object.entries(one.commands)) {
      const sum = (commands[name] ??= { calls: 0, usec: 0 });
      sum.calls += stat.calls;
      sum.usec += stat.usec;
    }
  }
  return {
    commands,
    expiredKeys: all.reduce((n, one) => n + one.expiredKeys, 0),
    usedMemoryMb: Number(all.reduce((n, one) => n + one.usedMemoryMb, 0).toFixed(1)),
    keys: all.reduce((n, one) => n + one.keys, 0),
  };
}

async function mainThreadCpuSeconds(node: Redis): Promise<number> {
  const info = await node.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
  return field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread');
}

/** The main thread's run-queue wait of the Redis serving `node`, in seconds (see `waitingSeconds`). */
async function runQueueSeconds(node: Redis): Promise<number> {
  const pid = Number(/^process_id:(\d+)/m.exec(await node.info('server'))?.[1]);
  try {
    const schedstat = await readFile(`/proc/${pid}/schedstat`, 'utf8');
    return Number(schedstat.split(' ')[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

async function startBenchRedis(topology: 'standalone' | 'cluster'): Promise<BenchRedis> {
  const options = {
    commandTimeout: 60_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    protocol: 2 as const,
  };
  if (topology === 'standalone') {
    const server = await startRedisServer();
    const probe = new Redis(server.url, options);
    return {
      connection: { url: server.url },
      client: () => new Redis(server.url, { ...options, enableAutoPipelining: true }),
      cpuSeconds: () => mainThreadCpuSeconds(probe),
      counters: () => nodeCounters(probe),
      waitingSeconds: () => runQueueSeconds(probe),
      stop: async () => {
        probe.disconnect();
        await server.stop();
      },
    };
  }
  const cluster = await startRedisCluster({ masters: 3 });
  const probe = new Cluster([...cluster.startupNodes], { redisOptions: options });
  return {
    connection: { cluster: { nodes: [...cluster.startupNodes] } },
    client: () =>
      new Cluster([...cluster.startupNodes], {
        enableAutoPipelining: true,
        redisOptions: options,
      }),
    cpuSeconds: async () => {
      const seconds = await Promise.all(probe.nodes('master').map(mainThreadCpuSeconds));
      return seconds.reduce((total, n) => total + n, 0);
    },
    counters: async () => sumCounters(await Promise.all(probe.nodes('master').map(nodeCounters))),
    waitingSeconds: async () => {
      const seconds = await Promise.all(probe.nodes('master').map(runQueueSeconds));
      return seconds.reduce((total, n) => total + n, 0) / seconds.length;
    },
    stop: async () => {
      probe.disconnect();
      await cluster.stop();
    },
  };
}

/**
 * Write `sessions` expired sessions straight into Redis, in the store's own
 * format: one real session is created through `RedisStore.create` as a
 * template, its frame is read back and copied with the owner replaced
 * (header fields are US-separated tokens; the one equal to the template's
 * owner becomes the new owner), then SET + ZADD expiry bucket + ZADD user
 * index (its TTL, as the store sets it, the sessions' physical expiry) go
 * out auto-pipelined, 2 000 sessions at a time. One session after the
 * other, as `create` writes them (a variadic loader, one ZADD per bucket
 * per chunk, loaded twice as fast but lays keys out unlike real sessions;
 * whether that moves the sweep's cost was not settled).
 * Writing a million frames through `create` (two round trips and a Lua
 * call each) would take minutes.
 *
 * @returns when the sessions expire (they are due once this has passed)
 */
async function loadExpiredSessions(
  redis: BenchRedis,
  prefix: string,
  sessions: number,
  users: number,
): Promise<{ expiresAt: number; loadMs: number }> {
  const started = performance.now();
  const store = new RedisStore({ connection: redis.connection, prefix });
  const client = redis.client();
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
    // One chunk in flight while the next is built: the same commands in the
    // same order on the one connection, but Redis and this process no
    // longer wait for each other in turn (the load took 50–75 s per
    // 1 000 000 sessions that way, most of the full-size scenarios' time).
    let inFlight: Promise<unknown> | undefined;
    for (let start = 0; start < sessions; start += chunk) {
      const writes: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(sessions, start + chunk); i += 1) {
        const id = generateSessionId();
        const userId = users === 0 ? '' : `u${i % users}`;
        writes.push(client.set(keys.session(id), frameOf(userId), 'PXAT', physical));
        writes.push(client.zadd(keys.expiryBucketOf(id), expiresAt, id));
        if (userId !== '') {
          writes.push(client.zadd(keys.userIndex(userId), createdAt, id));
          // As indexUserSession-1.lua: the index lives as long as its
          // sessions (their physical expiry; the same for every session here).
          if (i < users) writes.push(client.pexpireat(keys.userIndex(userId), physical));
        }
      }
      await inFlight;
      inFlight = Promise.all(writes);
    }
    await inFlight;
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
  /** `sessions` ÷ `durationMs`. */
  readonly sweptPerSec: number;
  /**
   * With `consume`: expiries handed to a consumer's handler per second, from
   * the start of the first sweep job to the last delivery (what the events
   * bar compares with the sweep rate without events).
   */
  readonly deliveredPerSec?: number;
  /**
   * Redis main-thread CPU per session, µs, from the first sweep to the end
   * (consumer included with `consume`): the sweep's cost where Redis is the
   * limit, which a busy machine distorts far less than the rates.
   */
  readonly redisCpuUsPerSession: number;
  /**
   * Share of `wallMs` the Redis main thread spent runnable but waiting for
   * a CPU, %: other processes' load on Redis during this scenario.
   */
  readonly redisWaitingPercent: number;
  /** The machine's 1-minute load average when the scenario started. */
  readonly loadAverage: number;
  /**
   * Where Redis spent it, from the same interval (`INFO commandstats`,
   * wall time inside commands: a descheduled server inflates it): µs per
   * session inside the sweep script (`evalsha`, the commands it calls
   * included; they are also counted by name), keys Redis expired by itself meanwhile (work no command
   * accounts for), and the server's memory before the sweep.
   */
  readonly redis: SweepRedisFigures;
  /** With `consume`: batch jobs the consumer completed, and expiries handed to it twice. */
  readonly batchJobs?: number;
  readonly duplicates?: number;
  /**
   * Worker CPU from `start()` to the end, as a share of one core over the
   * same wall time: how far the worker itself is from being the limit.
   */
  readonly workerCpuPercent: number;
  /** The same worker CPU per session swept, µs (start-up included). */
  readonly workerCpuUsPerSession: number;
  /**
   * CPU of the bench process itself over the same interval, per session, µs:
   * with `consume`, the consumer's cost (it runs here); without, next to nothing.
   */
  readonly benchCpuUsPerSession: number;
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
   * With `rounds` ≥ 2: RSS and heap after GC once the same worker has swept
   * a second backlog of the same size (loaded while it runs), and a third
   * with `rounds` ≥ 3: a leak grows every round, a warmed-up process does
   * not grow after its first.
   */
  readonly rssAfterSecondMb?: number;
  readonly heapAfterSecondMb?: number;
  readonly rssAfterThirdMb?: number;
  readonly heapAfterThirdMb?: number;
  /**
   * After GC, at rest and after each backlog: RSS, V8 heap used and
   * committed, and memory outside the heap (MB): where the RSS is.
   */
  readonly memoryByRound: readonly MemoryFigures[];
}

/** See {@link SweepThroughputResult.redis}. */
export interface SweepRedisFigures {
  readonly scriptUsPerSession: number;
  /** The commands that took the most µs, `name calls/µs`, most first. */
  readonly topCommands: string;
  readonly expiredKeys: number;
  readonly usedMemoryMbBefore: number;
  readonly keysBefore: number;
}

/** Redis figures between two {@link RedisCounters} readings, per session. */
function redisFigures(
  before: RedisCounters,
  after: RedisCounters,
  sessions: number,
): SweepRedisFigures {
  const spent = Object.entries(after.commands)
    .map(([name, stat]) => ({
      name,
      calls: stat.calls - (before.commands[name]?.calls ?? 0),
      usec: stat.usec - (before.commands[name]?.usec ?? 0),
    }))
    .filter((stat) => stat.calls > 0)
    .sort((a, b) => b.usec - a.usec);
  const usec = (names: readonly string[]): number =>
    spent.filter((stat) => names.includes(stat.name)).reduce((n, stat) => n + stat.usec, 0);
  return {
    scriptUsPerSession: Number((usec(['evalsha', 'eval']) / sessions).toFixed(2)),
    topCommands: spent
      .slice(0, 12)
      .map((stat) => `${stat.name} ${stat.calls}/${stat.usec}`)
      .join(', '),
    expiredKeys: after.expiredKeys - before.expiredKeys,
    usedMemoryMbBefore: before.usedMemoryMb,
    keysBefore: before.keys,
  };
}

/** One {@link WorkerMemory} reading in MB. */
export interface MemoryFigures {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
}

function memoryFigures(memory: WorkerMemory): MemoryFigures {
  return {
    rssMb: mb(memory.rss),
    heapUsedMb: mb(memory.heapUsed),
    heapTotalMb: mb(memory.heapTotal),
    externalMb: mb(memory.external),
  };
}

/**
 * Load `sessions` expired sessions (owned by `users` users), then let one
 * sweeper worker process (default options: 64 buckets, batches of 1 000,
 * concurrency 4) sweep them all through BullMQ. With `publishEvents`, every
 * batch also goes through the outbox and becomes one BullMQ job; with
 * `consume`, a `consumeExpiredSessions` consumer in this process (handler:
 * count, and keep the hash for the duplicate count) takes them. With `rounds` (default 1), more backlogs of the same
 * size are loaded and swept by the same worker, one after the other, for
 * its memory only.
 */
export async function measureSweepThroughput(options: {
  readonly sessions: number;
  readonly users: number;
  readonly publishEvents: boolean;
  readonly consume?: boolean;
  readonly telemetry: boolean;
  readonly rounds?: number;
}): Promise<SweepThroughputResult> {
  const loadAverage = oneMinuteLoad();
  const redis = await startBenchRedis('standalone');
  const prefix = `bs${randomUUID().slice(0, 6)}`;
  let worker: WorkerHandle | undefined;
  let consumer: ExpiredSessionsConsumer | undefined;
  // Each delivery's sessionIdHash (48 bits, exact in a double), for the
  // duplicate count after the sweep: the handler runs in this process, on
  // the CPUs Redis and the worker use, and a Set of a million strings
  // (with its GC) cost it ~2 µs per expiry, more than the consumer's own
  // decoding (see docs/benchmarks.md). Session ids are random and every
  // backlog's are new, so the hash alone tells expiries apart (a chance of
  // ~n²/2⁴⁹ that two of n share one: 0.002 at 1 000 000).
  const hashes = new Float64Array(
    options.consume === true ? options.sessions * (options.rounds ?? 1) : 0,
  );
  let delivered = 0;
  let lastDeliveredAt = 0;
  let batchJobs = 0;
  try {
    const { expiresAt, loadMs } = await loadExpiredSessions(
      redis,
      prefix,
      options.sessions,
      options.users,
    );
    if (options.consume === true) {
      consumer = consumeExpiredSessions(
        redis.connection,
        (event) => {
          if (delivered < hashes.length) hashes[delivered] = parseInt(event.sessionIdHash, 16);
          delivered += 1;
          lastDeliveredAt = Date.now();
        },
        { prefix, concurrency: 64, batchConcurrency: 4, telemetry: options.telemetry },
      );
      consumer.worker.on('completed', () => {
        batchJobs += 1;
      });
      await consumer.ready();
    }
    worker = await spawnWorker({
      url: 'url' in redis.connection ? redis.connection.url : '',
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
    const countersBefore = await redis.counters();
    const waitingBefore = await redis.waitingSeconds();
    const cpuBefore = await redis.cpuSeconds();
    let peak = rest.rss;
    worker.onProgress((message) => {
      peak = Math.max(peak, message.rss);
    });
    const started = performance.now();
    const ownCpuBefore = process.cpuUsage();
    worker.child.send({ type: 'start' });
    const done = await worker.next('progress', (message) => message.expired >= options.sessions);
    const waitForDeliveries = async (count: number): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (consumer !== undefined && delivered < count) {
        if (Date.now() > deadline) throw new Error(`bench: ${delivered} of ${count} delivered`);
        await delay(20);
      }
    };
    await waitForDeliveries(options.sessions);
    const wallMs = performance.now() - started;
    const ownCpu = process.cpuUsage(ownCpuBefore);
    const redisCpuUsPerSession = perSessionUs(
      (await redis.cpuSeconds()) - cpuBefore,
      options.sessions,
    );
    const redisWaitingPercent = waitingPercent(
      (await redis.waitingSeconds()) - waitingBefore,
      wallMs,
    );
    const redisSpent = redisFigures(countersBefore, await redis.counters(), options.sessions);
    const durationMs = done.sweepWindowMs;
    const deliveredPerSec =
      consumer === undefined
        ? undefined
        : Math.round(options.sessions / ((lastDeliveredAt - done.firstJobStartedAt) / 1000));
    worker.child.send({ type: 'measure' });
    const after: WorkerMemory = (await worker.next('memory')).memory;
    const later: WorkerMemory[] = [];
    for (let round = 2; round <= (options.rounds ?? 1); round += 1) {
      await loadExpiredSessions(redis, prefix, options.sessions, options.users);
      await worker.next('progress', (message) => message.expired >= round * options.sessions);
      await waitForDeliveries(round * options.sessions);
      worker.child.send({ type: 'measure' });
      later.push((await worker.next('memory')).memory);
    }
    const [second, third] = later;
    return {
      sessions: options.sessions,
      users: options.users,
      publishEvents: options.publishEvents,
      telemetry: options.telemetry,
      loadMs,
      durationMs: Math.round(durationMs),
      sweptPerSec: Math.round(options.sessions / (durationMs / 1000)),
      redisCpuUsPerSession,
      redisWaitingPercent,
      loadAverage,
      redis: redisSpent,
      ...(deliveredPerSec === undefined
        ? {}
        : { deliveredPerSec, batchJobs, duplicates: delivered - distinctCount(hashes, delivered) }),
      wallMs: Math.round(wallMs),
      workerCpuPercent: Math.round((100 * (after.cpuMicros - rest.cpuMicros)) / (wallMs * 1000)),
      workerCpuUsPerSession: Number(
        ((after.cpuMicros - rest.cpuMicros) / options.sessions).toFixed(2),
      ),
      benchCpuUsPerSession: Number(((ownCpu.user + ownCpu.system) / options.sessions).toFixed(2)),
      rssBeforeMb: mb(rest.rss),
      rssAfterMb: mb(after.rss),
      rssPeakMb: mb(peak),
      heapBeforeMb: mb(rest.heapUsed),
      heapAfterMb: mb(after.heapUsed),
      ...(second === undefined
        ? {}
        : { rssAfterSecondMb: mb(second.rss), heapAfterSecondMb: mb(second.heapUsed) }),
      ...(third === undefined
        ? {}
        : { rssAfterThirdMb: mb(third.rss), heapAfterThirdMb: mb(third.heapUsed) }),
      memoryByRound: [rest, after, ...later].map(memoryFigures),
    };
  } finally {
    await worker?.stop();
    await consumer?.close();
    await redis.stop();
  }
}

/** How many different values the first `count` of `values` hold (at most all of them). */
function distinctCount(values: Float64Array, count: number): number {
  const sorted = values.slice(0, Math.min(count, values.length)).sort();
  let distinct = 0;
  for (let i = 0; i < sorted.length; i += 1)
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct += 1;
  return distinct;
}

/** The baseline: the store's own sweep loop, no BullMQ, no outbox, no events. */
export interface RawSweepResult {
  readonly topology: 'standalone' | 'cluster';
  readonly sessions: number;
  readonly users: number;
  readonly durationMs: number;
  readonly sweptPerSec: number;
  /** Redis main-thread CPU per session, µs (all masters on Cluster). */
  readonly redisCpuUsPerSession: number;
  /** Share of the sweep Redis spent waiting for a CPU, % (mean over masters). */
  readonly redisWaitingPercent: number;
  /** The machine's 1-minute load average when the scenario started. */
  readonly loadAverage: number;
}

/**
 * `RedisStore.sweepBucket(bucket, now, 1000)` over every bucket, 4 buckets
 * at a time, in this process: what one worker could do with no job queue
 * and no events (the floor of the sweeper's cost is this Lua call; it
 * leaves the owners' user indexes, on Cluster as on standalone).
 */
export async function measureRawStoreSweep(options: {
  readonly sessions: number;
  readonly users: number;
  readonly topology?: 'standalone' | 'cluster';
}): Promise<RawSweepResult> {
  const topology = options.topology ?? 'standalone';
  const loadAverage = oneMinuteLoad();
  const redis = await startBenchRedis(topology);
  const prefix = `br${randomUUID().slice(0, 6)}`;
  const store = new RedisStore({ connection: redis.connection, prefix, commandTimeoutMs: 10_000 });
  try {
    const { expiresAt } = await loadExpiredSessions(redis, prefix, options.sessions, options.users);
    await delay(Math.max(0, expiresAt + 10 - Date.now()));
    const waitingBefore = await redis.waitingSeconds();
    const cpuBefore = await redis.cpuSeconds();
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
    const redisCpuUsPerSession = perSessionUs((await redis.cpuSeconds()) - cpuBefore, swept);
    const redisWaitingPercent = waitingPercent(
      (await redis.waitingSeconds()) - waitingBefore,
      durationMs,
    );
    if (swept !== options.sessions) {
      throw new Error(`bench: the raw sweep found ${swept} of ${options.sessions} sessions`);
    }
    return {
      topology,
      sessions: swept,
      users: options.users,
      durationMs: Math.round(durationMs),
      sweptPerSec: Math.round(swept / (durationMs / 1000)),
      redisCpuUsPerSession,
      redisWaitingPercent,
      loadAverage,
    };
  } finally {
    await store.close();
    await redis.stop();
  }
}

/** How late expiry events reach a consumer. */
export interface SweepLatencyResult {
  readonly sessions: number;
  readonly intervalMs: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The bar: 2 × the interval. */
  readonly barMs: number;
}

/**
 * Sessions expiring steadily over `spreadMs` (created through the store),
 * one sweeper worker process with the given interval, and a
 * `consumeExpiredSessions` consumer in this process: latency = the time the
 * handler is called minus the session's `expiresAt`.
 */
export async function measureSweepLatency(options: {
  readonly sessions: number;
  readonly spreadMs: number;
  readonly intervalMs: number;
}): Promise<SweepLatencyResult> {
  const redis = await startBenchRedis('standalone');
  const prefix = `bl${randomUUID().slice(0, 6)}`;
  const store = new RedisStore({ connection: redis.connection, prefix });
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const consumer = consumeExpiredSessions(
    redis.connection,
    (event) => {
      const key = `${event.sessionIdHash}@${event.expiredAt}`;
      if (seen.has(key)) duplicates += 1;
      seen.add(key);
      latencies.push(Date.now() - event.expiredAt);
    },
    { prefix, concurrency: 50 },
  );
  let worker: WorkerHandle | undefined;
  try {
    await consumer.ready();
    worker = await spawnWorker({
      url: 'url' in redis.connection ? redis.connection.url : '',
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
      barMs: 2 * options.intervalMs,
    };
  } finally {
    await worker?.stop();
    await consumer.close();
    await store.close();
    await redis.stop();
  }
}

/** What {@link measureRawBullmqAdd} reports. */
export interface RawBullmqAddResult {
  readonly jobs: number;
  readonly durationMs: number;
  readonly jobsPerSec: number;
}

/** Jobs per `addBulk` of the per-session format (what releases before batched events used). */
const PER_SESSION_CHUNK = 500;

/**
 * The ceiling of the per-session event format that batched events
 * replaced ("one `session.expired` job per expired session"): BullMQ alone
 * adding `jobs` prebuilt event jobs (that format's job options: a
 * deterministic id, attempts with backoff, kept after completion) with
 * `addBulk` in chunks of 500, 4 chunks in flight as with the worker's
 * concurrency 4. No sweep, no hashing, no outbox: no sweeper that publishes
 * a job per session can publish faster than this.
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
    for (let start = 0; start < options.jobs; start += PER_SESSION_CHUNK) {
      const chunk: Parameters<typeof queue.addBulk>[0] = [];
      for (let i = start; i < Math.min(options.jobs, start + PER_SESSION_CHUNK); i += 1) {
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

/** RSS (heap used / committed) after GC at rest and after each backlog, and the peak. */
function memoryRow(result: SweepThroughputResult): string {
  const rounds = result.memoryByRound;
  return (
    `RSS ${rounds.map((m) => m.rssMb).join(' → ')} (peak ${result.rssPeakMb}); ` +
    `heap used ${rounds.map((m) => m.heapUsedMb).join(' → ')}; ` +
    `committed ${rounds.map((m) => m.heapTotalMb).join(' → ')}`
  );
}

/** A ratio of the sweep suite, for the ratios table and `sweep.ratios[]`. */
export interface SweepRatio {
  readonly ratio: string;
  readonly value: number;
  readonly bar: string;
  readonly verdict: 'meets' | 'below' | 'n/a';
}

function ratio(name: string, value: number, min?: number, max?: number): SweepRatio {
  const rounded = Number(value.toFixed(3));
  if (min !== undefined) {
    return {
      ratio: name,
      value: rounded,
      bar: `≥ ${min}`,
      verdict: value >= min ? 'meets' : 'below',
    };
  }
  if (max !== undefined) {
    return {
      ratio: name,
      value: rounded,
      bar: `≤ ${max}`,
      verdict: value <= max ? 'meets' : 'below',
    };
  }
  return { ratio: name, value: rounded, bar: '—', verdict: 'n/a' };
}

/** What a scenario of a same-run comparison must report. */
interface ComparedScenario {
  readonly sweptPerSec: number;
  readonly redisCpuUsPerSession: number;
  readonly redisWaitingPercent: number;
  readonly loadAverage: number;
}

/** One round of a comparison: each kind of scenario once, in `order`. */
export interface ComparisonRound<K extends string, T extends ComparedScenario> {
  readonly order: readonly K[];
  readonly results: Readonly<Record<K, T>>;
}

/** The order of round `index` (from 0): `kinds` rotated by `index` (two kinds alternate). */
function roundOrder<K extends string>(kinds: readonly K[], index: number): K[] {
  const shift = index % kinds.length;
  return [...kinds.slice(shift), ...kinds.slice(0, shift)];
}

/**
 * Run `count` rounds of every kind of scenario in `kinds`, the order
 * changing from round to round (see {@link roundOrder}), every scenario
 * cold (its own fresh Redis, and for the sweeper a fresh worker process)
 * and of the same size; `describe` prints each round as it ends.
 *
 * Why rounds: a single sample of each side minutes apart on a shared
 * machine compared the load of two moments (owned ÷ anonymous came out
 * 0.55–0.91 between runs of the same code, with Redis CPU per session of
 * one identical scenario anywhere from 7 to 11 µs). Within a round the
 * sides run seconds apart, changing the order cancels what running first
 * or last does, and the median round drops those a burst of other load
 * hit on one side only. Each round prints the share of each sweep its
 * Redis spent waiting for a CPU, which shows that load.
 */
async function alternate<K extends string, T extends ComparedScenario>(
  count: number,
  kinds: readonly K[],
  run: (kind: K) => Promise<T>,
  describe: (round: ComparisonRound<K, T>, index: number) => string,
): Promise<ComparisonRound<K, T>[]> {
  const rounds: ComparisonRound<K, T>[] = [];
  for (let index = 0; index < count; index += 1) {
    const order = roundOrder(kinds, index);
    const results: Partial<Record<K, T>> = {};
    for (const kind of order) results[kind] = await run(kind);
    const round = { order, results: results as Record<K, T> };
    rounds.push(round);
    console.log(`  ${describe(round, index)}`);
  }
  return rounds;
}

/** `a ÷ b`, rounded as the ratios table rounds it. */
function quotient(a: number, b: number): number {
  return Number((a / b).toFixed(3));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** A ratio over the rounds of a comparison: each round's, and their median. */
export interface RoundRatio {
  readonly byRound: readonly number[];
  readonly median: number;
}

function roundRatio<K extends string, T extends ComparedScenario>(
  rounds: readonly ComparisonRound<K, T>[],
  of: (results: Readonly<Record<K, T>>) => number,
): RoundRatio {
  const byRound = rounds.map((round) => of(round.results));
  return { byRound, median: median(byRound) };
}

/** Rate and CPU of each round, for the figures table. */
function roundsRow(rate: RoundRatio, cpu: RoundRatio): string {
  return rate.byRound.map((value, i) => `${value} (CPU ${cpu.byRound[i]})`).join(', ');
}

/** A round's order as printed: `owned, anonymous, events`. */
function orderLabel(order: readonly string[]): string {
  return order.join(', ');
}

/** Owned against anonymous sessions, in rounds (see {@link alternate}). */
export interface OwnedComparison<T extends ComparedScenario> {
  readonly sessionsPerRun: number;
  readonly rounds: readonly ComparisonRound<'owned' | 'anonymous', T>[];
  /** owned ÷ anonymous sessions swept per second. */
  readonly rate: RoundRatio;
  /** anonymous ÷ owned Redis CPU per session (above 1: owned is cheaper). */
  readonly cpu: RoundRatio;
  /** Medians of each side's own rates (for the figures table). */
  readonly medianOwnedPerSec: number;
  readonly medianAnonymousPerSec: number;
}

function scenarioLine(name: string, result: ComparedScenario): string {
  return (
    `${name} ${result.sweptPerSec}/s, ${result.redisCpuUsPerSession} µs Redis CPU/session, ` +
    `Redis waiting for a CPU ${result.redisWaitingPercent}% (load ${result.loadAverage})`
  );
}

async function compareOwned<T extends ComparedScenario>(
  label: string,
  count: number,
  sessionsPerRun: number,
  run: (owned: boolean) => Promise<T>,
): Promise<OwnedComparison<T>> {
  const rounds = await alternate(
    count,
    ['owned', 'anonymous'] as const,
    (kind) => run(kind === 'owned'),
    (round, index) =>
      `${label}, pair ${index + 1} of ${count} (${orderLabel(round.order)}): ` +
      `${scenarioLine('owned', round.results.owned)}; ` +
      `${scenarioLine('anonymous', round.results.anonymous)} → ` +
      `${quotient(round.results.owned.sweptPerSec, round.results.anonymous.sweptPerSec)}`,
  );
  return {
    sessionsPerRun,
    rounds,
    rate: roundRatio(rounds, (r) => quotient(r.owned.sweptPerSec, r.anonymous.sweptPerSec)),
    cpu: roundRatio(rounds, (r) =>
      quotient(r.anonymous.redisCpuUsPerSession, r.owned.redisCpuUsPerSession),
    ),
    medianOwnedPerSec: Math.round(median(rounds.map((r) => r.results.owned.sweptPerSec))),
    medianAnonymousPerSec: Math.round(median(rounds.map((r) => r.results.anonymous.sweptPerSec))),
  };
}

/** Events against no events, in rounds (see {@link alternate}), full size. */
export interface EventsComparison {
  readonly rounds: readonly ComparisonRound<'plain' | 'events', SweepThroughputResult>[];
  /** Pair 1's scenarios, which sweep three backlogs each (the memory figures). */
  readonly memory: Readonly<Record<'plain' | 'events', SweepThroughputResult>>;
  /** Expiries delivered to the consumer per second ÷ sessions swept per second without events. */
  readonly rate: RoundRatio;
  /** No events ÷ events Redis CPU per session (above 1: events cost Redis more). */
  readonly cpu: RoundRatio;
  readonly medianSweptPerSec: number;
  readonly medianDeliveredPerSec: number;
}

/**
 * The events bar's two scenarios, full size, in `count` alternating pairs
 * (no events first, events first, …), each on a fresh redis-server and
 * worker process, as owned ÷ anonymous: the median pair's ratio. The
 * first pair's scenarios go on to sweep two more backlogs each with the
 * same worker, for the memory figures (their first backlog is the pair's
 * sample, timed before the second is loaded).
 */
async function compareEvents(
  count: number,
  sessions: number,
  users: number,
): Promise<EventsComparison> {
  let scenarios = 0;
  const rounds = await alternate(
    count,
    ['plain', 'events'] as const,
    (kind) => {
      const first = scenarios < 2;
      scenarios += 1;
      return measureSweepThroughput({
        sessions,
        users,
        publishEvents: kind === 'events',
        consume: kind === 'events',
        telemetry: true,
        rounds: first ? 3 : 1,
      });
    },
    (round, index) => {
      const { plain, events } = round.results;
      const delivered = events.deliveredPerSec ?? 0;
      return (
        `events ÷ sweep without events, pair ${index + 1} of ${count} ` +
        `(${orderLabel(round.order.map((kind) => (kind === 'plain' ? 'no events' : 'events')))}): ` +
        `${scenarioLine('no events', plain)}; ` +
        `events: ${delivered} delivered/s (swept ${events.sweptPerSec}/s), ` +
        `${events.redisCpuUsPerSession} µs Redis CPU/session, consumer ` +
        `${events.benchCpuUsPerSession} µs CPU/session, Redis waiting for a CPU ` +
        `${events.redisWaitingPercent}% (load ${events.loadAverage}) → ` +
        `${quotient(delivered, plain.sweptPerSec)}`
      );
    },
  );
  const [first] = rounds;
  if (first === undefined) throw new Error('bench: no events pair ran');
  return {
    rounds,
    memory: first.results,
    rate: roundRatio(rounds, (r) => quotient(r.events.deliveredPerSec ?? 0, r.plain.sweptPerSec)),
    cpu: roundRatio(rounds, (r) =>
      quotient(r.plain.redisCpuUsPerSession, r.events.redisCpuUsPerSession),
    ),
    medianSweptPerSec: Math.round(median(rounds.map((r) => r.results.plain.sweptPerSec))),
    medianDeliveredPerSec: Math.round(
      median(rounds.map((r) => r.results.events.deliveredPerSec ?? 0)),
    ),
  };
}

/**
 * Pairs of the events comparison: odd, for a median that is one pair's;
 * three, as each is two full-size scenarios (~1 min each with the load).
 */
const EVENT_ROUNDS = 3;

/** Pairs per owned/anonymous comparison: odd, for a median that is one pair's. */
const ROUNDS = 5;
/** Fewer on Cluster, whose three masters start slowly; its sessions are fewer anyway. */
const CLUSTER_ROUNDS = 3;

/**
 * The `--suite sweep` figures: the store's raw sweep (baseline) and one
 * sweeper worker without events, owned against anonymous sessions in
 * alternating pairs (the raw sweep on standalone and on Cluster); one
 * worker over full-size backlogs of owned sessions without events, and
 * with batched events taken by a `consumeExpiredSessions` consumer, in
 * {@link EVENT_ROUNDS} alternating pairs (the events bar; the first pair
 * sweeps three backlogs each, for the worker's memory); the ceiling of the
 * per-session format batched events replaced; and event latency.
 *
 * The owned/anonymous comparisons run {@link ROUNDS} pairs (Cluster:
 * {@link CLUSTER_ROUNDS}) of `sessions ÷ 5` sessions per scenario
 * (Cluster: `min(sessions, 200 000) ÷ 2`), so that each side sweeps as many
 * sessions in all as one full-size scenario and the suite takes about as
 * long as with one full-size pair; their ratios are the median pair's,
 * each pair's printed beside it.
 */
export async function runSweepSuite(options: {
  readonly sessions: number;
}): Promise<Record<string, unknown>> {
  const { sessions } = options;
  const users = Math.max(1, Math.round(sessions / 4));
  const clusterSessions = Math.min(sessions, 200_000);
  const roundSessions = Math.max(1, Math.round(sessions / ROUNDS));
  const clusterRoundSessions = Math.max(1, Math.round(clusterSessions / 2));
  const ownersOf = (count: number, owned: boolean): number =>
    owned ? Math.max(1, Math.round(count / 4)) : 0;
  const intervalMs = 5_000;
  const load = (): string =>
    loadavg()
      .map((n) => n.toFixed(2))
      .join(' ');
  console.log(
    `\nSweep: one sweeper worker process (64 buckets, batches of 1 000, concurrency 4), ` +
      `expired sessions owned 4 per user, or by nobody; owned ÷ anonymous in ${ROUNDS} pairs ` +
      `of ${roundSessions} sessions per scenario, the order alternating, the median pair ` +
      `reported (Cluster: ${CLUSTER_ROUNDS} pairs of ${clusterRoundSessions}); events ÷ no ` +
      `events in ${EVENT_ROUNDS} alternating pairs of ${sessions}, the first pair's going on ` +
      `over three backlogs (memory); each scenario on its own private redis-server ` +
      `(Cluster: 3 masters); Node ${process.version}; load average ${load()}`,
  );
  const raw = await compareOwned(
    'raw RedisStore.sweepBucket loop',
    ROUNDS,
    roundSessions,
    (owned) =>
      measureRawStoreSweep({ sessions: roundSessions, users: ownersOf(roundSessions, owned) }),
  );
  const rawCluster = await compareOwned(
    'raw sweep on a 3-master Cluster (indexes left to their readers)',
    CLUSTER_ROUNDS,
    clusterRoundSessions,
    (owned) =>
      measureRawStoreSweep({
        sessions: clusterRoundSessions,
        users: ownersOf(clusterRoundSessions, owned),
        topology: 'cluster',
      }),
  );
  const sweeper = await compareOwned(
    'sweeper, no events (publishEvents: false)',
    ROUNDS,
    roundSessions,
    (owned) =>
      measureSweepThroughput({
        sessions: roundSessions,
        users: ownersOf(roundSessions, owned),
        publishEvents: false,
        telemetry: true,
      }),
  );
  const events = await compareEvents(EVENT_ROUNDS, sessions, users);
  const sweepOnly = events.memory.plain;
  const withEvents = events.memory.events;
  console.log('  sweeper, no events, owned, pair 1 (three backlogs: memory):', sweepOnly);
  console.log(
    '  sweeper + one batch job per sweep batch (outbox, BullMQOtel) + consumeExpiredSessions, ' +
      'pair 1 (three backlogs: memory):',
    withEvents,
  );
  const perSessionJobs = Math.min(sessions, 100_000);
  const rawAdd = await measureRawBullmqAdd({ jobs: perSessionJobs });
  console.log(
    '  raw BullMQ addBulk of per-session event jobs (ceiling of the replaced format):',
    rawAdd,
  );
  const latency = await measureSweepLatency({ sessions: 2_000, spreadMs: 20_000, intervalMs });
  console.log(
    `  event latency (2 000 sessions expiring over 20 s, interval ${intervalMs} ms):`,
    latency,
  );

  const delivered = events.medianDeliveredPerSec;
  const ratios: SweepRatio[] = [
    // Full size (in scenarios of sessions ÷ 5 a bucket's last, partial
    // batch is about a quarter of the batch jobs, a sixteenth at 1 000 000,
    // so the per-job cost of events would weigh more), in alternating
    // pairs like owned ÷ anonymous: the median pair's. One sample of each
    // side minutes apart read 0.60–1.22 between runs of the same code.
    ratio('events ÷ sweep without events', events.rate.median, 0.8),
    ratio('owned ÷ anonymous sweep (standalone)', sweeper.rate.median, 0.8),
    ratio('owned ÷ anonymous sweep (standalone), by Redis CPU per session', sweeper.cpu.median),
    ratio('owned ÷ anonymous raw store sweep (standalone)', raw.rate.median),
    ratio('owned ÷ anonymous raw store sweep (Cluster)', rawCluster.rate.median),
    ratio(
      'owned ÷ anonymous raw store sweep (Cluster), by Redis CPU per session',
      rawCluster.cpu.median,
    ),
    ratio('events ÷ sweep without events, by Redis CPU per session', events.cpu.median),
    ratio(
      'sweeper (no events) ÷ raw store sweep',
      sweeper.medianOwnedPerSec / raw.medianOwnedPerSec,
    ),
    ratio(
      'per-session jobs ceiling (raw addBulk) ÷ sweep without events',
      rawAdd.jobsPerSec / events.medianSweptPerSec,
    ),
    ratio('event latency p99 ÷ sweep interval', latency.p99Ms / intervalMs, undefined, 2),
    // "RSS flat over 1 M sessions" is read after warm-up: over its first
    // backlog the worker's V8 heap grows its committed pages (~50 → ~150 MB,
    // kept after GC) and the allocator its arenas, by an amount that depends
    // on the peak (how many batches were in flight), so the 1st → 2nd step
    // moved 1.00–1.18 between runs with heap used flat; from the 2nd backlog
    // on, a warmed-up worker stays flat and only a leak still grows (heap
    // used, printed beside it, is the leak check that allocator noise
    // cannot move).
    ratio(
      'worker RSS after GC, 3rd backlog ÷ 2nd (no events)',
      (sweepOnly.rssAfterThirdMb ?? Number.NaN) / (sweepOnly.rssAfterSecondMb ?? Number.NaN),
      undefined,
      1.1,
    ),
    ratio(
      'worker RSS after GC, 3rd backlog ÷ 2nd (events)',
      (withEvents.rssAfterThirdMb ?? Number.NaN) / (withEvents.rssAfterSecondMb ?? Number.NaN),
      undefined,
      1.1,
    ),
    ratio(
      'worker RSS after GC, 2nd backlog ÷ 1st (no events; warm-up included)',
      (sweepOnly.rssAfterSecondMb ?? Number.NaN) / sweepOnly.rssAfterMb,
    ),
    ratio(
      'worker heap used after GC, 3rd backlog ÷ 1st (no events)',
      (sweepOnly.heapAfterThirdMb ?? Number.NaN) / sweepOnly.heapAfterMb,
    ),
    ratio(
      'worker heap used after GC, 3rd backlog ÷ 1st (events)',
      (withEvents.heapAfterThirdMb ?? Number.NaN) / withEvents.heapAfterMb,
    ),
  ];
  const rows = [
    {
      figure: `sessions swept/s, one worker, no events, owned, ${sessions}, median of ${EVENT_ROUNDS}`,
      value: events.medianSweptPerSec,
    },
    {
      figure: `expiries delivered to a consumer/s (batched events), median of ${EVENT_ROUNDS}`,
      value: delivered,
    },
    {
      figure: 'events ÷ sweep without events, each pair (by Redis CPU)',
      value: roundsRow(events.rate, events.cpu),
    },
    {
      figure: 'each pair: Redis CPU µs per session, no events / events+consumer',
      value: events.rounds
        .map(
          (r) =>
            `${r.results.plain.redisCpuUsPerSession} / ${r.results.events.redisCpuUsPerSession}`,
        )
        .join(', '),
    },
    {
      figure: 'each pair: Redis waiting for a CPU, % of the sweep, no events / events+consumer',
      value: events.rounds
        .map(
          (r) => `${r.results.plain.redisWaitingPercent} / ${r.results.events.redisWaitingPercent}`,
        )
        .join(', '),
    },
    {
      figure: 'each pair: worker / this process (consumer) CPU µs per session, events+consumer',
      value: events.rounds
        .map(
          (r) =>
            `${r.results.events.workerCpuUsPerSession} / ${r.results.events.benchCpuUsPerSession}`,
        )
        .join(', '),
    },
    {
      figure: 'batch jobs the consumer completed (pair 1, first backlog)',
      value: withEvents.batchJobs ?? 0,
    },
    {
      figure: 'expiries delivered twice (every events scenario, every backlog)',
      value: events.rounds.reduce((n, r) => n + (r.results.events.duplicates ?? 0), 0),
    },
    {
      figure: `sessions swept/s, no events, ${roundSessions} per scenario, median of ${ROUNDS}: owned / anonymous`,
      value: `${sweeper.medianOwnedPerSec} / ${sweeper.medianAnonymousPerSec}`,
    },
    {
      figure: 'owned ÷ anonymous sweep, each pair (by Redis CPU)',
      value: roundsRow(sweeper.rate, sweeper.cpu),
    },
    {
      figure: `raw store sweep/s, standalone, median of ${ROUNDS}: owned / anonymous`,
      value: `${raw.medianOwnedPerSec} / ${raw.medianAnonymousPerSec}`,
    },
    {
      figure: 'owned ÷ anonymous raw store sweep, each pair (by Redis CPU)',
      value: roundsRow(raw.rate, raw.cpu),
    },
    {
      figure: `raw store sweep/s, Cluster, ${clusterRoundSessions} per scenario, median of ${CLUSTER_ROUNDS}: owned / anonymous`,
      value: `${rawCluster.medianOwnedPerSec} / ${rawCluster.medianAnonymousPerSec}`,
    },
    {
      figure: 'owned ÷ anonymous raw Cluster sweep, each pair (by Redis CPU)',
      value: roundsRow(rawCluster.rate, rawCluster.cpu),
    },
    { figure: 'raw BullMQ addBulk, per-session event jobs/s', value: rawAdd.jobsPerSec },
    {
      figure: `event latency p50 / p99 / max (ms), interval ${intervalMs}`,
      value: `${latency.p50Ms} / ${latency.p99Ms} / ${latency.maxMs} (${latency.delivered} of ${latency.sessions} delivered, ${latency.duplicates} twice)`,
    },
    {
      figure: `worker memory after GC (MB), no events: at rest → after each ${sessions}`,
      value: memoryRow(sweepOnly),
    },
    {
      figure: `worker memory after GC (MB), events: at rest → after each ${sessions}`,
      value: memoryRow(withEvents),
    },
  ];
  console.log(`Sweep figures (same run; load average now ${load()})`);
  console.table(rows);
  console.log('Sweep ratios (same run)');
  console.table(ratios);
  return {
    raw,
    rawCluster,
    sweeper,
    events,
    sweepOnly,
    withEvents,
    rawAdd,
    latency,
    rows,
    ratios,
  };
}
