/** A ratio the project commits to: ours ÷ baseline ≥ min (issue bars). */
export interface Bar {
  readonly ours: string;
  readonly baseline: string;
  readonly min: number;
}

/** The bars from the Redis store issue, measured in every run. */
export const BARS: readonly Bar[] = [
  { ours: 'ours load', baseline: 'raw ioredis GET (auto-pipelined)', min: 0.9 },
  { ours: 'ours load', baseline: 'connect-redis get', min: 1.0 },
  // Instance cache issue: a cached, unchanged session costs no round trip.
  { ours: 'ours load (cached)', baseline: 'raw ioredis GET (auto-pipelined)', min: 3 },
  { ours: 'ours load (cached)', baseline: 'ours load', min: 3 },
  { ours: 'ours patch (1 field, cached store)', baseline: 'ours patch (1 field)', min: 0 },
  { ours: 'ours save (CAS)', baseline: 'raw ioredis SET PX (auto-pipelined)', min: 0.7 },
  { ours: 'ours save (CAS)', baseline: 'connect-redis set', min: 1.0 },
  { ours: 'ours patch (1 field)', baseline: 'raw ioredis SET PX (auto-pipelined)', min: 0 },
  { ours: 'ours touch', baseline: 'raw ioredis SET PX (auto-pipelined)', min: 0 },
  // Issue 21: the sweep leaves user indexes, so an owned touch extends its
  // owner's index TTL (one more round trip): what that costs.
  {
    ours: 'ours touch, owned session (extends the user index)',
    baseline: 'ours touch',
    min: 0,
  },
  {
    ours: 'ours locked update (1 lock node)',
    baseline: 'raw ioredis SET PX (auto-pipelined)',
    min: 0.25,
  },
  {
    ours: 'ours locked update (3 lock nodes)',
    baseline: 'raw ioredis SET PX (auto-pipelined)',
    min: 0,
  },
  // Update issue: an uncontended update costs a load (answered by the
  // instance cache, as createSessionCluster ships it) and a CAS save, no lock.
  {
    ours: "ours manager.update (lock: 'on-conflict', uncontended, instance cache)",
    baseline: 'connect-redis set',
    min: 0.5,
  },
  // The same without the cache: a GET and a CAS save, two round trips.
  {
    ours: "ours manager.update (lock: 'on-conflict', uncontended)",
    baseline: 'connect-redis set',
    min: 0,
  },
  {
    ours: "ours manager.update (lock: 'always', 1 lock node)",
    baseline: 'connect-redis set',
    min: 0,
  },
];

/** One printed ratio row. */
export interface RatioRow {
  readonly ratio: string;
  readonly value: number;
  readonly bar: string;
  readonly verdict: 'meets' | 'below' | 'n/a';
}

/**
 * Ratios for every bar whose two scenarios were measured (`min: 0` =
 * reported, no bar). `bars` defaults to the store bars.
 */
export function ratioRows(
  opsPerSec: ReadonlyMap<string, number>,
  bars: readonly Bar[] = BARS,
): RatioRow[] {
  return bars.flatMap((bar) => {
    const ours = opsPerSec.get(bar.ours);
    const base = opsPerSec.get(bar.baseline);
    if (ours === undefined || base === undefined || base === 0) return [];
    const value = Number((ours / base).toFixed(3));
    return [
      {
        ratio: `${bar.ours} ÷ ${bar.baseline}`,
        value,
        bar: bar.min > 0 ? `≥ ${bar.min}` : '—',
        verdict: bar.min > 0 ? (value >= bar.min ? 'meets' : 'below') : 'n/a',
      },
    ];
  });
}
