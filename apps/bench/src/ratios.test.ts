import { describe, expect, it, vi } from 'vitest';
import { ratioRows, reportRatios } from './ratios.js';

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

describe('reportRatios', () => {
  it('takes the medians of the rounds, and prints every row without its per-round list', () => {
    const table = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const rounds = new Map([
        ['ours set', [900, 1_300, 1_200]],
        ['theirs set', [1_000, 1_000, 1_100]],
      ]);
      const [row] = reportRatios('Set ratios', rounds, BARS);
      // Medians 1 200 and 1 000.
      expect(row).toMatchObject({ value: 1.2, verdict: 'meets', perRound: [0.9, 1.3, 1.091] });
      expect(log).toHaveBeenCalledWith(expect.stringMatching(/^Set ratios \(same run/));
      expect(table).toHaveBeenCalledWith([
        {
          ratio: 'ours set ÷ theirs set',
          value: 1.2,
          bar: '≥ 1.1',
          verdict: 'meets',
          rounds: '1/3 ≥ bar, 0.90–1.30',
        },
      ]);
    } finally {
      table.mockRestore();
      log.mockRestore();
    }
  });
});
