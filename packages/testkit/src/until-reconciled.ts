import { setTimeout as delay } from 'node:timers/promises';

/** What {@link untilReconciled} watches: a `FallbackStore` (`cluster.fallback`). */
export interface ReconcilingStore {
  /** True while some calls are served by the in-memory secondary. */
  readonly degraded: boolean;
  /** Writes made while degraded and not yet written back to Redis. */
  readonly pendingReconciliation: number;
}

/**
 * Wait (polling every 10 ms) until `fallback` serves from Redis again with
 * every write made while degraded written back; at once when it never
 * degraded, or when there is no fallback. For a test that asserts what
 * Redis ends up holding after a burst: on a loaded CI machine a burst can
 * exceed the fallback's deadline, and while degraded a read is served from
 * this instance's memory, not from Redis (other instances' writes show
 * after the write-back), so the assertion belongs after it.
 *
 * @returns whether the fallback was degraded or had writes pending when called
 * @throws Error when that has not happened within `withinMs`
 */
export async function untilReconciled(
  fallback: ReconcilingStore | undefined,
  withinMs = 30_000,
): Promise<boolean> {
  const settled = (): boolean =>
    fallback === undefined || (!fallback.degraded && fallback.pendingReconciliation === 0);
  if (settled()) return false;
  const deadline = performance.now() + withinMs;
  while (!settled()) {
    if (performance.now() > deadline) {
      throw new Error(`the fallback was not reconciled within ${withinMs} ms`);
    }
    await delay(10);
  }
  return true;
}
