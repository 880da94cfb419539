import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * An OpenTelemetry `ContextManager` on `AsyncLocalStorage`, for tests that
 * build a tracer provider by hand (`TracerProvider` registers none,
 * and without one no span ever has a parent). What
 * `@opentelemetry/context-async-hooks` does, typed structurally so the test
 * kit needs no OpenTelemetry dependency: pass the API's `ROOT_CONTEXT`.
 *
 * @example
 * ```ts
 * import { ROOT_CONTEXT, context } from '@opentelemetry/api';
 * const manager = new AsyncLocalContextManager(ROOT_CONTEXT);
 * context.setGlobalContextManager(manager);
 * // … afterAll: context.disable();
 * ```
 */
export class AsyncLocalContextManager<C extends object> {
  /**
   * The storage behind {@link active}: bind it to a tracing channel's
   * `start` (`channel.start.bindStore(manager.storage, …)`) to make a
   * context active for a traced call, as a diagnostics-channel subscriber does.
   */
  public readonly storage = new AsyncLocalStorage<C>();

  public constructor(private readonly root: C) {}

  /** The context of the current async execution, or the root. */
  public active(): C {
    return this.storage.getStore() ?? this.root;
  }

  /** Run `fn` with `context` active (and in everything it schedules). */
  public with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: C,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(context, () => fn.apply(thisArg, args));
  }

  /** `target` (a function) bound to `context`; anything else as is. */
  public bind<T>(context: C, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (thisArg: unknown, args: unknown[]): unknown =>
      this.with(context, () => (target as (...a: unknown[]) => unknown).apply(thisArg, args));
    return function bound(this: unknown, ...args: unknown[]) {
      return run(this, args);
    } as T;
  }

  public enable(): this {
    return this;
  }

  public disable(): this {
    this.storage.disable();
    return this;
  }
}
