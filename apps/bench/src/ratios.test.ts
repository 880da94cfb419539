import { describe, expect, it } from 'vitest';
import { ratioRows } from './ratios.js';

const BARS = [
  { ours: 'ours set', baseline: 'theirs set', min: 1.1 },
  { ours: 'floor set', baseline: 'theirs set', min: 0 },
];

describe('ratioRows', () => {
  it('gives each bar its ratio of medians, and each round its own ratio beside it', () => {
    const medians = new Map([
      ['ours set', 1_150],
      ['theirs set', 1_000],
      ['floor set', 900],
    ]);
    const rounds = new Map([
      ['ours set', [1_150, 1_000, 1_300]],
      ['theirs set', [1_000, 1_000, 1_000]],
      ['floor set', [900, 950, 800]],
    ]);
    const [ours, floor] = ratioRows(medians, BARS, rounds);
    // The verdict stays the median's; the rounds say how much of it is noise.
    expect(ours).toEqual({
      ratio: 'ours set ÷ theirs set',
      value: 1.15,
      bar: '≥ 1.1',
      verdict: 'meets',
      perRound: [1.15, 1, 1.3],
      rounds: '2/3 ≥ bar, 1.00–1.30',
    });
    expect(floor?.perRound).toEqual([0.9, 0.95, 0.8]);
    expect(floor?.rounds).toBe('0.80–0.95');
  });

  it('leaves the rounds out when the two sides did not run the same rounds', () => {
    const medians = new Map([
      ['ours set', 1_200],
      ['theirs set', 1_000],
    ]);
    const rounds = new Map([
      ['ours set', [1_200, 1_200]],
      ['theirs set', [1_000]],
    ]);
    const [row] = ratioRows(medians, BARS, rounds);
    expect(row?.value).toBe(1.2);
    expect(row).not.toHaveProperty('perRound');
    expect(row).not.toHaveProperty('rounds');
    expect(ratioRows(medians, BARS)[0]).not.toHaveProperty('perRound');
  });
});
