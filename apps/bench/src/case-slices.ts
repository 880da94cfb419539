/** What one HTTP case measured on one server: one run, or a round's slices combined. */
export interface CaseResult {
  readonly reqPerSec: number;
  /** Requests answered, and the seconds the load ran. */
  readonly requests: number;
  readonly seconds: number;
  /** CPU the app's process spent per answered request, µs (`null` without `/proc`). */
  readonly appCpuMicros: number | null;
  /** CPU Redis spent per answered request, µs (`null` when `INFO cpu` said nothing). */
  readonly redisCpuMicros: number | null;
  readonly non2xx: number;
  readonly errors: number;
  readonly lostUpdates: number | null;
  readonly slots: number | null;
}

/**
 * A server's slices of one case in a round as one run: its rate is every
 * request over every second (the slices' time-weighted mean), its CPU per
 * request weighted by requests, its counts summed.
 */
export function combinedSlices(slices: readonly CaseResult[]): CaseResult {
  const sum = (pick: (slice: CaseResult) => number): number =>
    slices.reduce((total, slice) => total + pick(slice), 0);
  const requests = sum((slice) => slice.requests);
  const seconds = sum((slice) => slice.seconds);
  const perRequest = (pick: (slice: CaseResult) => number | null): number | null =>
    requests === 0 || slices.some((slice) => pick(slice) === null)
      ? null
      : Math.round((sum((slice) => (pick(slice) ?? 0) * slice.requests) / requests) * 10) / 10;
  const counted = (pick: (slice: CaseResult) => number | null): number | null =>
    slices.every((slice) => pick(slice) === null) ? null : sum((slice) => pick(slice) ?? 0);
  return {
    reqPerSec: seconds > 0 ? requests / seconds : 0,
    requests,
    seconds,
    appCpuMicros: perRequest((slice) => slice.appCpuMicros),
    redisCpuMicros: perRequest((slice) => slice.redisCpuMicros),
    non2xx: sum((slice) => slice.non2xx),
    errors: sum((slice) => slice.errors),
    lostUpdates: counted((slice) => slice.lostUpdates),
    slots: counted((slice) => slice.slots),
  };
}
