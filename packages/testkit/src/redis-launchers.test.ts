import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from './redis-cluster.js';
import { startRedisNodes, startRedisServer, type RedisServerHandle } from './redis-server.js';
import { respCommand } from './resp-command.js';

describe('redis launchers', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((c) => c()));
  });

  it('starts, kills and restarts a server on the same port', async () => {
    const redis: RedisServerHandle = await startRedisServer();
    cleanups.push(() => redis.stop());
    expect(await respCommand(redis.port, ['SET', 'k', 'v'])).toBe('OK');
    const port = redis.port;
    await redis.kill();
    expect(redis.running).toBe(false);
    await expect(respCommand(port, ['PING'])).rejects.toThrow();
    await redis.restart();
    expect(redis.port).toBe(port);
    // Nothing is persisted: a restarted node is empty.
    expect(await respCommand(port, ['GET', 'k'])).toBeNull();
  });

  it('starts independent nodes on distinct ports', async () => {
    const nodes = await startRedisNodes(3);
    cleanups.push(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    });
    expect(new Set(nodes.map((n) => n.port)).size).toBe(3);
    await respCommand(nodes[0]!.port, ['SET', 'only-here', '1']);
    expect(await respCommand(nodes[1]!.port, ['GET', 'only-here'])).toBeNull();
  });

  it('starts a 3-master cluster that serves every slot', async () => {
    const cluster: RedisClusterHandle = await startRedisCluster({ masters: 3 });
    cleanups.push(() => cluster.stop());
    const info = String(await respCommand(cluster.nodes[0]!.port, ['CLUSTER', 'INFO']));
    expect(info).toContain('cluster_state:ok');
    expect(info).toContain('cluster_slots_assigned:16384');
    expect((await cluster.masters()).length).toBe(3);
  });

  it('starts a cluster whose replicas are in sync, and sees a replica take over a killed master', async () => {
    const cluster = await startRedisCluster({
      masters: 3,
      replicasPerMaster: 1,
      nodeTimeoutMs: 1_000,
    });
    cleanups.push(() => cluster.stop());
    expect(cluster.nodes).toHaveLength(6);
    const masters = await cluster.masters();
    expect(masters.map((n) => n.port)).toEqual(cluster.nodes.slice(0, 3).map((n) => n.port));
    // Resolved only once every replica finished its initial sync: a replica
    // still syncing holds no data, and a failover would promote an empty node.
    for (const replica of cluster.nodes.slice(3)) {
      const info = String(await respCommand(replica.port, ['INFO', 'replication']));
      expect(info).toContain('role:slave');
      expect(info).toContain('master_link_status:up');
    }

    const victim = masters[0]!;
    await victim.kill();
    const deadline = Date.now() + 15_000;
    let after = await cluster.masters();
    while (after.length < 3 || after.includes(victim)) {
      if (Date.now() > deadline) expect.fail('no replica took over within 15 s');
      await delay(50);
      after = await cluster.masters();
    }
    await cluster.waitUntilHealthy();
    const promoted = after.filter((n) => !masters.includes(n));
    expect(promoted).toHaveLength(1);
    expect(cluster.nodes.slice(3)).toContain(promoted[0]);
  });
});
