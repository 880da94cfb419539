import type {
  CreateSessionInput,
  DeleteByUserOptions,
  LoadOptions,
  PatchOptions,
  SaveSessionInput,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';

/**
 * A store whose every call goes through {@link around}, named by its
 * `SessionStore` method: how an operation's store calls are watched
 * ({@link ./published-store.ts PublishedStore}, {@link ./timed-store.ts TimedStore}).
 * `loadCached` is the inner store's synchronous answer, not a store call
 * (the manager publishes the read it answers, `cachedRead`), and `close`
 * is not watched either.
 */
export abstract class WrappedStore implements SessionStore {
  protected constructor(protected readonly inner: SessionStore) {}

  public get degraded(): boolean | undefined {
    return this.inner.degraded;
  }

  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    return this.around('load', () => this.inner.load(id, options));
  }

  public loadCached(id: string, options?: LoadOptions): SessionRecord | null | undefined {
    return this.inner.loadCached?.(id, options);
  }

  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.around('create', () => this.inner.create(input));
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.around('save', () => this.inner.save(id, input, expectedVersion));
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.around('patch', () => this.inner.patch(id, changes, options));
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.around('touch', () => this.inner.touch(id, expiresAt));
  }

  public delete(id: string): Promise<boolean> {
    return this.around('delete', () => this.inner.delete(id));
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.around('listByUser', () => this.inner.listByUser(userId));
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.around('deleteByUser', () => this.inner.deleteByUser(userId, options));
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.around('sweepExpired', () => this.inner.sweepExpired(now, limit));
  }

  public ping(): Promise<number> {
    return this.around('ping', () => this.inner.ping());
  }

  public close(): Promise<void> {
    return this.inner.close();
  }

  /** Make the inner store's call `method` (`call`), watched as the subclass does. */
  protected abstract around<T>(method: string, call: () => Promise<T>): Promise<T>;
}
