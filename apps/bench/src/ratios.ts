import { median } from './load-runner.js';

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
  /**
   * The same ratio in each round (ours ÷ baseline measured minutes apart in
   * that round), when rounds were kept: how far a run's noise moves it. The
   * verdict is the median's; a bar met by the median but not by most
   * rounds is not met robustly.
   */
  readonly perRound?: readonly number[];
  /** {@link perRound} summed up for the table: `3/5 ≥ bar, 0.91–1.18` (the spread alone without a bar). */
  readonly rounds?: string;
}

/**
 * Ratios for every bar whose two scenarios were measured (`min: 0` =
 * reported, no bar). `bars` defaults to the store bars. With `rounds` (each
 * scenario's rate in every round, in round order), each row also carries
 * its {@link RatioRow.perRound} ratios.
 */
export function ratioRows(
  opsPerSec: ReadonlyMap<string, number>,
  bars: readonly Bar[] = BARS,
  rounds?: ReadonlyMap<string, readonly number[]>,
): RatioRow[] {
  return bars.flatMap((bar) => {
    const ours = opsPerSec.get(bar.ours);
    const base = opsPerSec.get(bar.baseline);
    if (ours === undefined || base === undefined || base === 0) return [];
    const value = Number((ours / base).toFixed(3));
    const perRound = roundRatios(rounds?.get(bar.ours), rounds?.get(bar.baseline));
    return [
      {
        ratio: `${bar.ours} ÷ ${bar.baseline}`,
        value,
        bar: bar.min > 0 ? `≥ ${bar.min}` : '—',
        verdict: bar.min > 0 ? (value >= bar.min ? 'meets' : 'below') : 'n/a',
        ...(perRound === undefined ? {} : { perRound, rounds: roundSpread(perRound, bar.min) }),
      },
    ];
  });
}

/** Round by round, `ours[i] ÷ baseline[i]`; `undefined` unless both ran the same rounds. */
function roundRatios(
  ours: readonly number[] | undefined,
  baseline: readonly number[] | undefined,
): number[] | undefined {
  if (ours === undefined || baseline?.length !== ours.length || baseline.includes(0)) {
    return undefined;
  }
  return ours.map((rate, i) => Number((rate / (baseline[i] ?? Number.NaN)).toFixed(3)));
}

/** How many `rounds` meet the bar `min`, and their spread (see {@link RatioRow.rounds}). */
function roundSpread(rounds: readonly number[], min: number): string {
  const spread = `${Math.min(...rounds).toFixed(2)}–${Math.max(...rounds).toFixed(2)}`;
  if (min <= 0) return spread;
  return `${rounds.filter((ratio) => ratio >= min).length}/${rounds.length} ≥ bar, ${spread}`;
}

/**
 * The ratios of `bars` from each scenario's rate in every round (round
 * order): ratios of the medians, with each round's own ratio beside them,
 * printed as a table under `title` (the per-round figures go to the JSON).
 */
export function reportRatios(
  title: string,
  rounds: ReadonlyMap<string, readonly number[]>,
  bars: readonly Bar[],
): RatioRow[] {
  const medians = new Map([...rounds].map(([name, rates]) => [name, Math.round(median(rates))]));
  const ratios = ratioRows(medians, bars, rounds);
  console.log(`${title} (same run: medians of rates; rounds: each round's own ratio)`);
  console.table(ratios.map(({ perRound: _, ...row }) => row));
  return ratios;
}
