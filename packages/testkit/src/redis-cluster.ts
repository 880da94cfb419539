import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startRedisNodes, type RedisServerHandle } from './redis-server.js';
import { redisInfo } from './redis-info.js';
import { respCommand } from './resp-command.js';

const execFileAsync = promisify(execFile);

/** The `redis-cli` binary: `$REDIS_CLI_BIN` or `redis-cli` on PATH. */
export const REDIS_CLI_BIN = process.env['REDIS_CLI_BIN'] ?? 'redis-cli';

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Masters (slots are split evenly). Default 3, the minimum Redis accepts. */
  readonly masters?: number;
  /** Replicas per master. Default 0; 1 for failover tests. */
  readonly replicasPerMaster?: number;
  /** `cluster-node-timeout` in ms: how fast a dead master is failed over. Default 2000. */
  readonly nodeTimeoutMs?: number;
  /** How long to wait for `cluster_state:ok`. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

/** A real Redis Cluster of child redis-server processes. */
export interface RedisClusterHandle {
  /** Every node, masters first as created (roles change after a failover). */
  readonly nodes: readonly RedisServerHandle[];
  /** Seed list for `new Cluster(startupNodes)`. */
  readonly startupNodes: readonly { host: string; port: number }[];
  /** Nodes that are masters right now, by asking a live node. */
  masters(): Promise<RedisServerHandle[]>;
  /** Resolve once every running node reports `cluster_state:ok`. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Stop every node and remove their directories. */
  stop(): Promise<void>;
}

async function waitUntilHealthy(
  nodes: readonly RedisServerHandle[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = nodes.filter((n) => n.running);
    const states = await Promise.all(
      running.map(async (n) => {
        try {
          const info = await redisInfo(n.port, 'cluster-info');
          return info.get('cluster_state') === 'ok' && info.get('cluster_slots_fail') === '0';
        } catch {
          return false;
        }
      }),
    );
    if (states.length > 0 && states.every(Boolean)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Redis Cluster not healthy within ${timeoutMs} ms (ports ${running.map((n) => n.port).join(', ')})`,
      );
    }
    await delay(50);
  }
}

/** How many nodes the node on `port` sees as replicas (CLUSTER NODES flag `slave`). */
async function replicasSeenBy(port: number): Promise<number> {
  const reply = String(await respCommand(port, ['CLUSTER', 'NODES'], { timeoutMs: 1_000 }));
  // CLUSTER NODES line: <id> <ip:port@bus> <flags,comma,separated> <master-id> …
  return reply.split('\n').filter((line) => (line.split(' ')[2] ?? '').split(',').includes('slave'))
    .length;
}

/**
 * Resolve once `expected` replicas have finished their initial sync
 * (`master_link_status:up`) and every node's gossip knows them as replicas:
 * until then a node may still list a replica as a master (so `masters()`
 * would name it), and a failover finds no replica to promote.
 */
async function waitForReplicas(
  nodes: readonly RedisServerHandle[],
  expected: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(
      nodes.map(async (n) => {
        try {
          const [info, seen] = await Promise.all([
            redisInfo(n.port, 'replication'),
            replicasSeenBy(n.port),
          ]);
          const synced = info.get('role') === 'slave' && info.get('master_link_status') === 'up';
          return { synced, seen };
        } catch {
          return { synced: false, seen: 0 };
        }
      }),
    );
    if (
      ready.filter((r) => r.synced).length >= expected &&
      ready.every((r) => r.seen >= expected)
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Redis Cluster replicas not in sync within ${timeoutMs} ms`);
    }
    await delay(50);
  }
}

/**
 * Start a real Redis Cluster: `masters × (1 + replicasPerMaster)` redis-server
 * processes with `--cluster-enabled yes`, joined by `redis-cli --cluster
 * create`. Resolves once every node reports `cluster_state:ok`, every
 * replica has finished its initial sync from its master and every node
 * knows which nodes are replicas (~2 s).
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster({ masters: 3 });
 * const client = new Cluster([...cluster.startupNodes]);
 * ```
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const nodes = await startRedisNodes(masters * (1 + replicas), {
    clusterBus: true,
    args: [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      // A replica of a dead master must take over even if it lagged a little.
      '--cluster-replica-validity-factor',
      '0',
      // Redis 7 syncs replicas diskless and first waits 5 s for more replicas
      // to join the transfer: start the initial sync at once instead.
      '--repl-diskless-sync-delay',
      '0',
    ],
  });
  // Each node gets its own directory (nodes.conf lives there), see startRedisServer.
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    await execFileAsync(
      REDIS_CLI_BIN,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: readyTimeoutMs },
    );
    await waitUntilHealthy(nodes, readyTimeoutMs);
    // cluster_state:ok says nothing about replicas: one still in its initial
    // sync holds no data (a failover test that kills its master then would
    // promote an empty node), and gossip may not have told every node yet
    // that it is a replica.
    if (replicas > 0) await waitForReplicas(nodes, masters * replicas, readyTimeoutMs);
  } catch (error) {
    await stopAll();
    throw error;
  }

  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    async masters() {
      for (const node of nodes.filter((n) => n.running)) {
        try {
          const reply = String(
            await respCommand(node.port, ['CLUSTER', 'NODES'], { timeoutMs: 1_000 }),
          );
          // CLUSTER NODES line: <id> <ip:port@bus> <flags,comma,separated> <master-id> …
          const masterPorts = new Set<number>();
          for (const line of reply.split('\n')) {
            const [, address, flagList] = line.split(' ');
            const flags = (flagList ?? '').split(',');
            if (!flags.includes('master') || flags.includes('fail') || flags.includes('fail?'))
              continue;
            const port = Number(/:(\d+)@/.exec(address ?? '')?.[1]);
            if (Number.isInteger(port)) masterPorts.add(port);
          }
          return nodes.filter((n) => masterPorts.has(n.port));
        } catch {
          // ask the next node
        }
      }
      return [];
    },
    waitUntilHealthy: (timeoutMs = readyTimeoutMs) => waitUntilHealthy(nodes, timeoutMs),
    stop: stopAll,
  };
}
