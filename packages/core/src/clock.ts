/**
 * Time source. Every TTL, expiry and backoff decision reads the clock through
 * this interface, so tests drive time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told to: for TTL tests against real stores.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(1_700_000_000_000);
 * clock.advance(30_000);
 * ```
 */
export class ManualClock implements Clock {
  private current: number;

  public constructor(start: number = Date.now()) {
    this.current = start;
  }

  public now(): number {
    return this.current;
  }

  /** Move forward by `ms` (must be ≥ 0: time does not run backwards). */
  public advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(${ms}): expected ms >= 0`);
    this.current += ms;
  }

  /** Jump to an absolute time. */
  public set(epochMs: number): void {
    this.current = epochMs;
  }
}
