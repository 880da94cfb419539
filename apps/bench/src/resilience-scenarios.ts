import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId, isSessionError } from '@session-cluster/core';
import { FallbackStore } from '@session-cluster/fallback';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import { createSessionCluster } from 'session-cluster';
import { median, quantile, runLoad } from './load-runner.js';
import { sessionFixture } from './session-fixture.js';

const TTL_MS = 30 * 60_000;

/** Manager overhead: `manager.get` through the full stack vs `RedisStore.load` alone. */
export interface OverheadResult {
  readonly storeLoadOpsPerSec: number;
  readonly managerGetOpsPerSec: number;
  /** Median of per-round ratios (rounds alternate, so both see the same machine load). */
  readonly ratio: number;
}

/** `manager.get` (retry + breaker + health recording) against a bare `RedisStore.load`, same Redis. */
export async function measureManagerOverhead(options: {
  readonly ops: number;
  readonly lanes: number;
  readonly rounds: number;
}): Promise<OverheadResult> {
  const server = await startRedisServer();
  const cluster = createSessionCluster({ redis: { url: server.url }, prefix: 'bo' });
  const bare = new RedisStore({ connection: { url: server.url }, prefix: 'bo' });
  try {
    const ids = await Promise.all(
      Array.from(
        { length: options.lanes },
        async (_, i) => (await cluster.manager.create({ data: sessionFixture(i) })).id,
      ),
    );
    const id = (slot: number): string => ids[slot % ids.length] ?? '';
    const ratios: number[] = [];
    const loads: number[] = [];
    const gets: number[] = [];
    const measureLoad = () =>
      runLoad((s) => bare.load(id(s)), { ops: options.ops, concurrency: options.lanes });
    const measureGet = () =>
      runLoad((s) => cluster.manager.get(id(s)), { ops: options.ops, concurrency: options.lanes });
    for (let round = 0; round < options.rounds; round += 1) {
      // Which side runs first alternates: the second of a pair inherits the
      // first one's garbage (a major GC lands in it more often than not).
      const loadFirst = round % 2 === 0;
      const first = await (loadFirst ? measureLoad() : measureGet());
      const second = await (loadFirst ? measureGet() : measureLoad());
      const [load, get] = loadFirst ? [first, second] : [second, first];
      loads.push(load.opsPerSec);
      gets.push(get.opsPerSec);
      ratios.push(get.opsPerSec / load.opsPerSec);
    }
    return {
      storeLoadOpsPerSec: Math.round(median(loads)),
      managerGetOpsPerSec: Math.round(median(gets)),
      ratio: Number(median(ratios).toFixed(3)),
    };
  } finally {
    await cluster.close();
    await bare.close();
    await server.stop();
  }
}

/** What happened in the first second after Redis was SIGKILLed under load. */
export interface FailoverResult {
  readonly callsInFirstSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Calls that rejected with anything but not-found. */
  readonly failures: number;
  readonly firstFailure: string | undefined;
  /**
   * Calls on a session that existed only in Redis when it died: while
   * degraded it is invisible (documented), so patch/update answer
   * SESSION_NOT_FOUND and an app starts a fresh session. Counted apart.
   */
  readonly notFound: number;
}

/**
 * Steady traffic (create → get → patch → update per lane) through a full
 * session cluster; SIGKILL its redis-server and measure the calls that start
 * within the next second.
 */
export async function measureFailover(options: {
  readonly lanes: number;
}): Promise<FailoverResult> {
  const server = await startRedisServer();
  const cluster = createSessionCluster({ redis: { url: server.url }, prefix: 'bf' });
  const calls: { startedAt: number; ms: number }[] = [];
  let failures = 0;
  let notFound = 0;
  let firstFailure: string | undefined;
  let running = true;
  const timed = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
    const startedAt = performance.now();
    try {
      return await work();
    } catch (error) {
      if (isSessionError(error) && error.code === 'SESSION_NOT_FOUND') {
        notFound += 1;
        return undefined;
      }
      failures += 1;
      firstFailure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return undefined;
    } finally {
      calls.push({ startedAt, ms: performance.now() - startedAt });
    }
  };
  const lane = async (n: number): Promise<void> => {
    while (running) {
      const record = await timed(() => cluster.manager.create({ data: { lane: n, visits: 0 } }));
      if (record === undefined) continue;
      await timed(() => cluster.manager.get(record.id));
      await timed(() => cluster.manager.patch(record.id, { set: { seen: true } }));
      await timed(() =>
        cluster.manager.update(record.id, (data) => ({
          ...data,
          visits: Number(data['visits']) + 1,
        })),
      );
    }
  };
  try {
    const lanes = Array.from({ length: options.lanes }, (_, n) => lane(n));
    await delay(500);
    const killedAt = performance.now();
    await server.kill();
    await delay(1_200);
    running = false;
    await Promise.all(lanes);
    const firstSecond = calls
      .filter((c) => c.startedAt >= killedAt && c.startedAt < killedAt + 1_000)
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    return {
      callsInFirstSecond: firstSecond.length,
      p50Ms: Number(quantile(firstSecond, 0.5).toFixed(2)),
      p99Ms: Number(quantile(firstSecond, 0.99).toFixed(2)),
      maxMs: Number((firstSecond.at(-1) ?? Number.NaN).toFixed(2)),
      failures,
      firstFailure,
      notFound,
    };
  } finally {
    await cluster.close();
    await server.stop();
  }
}

/** Reconciliation of degraded-mode sessions back into Redis. */
export interface ReconcileResult {
  readonly sessions: number;
  /** Median of the rounds' durations. */
  readonly durationMs: number;
  /** Each outage's write-back, in order. */
  readonly roundsMs: readonly number[];
  readonly written: number;
  readonly conflicts: number;
}

/**
 * `rounds` outages of one store: kill Redis, create `sessions` sessions
 * (served by memory, journaled), restart Redis and time the write-back
 * reported by `recovered`. Before the first outage the store serves
 * `sessions / 5` creates and loads from Redis, as an app does before its
 * Redis dies, so the first round does not time the JIT compiling the
 * store's write path.
 */
export async function measureReconcile(options: {
  readonly sessions: number;
  readonly rounds: number;
}): Promise<ReconcileResult> {
  const server = await startRedisServer();
  const store = new FallbackStore({
    primary: new RedisStore({ connection: { url: server.url }, prefix: 'br' }),
    secondary: new MemoryStore({ maxSessions: options.sessions * 2 }),
    breaker: { kind: 'consecutive', threshold: 3, halfOpenAfterMs: 200 },
  });
  const create = (i: number) =>
    store.create({
      id: generateSessionId(),
      userId: `user-${i % 1000}`,
      data: sessionFixture(i),
      expiresAt: Date.now() + TTL_MS,
    });
  try {
    for (let i = 0; i < options.sessions / 5; i += 1) await store.load((await create(i)).id);
    const rounds: { durationMs: number; written: number; conflicts: number }[] = [];
    for (let round = 0; round < options.rounds; round += 1) {
      await server.kill();
      for (let i = 0; i < options.sessions; i += 1) await create(i);
      const recovered = new Promise<{ durationMs: number; written: number; conflicts: number }>(
        (resolve) => {
          store.once('recovered', resolve);
        },
      );
      await server.restart();
      // The breaker half-opens on the next call after halfOpenAfterMs: keep calling until recovery.
      let result: Awaited<typeof recovered> | undefined;
      while (result === undefined) {
        await store.load(generateSessionId()).catch(() => undefined);
        result = await Promise.race([recovered, delay(50).then(() => undefined)]);
      }
      rounds.push(result);
    }
    const roundsMs = rounds.map((r) => Math.round(r.durationMs));
    return {
      sessions: options.sessions,
      durationMs: median(roundsMs),
      roundsMs,
      written: Math.min(...rounds.map((r) => r.written)),
      conflicts: Math.max(...rounds.map((r) => r.conflicts)),
    };
  } finally {
    await store.close();
    await server.stop();
  }
}
