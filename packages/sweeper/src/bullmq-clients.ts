import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

/**
 * `commandTimeout` of the Worker's connections. BullMQ duplicates the
 * Worker's client for its blocking fetch (`BZPOPMIN` for up to 10 s, raced
 * against its own watchdog at 11 s), and ioredis applies `commandTimeout`
 * to blocking commands too: a shorter timeout would fail every idle wait.
 */
export const WORKER_COMMAND_TIMEOUT_MS = 15_000;

/** What a BullMQ connection of the sweeper is for. */
export type BullmqClientRole = 'queue' | 'worker' | 'consumer';

/**
 * A connection for BullMQ, duplicated from the store's client (same
 * topology, address, password and TLS; standalone, Sentinel or Cluster), with
 * the settings BullMQ needs instead of the store's fail-fast ones:
 *
 * - `maxRetriesPerRequest: null` and the offline queue on: a Worker refuses
 *   any other value, and a queue's commands wait for a reconnect instead of
 *   failing a job scheduler or a publish halfway;
 * - `commandTimeout` still bounds every command: `commandTimeoutMs` for the
 *   queues; for a Worker it must outlast BullMQ's blocking fetch, which
 *   runs on a duplicate of this very client (see
 *   {@link WORKER_COMMAND_TIMEOUT_MS});
 * - RESP2 (`protocol: 2`), the reply shapes BullMQ's scripts were written
 *   for; no auto-pipelining (it must not hold back a blocking command);
 *   no `keyPrefix` (BullMQ refuses one; it has its own `prefix`).
 *
 * The caller owns the result and must `quit()` it.
 */
export function duplicateForBullmq(
  client: Redis | Cluster,
  role: BullmqClientRole,
  commandTimeoutMs: number,
): Redis | Cluster {
  const overrides: Partial<RedisOptions> = {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1_000, Math.min(commandTimeoutMs, 10_000)),
    maxRetriesPerRequest: null,
    autoResendUnfulfilledCommands: true,
    protocol: 2,
    keyPrefix: undefined,
    connectionName: `sc-sweeper-${role}`,
  };
  let duplicate: Redis | Cluster;
  if (client.isCluster) {
    const cluster = client as Cluster;
    const options: ClusterOptions = {
      enableOfflineQueue: true,
      enableAutoPipelining: false,
      redisOptions: { ...cluster.options.redisOptions, ...overrides },
    };
    duplicate = cluster.duplicate([], options);
  } else {
    duplicate = (client as Redis).duplicate({
      ...overrides,
      enableOfflineQueue: true,
      enableAutoPipelining: false,
    });
  }
  // BullMQ re-emits connection errors on its Queue/Worker (which the sweeper
  // listens to); without a listener here ioredis would also print each
  // reconnect failure to stderr.
  duplicate.on('error', ignoreConnectionError);
  return duplicate;
}

function ignoreConnectionError(): void {
  // see duplicateForBullmq
}

/** Quit a client, or drop it when it is not connected (Redis down). */
export async function quitClient(client: Redis | Cluster): Promise<void> {
  // A quit queued while disconnected would wait for a reconnect (offline
  // queue, no retry limit): drop a client that is not connected instead.
  if (client.status !== 'ready' && client.status !== 'connect') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
