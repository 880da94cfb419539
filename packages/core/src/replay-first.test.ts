import { describe, expect, it } from 'vitest';
import { StorageUnavailableError } from './errors.js';
import { createRetryPolicy } from './retry-policy.js';
import type { RetryEvent } from './retry-policy.js';
import { replayFirst } from './replay-first.js';

describe('replayFirst', () => {
  it('lets the policy treat a failure that already happened as its first attempt', async () => {
    const events: RetryEvent[] = [];
    const policy = createRetryPolicy({
      maxAttempts: 3,
      baseDelayMs: 0,
      onRetry: (event) => events.push(event),
    });
    const first = new StorageUnavailableError('first');
    let calls = 0;
    const result = await policy.execute(
      replayFirst(first, () => {
        calls += 1;
        return Promise.resolve('second call');
      }),
    );
    expect(result).toBe('second call');
    expect(calls).toBe(1);
    expect(events.map((e) => [e.attempt, e.error])).toEqual([[1, first]]);
  });

  it('counts the replayed failure against maxAttempts', async () => {
    const policy = createRetryPolicy({ maxAttempts: 2, baseDelayMs: 0 });
    let calls = 0;
    const last = new StorageUnavailableError('again');
    await expect(
      policy.execute(
        replayFirst(new StorageUnavailableError('first'), () => {
          calls += 1;
          return Promise.reject(last);
        }),
      ),
    ).rejects.toBe(last);
    expect(calls).toBe(1);
  });
});
