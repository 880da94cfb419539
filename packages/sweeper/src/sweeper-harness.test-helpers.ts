import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import { RedisKeys } from '@session-cluster/store-redis';
import type { RedisStore } from '@session-cluster/store-redis';
import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { consumeExpiredSessions } from './expired-sessions-consumer.js';
import { isExpiryBatchJobData } from './expiry-event.js';
import type { SessionExpiredEvent } from './expiry-event.js';

/** A fresh key prefix per test (`t<8 hex>`). */
export function testPrefix(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

/** Where a test's Redis is: one server or a Cluster. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly { host: string; port: number }[] };

/** A client of the target for test bookkeeping, with the timeouts the house asks for. */
export function testClient(
  target: RedisTarget,
  options: { blocking?: boolean } = {},
): Redis | Cluster {
  const nodeOptions = {
    commandTimeout: options.blocking === true ? 15_000 : 5_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: options.blocking === true ? null : 3,
    protocol: 2 as const,
  };
  return target.kind === 'standalone'
    ? new Redis(target.url, nodeOptions)
    : new Cluster([...target.nodes], { redisOptions: nodeOptions });
}

/** Create `count` sessions through the store, `chunk` at a time; returns their ids. */
export async function createSessions(
  store: RedisStore,
  count: number,
  options: { expiresAt: number; userOf?: (index: number) => string | undefined; chunk?: number },
): Promise<string[]> {
  const ids: string[] = [];
  const chunk = options.chunk ?? 1_000;
  for (let start = 0; start < count; start += chunk) {
    const batch = Array.from({ length: Math.min(chunk, count - start) }, (_, i) => ({
      id: generateSessionId(),
      userId: options.userOf?.(start + i),
      data: { n: start + i },
      expiresAt: options.expiresAt,
    }));
    await Promise.all(batch.map((input) => store.create(input)));
    ids.push(...batch.map((input) => input.id));
  }
  return ids;
}

/**
 * Members left in every expiry bucket, and in every outbox: batches not yet
 * acknowledged by a consumer, ids not yet marked published, legacy entries.
 */
export async function indexSizes(
  client: Redis | Cluster,
  store: RedisStore,
): Promise<{ expiry: number; outbox: number }> {
  const keys = new RedisKeys(store.prefix, store.bucketCount);
  const buckets = Array.from({ length: store.bucketCount }, (_, b) => b);
  const expiry = await Promise.all(buckets.map((b) => client.zcard(keys.expiryBucket(b))));
  const outbox = await Promise.all(buckets.map((b) => client.hlen(keys.outboxBucket(b))));
  const unpublished = await Promise.all(
    buckets.map((b) => client.scard(keys.unpublishedBucket(b))),
  );
  const legacy = await Promise.all(buckets.map((b) => client.zcard(keys.pendingBucket(b))));
  return { expiry: sum(expiry), outbox: sum(outbox) + sum(unpublished) + sum(legacy) };
}

/** Wait until every outbox of the store is empty (the consumer acknowledged every batch). */
export async function outboxesDrained(client: Redis | Cluster, store: RedisStore): Promise<void> {
  await waitFor('empty outboxes', async () => (await indexSizes(client, store)).outbox === 0);
}

/** Members left in the given users' indexes. */
export async function userIndexSize(
  client: Redis | Cluster,
  store: RedisStore,
  userIds: Iterable<string>,
): Promise<number> {
  const keys = new RedisKeys(store.prefix, store.bucketCount);
  const sizes = await Promise.all([...userIds].map((u) => client.zcard(keys.userIndex(u))));
  return sum(sizes);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, n) => total + n, 0);
}

/** A real consumer of the events queue (`consumeExpiredSessions`) that records what it was handed. */
export interface EventCollector {
  /** Every expiry handed to the handler, in order (duplicates included). */
  readonly events: SessionExpiredEvent[];
  /** Ids of the batch jobs completed, in order (duplicates included). */
  readonly jobIds: string[];
  /** Distinct `sessionIdHash@expiredAt` delivered. */
  distinct(): number;
  /**
   * Expiries published to the queue: the sum of the batch jobs' `size`
   * (any state). With every event delivered once, a total equal to the
   * sessions means no expiry went into two jobs.
   */
  queued(): Promise<number>;
  close(): Promise<void>;
}

/** `sessionIdHash@expiredAt`: one expiry. */
export function expiryKey(event: SessionExpiredEvent): string {
  return `${event.sessionIdHash}@${event.expiredAt}`;
}

/** Consume `queueName` under `prefix` with `consumeExpiredSessions` (what an application does). */
export async function collectEvents(
  target: RedisTarget,
  prefix: string,
  queueName: string,
  handler: (event: SessionExpiredEvent) => Promise<void> | void = () => undefined,
): Promise<EventCollector> {
  const client = testClient(target);
  const events: SessionExpiredEvent[] = [];
  const jobIds: string[] = [];
  const consumer = consumeExpiredSessions(
    client,
    async (event) => {
      await handler(event);
      events.push(event);
    },
    { queuePrefix: prefix, queueName, concurrency: 50, batchConcurrency: 4, telemetry: false },
  );
  consumer.worker.on('completed', (job) => {
    jobIds.push(job.id ?? '');
  });
  consumer.worker.on('error', () => {
    // connection blips while the test stops Redis; assertions catch real loss
  });
  await consumer.ready();
  const queue = new Queue(queueName, { connection: client, prefix });
  return {
    events,
    jobIds,
    distinct: () => new Set(events.map(expiryKey)).size,
    queued: async () => {
      const jobs = await queue.getJobs(['completed', 'failed', 'active', 'wait', 'delayed']);
      return jobs.reduce(
        (total, job) => total + (isExpiryBatchJobData(job.data) ? job.data.size : 0),
        0,
      );
    },
    close: async () => {
      await consumer.close();
      await queue.close();
      client.disconnect();
    },
  };
}

/** Poll `condition` every 50 ms until it holds; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}
