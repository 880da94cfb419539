import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConcurrentAccessError,
  SessionCorruptedError,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
} from './errors.js';
import {
  DEFAULT_RETRY_OPTIONS,
  createRetryPolicy,
  resolveRetryOptions,
  retryDelayMs,
  retryPolicyOf,
} from './retry-policy.js';
import type { RetryEvent, RetryOptions, RetryPolicyOptions } from './retry-policy.js';

/** A function that throws `failures` in order, then returns 'ok'; counts its calls. */
function failing(...failures: Error[]): { fn: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    fn: () => {
      const failure = failures[calls];
      calls++;
      return failure === undefined ? Promise.resolve('ok') : Promise.reject(failure);
    },
    calls: () => calls,
  };
}

/**
 * Run fake timers until `promise` settles; returns the outcome (never throws)
 * and how much fake time passed.
 */
async function settle<T>(
  promise: Promise<T>,
): Promise<{ value?: T; error?: unknown; elapsedMs: number }> {
  const start = Date.now();
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.runAllTimersAsync();
  return { ...(await outcome), elapsedMs: Date.now() - start };
}

const unavailable = (): StorageUnavailableError => new StorageUnavailableError('redis down');

describe('createRetryPolicy', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries retryable errors with exponential, jittered delays', async () => {
    const events: RetryEvent[] = [];
    // random() = 0 gives the low bound (×0.9), 0.999… the high bound (×1.1).
    for (const [random, expected] of [
      [() => 0, [90, 180]],
      [() => 1 - Number.EPSILON, [110, 220]],
    ] as const) {
      events.length = 0;
      const { fn, calls } = failing(unavailable(), unavailable());
      const policy = createRetryPolicy({
        random,
        operation: 'load',
        onRetry: (e) => events.push(e),
      });
      const outcome = await settle(policy.execute(fn));
      expect(outcome.value).toBe('ok');
      expect(calls()).toBe(3);
      expect(events.map((e) => e.attempt)).toEqual([1, 2]);
      expect(events[0]!.delayMs).toBeCloseTo(expected[0], 6);
      expect(events[1]!.delayMs).toBeCloseTo(expected[1], 6);
      expect(events.every((e) => e.error instanceof StorageUnavailableError)).toBe(true);
      expect(events.every((e) => e.operation === 'load')).toBe(true);
    }
  });

  it('waits the reported delay before each retry', async () => {
    const { fn, calls } = failing(unavailable(), unavailable());
    const policy = createRetryPolicy({ random: () => 0.5 }); // exactly 100 then 200
    const promise = policy.execute(fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls()).toBe(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(calls()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls()).toBe(3);
    await expect(promise).resolves.toBe('ok');
  });

  it('keeps Math.random jitter within bounds', async () => {
    const events: RetryEvent[] = [];
    const policy = createRetryPolicy({ maxAttempts: 4, onRetry: (e) => events.push(e) });
    for (let run = 0; run < 50; run++) {
      const { fn } = failing(unavailable(), unavailable(), unavailable());
      expect((await settle(policy.execute(fn))).value).toBe('ok');
    }
    expect(events).toHaveLength(150);
    for (const { attempt, delayMs } of events) {
      const nominal = 100 * 2 ** (attempt - 1);
      expect(delayMs).toBeGreaterThanOrEqual(nominal * 0.9);
      expect(delayMs).toBeLessThanOrEqual(nominal * 1.1);
    }
    // Jitter actually varies the delays.
    expect(new Set(events.map((e) => e.delayMs)).size).toBeGreaterThan(10);
  });

  it('gives up after maxAttempts calls and rethrows the last error', async () => {
    const errors = [1, 2, 3, 4].map((n) => new StorageUnavailableError(`down ${n}`));
    const { fn, calls } = failing(...errors);
    const onRetry = vi.fn();
    const outcome = await settle(createRetryPolicy({ onRetry }).execute(fn));
    expect(calls()).toBe(3);
    expect(outcome.error).toBe(errors[2]);
    expect(onRetry).toHaveBeenCalledTimes(2);
  });

  it('retryPolicyOf runs already-resolved options as given, with the hooks', async () => {
    const errors = [1, 2, 3].map((n) => new StorageUnavailableError(`down ${n}`));
    const { fn, calls } = failing(...errors);
    const events: RetryEvent[] = [];
    const resolved = resolveRetryOptions(DEFAULT_RETRY_OPTIONS, { maxAttempts: 2 });
    const policy = retryPolicyOf(resolved, { operation: 'load', onRetry: (e) => events.push(e) });
    const outcome = await settle(policy.execute(fn));
    expect(calls()).toBe(2);
    expect(outcome.error).toBe(errors[1]);
    expect(events.map((e) => [e.attempt, e.operation])).toEqual([[1, 'load']]);
  });

  it('makes exactly one call when maxAttempts is 1', async () => {
    const { fn, calls } = failing(unavailable());
    const outcome = await settle(createRetryPolicy({ maxAttempts: 1 }).execute(fn));
    expect(calls()).toBe(1);
    expect(outcome.error).toBeInstanceOf(StorageUnavailableError);
  });

  it.each([
    ['not found', new SessionNotFoundError()],
    ['validation', new SessionValidationError('bad')],
    ['corrupted', new SessionCorruptedError()],
    ['already exists', new ConcurrentAccessError('already_exists', 'taken')],
    ['a plain Error', new Error('boom')],
  ])('does not retry %s', async (_what, error) => {
    const { fn, calls } = failing(error);
    const onRetry = vi.fn();
    const outcome = await settle(createRetryPolicy({ onRetry }).execute(fn));
    expect(outcome.error).toBe(error);
    expect(calls()).toBe(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('retries concurrency errors that are retryable', async () => {
    const { fn, calls } = failing(
      new ConcurrentAccessError('version_conflict', 'stale'),
      new ConcurrentAccessError('lock_not_acquired', 'busy'),
    );
    expect((await settle(createRetryPolicy().execute(fn))).value).toBe('ok');
    expect(calls()).toBe(3);
  });

  it('caps every delay at maxDelayMs, jitter included', async () => {
    const events: RetryEvent[] = [];
    const policy = createRetryPolicy({
      maxAttempts: 6,
      baseDelayMs: 100,
      multiplier: 3,
      maxDelayMs: 1000,
      random: () => 1 - Number.EPSILON,
      onRetry: (e) => events.push(e),
    });
    const { fn } = failing(...Array.from({ length: 5 }, unavailable));
    const outcome = await settle(policy.execute(fn));
    expect(outcome.value).toBe('ok');
    expect(events.map((e) => Math.round(e.delayMs))).toEqual([110, 330, 990, 1000, 1000]);
    expect(outcome.elapsedMs).toBeLessThanOrEqual(110 + 330 + 990 + 1000 + 1000 + 10);
  });

  it('applies a per-operation override on top of the defaults', async () => {
    const base = resolveRetryOptions(DEFAULT_RETRY_OPTIONS, { baseDelayMs: 10 });
    const forUpdate = resolveRetryOptions(base, { maxAttempts: 5 }, 'retry.operations.update');
    expect(forUpdate).toEqual({ ...DEFAULT_RETRY_OPTIONS, baseDelayMs: 10, maxAttempts: 5 });
    const events: RetryEvent[] = [];
    const { fn, calls } = failing(...Array.from({ length: 10 }, unavailable));
    const policy = createRetryPolicy({ ...forUpdate, jitter: 0, onRetry: (e) => events.push(e) });
    const outcome = await settle(policy.execute(fn));
    expect(outcome.error).toBeInstanceOf(StorageUnavailableError);
    expect(calls()).toBe(5);
    expect(events.map((e) => e.delayMs)).toEqual([10, 20, 40, 80]);
    expect(events.every((e) => e.operation === undefined)).toBe(true);
  });

  it('rejects invalid options at creation', () => {
    expect(() => createRetryPolicy({ maxAttempts: 0 })).toThrow(SessionValidationError);
    const misspelt = { maxAtempts: 5 } as RetryPolicyOptions;
    expect(() => createRetryPolicy(misspelt)).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', field: 'retry.maxAtempts' }) as Error,
    );
  });
});

describe('resolveRetryOptions', () => {
  it('keeps the base for missing or undefined overrides and does not mutate it', () => {
    expect(resolveRetryOptions(DEFAULT_RETRY_OPTIONS)).toEqual(DEFAULT_RETRY_OPTIONS);
    expect(resolveRetryOptions(DEFAULT_RETRY_OPTIONS, { jitter: undefined })).toEqual(
      DEFAULT_RETRY_OPTIONS,
    );
    expect(Object.isFrozen(DEFAULT_RETRY_OPTIONS)).toBe(true);
    expect(DEFAULT_RETRY_OPTIONS).toEqual({
      maxAttempts: 3,
      baseDelayMs: 100,
      maxDelayMs: 5000,
      multiplier: 2,
      jitter: 0.1,
    });
  });

  it.each<[string, Partial<RetryOptions>]>([
    ['maxAttempts', { maxAttempts: 0 }],
    ['maxAttempts', { maxAttempts: 2.5 }],
    ['maxAttempts', { maxAttempts: Number.NaN }],
    ['baseDelayMs', { baseDelayMs: -1 }],
    ['maxDelayMs', { maxDelayMs: Number.POSITIVE_INFINITY }],
    ['multiplier', { multiplier: 0.5 }],
    ['jitter', { jitter: -0.1 }],
    ['jitter', { jitter: 1.5 }],
    ['jitter', { jitter: '0.1' as unknown as number }],
  ])('rejects a bad %s as INVALID_CONFIG naming the field', (field, override) => {
    let error: unknown;
    try {
      resolveRetryOptions(DEFAULT_RETRY_OPTIONS, override, 'retry.operations.load');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).field).toBe(`retry.operations.load.${field}`);
  });

  it('accepts the edges of every range', () => {
    const edges = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, multiplier: 1, jitter: 1 };
    expect(resolveRetryOptions(DEFAULT_RETRY_OPTIONS, edges)).toEqual(edges);
  });
});

describe('retryDelayMs', () => {
  const options: RetryOptions = { ...DEFAULT_RETRY_OPTIONS };

  it('grows by the multiplier and is centred on the nominal delay', () => {
    expect(retryDelayMs(options, 1, () => 0.5)).toBe(100);
    expect(retryDelayMs(options, 2, () => 0.5)).toBe(200);
    expect(retryDelayMs(options, 3, () => 0)).toBeCloseTo(360, 6);
  });

  it('stays finite for huge retry numbers and a zero base', () => {
    expect(retryDelayMs(options, 10_000, () => 0.5)).toBe(5000);
    const zero = { ...options, baseDelayMs: 0, jitter: 1 };
    expect(retryDelayMs(zero, 10_000, () => 0)).toBe(0);
  });
});
