import type { SessionChannels, SessionStore, StoreCallMessage } from '@session-cluster/core';
import type { TracingChannel } from 'node:diagnostics_channel';
import { WrappedStore } from './wrapped-store.js';

/**
 * The store as an operation whose store calls a subscriber asked for
 * (`OperationMessage.storeCalls`) uses it: while anyone listens, each call
 * is published on the `session-cluster:store` tracing channel
 * (`{ method }`), inside the operation's own trace; otherwise calls go
 * straight through, with no message allocated.
 */
export class PublishedStore extends WrappedStore {
  private readonly channel: TracingChannel<unknown, StoreCallMessage>;

  public constructor(inner: SessionStore, channels: SessionChannels) {
    super(inner);
    this.channel = channels.storeCall;
  }

  protected override around<T>(method: string, call: () => Promise<T>): Promise<T> {
    if (!this.channel.hasSubscribers) return call();
    return this.channel.tracePromise(call, { method });
  }
}
