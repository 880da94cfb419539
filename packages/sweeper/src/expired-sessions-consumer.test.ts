import { ManualClock } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { expectSessionError, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { SessionValidationError } from '@session-cluster/core';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consumeExpiredSessions } from './expired-sessions-consumer.js';
import type { ExpiredSessionsConsumer } from './expired-sessions-consumer.js';
import { EXPIRED_BATCH_NAME, EXPIRED_EVENT_NAME, isExpiryBatchJobData } from './expiry-event.js';
import type { SessionExpiredEvent } from './expiry-event.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import type { ExpirySweeperOptions } from './sweeper-options.js';
import {
  createSessions,
  expiryKey,
  indexSizes,
  testClient,
  testPrefix,
  waitFor,
} from './sweeper-harness.test-helpers.js';

let server: RedisServerHandle;
let admin: Redis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = testClient({ kind: 'standalone', url: server.url }) as Redis;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

/** One bucket, so one sweep publishes one batch of `sessions` expiries. */
async function sweptBatch(
  sessions: number,
  options: Partial<ExpirySweeperOptions> = {},
): Promise<{ sweeper: ExpirySweeper; queue: Queue }> {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix: testPrefix(),
    buckets: 1,
  });
  const sweeper = new ExpirySweeper({
    store,
    clock: new ManualClock(Date.now() + 120_000),
    eventBackoffMs: 0,
    ...options,
  });
  const client = testClient({ kind: 'standalone', url: server.url });
  const queue = new Queue(sweeper.options.eventsQueueName, {
    connection: client,
    prefix: sweeper.options.queuePrefix,
  });
  cleanups.push(async () => {
    await queue.close();
    client.disconnect();
    await sweeper.close();
    await store.close();
  });
  await createSessions(store, sessions, {
    expiresAt: Date.now() + 60_000,
    userOf: (i) => `user-${i}`,
  });
  expect((await sweeper.sweepAll()).published).toBe(sessions);
  expect(await queue.getJobCounts('wait')).toEqual({ wait: 1 });
  return { sweeper, queue };
}

function consume(
  sweeper: ExpirySweeper,
  handler: (event: SessionExpiredEvent) => Promise<void> | void,
  concurrency = 8,
): ExpiredSessionsConsumer {
  const consumer = consumeExpiredSessions({ url: server.url }, handler, {
    queuePrefix: sweeper.options.queuePrefix,
    queueName: sweeper.options.eventsQueueName,
    concurrency,
  });
  cleanups.push(() => consumer.close());
  return consumer;
}

describe('consumeExpiredSessions', () => {
  it('runs the handler once per expiry of a batch, at most `concurrency` at once, then completes the job', async () => {
    const { sweeper, queue } = await sweptBatch(50);
    const seen: SessionExpiredEvent[] = [];
    let inFlight = 0;
    let most = 0;
    consume(
      sweeper,
      async (event) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        seen.push(event);
        inFlight -= 1;
      },
      4,
    );
    await waitFor('the batch completed', async () => (await queue.getCompletedCount()) === 1);
    expect(seen).toHaveLength(50);
    expect(new Set(seen.map(expiryKey)).size).toBe(50);
    expect(most).toBe(4);
    const [job] = await queue.getCompleted();
    expect(job?.name).toBe(EXPIRED_BATCH_NAME);
    expect(job?.returnvalue).toEqual({ handled: 50 });
    // A reference to the outbox batch, which the consumer acknowledged.
    expect(Object.keys((job?.data as object | undefined) ?? {}).sort()).toEqual([
      'batchId',
      'bucket',
      'prefix',
      'publishedAt',
      'size',
    ]);
    expect(job?.data).toMatchObject({ prefix: sweeper.store.prefix, bucket: 0, size: 50 });
    expect(await indexSizes(admin, sweeper.store)).toEqual({ expiry: 0, outbox: 0 });
  });

  it('retries only the expiries whose handler failed', async () => {
    const { sweeper, queue } = await sweptBatch(20);
    const calls = new Map<string, number>();
    const unlucky = new Set<string>();
    consume(sweeper, (event) => {
      const key = expiryKey(event);
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      // Three of them fail on their first call.
      if (n === 1 && (unlucky.size < 3 || unlucky.has(key))) {
        unlucky.add(key);
        throw new Error(`audit log down for ${event.sessionIdHash}`);
      }
    });
    await waitFor('the batch completed', async () => (await queue.getCompletedCount()) === 1);
    expect(calls.size).toBe(20);
    for (const [key, n] of calls) expect(n).toBe(unlucky.has(key) ? 2 : 1);
    const [job] = await queue.getCompleted();
    expect(job?.attemptsMade).toBe(2);
    // The second attempt read only the three that failed.
    expect(job?.returnvalue).toEqual({ handled: 3 });
    expect(job?.data).toMatchObject({ size: 20 });
    expect(job?.data).not.toHaveProperty('expiries');
    expect(await indexSizes(admin, sweeper.store)).toEqual({ expiry: 0, outbox: 0 });
  });

  it('leaves a batch that exhausted its attempts failed, holding only what never succeeded', async () => {
    const { sweeper, queue } = await sweptBatch(10, { eventAttempts: 2 });
    let doomed: string | undefined;
    const handled: string[] = [];
    consume(sweeper, (event) => {
      doomed ??= expiryKey(event);
      if (expiryKey(event) === doomed) throw new Error('refused');
      handled.push(expiryKey(event));
    });
    await waitFor('the batch failed', async () => (await queue.getFailedCount()) === 1);
    const [job] = await queue.getFailed();
    expect(job?.attemptsMade).toBe(2);
    expect(job?.failedReason).toBe(
      '1 of 1 expired-session handler calls failed (the job retries only those)',
    );
    expect(isExpiryBatchJobData(job?.data) && job.data.expiries?.map(expiryKey)).toEqual([doomed]);
    expect(handled).toHaveLength(9);
    // Nothing retries the outbox copy any more: the failed job holds what is left.
    expect(await indexSizes(admin, sweeper.store)).toEqual({ expiry: 0, outbox: 0 });
  });

  it('handles the per-session jobs of earlier releases, and fails an unreadable job without retrying it', async () => {
    const prefix = testPrefix();
    const queuePrefix = `{${prefix}:sweeper}`;
    const oldClient = testClient({ kind: 'standalone', url: server.url });
    const old = new Queue('session-expired', { connection: oldClient, prefix: queuePrefix });
    const event: SessionExpiredEvent = {
      sessionIdHash: 'abcdef012345',
      userId: 'ann',
      expiredAt: 1_000,
      createdAt: 500,
      lateness: 20,
      bucket: 7,
    };
    await old.add(EXPIRED_EVENT_NAME, event, { jobId: 'legacy-1' });
    await old.add('junk', { hello: 'world' }, { jobId: 'junk-1', attempts: 5 });
    const seen: SessionExpiredEvent[] = [];
    const consumer = consumeExpiredSessions(
      admin,
      (expiry) => {
        seen.push(expiry);
      },
      { prefix, queueName: 'session-expired' },
    );
    try {
      await waitFor('both jobs settled', async () => {
        const counts = await old.getJobCounts('completed', 'failed');
        return counts['completed'] === 1 && counts['failed'] === 1;
      });
      expect(seen).toEqual([event]);
      const [junk] = await old.getFailed();
      expect(junk?.attemptsMade).toBe(1);
    } finally {
      await consumer.close();
      await old.close();
      oldClient.disconnect();
    }
    // The caller's client is not the consumer's to close.
    expect(await admin.ping()).toBe('PONG');
  });

  it('checks its options before connecting', async () => {
    const handler = (): void => undefined;
    const cases: [unknown, unknown][] = [
      [handler, { concurrency: 0 }],
      [handler, { batchConcurrency: 1.5 }],
      [handler, { queuePrefix: 'sc:sweeper' }],
      [handler, { queueName: 'a:b' }],
      [handler, { prefix: '{sc}' }],
      ['not a function', {}],
    ];
    for (const [fn, options] of cases) {
      await expectSessionError(
        Promise.resolve().then(() =>
          consumeExpiredSessions(
            { url: server.url },
            fn as () => void,
            options as Record<string, never>,
          ),
        ),
        SessionValidationError,
        'INVALID_CONFIG',
      );
    }
  });
});
