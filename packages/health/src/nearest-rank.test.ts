import { describe, expect, it } from 'vitest';
import { nearestRank } from './nearest-rank.js';

describe('nearestRank', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks sorted[ceil(p/100 · n) − 1]', () => {
    expect(nearestRank(oneToHundred, 50)).toBe(50);
    expect(nearestRank(oneToHundred, 95)).toBe(95);
    expect(nearestRank(oneToHundred, 99)).toBe(99);
    expect(nearestRank(oneToHundred, 100)).toBe(100);
    // n = 20: p95 → rank 19, p99 → rank ceil(19.8) = 20.
    const twenty = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73];
    expect(nearestRank(twenty, 50)).toBe(31);
    expect(nearestRank(twenty, 95)).toBe(71);
    expect(nearestRank(twenty, 99)).toBe(73);
  });

  it('returns an observed value, never an interpolation', () => {
    expect(nearestRank([10, 1_000], 50)).toBe(10);
    expect(nearestRank([10, 1_000], 51)).toBe(1_000);
    expect(nearestRank([42], 1)).toBe(42);
  });

  it('is null for an empty input', () => {
    expect(nearestRank([], 50)).toBeNull();
    expect(nearestRank(new Float64Array(0), 99)).toBeNull();
  });
});
