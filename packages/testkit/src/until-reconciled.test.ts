import { describe, expect, it } from 'vitest';
import { untilReconciled } from './until-reconciled.js';

describe('untilReconciled', () => {
  it('answers false at once without a fallback, or with one that never degraded', async () => {
    expect(await untilReconciled(undefined)).toBe(false);
    expect(await untilReconciled({ degraded: false, pendingReconciliation: 0 })).toBe(false);
  });

  it('waits out the degraded spell and then the write-back', async () => {
    const fallback = { degraded: true, pendingReconciliation: 3 };
    setTimeout(() => (fallback.degraded = false), 30);
    setTimeout(() => (fallback.pendingReconciliation = 0), 60);
    const started = performance.now();
    expect(await untilReconciled(fallback)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('throws when the write-back does not come within the limit', async () => {
    await expect(
      untilReconciled({ degraded: false, pendingReconciliation: 1 }, 40),
    ).rejects.toThrow('not reconciled within 40 ms');
  });
});
