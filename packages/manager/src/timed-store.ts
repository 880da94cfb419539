import type {
  CreateSessionInput,
  DeleteByUserOptions,
  LoadOptions,
  OperationMessage,
  PatchOptions,
  SaveSessionInput,
  SessionPatch,
  SessionRecord,
  SessionStore,
  StoreCallSettled,
  SweepResult,
} from '@session-cluster/core';

/**
 * The store as an operation whose subscriber asked only for its store
 * calls' times (`OperationMessage.storeCallSettled`) uses it: each call is
 * timed and reported to that callback as it settles, with no tracing
 * channel around it. A recorded operation's store calls cost a timestamp
 * and a `then` each this way, where a `tracePromise` per call (its
 * closures, its store-run frames, three publications) was a tenth of what
 * tracing a recorded `update` cost (docs/benchmarks.md). One per operation.
 */
export class TimedStore implements SessionStore {
  public constructor(
    private readonly inner: SessionStore,
    private readonly operation: OperationMessage,
    private readonly settled: StoreCallSettled,
  ) {}

  public get degraded(): boolean | undefined {
    return this.inner.degraded;
  }

  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    return this.timed('load', () => this.inner.load(id, options));
  }

  /** The inner store's synchronous cached answer: not a store call (as `PublishedStore`). */
  public loadCached(id: string, options?: LoadOptions): SessionRecord | null | undefined {
    return this.inner.loadCached?.(id, options);
  }

  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.timed('create', () => this.inner.create(input));
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.timed('save', () => this.inner.save(id, input, expectedVersion));
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.timed('patch', () => this.inner.patch(id, changes, options));
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.timed('touch', () => this.inner.touch(id, expiresAt));
  }

  public delete(id: string): Promise<boolean> {
    return this.timed('delete', () => this.inner.delete(id));
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.timed('listByUser', () => this.inner.listByUser(userId));
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.timed('deleteByUser', () => this.inner.deleteByUser(userId, options));
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.timed('sweepExpired', () => this.inner.sweepExpired(now, limit));
  }

  public ping(): Promise<number> {
    return this.timed('ping', () => this.inner.ping());
  }

  public close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Reports the call once it settles, before its caller sees the outcome
   * (so a subscriber has it when the operation ends); a call that throws
   * before returning its promise is reported and rethrown at once.
   */
  private timed<T>(method: string, call: () => Promise<T>): Promise<T> {
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
