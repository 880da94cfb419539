import { startRedisCluster } from '@session-cluster/testkit';
import type { RedisClusterHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTwoWorkerSweep } from './two-workers.test-helpers.js';

let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});

afterAll(async () => {
  await cluster.stop();
});

describe('two sweeper processes on a 3-master Redis Cluster', () => {
  it('sweep 10,000 sessions over 64 buckets on every master: indexes empty, one event each', async () => {
    const outcome = await runTwoWorkerSweep({
      target: { kind: 'cluster', nodes: cluster.startupNodes },
      sessions: 10_000,
    });
    expect(outcome.sweptBy[0] + outcome.sweptBy[1]).toBe(10_000);
  }, 150_000);

  it('one worker SIGKILLed mid-sweep: the other completes, no session missed, none twice', async () => {
    const outcome = await runTwoWorkerSweep({
      target: { kind: 'cluster', nodes: cluster.startupNodes },
      sessions: 10_000,
      batchSize: 50,
      killFirstAfter: 1_000,
    });
    expect(outcome.killed).toBe('SIGKILL');
  }, 150_000);
});
