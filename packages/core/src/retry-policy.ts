import { handleWhen, retry } from 'cockatiel';
import type { IBackoff, IBackoffFactory, IRetryBackoffContext, RetryPolicy } from 'cockatiel';
import { isRetryableSessionError, isSessionError } from './errors.js';
import type { SessionError } from './errors.js';
import { createOptionChecks } from './option-checks.js';
import type { OptionChecks } from './option-checks.js';

/** How an operation is retried. See {@link DEFAULT_RETRY_OPTIONS}. */
export interface RetryOptions {
  /**
   * Total calls, counting the first one: 3 means one call plus up to two
   * retries; 1 means no retry. Integer ≥ 1.
   */
  readonly maxAttempts: number;
  /** Nominal delay before the first retry, ms (≥ 0). */
  readonly baseDelayMs: number;
  /** Cap on every delay, jitter included, ms (≥ 0). */
  readonly maxDelayMs: number;
  /** Growth per retry (≥ 1): nominal delay of retry n is `baseDelayMs × multiplier^(n-1)`. */
  readonly multiplier: number;
  /**
   * Relative spread in [0, 1]: each delay is the nominal delay times a
   * uniform factor in `[1 - jitter, 1 + jitter]`, then capped at
   * `maxDelayMs`. Spreads out instances that failed together so they do not
   * retry in lockstep.
   */
  readonly jitter: number;
}

/** Defaults: 3 attempts, 100 ms then 200 ms (±10 %), never over 5 s. */
export const DEFAULT_RETRY_OPTIONS: Readonly<RetryOptions> = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  multiplier: 2,
  jitter: 0.1,
});

/** Reported before each retry's delay starts. */
export interface RetryEvent {
  /** Which retry this is, 1-based (attempt 1 is the second call). */
  readonly attempt: number;
  /** The delay before it, ms. */
  readonly delayMs: number;
  /** The retryable failure of the previous call. */
  readonly error: SessionError;
  /** The operation being retried, when the policy was given one. */
  readonly operation?: string;
}

/** Options of {@link createRetryPolicy}. */
export interface RetryPolicyOptions extends Partial<RetryOptions>, RetryPolicyHooks {}

/** What a retry policy reports and draws from, beside its {@link RetryOptions}. */
export interface RetryPolicyHooks {
  /** Called before each retry (e.g. to add a span event). Must not throw. */
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
  /** Uniform source in [0, 1) for jitter; `Math.random` by default. Injected by tests. */
  readonly random?: (() => number) | undefined;
  /** Named in every {@link RetryEvent}. */
  readonly operation?: string | undefined;
}

/** The checks of a retry policy's own options (the manager names its own). */
const RETRY_CHECKS = createOptionChecks('createRetryPolicy');

/** The rules of {@link RetryOptions}: each absent option keeps its value in `base`. */
const retryRules = (check: OptionChecks, base: Readonly<RetryOptions>) => ({
  maxAttempts: check.int(base.maxAttempts, 1),
  baseDelayMs: check.num(base.baseDelayMs, 0),
  maxDelayMs: check.num(base.maxDelayMs, 0),
  multiplier: check.num(base.multiplier, 1),
  jitter: check.num(base.jitter, 0, 1),
});

/**
 * Merge a per-operation override onto base options and validate the result.
 * `undefined` entries in the override keep the base value.
 *
 * @param path option path for error fields (`retry` → `retry.maxAttempts`)
 * @param check the checks of the component whose option this is
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad field
 * @example
 * ```ts
 * const updateRetry = resolveRetryOptions(DEFAULT_RETRY_OPTIONS, { maxAttempts: 5 }, 'retry.update');
 * ```
 */
export function resolveRetryOptions(
  base: Readonly<RetryOptions>,
  override?: Partial<RetryOptions>,
  path = 'retry',
  check: OptionChecks = RETRY_CHECKS,
): RetryOptions {
  return check.resolve(retryRules(check, base), override ?? {}, `${path}.`);
}

/**
 * Delay before retry `retryNumber` (1-based): the nominal
 * `min(maxDelayMs, baseDelayMs × multiplier^(retry-1))`, times a factor in
 * `[1 - jitter, 1 + jitter]` drawn from `random()`, capped at `maxDelayMs`.
 */
export function retryDelayMs(
  options: Omit<RetryOptions, 'maxAttempts'>,
  retryNumber: number,
  random: () => number,
): number {
  const raw = options.baseDelayMs * options.multiplier ** (retryNumber - 1);
  // 0 × Infinity (a zero base after many retries) is NaN: that delay is 0.
  const nominal = Number.isNaN(raw) ? 0 : Math.min(options.maxDelayMs, raw);
  const factor = 1 - options.jitter + 2 * options.jitter * random();
  return Math.min(options.maxDelayMs, nominal * factor);
}

/**
 * cockatiel backoff for {@link retryDelayMs}. Stateless: the delay depends
 * only on the retry number cockatiel passes in, so one instance serves every
 * concurrent execution of a policy.
 */
export class JitteredExponentialBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  public constructor(
    private readonly options: RetryOptions,
    private readonly random: () => number = Math.random,
  ) {}

  public next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    return {
      duration: retryDelayMs(this.options, context.attempt, this.random),
      next: (nextContext) => this.next(nextContext),
    };
  }
}

/**
 * A cockatiel retry policy that retries only retryable {@link SessionError}s
 * (storage unavailable/timeout, lock not acquired/lost, version conflict);
 * everything else (not found, validation, corrupted, non-session errors)
 * propagates from the first call. When attempts run out, the last error
 * propagates.
 *
 * @throws SessionValidationError `INVALID_CONFIG` for invalid options
 * @example
 * ```ts
 * const policy = createRetryPolicy({ maxAttempts: 5, operation: 'load',
 *   onRetry: (e) => span.addEvent('retry', { attempt: e.attempt, delayMs: e.delayMs }) });
 * const record = await policy.execute(() => store.load(id));
 * ```
 */
export function createRetryPolicy(options: RetryPolicyOptions = {}): RetryPolicy {
  const { onRetry, random, operation, ...retryOptions } = options;
  return retryPolicyOf(resolveRetryOptions(DEFAULT_RETRY_OPTIONS, retryOptions), {
    onRetry,
    random,
    operation,
  });
}

/**
 * {@link createRetryPolicy} for options a component has already resolved
 * ({@link resolveRetryOptions} under its own option paths): not checked
 * again.
 */
export function retryPolicyOf(resolved: RetryOptions, hooks: RetryPolicyHooks = {}): RetryPolicy {
  const { onRetry, random, operation } = hooks;
  const policy = retry(handleWhen(isRetryableSessionError), {
    // cockatiel counts retries, we count calls.
    maxAttempts: resolved.maxAttempts - 1,
    backoff: new JitteredExponentialBackoff(resolved, random ?? Math.random),
  });
  if (onRetry !== undefined) {
    // The policy lives as long as its owner; the listener is never disposed.
    policy.onRetry((event) => {
      // handleWhen only lets retryable SessionErrors through, so this always holds.
      if (!('error' in event) || !isSessionError(event.error)) return;
      onRetry({
        attempt: event.attempt,
        delayMs: event.delay,
        error: event.error,
        ...(operation === undefined ? {} : { operation }),
      });
    });
  }
  return policy;
}
