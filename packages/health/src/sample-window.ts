import type { SessionErrorCode } from '@session-cluster/core';
import type { LastErrorReport, OperationHealth } from './health-report.js';

/**
 * A rolling window of operation samples: a fixed-capacity ring buffer in
 * parallel typed arrays, oldest at `head`.
 *
 * **Cost.** `push` is O(1) (it overwrites the oldest sample when full);
 * `evictBefore` is O(1) amortised, since each sample is evicted at most
 * once. Nothing is sorted or aggregated on the hot path except the success
 * count, which the status rule needs after every sample; `summarise` does
 * the O(n log n) work (quantiles, counts by code) when a report is asked for.
 *
 * Samples are assumed to arrive in clock order. If the clock steps back,
 * time eviction stops at the first sample that is still fresh, so an older
 * sample behind it may stay until pushed out by count: a bounded inaccuracy.
 */
export class SampleWindow {
  private readonly capacity: number;
  private readonly times: Float64Array;
  private readonly durations: Float64Array;
  /** `null` for a success, the error code for a failure. */
  private readonly codes: (SessionErrorCode | null)[];
  private head = 0;
  private length = 0;
  private successes = 0;
  /** Not windowed: the most recent failure ever recorded here. */
  private lastFailure: LastErrorReport | null = null;

  public constructor(capacity: number) {
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.durations = new Float64Array(capacity);
    this.codes = new Array<SessionErrorCode | null>(capacity).fill(null);
  }

  /** Samples currently in the window. */
  public get count(): number {
    return this.length;
  }

  /** Successful samples currently in the window. */
  public get successCount(): number {
    return this.successes;
  }

  /** Add a sample, dropping the oldest when the window is full. */
  public push(at: number, durationMs: number, code: SessionErrorCode | null): void {
    if (this.length === this.capacity) this.dropOldest();
    let index = this.head + this.length;
    if (index >= this.capacity) index -= this.capacity;
    this.times[index] = at;
    this.durations[index] = durationMs;
    this.codes[index] = code;
    this.length += 1;
    if (code === null) this.successes += 1;
  }

  /** Remember a failure as the window's last error (survives eviction of its sample). */
  public noteFailure(error: LastErrorReport): void {
    this.lastFailure = error;
  }

  /** Drop samples recorded before `cutoff` (epoch ms), oldest first. */
  public evictBefore(cutoff: number): void {
    while (this.length > 0 && (this.times[this.head] ?? cutoff) < cutoff) this.dropOldest();
  }

  /**
   * True when the window has at least `minSamples` samples and its success
   * rate is below `threshold`: the rule that makes the status `unhealthy`.
   */
  public isFailing(minSamples: number, threshold: number): boolean {
    // successes / length < threshold, without dividing.
    return this.length >= minSamples && this.successes < threshold * this.length;
  }

  /** Statistics over the samples in the window (call {@link evictBefore} first). */
  public summarise(slowThresholdMs: number): OperationHealth {
    const n = this.length;
    const sorted = new Float64Array(n);
    const byCode = new Map<SessionErrorCode, number>();
    let slowCount = 0;
    let index = this.head;
    for (let i = 0; i < n; i += 1) {
      const duration = this.durations[index] ?? 0;
      sorted[i] = duration;
      if (duration > slowThresholdMs) slowCount += 1;
      const code = this.codes[index] ?? null;
      if (code !== null) byCode.set(code, (byCode.get(code) ?? 0) + 1);
      index += 1;
      if (index === this.capacity) index = 0;
    }
    // Float64Array#sort is numeric, unlike Array#sort's string order.
    sorted.sort();
    const failuresByCode: Partial<Record<SessionErrorCode, number>> = {};
    for (const code of [...byCode.keys()].sort()) failuresByCode[code] = byCode.get(code);
    return {
      count: n,
      successRate: n === 0 ? null : this.successes / n,
      failures: n - this.successes,
      failuresByCode,
      latencyMs: {
        p50: nearestRank(sorted, 50),
        p95: nearestRank(sorted, 95),
        p99: nearestRank(sorted, 99),
      },
      slowCount,
      lastError: this.lastFailure === null ? null : { ...this.lastFailure },
    };
  }

  private dropOldest(): void {
    if (this.codes[this.head] === null) this.successes -= 1;
    this.head += 1;
    if (this.head === this.capacity) this.head = 0;
    this.length -= 1;
  }
}

/**
 * The `p`-th percentile of `sorted` (ascending) by the nearest-rank method:
 * the smallest value such that at least p % of the values are ≤ it, i.e.
 * `sorted[ceil(p / 100 · n) − 1]`. Always one of the observed values, never
 * an interpolation, so a report can be checked by hand.
 *
 * @param sorted values in ascending order
 * @param p percentile in (0, 100]
 * @returns `null` for an empty input
 */
export function nearestRank(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] ?? null;
}
