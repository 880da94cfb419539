import type { Clock } from '@session-cluster/core';

/**
 * Sessions this instance recently saw contended: their updates conflicted
 * until `update` escalated to the lock. While a session is remembered, its
 * updates take the lock at once instead of paying a failed compare-and-set
 * first (which, on a hot session, is nearly certain to fail again).
 *
 * Per instance and approximate on purpose: forgetting a session too early
 * costs one more failed compare-and-set, remembering it too long costs a
 * lock round trip that was not needed; neither can lose an update (the
 * version check decides). Bounded: past `maxSessions`, the session marked
 * longest ago is forgotten first (a `Map` keeps insertion order, and a
 * session marked again is re-inserted at the end).
 */
export class HotSessions {
  /** Session id → epoch ms (manager clock) until which it counts as hot. */
  private readonly hotUntil = new Map<string, number>();

  /**
   * @param ttlMs how long a mark lasts, ms; 0 turns the memory off
   * @param maxSessions most sessions remembered (≥ 1)
   */
  public constructor(
    private readonly ttlMs: number,
    private readonly maxSessions: number,
    private readonly clock: Clock,
  ) {}

  /** True while `id` was marked less than `ttlMs` ago. Forgets an expired mark. */
  public has(id: string): boolean {
    const until = this.hotUntil.get(id);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.hotUntil.delete(id);
    return false;
  }

  /** Remember `id` as hot for `ttlMs` from now (again, if it already was). */
  public mark(id: string): void {
    if (this.ttlMs === 0) return;
    this.hotUntil.delete(id);
    this.hotUntil.set(id, this.clock.now() + this.ttlMs);
    if (this.hotUntil.size > this.maxSessions) {
      const oldest = this.hotUntil.keys().next();
      if (oldest.done !== true) this.hotUntil.delete(oldest.value);
    }
  }

  /** Sessions remembered, expired marks not yet forgotten included. */
  public get size(): number {
    return this.hotUntil.size;
  }
}
