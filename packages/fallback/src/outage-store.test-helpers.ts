import type {
  Clock,
  CreateSessionInput,
  DeleteByUserOptions,
  PatchOptions,
  SaveSessionInput,
  SessionCodec,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';

type Mode = 'up' | 'down' | 'stalled' | 'held';

/**
 * A primary that can go down and come back: a real {@link MemoryStore}
 * (`backing`) holds the sessions; while `down`, calls go to a real
 * MemoryStore that has been closed, which rejects each with
 * `StorageUnavailableError` — the same typed failure a dead Redis gives.
 * `stall()` makes calls hang (for the timeout), `hold()` makes them wait
 * and then succeed (a slow primary, to interleave with reconciliation).
 */
export class OutageStore implements SessionStore {
  public readonly backing: MemoryStore;
  /** Calls that reached this store, by operation. */
  public readonly calls: string[] = [];
  private readonly dead: MemoryStore;
  private mode: Mode = 'up';
  /** With `held`: only this operation waits (all when undefined). */
  private heldOperation: string | undefined;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  /** Calls still to fail while `up` (see {@link failNext}). */
  private failuresLeft = 0;

  public constructor(options: { clock?: Clock; codec?: SessionCodec } = {}) {
    this.backing = new MemoryStore({ ...options, cleanupIntervalMs: 0 });
    this.dead = new MemoryStore({ cleanupIntervalMs: 0 });
    void this.dead.close();
  }

  /** Every later call fails with StorageUnavailableError. */
  public fail(): void {
    this.openGate();
    this.mode = 'down';
  }

  /** The next `count` calls fail with StorageUnavailableError, then it is up again (a blip). */
  public failNext(count = 1): void {
    this.openGate();
    this.mode = 'up';
    this.failuresLeft = count;
  }

  /** Every later call hangs until {@link heal}, then fails. */
  public stall(): void {
    this.mode = 'stalled';
    this.closeGate();
  }

  /**
   * Every later call (or only calls of `operation`) waits until
   * {@link heal}, then runs against the backing store.
   */
  public hold(operation?: string): void {
    this.mode = 'held';
    this.heldOperation = operation;
    this.closeGate();
  }

  /** Back to normal; waiting calls proceed. */
  public heal(): void {
    this.mode = 'up';
    this.openGate();
  }

  public load(id: string): Promise<SessionRecord | null> {
    return this.route('load', (s) => s.load(id));
  }
  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.route('create', (s) => s.create(input));
  }
  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.route('save', (s) => s.save(id, input, expectedVersion));
  }
  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.route('patch', (s) => s.patch(id, changes, options));
  }
  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.route('touch', (s) => s.touch(id, expiresAt));
  }
  public delete(id: string): Promise<boolean> {
    return this.route('delete', (s) => s.delete(id));
  }
  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.route('listByUser', (s) => s.listByUser(userId));
  }
  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.route('deleteByUser', (s) => s.deleteByUser(userId, options));
  }
  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.route('sweepExpired', (s) => s.sweepExpired(now, limit));
  }
  public listSessionIds(): Promise<string[]> {
    return this.route('listSessionIds', (s) => s.listSessionIds?.() ?? Promise.resolve([]));
  }
  public ping(): Promise<number> {
    return this.route('ping', (s) => s.ping());
  }
  public close(): Promise<void> {
    this.openGate();
    return this.backing.close();
  }

  private route<T>(operation: string, call: (store: SessionStore) => Promise<T>): Promise<T> {
    this.calls.push(operation);
    switch (this.mode) {
      case 'up':
        if (this.failuresLeft > 0) {
          this.failuresLeft -= 1;
          return call(this.dead);
        }
        return call(this.backing);
      case 'down':
        return call(this.dead);
      case 'stalled': {
        const gate = this.gate?.promise ?? Promise.resolve();
        return gate.then(() => call(this.dead));
      }
      case 'held': {
        if (this.heldOperation !== undefined && this.heldOperation !== operation) {
          return call(this.backing);
        }
        const gate = this.gate?.promise ?? Promise.resolve();
        return gate.then(() => call(this.backing));
      }
    }
  }

  private closeGate(): void {
    if (this.gate !== undefined) return;
    let open = (): void => undefined;
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.gate = { promise, open };
  }

  private openGate(): void {
    this.gate?.open();
    this.gate = undefined;
  }
}
