import { createSessionCodec } from '@session-cluster/core';
import type { SessionLocker, SessionStore } from '@session-cluster/core';
import { FallbackStore } from '@session-cluster/fallback';
import type { BreakerState, DegradedEvent, RecoveredEvent } from '@session-cluster/fallback';
import { HealthMonitor } from '@session-cluster/health';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { RedisStore, RedlockLocker } from '@session-cluster/store-redis';
import { observeActiveSessions } from './active-sessions-gauge.js';
import { observeCache } from './cache-metrics.js';
import {
  defaultLockNode,
  resolveClusterOptions,
  storeConnection,
  withOptionPath,
} from './cluster-options.js';
import type { SessionClusterOptions } from './cluster-options.js';
import { FallbackLocker } from './fallback-locker.js';
import { otelApi } from './otel-api.js';

/** What {@link createSessionCluster} wires together. */
export interface SessionCluster {
  /** What the application uses. */
  readonly manager: SessionManager;
  /** The store the manager uses: the `FallbackStore` (or the `RedisStore` when fallback is off). */
  readonly store: SessionStore;
  /** The locker the manager uses: Redlock, with an in-process fallback when fallback is on. */
  readonly locker: SessionLocker;
  /** Rolling-window health, breaker state and degraded mode; `createHealthHandlers(cluster.health)` serves it. */
  readonly health: HealthMonitor;
  /** The fallback store when fallback is on (events `degraded`, `recovered`, `breakerStateChange`, …). */
  readonly fallback: FallbackStore | undefined;
  /** The Redis store (the primary), e.g. for a sweeper's `sweepBucket`. */
  readonly redis: RedisStore;
  /**
   * Close the manager (waits for calls in progress), the stores and the lockers. Writes made in
   * memory during an outage get up to `fallback.reconcile.closeDrainMs` to reach Redis first
   * (what cannot is reported by `fallback`'s `writeBacksLost` event). Idempotent.
   */
  close(): Promise<void>;
}

/** Anything the wiring created that holds a resource. */
interface Closable {
  close(): Promise<void>;
}

/**
 * Build the session layer of one application instance from validated
 * options — the only place that knows every concrete part:
 *
 * codec → `RedisStore` (+ `MemoryStore` secondary) → `FallbackStore` (its
 * `breakerStateChange`/`degraded`/`recovered` events drive the health
 * monitor) → `RedlockLocker` (+ in-process fallback) → `HealthMonitor`
 * (probing the store) → `SessionManager`.
 *
 * Telemetry (unless `telemetry: false`): the manager, the fallback and the
 * health monitor publish their work on core's `SESSION_CHANNELS`
 * (`@session-cluster/telemetry` makes spans and metrics of it), and
 * `session.active` and the cache metrics are observed through
 * `@opentelemetry/api`. Register the OpenTelemetry SDK first.
 *
 * Each option is checked once, by the part that owns it, as it is built;
 * a misconfiguration is a `SessionValidationError` (`INVALID_CONFIG`) whose
 * `field` is the option path as given here (`redis.url`, `locks.nodes[1]`,
 * `breaker.threshold`, …) and whose `cause` is the part's own error. Parts
 * are built in the same tick and closed at once on a refusal, so a bad
 * option never reaches Redis.
 *
 * @example
 * ```ts
 * const cluster = createSessionCluster({ redis: { url: 'redis://127.0.0.1:6379' }, prefix: 'myapp' });
 * const session = await cluster.manager.create({ data: { cart: [] } });
 * cluster.health.on('status', ({ from, to }) => console.warn(`sessions ${from} → ${to}`));
 * await cluster.close();
 * ```
 */
export function createSessionCluster(options: SessionClusterOptions): SessionCluster {
  const {
    locks,
    session,
    fallback: fallbackOptions,
    health: healthOptions,
    telemetry,
    ...o
  } = resolveClusterOptions(options);
  const { encryptionKeys: keys, ...codecOptions } = o.codec;
  // The key ring's own checks name `encryption.keys[i].key`; ours is `codec.encryptionKeys[i].key`.
  const codec = withOptionPath('codec.', { 'encryption.keys': 'codec.encryptionKeys' }, () =>
    createSessionCodec({
      maxBytes: codecOptions.maxBytes,
      ...(keys === undefined ? {} : { encryption: { keys } }),
      acceptPlaintext: codecOptions.acceptPlaintext,
    }),
  );
  // Whether the parts publish on SESSION_CHANNELS (what @session-cluster/telemetry subscribes to).
  const publish = telemetry !== undefined;
  const connection = storeConnection(o.redis);
  const opened: Closable[] = [];
  try {
    // Parts that open no connection first, so that their bad options are
    // refused before anything connects.
    const secondary = fallbackOptions.enabled
      ? withOptionPath(
          'fallback.',
          {},
          () => new MemoryStore({ codec, maxSessions: fallbackOptions.maxSessions }),
        )
      : undefined;
    if (secondary !== undefined) opened.push(secondary);
    const redis = withOptionPath(
      '',
      STORE_OPTION_PATHS,
      () =>
        new RedisStore({
          ...connection,
          prefix: o.prefix,
          buckets: o.buckets,
          codec,
          expiryGraceMs: session.expiryGraceMs,
          maxSessionsPerUser: session.maxPerUser,
          failFastOnCorruption: codecOptions.failFastOnCorruption,
          onCorruption: codecOptions.onCorruption,
          frameFormat: codecOptions.frameFormat,
          cache: o.cache ?? true,
          telemetry: publish,
        }),
    );
    opened.push(redis);
    // The store has checked `redis`: a bad one is its error, not a missing lock node.
    const nodes = locks.nodes ?? [defaultLockNode(o.redis)];
    const redlock = withOptionPath(
      'locks.',
      { prefix: 'prefix', commandTimeoutMs: 'redis.commandTimeoutMs' },
      () =>
        new RedlockLocker({
          nodes,
          prefix: o.prefix,
          ttlMs: locks.ttlMs,
          acquireTimeoutMs: locks.acquireTimeoutMs,
          commandTimeoutMs: connection.commandTimeoutMs,
        }),
    );
    opened.push(redlock);

    let store: SessionStore = redis;
    let locker: SessionLocker = redlock;
    let fallback: FallbackStore | undefined;
    if (secondary !== undefined) {
      const fallbackStore = withOptionPath(
        'fallback.',
        { breaker: 'breaker' },
        () =>
          new FallbackStore({
            primary: redis,
            secondary,
            partitionOf: redis.partitionOf,
            breaker: o.breaker,
            timeoutMs: fallbackOptions.timeoutMs,
            reconcile: fallbackOptions.reconcile,
            telemetry: publish,
          }),
      );
      fallback = fallbackStore;
      store = fallbackStore;
      locker = new FallbackLocker({
        primary: redlock,
        // The same lease and wait as Redlock's, which checked them.
        secondary: new MemoryLocker({
          defaultTtlMs: redlock.defaults.ttlMs,
          acquireTimeoutMs: redlock.defaults.acquireTimeoutMs,
        }),
        degraded: () => fallbackStore.degraded,
      });
    }

    const { windowSize } = healthOptions;
    const health = withOptionPath(
      'health.',
      {},
      () =>
        new HealthMonitor({
          ...healthOptions,
          // The default (10) may exceed a small window; the monitor refuses that.
          ...(typeof windowSize === 'number' ? { minSamples: Math.min(10, windowSize) } : {}),
          probe: { store },
          telemetry: publish,
        }),
    );
    const detach = fallback === undefined ? () => undefined : reportFallback(fallback, health);
    if (redis.cacheStats() !== undefined) health.reportCache(() => redis.cacheStats());

    const manager = withOptionPath(
      'session.',
      { retry: 'retry', update: 'update' },
      () =>
        new SessionManager({
          store,
          locker,
          health,
          ttlMs: session.ttlMs,
          rolling: session.rolling,
          // No lockTtlMs: the locker's default is `locks.ttlMs`, checked by Redlock.
          retry: o.retry,
          update: o.update,
          telemetry: publish,
        }),
    );
    const stopObserving =
      telemetry === undefined || !telemetry.activeSessions || otelApi === undefined
        ? () => undefined
        : observeActiveSessions(otelApi, redis, telemetry.meterProvider);
    const stopObservingCache =
      telemetry === undefined || otelApi === undefined || redis.cacheStats() === undefined
        ? () => undefined
        : observeCache(otelApi, redis, telemetry.meterProvider);

    let closing: Promise<void> | undefined;
    return {
      manager,
      store,
      locker,
      health,
      fallback,
      redis,
      close: () => {
        closing ??= manager.close().finally(() => {
          stopObserving();
          stopObservingCache();
          detach();
        });
        return closing;
      },
    };
  } catch (error) {
    // Nothing is handed out: release what was opened (Redis clients) so a
    // failed start leaves no sockets or timers behind.
    for (const part of opened) part.close().catch(() => undefined);
    throw error;
  }
}

/** Feed the fallback store's state into the health monitor; returns the unsubscribe. */
function reportFallback(fallback: FallbackStore, health: HealthMonitor): () => void {
  const onBreaker = (state: BreakerState): void => {
    health.setBreakerState(state);
  };
  const onDegraded = (event: DegradedEvent): void => {
    health.setDegraded(true, event.reason);
  };
  // Degraded mode ends when reconciliation has written everything back,
  // not when the breaker closes: until then some sessions are memory-only.
  const onRecovered = (event: RecoveredEvent): void => {
    health.setDegraded(false);
    // Conflicts and write-backs of the outage, as a health detail.
    health.recordRecovery(event);
  };
  fallback.on('breakerStateChange', onBreaker);
  fallback.on('degraded', onDegraded);
  fallback.on('recovered', onRecovered);
  // Writes still owed to Redis (refused for now after a recovery), read per report.
  health.reportPendingWriteBacks(() => fallback.pendingReconciliation);
  return () => {
    fallback.off('breakerStateChange', onBreaker);
    fallback.off('degraded', onDegraded);
    fallback.off('recovered', onRecovered);
    health.reportPendingWriteBacks(undefined);
  };
}

/** Where a RedisStore option came from in the cluster's options (`connection.url` → `redis.url`). */
const STORE_OPTION_PATHS: Readonly<Record<string, string>> = {
  connection: 'redis',
  client: 'redis.client',
  commandTimeoutMs: 'redis.commandTimeoutMs',
  expiryGraceMs: 'session.expiryGraceMs',
  maxSessionsPerUser: 'session.maxPerUser',
  failFastOnCorruption: 'codec.failFastOnCorruption',
  onCorruption: 'codec.onCorruption',
  frameFormat: 'codec.frameFormat',
};
