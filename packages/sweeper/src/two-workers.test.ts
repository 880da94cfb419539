import { useRedisServer } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { runTwoWorkerSweep } from './two-workers.test-helpers.js';

const server = useRedisServer();

describe('two sweeper processes on one Redis', () => {
  it('sweep 10,000 sessions: every index empty, exactly one session.expired event each', async () => {
    const outcome = await runTwoWorkerSweep({
      target: { kind: 'standalone', url: server.url },
      sessions: 10_000,
    });
    // BullMQ spread the bucket jobs over both workers.
    expect(outcome.sweptBy[0]).toBeGreaterThan(0);
    expect(outcome.sweptBy[1]).toBeGreaterThan(0);
    expect(outcome.sweptBy[0] + outcome.sweptBy[1]).toBe(10_000);
  }, 120_000);

  it('one worker SIGKILLed mid-sweep: the other completes, no session missed, none twice', async () => {
    const outcome = await runTwoWorkerSweep({
      target: { kind: 'standalone', url: server.url },
      sessions: 10_000,
      // Small batches: the kill lands inside a job, between Lua sweeps and acks.
      batchSize: 50,
      killFirstAfter: 1_000,
    });
    expect(outcome.killed).toBe('SIGKILL');
    expect(outcome.sweptBy[1]).toBeGreaterThan(0);
  }, 120_000);
});
