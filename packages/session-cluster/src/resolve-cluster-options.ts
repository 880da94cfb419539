import {
  SessionValidationError,
  createOptionChecks,
  createSessionCodec,
  isOptionsObject,
  isSessionError,
} from '@session-cluster/core';
import type { EncryptionKey, UncheckedOptions } from '@session-cluster/core';
import type { RedisConnectionOptions, RedlockNode } from '@session-cluster/store-redis';
import type { Cluster, Redis } from 'ioredis';
import type {
  RedisClientOption,
  RedisClusterOption,
  RedisHostOption,
  RedisSentinelOption,
  RedisUrlOption,
  SessionClusterOptions,
} from './cluster-options.js';
import type { MeterProvider } from '@opentelemetry/api';

/*
 * The options only the facade has: which keys exist, which `redis` shape is
 * meant (whence the default lock node), whether there is a fallback at all,
 * the codec it builds and the active-sessions gauge. Every other option
 * belongs to one part, which checks it when createSessionCluster builds it;
 * withOptionPath names that part's error by the option path written here.
 */

const check = createOptionChecks('session-cluster');

/** Sections whose options go to several parts; the rest go whole to one part. */
type Section = 'locks' | 'session' | 'update' | 'fallback' | 'health' | 'codec' | 'telemetry';

/**
 * Every option createSessionCluster takes. The compiler holds this to
 * {@link SessionClusterOptions} (no key missing, none extra), so a typo in a
 * caller's options is an error here, not a silent default.
 */
const OPTION_KEYS: {
  readonly [K in keyof SessionClusterOptions]-?: K extends Section
    ? Record<keyof Exclude<SessionClusterOptions[K], false | undefined>, true>
    : true;
} = {
  redis: true,
  cache: true,
  prefix: true,
  buckets: true,
  retry: true,
  breaker: true,
  locks: { nodes: true, ttlMs: true, acquireTimeoutMs: true },
  session: { ttlMs: true, rolling: true, expiryGraceMs: true, maxPerUser: true },
  update: { lock: true, hotSessionTtlMs: true, maxHotSessions: true },
  fallback: { enabled: true, maxSessions: true, timeoutMs: true },
  health: { windowSize: true, slowThresholdMs: true, unhealthyBelowSuccessRate: true },
  codec: {
    maxBytes: true,
    encryptionKeys: true,
    acceptPlaintext: true,
    failFastOnCorruption: true,
    onCorruption: true,
    frameFormat: true,
  },
  telemetry: { meterProvider: true, activeSessions: true },
};

/** The keys of each `redis` shape, the first one naming it; held to the shape's type. */
const REDIS_SHAPES: {
  readonly url: Record<keyof RedisUrlOption, true>;
  readonly host: Record<keyof RedisHostOption, true>;
  readonly sentinels: Record<keyof RedisSentinelOption, true>;
  readonly cluster: Record<keyof RedisClusterOption, true>;
  readonly client: Record<keyof RedisClientOption, true>;
} = {
  url: { url: true, commandTimeoutMs: true },
  host: { host: true, port: true, password: true, commandTimeoutMs: true },
  sentinels: { sentinels: true, name: true, password: true, commandTimeoutMs: true },
  cluster: { cluster: true, password: true, commandTimeoutMs: true },
  client: { client: true },
};
type Shape = keyof typeof REDIS_SHAPES;

const SHAPES_EXPECTED =
  'one of { url } | { host, port, password? } | { sentinels, name } | { cluster: { nodes } } | { client }';

const TELEMETRY_RULES = {
  meterProvider: check.optional(
    check.implementing<MeterProvider>(['getMeter'], 'an object with getMeter()'),
  ),
  activeSessions: check.flag(true),
};

/** Why a shape has no default lock node. */
const NO_DEFAULT_LOCK_NODE =
  'the lock nodes must be given: independent Redis servers (1, or 3/5 for fault tolerance). A Redis ' +
  'Cluster is one Redlock voter however many masters it has; a Sentinel master can fail over and lose ' +
  'a lock its replica never saw';

function refuseUnknown(value: UncheckedOptions, known: object, path: string): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(known, key)) {
      throw check.invalid(
        `${path}${key}`,
        `no such option (one of ${Object.keys(known).join(', ')})`,
      );
    }
  }
}

function section(value: unknown, field: string): UncheckedOptions {
  if (value === undefined) return {};
  if (!isOptionsObject(value)) throw check.invalid(field, 'an object');
  return value;
}

/** The `redis` shape meant: exactly one, with only its own keys. */
function redisShape(redis: unknown): { shape: Shape; redis: UncheckedOptions } {
  if (!isOptionsObject(redis)) throw check.invalid('redis', SHAPES_EXPECTED);
  const shapes = (Object.keys(REDIS_SHAPES) as Shape[]).filter(
    (shape) => redis[shape] !== undefined || (shape === 'host' && redis['port'] !== undefined),
  );
  const [shape, extra] = shapes;
  if (shape === undefined) throw check.invalid('redis', SHAPES_EXPECTED);
  if (extra !== undefined) {
    throw check.invalid('redis', `${SHAPES_EXPECTED}, not ${shape} and ${extra} together`);
  }
  refuseUnknown(redis, REDIS_SHAPES[shape], 'redis.');
  // The store defaults a missing host or port; the cluster's host shape names both.
  for (const key of shape === 'host' ? ['host', 'port'] : []) {
    if (redis[key] === undefined) throw check.invalid(`redis.${key}`, 'host and port together');
  }
  return { shape, redis };
}

/** The lock node of the Redis `redis` names, when it is one standalone server. */
function defaultLockNode(shape: Shape, redis: UncheckedOptions): RedlockNode {
  const { url, host, port, password, client } = redis;
  if (shape === 'url') return url as string;
  const withPassword = typeof password === 'string' ? { password } : {};
  if (shape === 'host') return { host: host as string, port: port as number, ...withPassword };
  const options = (client as Redis | undefined)?.options;
  if (shape !== 'client' || options === undefined || (client as Redis).isCluster) {
    throw check.refuse('locks.nodes', `with redis.${shape} ${NO_DEFAULT_LOCK_NODE}`);
  }
  if ((options.sentinels?.length ?? 0) > 0) {
    throw check.refuse('locks.nodes', `with a Sentinel client ${NO_DEFAULT_LOCK_NODE}`);
  }
  // The same server through the locker's own client (fast-failing settings).
  return {
    host: options.host,
    port: options.port,
    // ioredis fills absent credentials with null.
    ...(typeof options.password === 'string' ? { password: options.password } : {}),
    ...(typeof options.username === 'string' ? { username: options.username } : {}),
    ...(typeof options.db === 'number' ? { db: options.db } : {}),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  };
}

/**
 * The lock nodes: `locks.nodes` as given (RedlockLocker checks them), or
 * the standalone Redis of `redis`.
 */
function lockNodes(value: unknown, shape: Shape, redis: UncheckedOptions): RedlockNode[] {
  if (value === undefined) return [defaultLockNode(shape, redis)];
  if (Array.isArray(value)) {
    // RedlockLocker takes any ioredis options; a cluster lock node names its server.
    value.forEach((node, i) => {
      if (isOptionsObject(node) && node['port'] === undefined) {
        throw check.invalid(`locks.nodes[${i}].port`, 'a port (a lock node is { host, port })');
      }
    });
  }
  return value as RedlockNode[];
}

/**
 * The facade's own options checked, and what it derives from them, before
 * anything is built or connected.
 *
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` is the option
 *   path (`redis`, `locks.nodes`, `colour`, `codec.encryptionKeys[0].key`, …)
 */
export function resolveClusterOptions(input: SessionClusterOptions) {
  const options: unknown = input;
  if (!isOptionsObject(options)) throw check.invalid('options', 'an options object');
  refuseUnknown(options, OPTION_KEYS, '');
  for (const [key, known] of Object.entries(OPTION_KEYS)) {
    if (known === true || (key === 'telemetry' && options[key] === false)) continue;
    refuseUnknown(section(options[key], key), known, `${key}.`);
  }
  const { shape, redis } = redisShape(options['redis']);
  const { client, commandTimeoutMs, ...connection } = redis;
  const codec = section(options['codec'], 'codec');
  const keys = codec['encryptionKeys'];
  // Only the facade uses these (the parts publish on SESSION_CHANNELS instead).
  const telemetry =
    options['telemetry'] === false
      ? (false as const)
      : check.section(TELEMETRY_RULES)(options['telemetry'], 'telemetry');
  return {
    /** Exactly one of `client`/`connection`, as `RedisStore` takes it (and checks it). */
    storeConnection:
      shape === 'client'
        ? { client: client as Redis | Cluster }
        : { connection: connection as RedisConnectionOptions },
    commandTimeoutMs: commandTimeoutMs as number | undefined,
    /** Called once the store has checked `redis` (a bad client is its error, not a missing lock node). */
    lockNodes: () => lockNodes(section(options['locks'], 'locks')['nodes'], shape, redis),
    fallbackEnabled:
      check.boolean(section(options['fallback'], 'fallback')['enabled'], 'fallback.enabled') ??
      true,
    // The key ring's own checks name `encryption.keys[i].key`; ours is `codec.encryptionKeys[i].key`.
    codec: withOptionPath(
      (field) => `codec.${field.replace(/^encryption\.keys/, 'encryptionKeys')}`,
      () =>
        createSessionCodec({
          maxBytes: codec['maxBytes'] as number | undefined,
          ...(keys === undefined ? {} : { encryption: { keys: keys as readonly EncryptionKey[] } }),
          acceptPlaintext: codec['acceptPlaintext'] as boolean | undefined,
        }),
    ),
    /** `false` when telemetry is off. */
    telemetry,
  };
}

/**
 * Build a part whose constructor validates its own options, and report its
 * `INVALID_CONFIG` errors under the cluster's option path: the part says
 * `nodes[1]`, the caller wrote `locks.nodes[1]`. The part's error is the `cause`.
 *
 * @param rename maps the part's field name to the cluster option path
 */
export function withOptionPath<T>(rename: (field: string) => string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!isSessionError(error) || error.code !== 'INVALID_CONFIG') throw error;
    const inner = error.details?.['field'];
    const field = rename(typeof inner === 'string' ? inner : 'options');
    throw new SessionValidationError(`session-cluster option ${field}: ${error.message}`, {
      code: 'INVALID_CONFIG',
      field,
      cause: error,
    });
  }
}

/**
 * A {@link withOptionPath} renamer: a part's field under `under`, except the
 * fields (and their sub-fields) `moved` names elsewhere in the cluster's options.
 */
export function optionPath(
  under: string,
  moved: Readonly<Record<string, string>> = {},
): (field: string) => string {
  return (field) => {
    const [head = field] = field.split(/[.[]/, 1);
    const to = moved[head];
    return to === undefined ? `${under}${field}` : `${to}${field.slice(head.length)}`;
  };
}
