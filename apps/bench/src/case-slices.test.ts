import { describe, expect, it } from 'vitest';
import { combinedSlices } from './case-slices.js';
import type { CaseResult } from './case-slices.js';

function slice(requests: number, seconds: number, extra: Partial<CaseResult> = {}): CaseResult {
  return {
    reqPerSec: requests / seconds,
    requests,
    seconds,
    appCpuMicros: 10,
    redisCpuMicros: null,
    non2xx: 0,
    errors: 0,
    lostUpdates: null,
    slots: null,
    ...extra,
  };
}

describe('combinedSlices', () => {
  it('rates every request over every second, not the mean of the slices’ rates', () => {
    // 1 000 req/s for 1 s and 3 000 req/s for 1 s: 2 000 req/s; a slow slice
    // that ran 2 s weighs twice.
    expect(combinedSlices([slice(1_000, 1), slice(3_000, 1)]).reqPerSec).toBe(2_000);
    expect(combinedSlices([slice(1_000, 2), slice(3_000, 1)]).reqPerSec).toBeCloseTo(4_000 / 3);
  });

  it('weighs CPU per request by requests and sums the counts', () => {
    const combined = combinedSlices([
      slice(1_000, 1, { appCpuMicros: 20, non2xx: 1, lostUpdates: 0, slots: 50 }),
      slice(3_000, 1, { appCpuMicros: 40, errors: 2, lostUpdates: 3, slots: 50 }),
    ]);
    expect(combinedSlices([slice(3_000, 1)]).appCpuMicros).toBe(10);
    expect(combined).toMatchObject({
      requests: 4_000,
      seconds: 2,
      appCpuMicros: 35,
      non2xx: 1,
      errors: 2,
      lostUpdates: 3,
      slots: 100,
    });
  });

  it('has no CPU figure when a slice had none, and no counts nobody counted', () => {
    const combined = combinedSlices([slice(10, 1), slice(10, 1, { appCpuMicros: null })]);
    expect(combined.appCpuMicros).toBeNull();
    expect(combined.redisCpuMicros).toBeNull();
    expect(combined.lostUpdates).toBeNull();
    expect(combinedSlices([]).reqPerSec).toBe(0);
  });
});
