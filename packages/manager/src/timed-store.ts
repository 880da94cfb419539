import type { OperationMessage, SessionStore, StoreCallSettled } from '@session-cluster/core';
import { WrappedStore } from './wrapped-store.js';

/**
 * The store as an operation whose subscriber asked only for its store
 * calls' times (`OperationMessage.storeCallSettled`) uses it: each call is
 * timed and reported to that callback as it settles, with no tracing
 * channel around it. A recorded operation's store calls cost a timestamp
 * and a `then` each this way, where a `tracePromise` per call (its
 * closures, its store-run frames, three publications) was a tenth of what
 * tracing a recorded `update` cost (docs/benchmarks.md). One per operation.
 */
export class TimedStore extends WrappedStore {
  public constructor(
    inner: SessionStore,
    private readonly operation: OperationMessage,
    private readonly settled: StoreCallSettled,
  ) {
    super(inner);
  }

  /**
   * Reports the call once it settles, before its caller sees the outcome
   * (so a subscriber has it when the operation ends); a call that throws
   * before returning its promise is reported and rethrown at once.
   */
  protected override around<T>(method: string, call: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      this.settled(this.operation, method, startedAt, error);
      throw error;
    }
    return pending.then(
      (value) => {
        this.settled(this.operation, method, startedAt, undefined);
        return value;
      },
      (error: unknown) => {
        this.settled(this.operation, method, startedAt, error);
        throw error;
      },
    );
  }
}
