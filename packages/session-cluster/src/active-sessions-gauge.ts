import { INSTRUMENTATION_SCOPE } from '@session-cluster/core';
import { RedisKeys } from '@session-cluster/store-redis';
import type { RedisStore } from '@session-cluster/store-redis';
import type { MeterProvider, ObservableCallback } from '@opentelemetry/api';
import type { OtelApi } from './otel-api.js';

/** Gauge: live sessions (as counted by the store that is asked). */
export const METRIC_SESSION_ACTIVE = 'session.active';

/**
 * Live sessions in the store's Redis: the members of every expiry bucket
 * whose expiry lies after `now` (`ZCOUNT exp (now +inf`, one per bucket,
 * each its own slot, so this works on Redis Cluster too).
 */
export async function countLiveSessions(store: RedisStore, now: number): Promise<number> {
  const keys = new RedisKeys(store.prefix, store.bucketCount);
  const counts = await Promise.all(
    Array.from({ length: keys.buckets }, (_, bucket) =>
      store.client.zcount(keys.expiryBucket(bucket), `(${now}`, '+inf'),
    ),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * Observe `session.active` for `store` at each metric collection. A
 * collection while Redis is down observes nothing (no value beats a wrong
 * zero). Returns the unsubscribe.
 */
export function observeActiveSessions(
  api: OtelApi,
  store: RedisStore,
  meterProvider: MeterProvider | undefined,
): () => void {
  const gauge = (meterProvider ?? api.metrics.getMeterProvider())
    .getMeter(INSTRUMENTATION_SCOPE)
    .createObservableGauge(METRIC_SESSION_ACTIVE, {
      description: 'Live sessions in Redis (global: every instance reports the same count)',
      unit: '{session}',
    });
  const observe: ObservableCallback = async (result) => {
    try {
      result.observe(await countLiveSessions(store, Date.now()));
    } catch {
      // Redis unavailable: skip this collection.
    }
  };
  gauge.addCallback(observe);
  return () => {
    gauge.removeCallback(observe);
  };
}
