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
