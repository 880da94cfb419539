import { ManualClock, generateSessionId, hashSessionId } from '@session-cluster/core';
import { RedisKeys, RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expiryBatchId, expiryBatchJobId, expiryEvent } from './expiry-event.js';
import type { SessionExpiredEvent } from './expiry-event.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { EventsQueuePublisher } from './expiry-publisher.js';
import type { ExpirySweeperOptions } from './sweeper-options.js';
import type { BucketSweepReport } from './bucket-sweep.js';
import {
  collectEvents,
  createSessions,
  indexSizes,
  outboxesDrained,
  testClient,
  testPrefix,
  userIndexSize,
  waitFor,
} from './sweeper-harness.test-helpers.js';
import type { EventCollector, RedisTarget } from './sweeper-harness.test-helpers.js';

let server: RedisServerHandle;
let target: RedisTarget;
let admin: Redis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  target = { kind: 'standalone', url: server.url };
  admin = testClient(target) as Redis;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

const LIVE_FOR = 60_000;

/** A store (system clock) and a sweeper whose clock runs 2 min ahead: every session is due for it. */
async function setup(options: Partial<ExpirySweeperOptions> = {}): Promise<{
  store: RedisStore;
  sweeper: ExpirySweeper;
  clock: ManualClock;
  events: EventCollector;
  local: SessionExpiredEvent[];
}> {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix: testPrefix(),
    buckets: 4,
  });
  const clock = new ManualClock(Date.now() + 2 * LIVE_FOR);
  const sweeper = new ExpirySweeper({ store, clock, intervalMs: 200, ...options });
  const local: SessionExpiredEvent[] = [];
  sweeper.on('expired', (event) => local.push(event));
  const events = await collectEvents(
    target,
    sweeper.options.queuePrefix,
    sweeper.options.eventsQueueName,
  );
  cleanups.push(async () => {
    await events.close();
    await sweeper.close();
    await store.close();
  });
  return { store, sweeper, clock, events, local };
}

describe('ExpirySweeper (one process, real Redis)', () => {
  it('removes expired sessions, publishes one event each, trims user indexes and spares live ones', async () => {
    const { store, sweeper, events, local } = await setup();
    const expiring = await createSessions(store, 40, {
      expiresAt: Date.now() + LIVE_FOR,
      userOf: (i) => `user-${i % 4}`,
    });
    // Touched past the sweeper's "now": not due any more.
    const touched = expiring.slice(0, 5);
    for (const id of touched) await store.touch(id, Date.now() + 10 * LIVE_FOR);

    const totals = await sweeper.sweepAll();
    expect(totals).toMatchObject({ buckets: 4, expired: 35, republished: 0, published: 35 });
    expect(totals.more).toBe(false);

    await waitFor('35 events', () => events.events.length >= 35);
    expect(events.distinct()).toBe(35);
    expect(local).toHaveLength(35);
    const expected = new Set(expiring.slice(5).map((id) => hashSessionId(id)));
    expect(new Set(events.events.map((e) => e.sessionIdHash))).toEqual(expected);
    const sample = events.events[0]!;
    expect(sample.userId).toMatch(/^user-\d$/);
    expect(sample.lateness).toBe(sweeper.options.clock.now() - sample.expiredAt);
    expect(sample.createdAt).toEqual(expect.any(Number));

    // Only the touched sessions remain in the expiry index; the user indexes
    // hold exactly them once read (the sweep leaves them to their readers);
    // the consumer acknowledged every batch.
    await outboxesDrained(admin, store);
    expect(await indexSizes(admin, store)).toEqual({ expiry: 5, outbox: 0 });
    const users = ['user-0', 'user-1', 'user-2', 'user-3'];
    expect((await Promise.all(users.map((u) => store.listByUser(u)))).flat()).toHaveLength(5);
    expect(await userIndexSize(admin, store, users)).toBe(5);
    for (const id of touched) expect(await store.load(id)).not.toBeNull();

    // Sweeping again finds nothing and publishes nothing.
    expect((await sweeper.sweepAll()).published).toBe(0);
  });

  it('keeps a session touched after its index entry went stale, and fixes the entry', async () => {
    const { store, sweeper, clock, events } = await setup();
    const [id] = await createSessions(store, 1, { expiresAt: Date.now() + LIVE_FOR });
    const later = Date.now() + 10 * LIVE_FOR;
    await store.touch(id!, later);
    // The race the Lua re-check exists for: the index still says "due".
    const keys = new RedisKeys(store.prefix, store.bucketCount);
    const bucket = keys.bucketOf(id!);
    await admin.zadd(keys.expiryBucket(bucket), Date.now(), id!);

    const report = await sweeper.sweepBucket(bucket);
    expect(report).toMatchObject({ expired: 0, published: 0 });
    expect(Number(await admin.zscore(keys.expiryBucket(bucket), id!))).toBe(later);
    expect(await store.load(id!)).not.toBeNull();

    // Once really expired, it goes.
    clock.set(later + 1);
    expect((await sweeper.sweepBucket(bucket)).expired).toBe(1);
    await waitFor('1 event', () => events.events.length === 1);
  });

  it('leaves a user index whose entry outlived its session to its reader', async () => {
    const { store, sweeper } = await setup();
    const userId = 'user-stale';
    const [expired] = await createSessions(store, 1, {
      expiresAt: Date.now() + LIVE_FOR,
      userOf: () => userId,
    });
    const [live] = await createSessions(store, 1, {
      expiresAt: Date.now() + 10 * LIVE_FOR,
      userOf: () => userId,
    });
    const keys = new RedisKeys(store.prefix, store.bucketCount);
    expect(await admin.zrange(keys.userIndex(userId), '0', '-1')).toHaveLength(2);

    await sweeper.sweepAll();

    // The sweep leaves the index; its first reader drops the expired
    // session's entry, and the live one stays.
    expect(await admin.zrange(keys.userIndex(userId), '0', '-1')).toHaveLength(2);
    expect((await store.listByUser(userId)).map((s) => s.id)).toEqual([live]);
    expect(await admin.zrange(keys.userIndex(userId), '0', '-1')).toEqual([live]);
    expect(await store.load(expired!)).toBeNull();
  });

  it('republishes an outbox left by a crash, and a republish after a crash past the publish adds nothing', async () => {
    const { store, sweeper, clock, events, local } = await setup();
    await createSessions(store, 30, { expiresAt: Date.now() + LIVE_FOR, userOf: (i) => `u${i}` });
    const now = clock.now();
    // Crash 1: a worker ran the Lua sweep (sessions deleted, outbox written) and
    // died before publishing.
    const crashed = await store.sweepBucket(0, now, 1_000, { pending: true });
    const keys = new RedisKeys(store.prefix, store.bucketCount);
    // Crash 2: a worker also published bucket 1's batch, then died before acknowledging.
    const published = await store.sweepBucket(1, now, 1_000, { pending: true });
    const settings = { attempts: 1, backoffMs: 0, dedupeWindowMs: 60_000, keepFailedMs: 60_000 };
    const deadPublisher = new EventsQueuePublisher(
      sweeper.expiredEventsQueue,
      store.prefix,
      settings,
      () => undefined,
      5_000,
    );
    const publishedBatch = { id: published.batchId!, bucket: 1, expiries: published.expired };
    await deadPublisher.publish(publishedBatch, now, true);
    await waitFor('the early events', () => events.events.length === published.expired.length);
    // The consumer acknowledged bucket 1's batch, and with it forgot its id
    // among the unpublished ones (the publisher died before marking it).
    await waitFor('the early ack', async () => (await admin.hlen(keys.outboxBucket(1))) === 0);
    expect(await admin.scard(keys.unpublishedBucket(1))).toBe(0);

    const totals = await sweeper.sweepAll();
    // Bucket 1's batch is gone from the outbox: only the crashed one is republished.
    expect(totals.republished).toBe(crashed.expired.length);
    await outboxesDrained(admin, store);
    expect(await indexSizes(admin, store)).toEqual({ expiry: 0, outbox: 0 });
    const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
    // The sweep leaves the user indexes; their first reader empties them.
    for (const userId of users) expect(await store.listByUser(userId)).toEqual([]);
    expect(await userIndexSize(admin, store, users)).toBe(0);

    await waitFor('30 events', () => events.events.length >= 30);
    expect(events.distinct()).toBe(30);
    // Published again (a worker that read it before the ack): its job id is
    // taken, nothing is added.
    await deadPublisher.publish(publishedBatch, now, true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events.events).toHaveLength(30);
    // One job per batch, none added twice.
    expect(await events.queued()).toBe(30);
    expect(new Set(events.jobIds).size).toBe(events.jobIds.length);
    // The sweeper's local hook saw what it published (the dead publisher's hook died with it).
    expect(local).toHaveLength(30 - published.expired.length);
  });

  it('drains the per-expiry outbox an earlier release left, as one batch per page', async () => {
    const { store, sweeper, events } = await setup();
    const keys = new RedisKeys(store.prefix, store.bucketCount);
    const US = '\x1f';
    const ids = [generateSessionId(), generateSessionId(), generateSessionId()];
    for (const [i, id] of ids.entries()) {
      await admin.zadd(keys.pendingBucket(2), 1_000 + i, `${id}${US}user-${i}${US}500`);
    }
    const totals = await sweeper.sweepAll();
    expect(totals).toMatchObject({ expired: 0, republished: 3, published: 3 });
    await waitFor('3 events', () => events.events.length >= 3);
    expect(new Set(events.events.map((e) => e.sessionIdHash))).toEqual(
      new Set(ids.map((id) => hashSessionId(id))),
    );
    expect(events.events.map((e) => e.bucket)).toEqual([2, 2, 2]);
    expect(await events.queued()).toBe(3);
    expect(await indexSizes(admin, store)).toEqual({ expiry: 0, outbox: 0 });
  });

  it('schedules one sweep per bucket per interval with BullMQ and sweeps without being asked', async () => {
    const { store, sweeper, events } = await setup();
    const reports: BucketSweepReport[] = [];
    sweeper.on('swept', (report) => reports.push(report));
    // A scheduler left by a deployment with more buckets is removed at start.
    const stray = new Queue(sweeper.options.sweepQueueName, {
      connection: testClient(target),
      prefix: sweeper.options.queuePrefix,
    });
    await stray.upsertJobScheduler(
      'sweep-9',
      { every: 60_000 },
      { name: 'sweep', data: { bucket: 9 } },
    );

    expect(await sweeper.start()).toEqual({ upserted: 4, removed: 1 });
    const ids = (await stray.getJobSchedulers(0, -1, true)).map((s) => s.id ?? s.key).sort();
    expect(ids).toEqual(['sweep-0', 'sweep-1', 'sweep-2', 'sweep-3']);
    await stray.close();

    await createSessions(store, 50, { expiresAt: Date.now() + LIVE_FOR });
    await waitFor('50 events', () => events.events.length >= 50);
    await waitFor('empty indexes', async () => (await indexSizes(admin, store)).expiry === 0);
    expect(events.distinct()).toBe(50);
    expect(new Set(reports.map((r) => r.bucket))).toEqual(new Set([0, 1, 2, 3]));
    expect(sweeper.stats.expired).toBe(50);

    // A second process with the same settings changes nothing.
    const other = new ExpirySweeper({ store, intervalMs: 200, runWorker: false });
    try {
      expect(await other.start()).toEqual({ upserted: 0, removed: 0 });
    } finally {
      await other.close();
    }
  });

  it('on close finishes the batches in hand and leaves the rest for the next job', async () => {
    const { store, sweeper } = await setup({ batchSize: 20, maxBatchesPerJob: 1_000 });
    await createSessions(store, 2_000, { expiresAt: Date.now() + LIVE_FOR });
    let closed: Promise<void> | undefined;
    sweeper.once('expired', () => {
      // Mid-job: the stop arrives while the first batch is being published.
      closed = sweeper.close();
    });
    const report = await sweeper.sweepBucket(0);
    await closed;
    // In hand: the batch being published and the one swept meanwhile (the
    // sweep of the next batch overlaps the publish of the last), both
    // published and acknowledged before the queues close.
    expect(report).toMatchObject({ expired: 40, batches: 2, more: true });
    await outboxesDrained(admin, store);
    expect(await indexSizes(admin, store)).toEqual({ expiry: 2_000 - 40, outbox: 0 });
  });

  it('publishes nothing to BullMQ with publishEvents: false, and uses no outbox', async () => {
    const { store, sweeper, events, local } = await setup({ publishEvents: false });
    await createSessions(store, 10, { expiresAt: Date.now() + LIVE_FOR });
    expect(sweeper.expiredEventsQueue).toBeUndefined();
    expect((await sweeper.sweepAll()).expired).toBe(10);
    expect(local).toHaveLength(10);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.events).toHaveLength(0);
    expect(await indexSizes(admin, store)).toEqual({ expiry: 0, outbox: 0 });
  });

  it('rejects calls after close and closes idempotently', async () => {
    const { sweeper } = await setup();
    await Promise.all([sweeper.close(), sweeper.close()]);
    await expect(sweeper.sweepAll()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await expect(sweeper.start()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    await expect(sweeper.sweepBucket(0)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });

  it('reports a failed sweep job and keeps working', async () => {
    const { store, sweeper, events } = await setup();
    const failures: unknown[] = [];
    sweeper.on('sweepFailed', (failure) => failures.push(failure));
    await sweeper.start();
    const queue = new Queue(sweeper.options.sweepQueueName, {
      connection: testClient(target),
      prefix: sweeper.options.queuePrefix,
    });
    try {
      await queue.add('sweep', { bucket: 99 });
      await waitFor('the failure', () => failures.length === 1);
      expect(failures[0]).toMatchObject({ bucket: 99, error: { code: 'INVALID_ARGUMENT' } });
    } finally {
      await queue.close();
    }
    await createSessions(store, 5, { expiresAt: Date.now() + LIVE_FOR });
    await waitFor('5 events', () => events.events.length === 5);
    expect(sweeper.stats.failedJobs).toBe(1);
  });

  it('rejects a bucket out of range', async () => {
    const { sweeper } = await setup();
    await expect(sweeper.sweepBucket(4)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('expiry events', () => {
  it('expiryEvent hashes the id exactly as hashSessionId and never carries it raw', () => {
    const id = generateSessionId();
    const swept = { id, userId: undefined, expiresAt: 1_000, bucket: 3, createdAt: undefined };
    const event = expiryEvent(swept, 1_250);
    expect(event).toEqual({
      sessionIdHash: hashSessionId(id),
      userId: null,
      expiredAt: 1_000,
      createdAt: null,
      lateness: 250,
      bucket: 3,
    });
    expect(JSON.stringify(event)).not.toContain(id);
  });

  it('a batch job id is the bucket and the outbox batch id, as the sweep script computes it', async () => {
    const store = new RedisStore({ connection: { url: server.url }, prefix: testPrefix() });
    try {
      const clock = Date.now();
      await createSessions(store, 20, { expiresAt: clock + 1_000 });
      const keys = new RedisKeys(store.prefix, store.bucketCount);
      let checked = 0;
      for (let bucket = 0; bucket < store.bucketCount; bucket++) {
        const swept = await store.sweepBucket(bucket, clock + 2_000, 100, { pending: true });
        if (swept.batchId === undefined) continue;
        // The TS twin (for legacy outbox pages) agrees with the Lua.
        expect(expiryBatchId(swept.expired)).toBe(swept.batchId);
        expect(expiryBatchJobId({ bucket, id: swept.batchId })).toBe(`${bucket}-${swept.batchId}`);
        for (const expiry of swept.expired) expect(swept.batchId).not.toContain(expiry.id);
        await admin.del(keys.outboxBucket(bucket), keys.unpublishedBucket(bucket));
        checked += 1;
      }
      expect(checked).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
