import { INSTRUMENTATION_SCOPE } from '@session-cluster/core';
import type { OtelApi } from './otel-api.js';
import type { RedisStore, SessionCacheStats } from '@session-cluster/store-redis';
import type { BatchObservableCallback, MeterProvider } from '@opentelemetry/api';

/** Loads the instance cache answered (observable counter, per instance). */
export const METRIC_SESSION_CACHE_HITS = 'session.cache.hits';
/** Loads that went to Redis while the instance cache was on (observable counter). */
export const METRIC_SESSION_CACHE_MISSES = 'session.cache.misses';
/** Cached sessions invalidated by Redis (another writer; observable counter). */
export const METRIC_SESSION_CACHE_INVALIDATIONS = 'session.cache.invalidations';
/** Sessions in the instance cache (observable gauge). */
export const METRIC_SESSION_CACHE_ENTRIES = 'session.cache.entries';
/** Bytes (stored frame lengths) in the instance cache (observable gauge). */
export const METRIC_SESSION_CACHE_BYTES = 'session.cache.bytes';
/**
 * Bytes of the copies the instance cache set aside for an outage fallback
 * (observable gauge; bounded by the cache's `maxBytes` on its own).
 */
export const METRIC_SESSION_CACHE_RETAINED_BYTES = 'session.cache.retained.bytes';
/**
 * Bytes of values of own parallel patches the instance cache keeps as steps
 * (observable gauge; bounded by the cache's `maxBytes` on its own).
 */
export const METRIC_SESSION_CACHE_STEP_BYTES = 'session.cache.steps.bytes';

/**
 * Observe the instance cache of `store` at each metric collection: hits,
 * misses and invalidations (counters since start), entries and the bytes of
 * its live copies, of the copies set aside and of patch steps (gauges). Per
 * instance: aggregate with sum. Returns the unsubscribe.
 */
export function observeCache(
  api: OtelApi,
  store: RedisStore,
  meterProvider: MeterProvider | undefined,
): () => void {
  const meter = (meterProvider ?? api.metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE);
  const counter = (name: string, description: string) =>
    meter.createObservableCounter(name, { description, unit: '{session}' });
  const hits = counter(METRIC_SESSION_CACHE_HITS, 'Loads answered by the instance cache');
  const misses = counter(METRIC_SESSION_CACHE_MISSES, 'Loads the instance cache sent to Redis');
  const invalidations = counter(
    METRIC_SESSION_CACHE_INVALIDATIONS,
    'Cached sessions invalidated by Redis (written by another instance)',
  );
  const entries = meter.createObservableGauge(METRIC_SESSION_CACHE_ENTRIES, {
    description: 'Sessions in the instance cache',
    unit: '{session}',
  });
  const gauge = (name: string, description: string) =>
    meter.createObservableGauge(name, { description, unit: 'By' });
  const bytes = gauge(METRIC_SESSION_CACHE_BYTES, 'Stored frame bytes held by the instance cache');
  const retainedBytes = gauge(
    METRIC_SESSION_CACHE_RETAINED_BYTES,
    'Bytes of the copies the instance cache set aside for an outage fallback',
  );
  const stepBytes = gauge(
    METRIC_SESSION_CACHE_STEP_BYTES,
    'Bytes of own parallel patches the instance cache keeps as steps',
  );
  const observe: BatchObservableCallback = (result) => {
    const stats: SessionCacheStats | undefined = store.cacheStats();
    if (stats === undefined) return;
    result.observe(hits, stats.hits);
    result.observe(misses, stats.misses);
    result.observe(invalidations, stats.invalidations);
    result.observe(entries, stats.entries);
    result.observe(bytes, stats.bytes);
    result.observe(retainedBytes, stats.retainedBytes);
    result.observe(stepBytes, stats.stepBytes);
  };
  const observables = [hits, misses, invalidations, entries, bytes, retainedBytes, stepBytes];
  meter.addBatchObservableCallback(observe, observables);
  return () => {
    meter.removeBatchObservableCallback(observe, observables);
  };
}
