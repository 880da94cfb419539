import { ManualClock } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExpirySweeper } from './expiry-sweeper.js';
import type { SchedulerChanges } from './sweep-schedulers.js';
import type { QueueFailure } from './sweeper-events.js';
import { createSessions, testClient, testPrefix, waitFor } from './sweeper-harness.test-helpers.js';

let server: RedisServerHandle;

beforeAll(async () => {
  // No persistence (the testkit default): a restart comes back empty.
  server = await startRedisServer();
});

afterAll(async () => {
  await server.stop();
});

describe('ExpirySweeper when its Redis comes back empty', () => {
  it('puts its job schedulers back on reconnect and keeps sweeping', async () => {
    const store = new RedisStore({
      connection: { url: server.url },
      prefix: testPrefix(),
      buckets: 4,
    });
    const clock = new ManualClock(Date.now() + 120_000);
    const sweeper = new ExpirySweeper({ store, clock, intervalMs: 200, publishEvents: false });
    const restored: SchedulerChanges[] = [];
    sweeper.on('schedulersRestored', (changes) => restored.push(changes));
    const schedulers = new Queue(sweeper.options.sweepQueueName, {
      connection: testClient({ kind: 'standalone', url: server.url }),
      prefix: sweeper.options.queuePrefix,
    });
    const schedulerIds = async (): Promise<string[]> =>
      (await schedulers.getJobSchedulers(0, -1, true)).map((s) => s.id ?? s.key).sort();
    try {
      expect(await sweeper.start()).toEqual({ upserted: 4, removed: 0 });

      await server.kill('SIGKILL');
      await server.restart();
      // The event fires only when schedulers were missing: the empty server had none.
      await waitFor('the schedulers restored', () => restored.length > 0);
      expect(restored[0]).toEqual({ upserted: 4, removed: 0 });
      expect(await schedulerIds()).toEqual(['sweep-0', 'sweep-1', 'sweep-2', 'sweep-3']);

      // And BullMQ runs them again: sessions written after the restart are swept.
      const before = sweeper.stats.expired;
      await createSessions(store, 20, { expiresAt: Date.now() + 60_000 });
      await waitFor('20 sessions swept', () => sweeper.stats.expired - before >= 20);
    } finally {
      await schedulers.close();
      await sweeper.close();
      await store.close();
    }
  });

  it('tries again a restore Redis refused for now (an error reply on a live connection)', async () => {
    const store = new RedisStore({
      connection: { url: server.url },
      prefix: testPrefix(),
      buckets: 4,
    });
    const sweeper = new ExpirySweeper({ store, intervalMs: 200, publishEvents: false });
    const restored: SchedulerChanges[] = [];
    const failures: QueueFailure[] = [];
    sweeper.on('schedulersRestored', (changes) => restored.push(changes));
    sweeper.on('queueError', (failure) => failures.push(failure));
    const admin = testClient({ kind: 'standalone', url: server.url });
    const schedulers = new Queue(sweeper.options.sweepQueueName, {
      connection: testClient({ kind: 'standalone', url: server.url }),
      prefix: sweeper.options.queuePrefix,
    });
    const refusals = async (): Promise<number> =>
      Number(/errorstat_NOREPLICAS:count=(\d+)/.exec(await admin.info('errorstats'))?.[1] ?? 0);
    try {
      expect(await sweeper.start()).toEqual({ upserted: 4, removed: 0 });
      // The schedulers are gone, every write is refused (NOREPLICAS), and
      // the sweeper's queue connection comes back: its restore is refused.
      await admin.flushall();
      await admin.config('SET', 'min-replicas-to-write', '1');
      const queueConnection = async (): Promise<{ id: string; cmd: string } | undefined> => {
        const list = (await admin.call('CLIENT', 'LIST')) as string;
        const line = list.split('\n').find((l) => l.includes(' name=sc-sweeper-queue '));
        const [, id = '', cmd = ''] = /^id=(\d+) .* cmd=(\S+)/.exec(line ?? '') ?? [];
        return line === undefined ? undefined : { id, cmd };
      };
      const killed = (await queueConnection())?.id ?? '';
      await admin.call('CLIENT', 'KILL', 'ID', killed);
      // Its first script on the new connection is the restore's upsert.
      await waitFor('the restore refused', async () => {
        const now = await queueConnection();
        return (
          now !== undefined && now.id !== killed && now.cmd === 'evalsha' && (await refusals()) > 0
        );
      });
      expect(restored).toEqual([]);
      await admin.config('SET', 'min-replicas-to-write', '0');

      await waitFor('the schedulers restored', () => restored.length > 0);
      expect(restored[0]).toEqual({ upserted: 4, removed: 0 });
      expect(
        (await schedulers.getJobSchedulers(0, -1, true)).map((s) => s.id ?? s.key).sort(),
      ).toEqual(['sweep-0', 'sweep-1', 'sweep-2', 'sweep-3']);
      // A refusal that a retry then got past is not reported.
      expect(failures.filter((f) => f.source === 'sweep-queue')).toEqual([]);
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
      admin.disconnect();
      await schedulers.close();
      await sweeper.close();
      await store.close();
    }
  });
});
