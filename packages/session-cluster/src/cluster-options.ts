import { createOptionChecks, isOptionsObject, isSessionError } from '@session-cluster/core';
import type { EncryptionKey, OptionsOf, SessionCodecOptions } from '@session-cluster/core';
import type { FallbackStoreOptions } from '@session-cluster/fallback';
import type { HealthMonitorOptions } from '@session-cluster/health';
import type { SessionManagerOptions } from '@session-cluster/manager';
import type { MemoryStoreOptions } from '@session-cluster/store-memory';
import type {
  RedisConnectionOptions,
  RedisStoreOptions,
  RedlockLockerOptions,
  RedlockNode,
  SessionCacheOptions,
} from '@session-cluster/store-redis';
import type { MeterProvider } from '@opentelemetry/api';
import type { Redis } from 'ioredis';

// Which keys exist, and the few options only the facade has. Every other value is
// checked by its part, whose error withOptionPath names by the path written here.
const check = createOptionChecks('session-cluster');

/**
 * Where sessions live, exactly one shape: a connection as `RedisStore` takes it (`url`, `host`
 * and `port`, `sentinels` and `name`, or `cluster`) with the `commandTimeoutMs` of every client the
 * cluster creates, or your own ioredis `client` (not closed by the cluster) with `commandTimeout`.
 * Lock nodes must be given (`locks.nodes`) unless it is one standalone server.
 */
export type RedisOption =
  | (RedisConnectionOptions & Pick<RedisStoreOptions, 'commandTimeoutMs'>)
  | Required<Pick<RedisStoreOptions, 'client'>>;

/** One Redlock voter: a `redis://` URL or an address. */
export type LockNode =
  string | { readonly host: string; readonly port: number; readonly password?: string | undefined };

const RULES = {
  redis: check.typed<RedisOption>(),
  /** Namespace of every key and lock: `^[A-Za-z0-9_.:-]{1,64}$`. Default `'sc'`. */
  prefix: check.typed<string | undefined>(),
  ...check.given<RedisStoreOptions>()('buckets'),
  /** Per-session locks (Redlock). */
  locks: check.section({
    /** Independent Redis servers that vote (1, or 3/5). Default: the standalone `redis`; else required. */
    nodes: check.typed<readonly LockNode[] | undefined>(),
    ...check.given<RedlockLockerOptions>()('ttlMs', 'acquireTimeoutMs'),
  }),
  /** Session lifetime: `ttlMs` and `rolling` as the manager takes them, the rest as `RedisStore` does. */
  session: check.section({
    ...check.given<SessionManagerOptions>()('ttlMs', 'rolling'),
    ...check.given<RedisStoreOptions>()('expiryGraceMs'),
    /** The store's `maxSessionsPerUser`: most live sessions one user may hold (default 100). */
    maxPerUser: check.typed<number | undefined>(),
  }),
  ...check.given<SessionManagerOptions>()('retry', 'update'),
  ...check.given<FallbackStoreOptions>()('breaker'),
  /** The in-memory fallback used while Redis is unavailable. */
  fallback: check.section({
    /** Default `true`. `false`: a Redis outage fails calls (after retries). */
    enabled: check.flag(true),
    ...check.given<MemoryStoreOptions>()('maxSessions'),
    ...check.given<FallbackStoreOptions>()('timeoutMs', 'reconcile'),
  }),
  /** The health monitor's window and thresholds, as `HealthMonitor` takes them. */
  health: check.section(
    check.given<HealthMonitorOptions>()(
      'windowSize',
      'slowThresholdMs',
      'unhealthyBelowSuccessRate',
    ),
  ),
  /** How session data is encoded at rest (as the codec takes it) and read back (as `RedisStore` does). */
  codec: check.section({
    ...check.given<SessionCodecOptions>()('maxBytes', 'acceptPlaintext'),
    /** AES-256-GCM keys at rest (the first encrypts, all decrypt). Absent: JSON with a CRC-32 check. */
    encryptionKeys: check.typed<readonly EncryptionKey[] | undefined>(),
    ...check.given<RedisStoreOptions>()('failFastOnCorruption', 'onCorruption', 'frameFormat'),
  }),
  /** The instance cache (`RedisStoreOptions.cache`): sizes or `false`; default on (10 000, 32 MiB). */
  cache: check.typed<boolean | SessionCacheOptions | undefined>(),
  /**
   * The cluster's own metrics, through `@opentelemetry/api` (register an SDK first), and its
   * parts' events on core's `SESSION_CHANNELS`. `false`: nothing published or observed.
   */
  telemetry: check.orFalse(
    check.section({
      /** Where metrics go; the global meter provider (at creation) when absent. */
      meterProvider: check.optional(
        check.implementing<MeterProvider>(['getMeter'], 'an object with getMeter()'),
      ),
      /** Observe `session.active`, live sessions (a `ZCOUNT` per bucket; aggregate with max). Default on. */
      activeSessions: check.flag(true),
    }),
  ),
};

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
export type SessionClusterOptions = OptionsOf<typeof RULES>;

/** The facade's own checks (keys, sections); values go on to the parts. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveClusterOptions(options: SessionClusterOptions) {
  return check.resolve(RULES, options);
}

/** `redis` as `RedisStore` takes it: the `client`, or the rest as `connection`. */
export function storeConnection(
  redis: unknown,
): Pick<RedisStoreOptions, 'client' | 'connection' | 'commandTimeoutMs'> {
  if (!isOptionsObject(redis)) return { connection: redis as RedisConnectionOptions };
  const { client, commandTimeoutMs, ...rest } = redis;
  const connection = client === undefined || Object.keys(rest).length > 0 ? rest : undefined;
  return { client, connection, commandTimeoutMs } as ReturnType<typeof storeConnection>;
}

const NO_DEFAULT_LOCK_NODE =
  'the lock nodes must be given: independent Redis servers (1, or 3/5 for fault tolerance). A Redis ' +
  'Cluster is one Redlock voter however many masters it has; a Sentinel master can fail over and lose ' +
  'a lock its replica never saw';

/** The lock node of the Redis `redis` names (the store checked it), when it is one standalone server. */
export function defaultLockNode(redis: RedisOption): RedlockNode {
  if ('url' in redis) return redis.url;
  if ('port' in redis) {
    const { host = '127.0.0.1', port, password } = redis;
    return { host, port, ...(password === undefined ? {} : { password }) };
  }
  const client = 'client' in redis ? (redis.client as Redis) : undefined;
  const options = client?.isCluster === true ? undefined : client?.options;
  if (options === undefined) {
    const shape = Object.keys(redis).find((key) => key !== 'password') ?? 'redis';
    throw check.refuse('locks.nodes', `with redis.${shape} ${NO_DEFAULT_LOCK_NODE}`);
  }
  if ((options.sentinels?.length ?? 0) > 0) {
    throw check.refuse('locks.nodes', `with a Sentinel client ${NO_DEFAULT_LOCK_NODE}`);
  }
  // The same server through the locker's own client (fast-failing settings);
  // ioredis fills absent credentials with null.
  const { host, port, password, username, db, tls } = options;
  const server = Object.entries({ host, port, password, username, db, tls });
  return Object.fromEntries(server.filter(([, value]) => value != null));
}

/**
 * Build a part, which checks its own options, and name its `INVALID_CONFIG` error (the `cause`)
 * by the cluster's option path: the part says `nodes[1]`, the caller wrote `locks.nodes[1]`.
 * @param under the cluster's path of the part's options (`'locks.'`)
 * @param moved the part's options (and their sub-fields) found elsewhere in the cluster's options
 */
export function withOptionPath<T>(
  under: string,
  moved: Readonly<Record<string, string>>,
  build: () => T,
): T {
  try {
    return build();
  } catch (error) {
    if (!isSessionError(error) || error.code !== 'INVALID_CONFIG') throw error;
    const inner = error.details?.['field'];
    const part = typeof inner === 'string' ? inner : 'options';
    const from = Object.keys(moved).find(
      (key) => part.startsWith(key) && /^(?:$|[.[])/.test(part.slice(key.length)),
    );
    const field =
      from === undefined ? `${under}${part}` : `${moved[from]}${part.slice(from.length)}`;
    throw check.refuse(field, error.message, error);
  }
}
