import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId, isSessionError } from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import type { FallbackStoreEvents } from './fallback-events.js';
import type { BreakerOptions, ReconcileOptions } from './fallback-options.js';
import { FallbackStore } from './fallback-store.js';

/** `commandTimeout` of the RedisStore under test. */
export const COMMAND_TIMEOUT_MS = 500;
export const TTL_MS = 10 * 60_000;

/** A FallbackStore over a RedisStore on its own redis-server, plus an independent observer. */
export interface RedisRig {
  readonly server: RedisServerHandle;
  readonly prefix: string;
  readonly store: FallbackStore;
  readonly secondary: MemoryStore;
  /** A separate RedisStore on the same prefix: what another instance would see. */
  observer(): RedisStore;
  close(): Promise<void>;
}

/** Options of {@link startRedisRig}. */
export interface RedisRigOptions {
  readonly breaker?: BreakerOptions;
  readonly reconcile?: ReconcileOptions;
  /** Extra redis-server arguments (e.g. AOF, so a SIGKILL loses no acknowledged write). */
  readonly serverArgs?: readonly string[];
}

export async function startRedisRig(options: RedisRigOptions = {}): Promise<RedisRig> {
  const server = await startRedisServer({ args: options.serverArgs ?? [] });
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const secondary = new MemoryStore({ cleanupIntervalMs: 0, maxSessions: 1_000_000 });
  const store = new FallbackStore({
    primary: new RedisStore({
      connection: { url: server.url },
      prefix,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      // The stream gives each worker's sessions one owner, hundreds of them:
      // the default cap of 100 per user would retire the oldest, which is
      // not what these tests are about.
      maxSessionsPerUser: 100_000,
    }),
    secondary,
    breaker: options.breaker ?? { kind: 'consecutive', threshold: 5, halfOpenAfterMs: 200 },
    timeoutMs: COMMAND_TIMEOUT_MS,
    ...(options.reconcile === undefined ? {} : { reconcile: options.reconcile }),
  });
  let observer: RedisStore | undefined;
  return {
    server,
    prefix,
    store,
    secondary,
    observer() {
      observer ??= new RedisStore({
        connection: { url: server.url },
        prefix,
        commandTimeoutMs: 2_000,
      });
      return observer;
    },
    async close() {
      await store.close();
      await observer?.close();
      await server.stop();
    },
  };
}

/**
 * Keep calling the store (a load of an unknown id: the probe a live app
 * would make) every 10 ms until `condition` holds. Real time: the
 * redis-server process is real.
 */
export async function driveWhile(
  store: FallbackStore,
  condition: () => boolean,
  withinMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (condition()) {
    if (performance.now() > deadline) throw new Error(`still waiting after ${withinMs} ms`);
    await store.load(generateSessionId());
    await delay(10);
  }
}

/** {@link driveWhile} until `event` fires; resolves with its payload. */
export async function driveUntil<K extends keyof FallbackStoreEvents>(
  store: FallbackStore,
  event: K,
  withinMs = 10_000,
): Promise<FallbackStoreEvents[K]> {
  let payload: FallbackStoreEvents[K] | undefined;
  const listener = (...args: FallbackStoreEvents[K]): void => {
    payload = args;
  };
  (store.once as (e: K, l: (...args: FallbackStoreEvents[K]) => void) => FallbackStore)(
    event,
    listener,
  );
  await driveWhile(store, () => payload === undefined, withinMs);
  if (payload === undefined) throw new Error(`no ${event} event`);
  return payload;
}

/** Poll `condition` every 10 ms (real time) until it holds. */
export async function until(condition: () => boolean, withinMs = 10_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${withinMs} ms`);
    await delay(10);
  }
}

/** One session's life in a {@link SessionStream}. */
export interface StreamedSession {
  readonly id: string;
  /** performance.now() when its create was issued. */
  readonly startedAt: number;
  /** Data after the last acknowledged write. */
  data: SessionData;
  /** Every call for it succeeded and the final load returned `data`. */
  complete: boolean;
  /** A read returned null or a write said not found (the instance-local view of degraded mode). */
  missed: boolean;
}

/** One call in a {@link SessionStream}. */
export interface StreamedCall {
  readonly startedAt: number;
  readonly ms: number;
}

/**
 * `workers` loops of create → patch ×3 → load on fresh sessions, as an app
 * under steady traffic does, recording every call's latency and every
 * failure. A `SessionNotFoundError` or a `null` load marks the session
 * `missed` (it lived only in Redis when Redis went away); anything else
 * thrown is a failure.
 */
export class SessionStream {
  public readonly sessions: StreamedSession[] = [];
  public readonly calls: StreamedCall[] = [];
  public readonly failures: unknown[] = [];
  private running = true;
  private readonly done: Promise<void>;

  public constructor(
    private readonly store: FallbackStore,
    workers: number,
    private readonly pauseMs = 1,
  ) {
    this.done = Promise.all(Array.from({ length: workers }, (_, w) => this.worker(w))).then(
      () => undefined,
    );
  }

  /** Stop issuing calls and wait for the ones in flight. */
  public async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async timed<T>(call: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await call();
    } finally {
      this.calls.push({ startedAt, ms: performance.now() - startedAt });
    }
  }

  private async worker(worker: number): Promise<void> {
    while (this.running) {
      const session: StreamedSession = {
        id: generateSessionId(),
        startedAt: performance.now(),
        data: { worker, n: 0 },
        complete: false,
        missed: false,
      };
      this.sessions.push(session);
      try {
        await this.timed(() =>
          this.store.create({
            id: session.id,
            userId: `user-${worker}`,
            data: session.data,
            expiresAt: Date.now() + TTL_MS,
          }),
        );
        for (let n = 1; n <= 3; n++) {
          await this.timed(() => this.store.patch(session.id, { set: { n } }));
          session.data = { ...session.data, n };
        }
        const loaded = await this.timed(() => this.store.load(session.id));
        if (loaded === null) session.missed = true;
        else if (JSON.stringify(loaded.data) !== JSON.stringify(session.data)) {
          this.failures.push(new Error(`session ${session.id} read back different data`));
        } else session.complete = true;
      } catch (error) {
        if (isSessionError(error) && error.code === 'SESSION_NOT_FOUND') session.missed = true;
        else this.failures.push(error);
      }
      await delay(this.pauseMs);
    }
  }
}

/** The q-quantile (nearest rank) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}
