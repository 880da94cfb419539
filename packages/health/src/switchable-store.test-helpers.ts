import type {
  CreateSessionInput,
  DeleteByUserOptions,
  ManualClock,
  PatchOptions,
  SaveSessionInput,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';

/**
 * A real {@link MemoryStore} behind a few switches, to make one step of the
 * health probe fail, stall or return nothing. Only the probe's steps
 * (create, load, delete) have switches; everything else passes through.
 */
export class SwitchableStore implements SessionStore {
  public readonly memory: MemoryStore;
  /** Every probe-step call in order, with the id it was given. */
  public readonly calls: { readonly op: 'create' | 'load' | 'delete'; readonly id: string }[] = [];
  /** Inputs `create` was given. */
  public readonly created: CreateSessionInput[] = [];
  /** Thrown by `create` (before anything is written) when set. */
  public createError: Error | undefined = undefined;
  /** Thrown by `load` when set. */
  public loadError: Error | undefined = undefined;
  /** `load` answers `null` although the session exists. */
  public loadReturnsNull = false;
  /** `create` waits for this before writing, when set. */
  public createGate: Promise<void> | undefined = undefined;
  /** Each probe step advances the clock by this many ms (a store that takes time). */
  public stepMs = 0;

  private readonly clock: ManualClock;

  public constructor(clock: ManualClock) {
    this.clock = clock;
    this.memory = new MemoryStore({ clock, cleanupIntervalMs: 0 });
  }

  public async create(input: CreateSessionInput): Promise<SessionRecord> {
    this.calls.push({ op: 'create', id: input.id });
    this.created.push(input);
    this.clock.advance(this.stepMs);
    if (this.createGate !== undefined) await this.createGate;
    if (this.createError !== undefined) throw this.createError;
    return this.memory.create(input);
  }

  public async load(id: string): Promise<SessionRecord | null> {
    this.calls.push({ op: 'load', id });
    this.clock.advance(this.stepMs);
    if (this.loadError !== undefined) throw this.loadError;
    const record = await this.memory.load(id);
    return this.loadReturnsNull ? null : record;
  }

  public delete(id: string): Promise<boolean> {
    this.calls.push({ op: 'delete', id });
    this.clock.advance(this.stepMs);
    return this.memory.delete(id);
  }

  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.memory.save(id, input, expectedVersion);
  }

  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.memory.patch(id, changes, options);
  }

  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.memory.touch(id, expiresAt);
  }

  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.memory.listByUser(userId);
  }

  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.memory.deleteByUser(userId, options);
  }

  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.memory.sweepExpired(now, limit);
  }

  public ping(): Promise<number> {
    return this.memory.ping();
  }

  public close(): Promise<void> {
    return this.memory.close();
  }
}
