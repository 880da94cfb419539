import type { RedisConnectionOptions, RedlockNode } from '@session-cluster/store-redis';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import {
  addresses,
  isObject,
  nonEmptyString,
  onlyKeys,
  optionalString,
  port,
  redisUrl,
  section,
} from './option-checks.js';
import { invalidOption } from './option-path.js';

type Shape = 'url' | 'host' | 'sentinels' | 'cluster' | 'client';

/** The keys each `redis` shape may carry. */
const REDIS_SHAPE_KEYS: Readonly<Record<Shape, readonly string[]>> = {
  url: ['url', 'commandTimeoutMs'],
  host: ['host', 'port', 'password', 'commandTimeoutMs'],
  sentinels: ['sentinels', 'name', 'password', 'commandTimeoutMs'],
  cluster: ['cluster', 'password', 'commandTimeoutMs'],
  client: ['client'],
};

const REDIS_SHAPES =
  '{ url } | { host, port, password? } | { sentinels, name } | { cluster: { nodes } } | { client }';

/** Exactly one of `client`/`connection`, as `RedisStore` takes it. */
export type StoreConnection =
  | { readonly client: Redis | Cluster; readonly connection?: undefined }
  | { readonly connection: RedisConnectionOptions; readonly client?: undefined };

/** The `redis` option checked: how the store connects, and the default lock node. */
export interface ResolvedRedis {
  readonly storeConnection: StoreConnection;
  readonly commandTimeoutMs: number | undefined;
  /** The lock node when none is given, or why there is none. */
  readonly defaultLockNode: { readonly node: RedlockNode } | { readonly missingBecause: string };
}

/** Check the `redis` option: exactly one shape, each field valid. */
export function resolveRedis(value: unknown): ResolvedRedis {
  if (!isObject(value)) throw invalidOption('redis', `one of ${REDIS_SHAPES}`);
  const shapes = (['url', 'host', 'sentinels', 'cluster', 'client'] as const).filter((shape) =>
    shape === 'host'
      ? value['host'] !== undefined || value['port'] !== undefined
      : value[shape] !== undefined,
  );
  const [shape, extra] = shapes;
  if (shape === undefined) throw invalidOption('redis', `one of ${REDIS_SHAPES}`);
  if (extra !== undefined) {
    throw invalidOption('redis', `one of ${REDIS_SHAPES}, not ${shape} and ${extra} together`);
  }
  onlyKeys(value, REDIS_SHAPE_KEYS[shape], 'redis.');
  // Checked by RedisStore and RedlockLocker, which both take it.
  const commandTimeoutMs = value['commandTimeoutMs'] as number | undefined;
  const password = optionalString(value['password'], 'redis.password');
  const withPassword = password === undefined ? {} : { password };

  switch (shape) {
    case 'url': {
      const url = value['url'] as string;
      redisUrl(url, 'redis.url');
      return {
        storeConnection: { connection: { url } },
        commandTimeoutMs,
        defaultLockNode: { node: url },
      };
    }
    case 'host': {
      const host = nonEmptyString(value['host'], 'redis.host');
      const redisPort = port(value['port'], 'redis.port');
      return {
        storeConnection: { connection: { host, port: redisPort, ...withPassword } },
        commandTimeoutMs,
        defaultLockNode: { node: { host, port: redisPort, ...withPassword } },
      };
    }
    case 'sentinels': {
      const sentinels = addresses(value['sentinels'], 'redis.sentinels');
      const name = nonEmptyString(value['name'], 'redis.name');
      return {
        storeConnection: { connection: { sentinels, name, ...withPassword } },
        commandTimeoutMs,
        defaultLockNode: {
          missingBecause:
            'with redis.sentinels the lock nodes must be given: independent Redis servers (a Sentinel ' +
            'master can fail over and lose a lock its replica never saw)',
        },
      };
    }
    case 'cluster': {
      const cluster = section(value['cluster'], 'redis.cluster');
      onlyKeys(cluster, ['nodes'], 'redis.cluster.');
      const nodes = addresses(cluster['nodes'], 'redis.cluster.nodes');
      return {
        storeConnection: { connection: { cluster: { nodes }, ...withPassword } },
        commandTimeoutMs,
        defaultLockNode: {
          missingBecause:
            'with redis.cluster the lock nodes must be given: a Redis Cluster is one Redlock voter however ' +
            'many masters it has, so list independent Redis servers (1, or 3/5 for fault tolerance)',
        },
      };
    }
    case 'client':
      return resolveClient(value['client']);
  }
}

function resolveClient(value: unknown): ResolvedRedis {
  const client = value as Partial<Redis> | null;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.defineCommand !== 'function' ||
    typeof client.isCluster !== 'boolean'
  ) {
    throw invalidOption('redis.client', 'an ioredis Redis or Cluster instance');
  }
  const storeConnection = { client: client as Redis | Cluster };
  if (client.isCluster) {
    return {
      storeConnection,
      commandTimeoutMs: undefined,
      defaultLockNode: {
        missingBecause:
          'with a Cluster client the lock nodes must be given: a Redis Cluster is one Redlock voter however ' +
          'many masters it has, so list independent Redis servers (1, or 3/5 for fault tolerance)',
      },
    };
  }
  const options = (client as Redis).options;
  if ((options.sentinels?.length ?? 0) > 0) {
    return {
      storeConnection,
      commandTimeoutMs: undefined,
      defaultLockNode: {
        missingBecause:
          'with a Sentinel client the lock nodes must be given: independent Redis servers',
      },
    };
  }
  // The same server through the locker's own client (fast-failing settings).
  const node: RedisOptions = {
    host: options.host,
    port: options.port,
    // ioredis fills absent credentials with null.
    ...(typeof options.password === 'string' ? { password: options.password } : {}),
    ...(typeof options.username === 'string' ? { username: options.username } : {}),
    ...(typeof options.db === 'number' ? { db: options.db } : {}),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  };
  return { storeConnection, commandTimeoutMs: undefined, defaultLockNode: { node } };
}

function lockNodeAddress(node: unknown, field: string): { key: string; node: RedlockNode } {
  if (typeof node === 'string') {
    const url = redisUrl(node, field);
    return { key: `${url.hostname}:${url.port === '' ? '6379' : url.port}`, node };
  }
  if (!isObject(node)) throw invalidOption(field, 'a redis:// URL or { host, port, password? }');
  onlyKeys(node, ['host', 'port', 'password'], `${field}.`);
  const host = nonEmptyString(node['host'], `${field}.host`);
  const nodePort = port(node['port'], `${field}.port`);
  const password = optionalString(node['password'], `${field}.password`);
  return {
    key: `${host}:${nodePort}`,
    node: { host, port: nodePort, ...(password === undefined ? {} : { password }) },
  };
}

/**
 * The Redlock voters: `locks.nodes` checked (no server twice), or the
 * standalone Redis when none are given.
 */
export function resolveLockNodes(value: unknown, redis: ResolvedRedis): RedlockNode[] {
  if (value === undefined) {
    const fallback = redis.defaultLockNode;
    if ('missingBecause' in fallback) throw invalidOption('locks.nodes', fallback.missingBecause);
    return [fallback.node];
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidOption('locks.nodes', 'a non-empty array of redis:// URLs or { host, port }');
  }
  const seen = new Set<string>();
  return (value as unknown[]).map((node, i) => {
    const field = `locks.nodes[${i}]`;
    const address = lockNodeAddress(node, field);
    // A server listed twice would vote twice: a "quorum" of one real node.
    if (seen.has(address.key)) throw invalidOption(field, 'a server not listed before');
    seen.add(address.key);
    return address.node;
  });
}
