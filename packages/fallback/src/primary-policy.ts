import {
  CircuitState,
  ConsecutiveBreaker,
  SamplingBreaker,
  circuitBreaker,
  handleWhen,
  wrap,
} from 'cockatiel';
import type { CircuitBreakerPolicy, IBreaker } from 'cockatiel';
import { DeadlinePolicy } from './deadline-policy.js';
import type { ResolvedBreakerOptions } from './fallback-options.js';
import { isStorageFailure } from './storage-failure.js';

/** The breaker's state as reported to listeners (and the health monitor). */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** The policy every primary call runs under, and the breaker and timeout inside it. */
export interface PrimaryPolicy {
  readonly breaker: CircuitBreakerPolicy;
  /** The timeout alone (a partition's calls run under their own breaker, then this). */
  readonly deadline: DeadlinePolicy;
  /** Run `fn` under the breaker and the timeout. */
  readonly execute: <T>(fn: () => PromiseLike<T>) => Promise<T>;
}

function createBreaker(options: ResolvedBreakerOptions): IBreaker {
  switch (options.kind) {
    case 'consecutive':
      return new ConsecutiveBreaker(options.threshold);
    case 'sampling':
      return new SamplingBreaker({
        threshold: options.threshold,
        duration: options.durationMs,
        minimumRps: options.minimumRps,
      });
  }
}

/**
 * `wrap(circuitBreaker(handleWhen(isStorageFailure)), deadline)`: the breaker
 * counts only storage failures (a timed-out call included), and no call
 * waits longer than `timeoutMs` for the primary. The deadline is cockatiel's
 * aggressive timeout without its per-call `AbortController` (see
 * {@link DeadlinePolicy}); the breaker is outermost, so it sees the timeout.
 */
export function createPrimaryPolicy(
  breakerOptions: ResolvedBreakerOptions,
  timeoutMs: number,
): PrimaryPolicy {
  const breaker = createStorageBreaker(breakerOptions);
  const deadline = new DeadlinePolicy(timeoutMs);
  const policy = wrap(breaker, deadline);
  return { breaker, deadline, execute: (fn) => policy.execute(fn) };
}

/**
 * A circuit breaker that counts only storage failures (see
 * {@link isStorageFailure}): the primary's, and one per partition of it.
 */
export function createStorageBreaker(options: ResolvedBreakerOptions): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isStorageFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: createBreaker(options),
  });
}

/** cockatiel's {@link CircuitState} as a {@link BreakerState}. */
export function breakerStateName(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
  }
}
