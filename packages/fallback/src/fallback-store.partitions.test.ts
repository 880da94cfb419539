import type {
  CreateSessionInput,
  DeleteByUserOptions,
  PatchOptions,
  SaveSessionInput,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import { generateSessionId } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DegradedEvent, RecoveredEvent } from './fallback-events.js';
import { FallbackStore } from './fallback-store.js';
import { OutageStore } from './outage-store.test-helpers.js';

const TTL = 60_000;
const HALF_OPEN_AFTER = 1_000;

type Part = 'a' | 'b';

/**
 * A primary in two parts that fail separately, as the masters of a Redis
 * Cluster do: each session lives in the {@link OutageStore} of its part.
 * Calls without a session id go to part `a`.
 */
class PartitionedStore implements SessionStore {
  public readonly parts: Readonly<Record<Part, OutageStore>> = {
    a: new OutageStore(),
    b: new OutageStore(),
  };
  private readonly partOfId = new Map<string, Part>();

  public assign(id: string, part: Part): void {
    this.partOfId.set(id, part);
  }

  public partitionOf = (id: string): Part | undefined => this.partOfId.get(id);

  private of(id: unknown): OutageStore {
    return this.parts[(typeof id === 'string' && this.partOfId.get(id)) || 'a'];
  }

  public load(id: string): Promise<SessionRecord | null> {
    return this.of(id).load(id);
  }
  public create(input: CreateSessionInput): Promise<SessionRecord> {
    return this.of(input.id).create(input);
  }
  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    return this.of(id).save(id, input, expectedVersion);
  }
  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    return this.of(id).patch(id, changes, options);
  }
  public touch(id: string, expiresAt: number): Promise<boolean> {
    return this.of(id).touch(id, expiresAt);
  }
  public delete(id: string): Promise<boolean> {
    return this.of(id).delete(id);
  }
  public listByUser(userId: string): Promise<SessionRecord[]> {
    return this.parts.a.listByUser(userId);
  }
  public deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    return this.parts.a.deleteByUser(userId, options);
  }
  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.parts.a.sweepExpired(now, limit);
  }
  public ping(): Promise<number> {
    return this.parts.a.ping();
  }
  public async close(): Promise<void> {
    await Promise.all([this.parts.a.close(), this.parts.b.close()]);
  }
}

interface Rig {
  readonly primary: PartitionedStore;
  readonly store: FallbackStore;
  /** Sessions created in each part while everything was up. */
  readonly sessions: Record<Part, SessionRecord[]>;
}

const rigs: Rig[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.primary.parts.a.heal();
    r.primary.parts.b.heal();
    await r.store.close();
  }
  vi.useRealTimers();
});

async function rig(partitioned: boolean): Promise<Rig> {
  const primary = new PartitionedStore();
  const store = new FallbackStore({
    primary,
    secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
    breaker: { kind: 'consecutive', threshold: 3, halfOpenAfterMs: HALF_OPEN_AFTER },
    timeoutMs: 200,
    ...(partitioned ? { partitionOf: primary.partitionOf } : {}),
  });
  const sessions: Record<Part, SessionRecord[]> = { a: [], b: [] };
  for (const part of ['a', 'b'] as const) {
    for (let i = 0; i < 4; i++) {
      const id = generateSessionId();
      primary.assign(id, part);
      sessions[part].push(
        await store.create({ id, data: { part, i }, expiresAt: Date.now() + TTL }),
      );
    }
  }
  const r = { primary, store, sessions };
  rigs.push(r);
  return r;
}

/**
 * Part `a` goes down; sessions are created in it until the shared breaker
 * opens (served by the secondary, journaled: 3 pending).
 */
async function failPartA(r: Rig): Promise<void> {
  r.primary.parts.a.fail();
  for (let i = 0; i < 3; i++) {
    const id = generateSessionId();
    r.primary.assign(id, 'a');
    await r.store.create({ id, data: { created: 'in the outage' }, expiresAt: Date.now() + TTL });
  }
  expect(r.store.breakerState).toBe('open');
  expect(r.store.degraded).toBe(true);
  expect(r.store.pendingReconciliation).toBe(3);
}

describe('FallbackStore with partitions (Redis Cluster: one master down)', () => {
  it('while the shared breaker is open, the healthy part is still read and written in the primary', async () => {
    const r = await rig(true);
    await failPartA(r);

    const reachedB = r.primary.parts.b.calls.length;
    for (const session of r.sessions.b) {
      expect(await r.store.load(session.id)).toMatchObject({ id: session.id, data: session.data });
      expect(await r.store.patch(session.id, { set: { seen: true } })).toBe(2);
    }
    // Written where it lives, not journaled for later.
    expect(r.primary.parts.b.calls.length).toBe(reachedB + 2 * r.sessions.b.length);
    expect((await r.primary.parts.b.backing.load(r.sessions.b[0]!.id))?.data).toEqual({
      part: 'b',
      i: 0,
      seen: true,
    });
    expect(r.store.pendingReconciliation).toBe(3);

    // The failed part's sessions: degraded mode, as without partitions.
    expect(await r.store.load(r.sessions.a[3]!.id)).toBeNull();
    const id = generateSessionId();
    r.primary.assign(id, 'a');
    await r.store.create({ id, data: { during: 'outage' }, expiresAt: Date.now() + TTL });
    expect(r.store.pendingReconciliation).toBe(4);
    expect(await r.primary.parts.a.backing.load(id)).toBeNull();

    // Part a comes back: the next probe closes the breakers and the sessions
    // created meanwhile are written back where they belong.
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    r.primary.parts.a.heal();
    expect(await r.store.load(r.sessions.a[0]!.id)).toMatchObject({ data: { part: 'a', i: 0 } });
    await vi.waitFor(() => {
      expect(r.store.pendingReconciliation).toBe(0);
    });
    expect((await r.primary.parts.a.backing.load(id))?.data).toEqual({ during: 'outage' });
    expect(r.store.degraded).toBe(false);
  });

  it('a failing part opens its own breaker: its calls stop reaching it, the other part’s do not', async () => {
    const r = await rig(true);
    await failPartA(r);
    const reachedA = r.primary.parts.a.calls.length;
    for (const session of r.sessions.a) expect(await r.store.load(session.id)).toBeNull();
    expect(r.primary.parts.a.calls.length).toBe(reachedA);
    for (const session of r.sessions.b) expect(await r.store.load(session.id)).not.toBeNull();
  });

  it('a part failing while the shared breaker stays closed is an outage too: degraded, then recovered', async () => {
    const r = await rig(true);
    const degraded: DegradedEvent[] = [];
    const recovered: RecoveredEvent[] = [];
    r.store.on('degraded', (event) => degraded.push(event));
    r.store.on('recovered', (event) => recovered.push(event));
    r.primary.parts.a.fail();
    // Part b's successes in between keep the shared breaker's count at zero.
    for (let i = 0; i < 3; i++) {
      const id = generateSessionId();
      r.primary.assign(id, 'a');
      await r.store.create({ id, data: { i }, expiresAt: Date.now() + TTL });
      expect(await r.store.load(r.sessions.b[i]!.id)).not.toBeNull();
    }
    expect(r.store.breakerState).toBe('closed');
    expect(r.store.degraded).toBe(true);
    expect(degraded).toHaveLength(1);
    expect(degraded[0]?.reason).toMatch(/^partition a: STORAGE_UNAVAILABLE: /);
    expect(r.store.pendingReconciliation).toBe(3);
    // A success elsewhere does not declare a recovery while part a is down.
    expect(await r.store.load(r.sessions.b[3]!.id)).not.toBeNull();
    expect(recovered).toEqual([]);

    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    r.primary.parts.a.heal();
    expect(await r.store.load(r.sessions.a[0]!.id)).not.toBeNull();
    await vi.waitFor(() => {
      expect(recovered).toHaveLength(1);
    });
    expect(recovered[0]).toMatchObject({ written: 3, failed: 0 });
    expect(r.store.degraded).toBe(false);
    expect(r.store.pendingReconciliation).toBe(0);
  });

  it('an open partition breaker with no traffic probes its own part and reconciles (idle recovery)', async () => {
    const r = await rig(true);
    const recovered: RecoveredEvent[] = [];
    r.store.on('recovered', (event) => recovered.push(event));
    r.primary.parts.a.fail();
    for (let i = 0; i < 3; i++) {
      const id = generateSessionId();
      r.primary.assign(id, 'a');
      await r.store.create({ id, data: { i }, expiresAt: Date.now() + TTL });
      expect(await r.store.load(r.sessions.b[i]!.id)).not.toBeNull();
    }
    expect(r.store.breakerState).toBe('closed');
    expect(r.store.recoveryState.kind).toBe('open');
    r.primary.parts.a.heal();
    const reachedA = r.primary.parts.a.calls.length;

    // No call at all from here: the partition's idle probe reads one of its sessions.
    await vi.advanceTimersByTimeAsync(2 * HALF_OPEN_AFTER);
    await vi.waitFor(() => {
      expect(recovered).toHaveLength(1);
    });
    expect(r.primary.parts.a.calls[reachedA]).toBe('load');
    expect(recovered[0]).toMatchObject({ written: 3, failed: 0 });
    expect(r.store.recoveryState).toEqual({ kind: 'closed', backlog: false });
    expect(r.store.degraded).toBe(false);
  });

  it('without partitions, one failed part sends every session to the secondary', async () => {
    const r = await rig(false);
    await failPartA(r);
    const reachedB = r.primary.parts.b.calls.length;
    for (const session of r.sessions.b) expect(await r.store.load(session.id)).toBeNull();
    expect(r.primary.parts.b.calls.length).toBe(reachedB);
  });
});
