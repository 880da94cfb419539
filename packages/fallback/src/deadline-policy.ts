import { EventEmitter, TaskCancelledError } from 'cockatiel';
import type { Event, ICancellationContext, IFailureEvent, IPolicy, ISuccessEvent } from 'cockatiel';

// Handed to functions run without a caller signal; never aborted.
const NEVER_ABORTED = new AbortController().signal;

/**
 * cockatiel's aggressive timeout (`timeout(ms, TimeoutStrategy.Aggressive)`)
 * for the hot path: after `durationMs` the call rejects with cockatiel's
 * `TaskCancelledError` whether or not `fn` ever settles; `fn` is not
 * cancelled (the primary stores take no signal, and ioredis cannot take a
 * command back).
 *
 * Why not `TimeoutPolicy` itself: it builds an `AbortController` and reads
 * its `signal` on every call, which costs 6–10 µs on Node 20 (measured:
 * cockatiel's policy added ~13 µs to each call, ~25 % of a `RedisStore.load`
 * under load). This does the same with one timer: ~1 µs. It implements
 * cockatiel's `IPolicy`, so it composes with `wrap` like any policy.
 */
export class DeadlinePolicy implements IPolicy<ICancellationContext> {
  declare public readonly _altReturn: never;
  private readonly successEmitter = new EventEmitter<ISuccessEvent>();
  private readonly failureEmitter = new EventEmitter<IFailureEvent>();
  private readonly timeoutEmitter = new EventEmitter<undefined>();

  /** Fires when a call completes in time. */
  public readonly onSuccess: Event<ISuccessEvent> = this.successEmitter.addListener;
  /** Fires when a call times out (the only failure this policy handles). */
  public readonly onFailure: Event<IFailureEvent> = this.failureEmitter.addListener;
  /** Fires when a call times out. */
  public readonly onTimeout: Event<undefined> = this.timeoutEmitter.addListener;

  /** @param durationMs how long a call may take, ms */
  public constructor(public readonly durationMs: number) {}

  /**
   * Run `fn`; reject with `TaskCancelledError` once `durationMs` has passed.
   * @throws TaskCancelledError on timeout; whatever `fn` throws otherwise
   */
  public execute<T>(
    fn: (context: ICancellationContext) => PromiseLike<T> | T,
    signal: AbortSignal = NEVER_ABORTED,
  ): Promise<T> {
    const started = this.successEmitter.size + this.failureEmitter.size > 0 ? performance.now() : 0;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const error = new TaskCancelledError(`Operation timed out after ${this.durationMs}ms`);
        this.timeoutEmitter.emit(undefined);
        if (this.failureEmitter.size > 0) {
          this.failureEmitter.emit({
            duration: performance.now() - started,
            handled: true,
            reason: { error },
          });
        }
        reject(error);
      }, this.durationMs);
      const succeed = (value: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.successEmitter.size > 0) {
          this.successEmitter.emit({ duration: performance.now() - started });
        }
        resolve(value);
      };
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Pass fn's rejection through untouched: the breaker classifies it.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      };
      try {
        Promise.resolve(fn({ signal })).then(succeed, fail);
      } catch (error) {
        fail(error);
      }
    });
  }
}
