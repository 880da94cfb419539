import { describe, expect, it } from 'vitest';
import { SampleWindow } from './sample-window.js';

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
