import type {
  CreateSessionInput,
  DeleteByUserOptions,
  LoadOptions,
  PatchOptions,
  SaveSessionInput,
  SessionChannels,
  SessionPatch,
  SessionRecord,
  SessionStore,
  StoreCallMessage,
  SweepResult,
} from '@session-cluster/core';
import type { TracingChannel } from 'node:diagnostics_channel';

/**
 * The store as an operation whose store calls a subscriber asked for
 * (`OperationMessage.storeCalls`) uses it: while anyone listens, each call
 * is published on the `session-cluster:store` tracing channel
 * (`{ method }`), inside the operation's own trace; otherwise calls go
 * straight through, with no closure or message allocated.
 */
export class PublishedStore implements SessionStore {
  private readonly channel: TracingChannel<unknown, StoreCallMessage>;

  public constructor(
    private readonly inner: SessionStore,
    channels: SessionChannels,
  ) {
    this.channel = channels.storeCall;
  }

  public get degraded(): boolean | undefined {
    return this.inner.degraded;
  }

  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    if (!this.channel.hasSubscribers) return this.inner.load(id, options);
    return this.channel.tracePromise(() => this.inner.load(id, options), { method: 'load' });
  }

  /**
   * The inner store's synchronous cached answer, not published as a store
   * call: the manager publishes the read it answers (`cachedRead`).
   */
  public loadCached(id: string, options?: LoadOptions): SessionRecord | null | undefined {
    return this.inner.loadCached?.(id, options);
  }

  public create(input: CreateSessionInput): Promise<SessionRecord> {
    if (!this.channel.hasSubscribers) return this.inner.create(input);
    return this.channel.tracePromise(() => this.inner.create(input), { method: 'create' });
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    if (!this.channel.hasSubscribers) return this.inner.save(id, input, expectedVersion);
    return this.channel.tracePromise(() => this.inner.save(id, input, expectedVersion), {
      method: 'save',
    });
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    if (!this.channel.hasSubscribers) return this.inner.patch(id, changes, options);
    return this.channel.tracePromise(() => this.inner.patch(id, changes, options), {
      method: 'patch',
    });
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    if (!this.channel.hasSubscribers) return this.inner.touch(id, expiresAt);
    return this.channel.tracePromise(() => this.inner.touch(id, expiresAt), { method: 'touch' });
  }

  public delete(id: string): Promise<boolean> {
    if (!this.channel.hasSubscribers) return this.inner.delete(id);
    return this.channel.tracePromise(() => this.inner.delete(id), { method: 'delete' });
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    if (!this.channel.hasSubscribers) return this.inner.listByUser(userId);
    return this.channel.tracePromise(() => this.inner.listByUser(userId), {
      method: 'listByUser',
    });
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    if (!this.channel.hasSubscribers) return this.inner.deleteByUser(userId, options);
    return this.channel.tracePromise(() => this.inner.deleteByUser(userId, options), {
      method: 'deleteByUser',
    });
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    if (!this.channel.hasSubscribers) return this.inner.sweepExpired(now, limit);
    return this.channel.tracePromise(() => this.inner.sweepExpired(now, limit), {
      method: 'sweepExpired',
    });
  }

  public ping(): Promise<number> {
    if (!this.channel.hasSubscribers) return this.inner.ping();
    return this.channel.tracePromise(() => this.inner.ping(), { method: 'ping' });
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}
