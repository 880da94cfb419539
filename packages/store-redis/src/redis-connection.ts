import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { isOptionsObject } from '@session-cluster/core';
import { check, invalid } from './redis-store-options.js';
import type { RedisConnectionOptions, RedisStoreOptions } from './redis-store-options.js';

/** The client a store talks to, whether it owns it, and its command timeout. */
export interface RedisConnection {
  readonly client: Redis | Cluster;
  /** True when the store created the client and must quit it on close. */
  readonly owned: boolean;
  /** The client's `commandTimeout` in ms (bounds every call; classifies timeouts). */
  readonly commandTimeoutMs: number;
}

/** Longest delay between reconnect attempts of a store-owned client. */
export const MAX_RECONNECT_DELAY_MS = 1_000;

/** Wait before ioredis re-sends a Cluster command that met a closed connection, ms. */
const FAILOVER_RETRY_DELAY_MS = 100;

/**
 * The store's client: the caller's (checked) or a new one built for fast failure.
 *
 * Store-owned clients are configured so that "Redis down" costs at most
 * `commandTimeoutMs` and the same client works again once Redis is back:
 * - `commandTimeout`: every command is bounded;
 * - the offline queue is on only until the first `ready`, so commands issued
 *   during start-up wait for the connection; afterwards a command sent while
 *   disconnected fails at once instead of queueing (and being replayed
 *   minutes later, after its caller got an error and moved on);
 * - `maxRetriesPerRequest: 0` + `autoResendUnfulfilledCommands: false`: a
 *   command in flight when the connection drops is rejected, never re-sent
 *   (a re-sent write could land after the caller's retry);
 * - a reconnect delay growing by 100 ms per attempt, capped at
 *   {@link MAX_RECONNECT_DELAY_MS}, forever: the client heals by itself;
 * - `enableAutoPipelining`; RESP2 (`protocol: 2`), the shapes the store's
 *   readers were written against (they accept RESP3 too, for caller clients).
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the field
 */
export function openRedisConnection(
  options: RedisStoreOptions,
  commandTimeoutMs: number,
): RedisConnection {
  if (options.client !== undefined && options.connection !== undefined) {
    throw invalid('client', 'pass either client or connection, not both');
  }
  if (options.client !== undefined) return adoptClient(options.client);
  if (options.connection === undefined) {
    throw invalid('connection', 'pass either a client or connection options');
  }
  const client = createClient(options.connection, commandTimeoutMs);
  // Errors reach callers through each command's rejection; without a
  // listener ioredis would also print every reconnect failure to stderr.
  client.on('error', ignoreConnectionError);
  client.once('ready', () => {
    client.options.enableOfflineQueue = false;
  });
  return { client, owned: true, commandTimeoutMs };
}

function ignoreConnectionError(): void {
  // see openRedisConnection
}

function adoptClient(client: Redis | Cluster): RedisConnection {
  const candidate = client as Partial<Redis> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.defineCommand !== 'function' ||
    typeof candidate.isCluster !== 'boolean'
  ) {
    throw invalid('client', 'expected an ioredis Redis or Cluster instance');
  }
  const timeout = client.isCluster
    ? (client as Cluster).options.redisOptions?.commandTimeout
    : (client as Redis).options.commandTimeout;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    throw invalid(
      client.isCluster
        ? 'client.options.redisOptions.commandTimeout'
        : 'client.options.commandTimeout',
      'the client has no commandTimeout: without one a dead or stalled Redis makes every session ' +
        'call hang instead of failing in milliseconds (set commandTimeout, e.g. 1000)',
    );
  }
  return { client, owned: false, commandTimeoutMs: timeout };
}

function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);
}

function createClient(
  connection: RedisConnectionOptions,
  commandTimeoutMs: number,
): Redis | Cluster {
  if (typeof connection !== 'object' || (connection as unknown) === null) {
    throw invalid('connection', 'expected an object');
  }
  const { url, host, port, password, sentinels, name, cluster } = connection;
  if (password !== undefined && typeof password !== 'string') {
    throw invalid('connection.password', 'expected a string');
  }
  const topologies = [
    url !== undefined || host !== undefined || port !== undefined,
    sentinels !== undefined,
    cluster !== undefined,
  ].filter(Boolean).length;
  if (topologies > 1) {
    throw invalid(
      'connection',
      'choose one topology: url/host/port (standalone), sentinels + name (Sentinel) or cluster',
    );
  }

  const nodeOptions: RedisOptions = {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1_000),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    protocol: 2,
    ...(password === undefined ? {} : { password }),
  };

  if (cluster !== undefined) {
    if (typeof cluster !== 'object' || (cluster as unknown) === null) {
      throw invalid('connection.cluster', 'expected { nodes: [{ host, port }, …] }');
    }
    const nodes = addresses(cluster.nodes, 'connection.cluster.nodes');
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: true,
      enableAutoPipelining: true,
      scaleReads: 'master',
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: commandTimeoutMs,
      // A command that failed on a closed connection (a master just died) is
      // re-sent every retryDelayOnFailover ms, up to maxRedirections times,
      // whatever commandTimeout says: 16 × 100 ms by default, ~1.7 s a call.
      // Bound it to about commandTimeoutMs, so a dead master costs what a
      // dead standalone server costs; MOVED after a failover needs only one.
      retryDelayOnFailover: FAILOVER_RETRY_DELAY_MS,
      maxRedirections: Math.max(2, Math.ceil(commandTimeoutMs / FAILOVER_RETRY_DELAY_MS)),
      // Reconnect a restarted node instead of waiting for a MOVED to rediscover it.
      clusterNodeRetryStrategy: reconnectDelay,
      redisOptions: nodeOptions,
    };
    return new Cluster(nodes, clusterOptions);
  }

  const standalone: RedisOptions = {
    ...nodeOptions,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    retryStrategy: reconnectDelay,
  };

  if (sentinels !== undefined) {
    if (typeof name !== 'string' || name === '') {
      throw invalid('connection.name', 'the Sentinel master name is required with sentinels');
    }
    return new Redis({
      ...standalone,
      sentinels: addresses(sentinels, 'connection.sentinels'),
      name,
      sentinelRetryStrategy: reconnectDelay,
    });
  }
  if (name !== undefined) {
    throw invalid('connection.name', 'name (the Sentinel master) is only valid with sentinels');
  }

  if (url !== undefined) {
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw invalid('connection.url', 'expected redis://… or rediss://…');
    }
    return new Redis(url, standalone);
  }
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw invalid('connection.host', 'expected a host name');
  }
  if (port !== undefined && !isPort(port)) {
    throw invalid('connection.port', 'expected an integer from 1 to 65535');
  }
  return new Redis({ ...standalone, host: host ?? '127.0.0.1', port: port ?? 6379 });
}

function addresses(value: unknown, field: string): { host: string; port: number }[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(field, 'expected a non-empty array of { host, port }');
  }
  return (value as unknown[]).map((item, i) => {
    if (!isOptionsObject(item)) throw invalid(`${field}[${i}]`, 'expected { host, port }');
    return {
      host: check.nonEmptyString(item['host'], `${field}[${i}].host`),
      // Required: NaN is refused like any other non-port.
      port: check.integer(item['port'] ?? Number.NaN, `${field}[${i}].port`, 1, 65_535) as number,
    };
  });
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535;
}
