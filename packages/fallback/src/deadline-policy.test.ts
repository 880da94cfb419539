import { TaskCancelledError } from 'cockatiel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlinePolicy } from './deadline-policy.js';
import { isTaskCancelled } from './storage-failure.js';

describe('DeadlinePolicy', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes a result or an error through and leaves no timer behind', async () => {
    const policy = new DeadlinePolicy(100);
    await expect(policy.execute(() => Promise.resolve(42))).resolves.toBe(42);
    await expect(policy.execute(() => 7)).resolves.toBe(7);
    const boom = new Error('boom');
    await expect(policy.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with TaskCancelledError after durationMs even if the call never settles', async () => {
    const policy = new DeadlinePolicy(100);
    const timeouts: unknown[] = [];
    const failures: unknown[] = [];
    policy.onTimeout(() => timeouts.push('timeout'));
    policy.onFailure((event) => failures.push(event.reason));
    const outcome = policy
      .execute(() => new Promise<never>(() => undefined))
      .catch((e: unknown) => e);

    await vi.advanceTimersByTimeAsync(99);
    expect(timeouts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect(isTaskCancelled(error)).toBe(true);
    expect(timeouts).toEqual(['timeout']);
    expect(failures).toEqual([{ error }]);
  });

  it('a late answer after the deadline changes nothing', async () => {
    const policy = new DeadlinePolicy(10);
    let answer: (value: string) => void = () => undefined;
    const successes: unknown[] = [];
    policy.onSuccess((event) => successes.push(event));
    const outcome = policy
      .execute(() => new Promise<string>((resolve) => (answer = resolve)))
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    answer('late');
    expect(await outcome).toBeInstanceOf(TaskCancelledError);
    expect(successes).toEqual([]);
  });

  it('hands the caller signal to the function', async () => {
    const policy = new DeadlinePolicy(10);
    const controller = new AbortController();
    const seen = await policy.execute(({ signal }) => signal, controller.signal);
    expect(seen).toBe(controller.signal);
  });
});
