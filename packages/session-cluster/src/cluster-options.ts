import type { EncryptionKey, SessionCodecOptions } from '@session-cluster/core';
import type { BreakerOptions, FallbackStoreOptions } from '@session-cluster/fallback';
import type { HealthMonitorOptions } from '@session-cluster/health';
import type {
  ManagerRetryOptions,
  SessionManagerOptions,
  UpdateLockOptions,
} from '@session-cluster/manager';
import type { MemoryStoreOptions } from '@session-cluster/store-memory';
import type {
  RedisConnectionOptions,
  RedisStoreOptions,
  RedlockLockerOptions,
  SessionCacheOptions,
} from '@session-cluster/store-redis';
import type { MeterProvider } from '@opentelemetry/api';

/** Settings shared by every connection the cluster creates itself. */
export interface OwnedConnectionOptions {
  /** Bound on every Redis command of the store and the lock clients, ms. Default 1 000. */
  readonly commandTimeoutMs?: number | undefined;
}

type Owned<
  K extends keyof RedisConnectionOptions,
  O extends keyof RedisConnectionOptions = never,
> = Required<Pick<RedisConnectionOptions, K>> &
  Pick<RedisConnectionOptions, O> &
  OwnedConnectionOptions;

/** A standalone Redis by URL: `redis://[:password@]host:port[/db]` or `rediss://…`. */
export type RedisUrlOption = Owned<'url'>;

/** A standalone Redis by address. */
export type RedisHostOption = Owned<'host' | 'port', 'password'>;

/** A Redis master managed by Sentinel. Lock nodes must be given (`locks.nodes`). */
export type RedisSentinelOption = Owned<'sentinels' | 'name', 'password'>;

/** A Redis Cluster. Lock nodes must be given (`locks.nodes`): a Cluster is one Redlock voter. */
export type RedisClusterOption = Owned<'cluster', 'password'>;

/**
 * Your own ioredis client (not closed by the cluster), with `commandTimeout`.
 * A standalone client's server is the default lock node; else give `locks.nodes`.
 */
export type RedisClientOption = Required<Pick<RedisStoreOptions, 'client'>>;

/** Where sessions live: exactly one of these shapes. */
export type RedisOption =
  RedisUrlOption | RedisHostOption | RedisSentinelOption | RedisClusterOption | RedisClientOption;

/** One Redlock voter: a `redis://` URL or an address. */
export type LockNode =
  string | { readonly host: string; readonly port: number; readonly password?: string | undefined };

/** Per-session locks (Redlock): the lease and acquisition bound as `RedlockLocker` takes them. */
export interface LocksOption extends Pick<RedlockLockerOptions, 'ttlMs' | 'acquireTimeoutMs'> {
  /**
   * Independent Redis servers that vote (1, or 3/5 for fault tolerance).
   * Default: the standalone Redis of `redis`. Required with `redis.sentinels`,
   * `redis.cluster` or a Cluster/Sentinel `redis.client`.
   */
  readonly nodes?: readonly LockNode[] | undefined;
}

/** Session lifetime: `ttlMs` and `rolling` as the manager takes them, `expiryGraceMs` as the store does. */
export interface SessionOption
  extends
    Pick<SessionManagerOptions, 'ttlMs' | 'rolling'>,
    Pick<RedisStoreOptions, 'expiryGraceMs'> {
  /** The store's `maxSessionsPerUser`: most live sessions one user may hold (default 100). */
  readonly maxPerUser?: number | undefined;
}

/** The in-memory fallback used while Redis is unavailable (`timeoutMs` as `FallbackStore` takes it). */
export interface FallbackOption
  extends Pick<FallbackStoreOptions, 'timeoutMs'>, Pick<MemoryStoreOptions, 'maxSessions'> {
  /** Default `true`. `false`: a Redis outage fails calls (after retries). */
  readonly enabled?: boolean | undefined;
}

/** The health monitor's window and thresholds, as `HealthMonitor` takes them. */
export type HealthOption = Pick<
  HealthMonitorOptions,
  'windowSize' | 'slowThresholdMs' | 'unhealthyBelowSuccessRate'
>;

/**
 * How session data is encoded at rest (`maxBytes`, `acceptPlaintext` as the
 * codec takes them) and read back (the rest, as `RedisStore` takes them).
 */
export interface CodecOption
  extends
    Pick<SessionCodecOptions, 'maxBytes' | 'acceptPlaintext'>,
    Pick<RedisStoreOptions, 'failFastOnCorruption' | 'onCorruption' | 'frameFormat'> {
  /**
   * AES-256-GCM keys for encryption at rest (first one encrypts, all
   * decrypt). Absent: values are stored in plain JSON with a CRC-32 check.
   */
  readonly encryptionKeys?: readonly EncryptionKey[] | undefined;
}

/**
 * The cluster's own metrics (`session.active`, the instance cache), through
 * `@opentelemetry/api`: register an SDK (`startTelemetry()`) first. Its parts
 * publish on core's `SESSION_CHANNELS`, for `@session-cluster/telemetry`.
 */
export interface TelemetryOption {
  /** Where metrics go; the global meter provider (at creation) when absent. */
  readonly meterProvider?: MeterProvider | undefined;
  /**
   * Observe `session.active`, live sessions in Redis (a `ZCOUNT` per bucket
   * per collection; global: aggregate with max, not sum). Default `true`.
   */
  readonly activeSessions?: boolean | undefined;
}

/**
 * Options of {@link createSessionCluster}. Only `redis` is required.
 *
 * @example
 * ```ts
 * createSessionCluster({
 *   redis: { url: 'redis://127.0.0.1:6379' },
 *   prefix: 'myapp',
 *   session: { ttlMs: 60 * 60_000 },
 *   breaker: { kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 },
 * });
 * ```
 */
export interface SessionClusterOptions {
  readonly redis: RedisOption;
  /** Namespace of every key and lock: `^[A-Za-z0-9_.:-]{1,64}$`. Default `'sc'`. */
  readonly prefix?: string | undefined;
  /** Expiry buckets, 1–16384, default 64: part of the key layout, the same on every instance. */
  readonly buckets?: number | undefined;
  readonly locks?: LocksOption | undefined;
  readonly session?: SessionOption | undefined;
  /** Retry settings of the manager's operations (core's defaults when absent). */
  readonly retry?: ManagerRetryOptions | undefined;
  /** How `manager.update` uses the session lock. Default `{ lock: 'on-conflict' }`. */
  readonly update?: UpdateLockOptions | undefined;
  /** The circuit breaker in front of Redis. Default `{ kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 }`. */
  readonly breaker?: BreakerOptions | undefined;
  readonly fallback?: FallbackOption | undefined;
  readonly health?: HealthOption | undefined;
  readonly codec?: CodecOption | undefined;
  /**
   * The instance cache (see `RedisStoreOptions.cache`). Default on (10 000
   * sessions, 32 MiB); sizes, or `false`. Loaded records are then shared and
   * frozen: never change one in place.
   */
  readonly cache?: boolean | SessionCacheOptions | undefined;
  /** Telemetry; `false`: no part publishes, no metric is observed. Default on. */
  readonly telemetry?: TelemetryOption | false | undefined;
}
