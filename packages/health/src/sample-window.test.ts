import { describe, expect, it } from 'vitest';
import { SampleWindow, nearestRank } from './sample-window.js';

describe('SampleWindow', () => {
  it('keeps the last `capacity` samples, overwriting the oldest', () => {
    const window = new SampleWindow(3);
    window.push(1, 10, null);
    window.push(2, 20, 'STORAGE_UNAVAILABLE');
    window.push(3, 30, null);
    window.push(4, 40, null); // evicts the sample of duration 10
    window.push(5, 50, 'STORAGE_TIMEOUT'); // evicts the failure of duration 20
    const summary = window.summarise(1_000);
    expect(summary.count).toBe(3);
    expect(window.successCount).toBe(2);
    expect(summary.failuresByCode).toEqual({ STORAGE_TIMEOUT: 1 });
    expect(summary.latencyMs).toEqual({ p50: 40, p95: 50, p99: 50 });
  });

  it('evicts samples recorded before the cutoff, and keeps those at it', () => {
    const window = new SampleWindow(10);
    window.push(100, 1, 'INTERNAL');
    window.push(200, 2, null);
    window.push(300, 3, null);
    window.evictBefore(200);
    expect(window.count).toBe(2);
    expect(window.successCount).toBe(2);
    window.evictBefore(10_000);
    expect(window.count).toBe(0);
    expect(window.summarise(1).successRate).toBeNull();
  });

  it('wraps around the ring many times without losing track', () => {
    const window = new SampleWindow(7);
    for (let i = 1; i <= 1_000; i += 1) window.push(i, i, i % 2 === 0 ? null : 'INTERNAL');
    // Window holds 994..1000: 994, 996, 998, 1000 succeeded.
    expect(window.count).toBe(7);
    expect(window.successCount).toBe(4);
    window.evictBefore(998);
    expect(window.count).toBe(3);
    expect(window.successCount).toBe(2);
    expect(window.summarise(999).slowCount).toBe(1);
  });

  it('applies the success-rate rule only from minSamples on', () => {
    const window = new SampleWindow(100);
    for (let i = 0; i < 4; i += 1) window.push(i, 1, 'STORAGE_UNAVAILABLE');
    expect(window.isFailing(5, 0.8)).toBe(false);
    window.push(5, 1, null);
    expect(window.isFailing(5, 0.8)).toBe(true); // 1/5 < 0.8
    for (let i = 0; i < 15; i += 1) window.push(6, 1, null);
    expect(window.isFailing(5, 0.8)).toBe(false); // 16/20 = 0.8 is not below 0.8
  });

  it('sorts latencies numerically, not as strings', () => {
    const window = new SampleWindow(3);
    window.push(1, 100, null);
    window.push(2, 9, null);
    window.push(3, 20, null);
    expect(window.summarise(1_000).latencyMs).toEqual({ p50: 20, p95: 100, p99: 100 });
  });
});

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
