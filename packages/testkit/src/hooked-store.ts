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

type StoreMethod = Exclude<
  keyof SessionStore,
  'degraded' | 'listSessionIds' | 'loadCached' | 'peekCached' | 'takeRetained' | 'merge' | 'forget'
>;

/**
 * Runs before a call reaches the real store; it may throw (a failure the
 * real store never saw) or do something concurrently (another writer).
 */
export type StoreHook = (...args: unknown[]) => void | Promise<void>;

/**
 * A real store with hooks in front of its methods, for the few failures a
 * real backend cannot be made to produce on cue (a storage error on the
 * first call only, a write that slips in between two steps). Calls are
 * counted per method. Everything else is the real store's behaviour.
 */
export class HookedStore implements SessionStore {
  public readonly calls: Record<StoreMethod, number> = {
    load: 0,
    create: 0,
    save: 0,
    patch: 0,
    touch: 0,
    delete: 0,
    listByUser: 0,
    deleteByUser: 0,
    sweepExpired: 0,
    ping: 0,
    close: 0,
  };
  public readonly hooks: Partial<Record<StoreMethod, StoreHook>> = {};
  public degraded = false;

  /**
   * @param ownsInner whether `close()` closes `inner` (false when several
   *   hooked stores share one inner store, as instances share one Redis)
   */
  public constructor(
    private readonly inner: SessionStore,
    private readonly ownsInner = true,
  ) {}

  public async load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    await this.before('load', id);
    return this.inner.load(id, options);
  }

  public async create(input: CreateSessionInput): Promise<SessionRecord> {
    await this.before('create', input);
    return this.inner.create(input);
  }

  public async save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    await this.before('save', id, input, expectedVersion);
    return this.inner.save(id, input, expectedVersion);
  }

  public async patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    await this.before('patch', id, changes, options);
    return this.inner.patch(id, changes, options);
  }

  public async touch(id: string, expiresAt: number): Promise<boolean> {
    await this.before('touch', id, expiresAt);
    return this.inner.touch(id, expiresAt);
  }

  public async delete(id: string): Promise<boolean> {
    await this.before('delete', id);
    return this.inner.delete(id);
  }

  public async listByUser(userId: string): Promise<SessionRecord[]> {
    await this.before('listByUser', userId);
    return this.inner.listByUser(userId);
  }

  public async deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    await this.before('deleteByUser', userId, options);
    return this.inner.deleteByUser(userId, options);
  }

  public async sweepExpired(now: number, limit: number): Promise<SweepResult> {
    await this.before('sweepExpired', now, limit);
    return this.inner.sweepExpired(now, limit);
  }

  public async ping(): Promise<number> {
    await this.before('ping');
    return this.inner.ping();
  }

  public async close(): Promise<void> {
    await this.before('close');
    if (this.ownsInner) await this.inner.close();
  }

  private async before(method: StoreMethod, ...args: unknown[]): Promise<void> {
    this.calls[method] += 1;
    await this.hooks[method]?.(...args);
  }
}
