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
import type { ManagerTelemetry } from './manager-telemetry.js';

/**
 * The manager's view of its store: each call inside a recording operation
 * span gets a `session.store.<method>` child span (the Redis commands it
 * makes become its children, the fallback store marks on it how it routed
 * the call). Outside one — no SDK, a sampled-out trace — calls go straight
 * through, with no closure allocated.
 */
export class TracedStore implements SessionStore {
  public constructor(
    private readonly inner: SessionStore,
    private readonly telemetry: ManagerTelemetry,
  ) {}

  public get degraded(): boolean | undefined {
    return this.inner.degraded;
  }

  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    if (!this.telemetry.childSpansWanted()) return this.inner.load(id, options);
    return this.telemetry.storeCall('load', () => this.inner.load(id, options));
  }

  public create(input: CreateSessionInput): Promise<SessionRecord> {
    if (!this.telemetry.childSpansWanted()) return this.inner.create(input);
    return this.telemetry.storeCall('create', () => this.inner.create(input));
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    if (!this.telemetry.childSpansWanted()) return this.inner.save(id, input, expectedVersion);
    return this.telemetry.storeCall('save', () => this.inner.save(id, input, expectedVersion));
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    if (!this.telemetry.childSpansWanted()) return this.inner.patch(id, changes, options);
    return this.telemetry.storeCall('patch', () => this.inner.patch(id, changes, options));
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    if (!this.telemetry.childSpansWanted()) return this.inner.touch(id, expiresAt);
    return this.telemetry.storeCall('touch', () => this.inner.touch(id, expiresAt));
  }

  public delete(id: string): Promise<boolean> {
    if (!this.telemetry.childSpansWanted()) return this.inner.delete(id);
    return this.telemetry.storeCall('delete', () => this.inner.delete(id));
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    if (!this.telemetry.childSpansWanted()) return this.inner.listByUser(userId);
    return this.telemetry.storeCall('listByUser', () => this.inner.listByUser(userId));
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    if (!this.telemetry.childSpansWanted()) return this.inner.deleteByUser(userId, options);
    return this.telemetry.storeCall('deleteByUser', () => this.inner.deleteByUser(userId, options));
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    if (!this.telemetry.childSpansWanted()) return this.inner.sweepExpired(now, limit);
    return this.telemetry.storeCall('sweepExpired', () => this.inner.sweepExpired(now, limit));
  }

  public ping(): Promise<number> {
    if (!this.telemetry.childSpansWanted()) return this.inner.ping();
    return this.telemetry.storeCall('ping', () => this.inner.ping());
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}
