import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { invalid } from './redis-store-options.js';
import type { ResolvedConnection } from './redis-store-options.js';

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
 * The store's client: the caller's (checked) or a new one built for fast
 * failure, from options `resolveRedisStoreOptions` checked (exactly one of
 * `client` and `connection`).
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
 * - standalone and Sentinel: no auto-pipelining, so a command is written
 *   when it is issued and Redis works on it while this instance handles the
 *   rest of its turn (auto-pipelining holds every command to the end of the
 *   turn; the store gathers its writes itself, see RedisScripts). Cluster
 *   keeps ioredis' auto-pipelining, which also groups commands per node;
 * - RESP2 (`protocol: 2`), the shapes the store's readers were written
 *   against (they accept RESP3 too, for caller clients).
 *
 * @throws SessionValidationError `INVALID_CONFIG` for a client without `commandTimeout`
 */
export function openRedisConnection(
  options: {
    readonly client?: Redis | Cluster | undefined;
    readonly connection?: ResolvedConnection | undefined;
  },
  commandTimeoutMs: number,
): RedisConnection {
  if (options.connection === undefined) return adoptClient(options.client);
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

function adoptClient(candidate: Partial<Redis> | Cluster | undefined): RedisConnection {
  if (
    typeof candidate !== 'object' ||
    (candidate as unknown) === null ||
    typeof candidate.defineCommand !== 'function' ||
    typeof candidate.isCluster !== 'boolean'
  ) {
    throw invalid('client', 'expected an ioredis Redis or Cluster instance');
  }
  const client = candidate as Redis | Cluster;
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
  if (!client.isCluster && (client as Redis).options.enableAutoPipelining === true) {
    warnAutoPipelining(client as Redis);
  }
  return { client, owned: false, commandTimeoutMs: timeout };
}

/** Clients already warned about: one warning per client, however many stores share it. */
const warnedClients = new WeakSet<Redis>();

/**
 * A process warning (once per client) that a standalone client with
 * auto-pipelining holds the store's writes to the end of the event loop's
 * turn: the store sends a full batch of writes at once, so Redis runs it
 * while the instance handles the rest of the turn; held, the instance waits
 * for Redis after every turn (HTTP write-one-key ~0.5–0.8× express-session
 * that way against ~1.0× without, docs/benchmarks.md). Works, only slower.
 */
function warnAutoPipelining(client: Redis): void {
  if (warnedClients.has(client)) return;
  warnedClients.add(client);
  process.emitWarning(
    'RedisStore: the client has enableAutoPipelining on, which holds the store’s write ' +
      'batches to the end of each event loop turn (slower writes under load). Give the store ' +
      'a client without it, or let the store open its own connection (connection option).',
    { type: 'SessionClusterWarning', code: 'SESSION_CLUSTER_AUTOPIPELINING' },
  );
}

function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);
}

function createClient(connection: ResolvedConnection, commandTimeoutMs: number): Redis | Cluster {
  const password = 'password' in connection ? connection.password : undefined;
  const nodeOptions: RedisOptions = {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1_000),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    protocol: 2,
    ...(password === undefined ? {} : { password }),
  };

  if ('cluster' in connection) {
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
    return new Cluster([...connection.cluster.nodes], clusterOptions);
  }

  const standalone: RedisOptions = {
    ...nodeOptions,
    enableOfflineQueue: true,
    enableAutoPipelining: false,
    retryStrategy: reconnectDelay,
  };
  if ('sentinels' in connection) {
    const { sentinels, name } = connection;
    return new Redis({
      ...standalone,
      sentinels: [...sentinels],
      name,
      sentinelRetryStrategy: reconnectDelay,
    });
  }
  if ('url' in connection) return new Redis(connection.url, standalone);
  return new Redis({ ...standalone, host: connection.host, port: connection.port });
}
