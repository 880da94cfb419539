import {
  ManualClock,
  createSessionCodec,
  generateSessionId,
  hashSessionId,
  StorageUnavailableError,
} from '@session-cluster/core';
import type { CreateSessionInput, SessionData, SessionRecord } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { DegradedJournal } from './degraded-journal.js';
import type { ReconcileFailedEvent } from './fallback-events.js';
import { OutageStore } from './outage-store.test-helpers.js';
import { Reconciler, emptyTally } from './reconciler.js';
import type { ReconcileTally, ReconcilerDeps } from './reconciler.js';

const TTL = 60_000;
const HOUR = 3_600_000;

interface Rig {
  clock: ManualClock;
  primary: OutageStore;
  secondary: MemoryStore;
  journal: DegradedJournal;
  reconciler: Reconciler;
  tally: ReconcileTally;
  failed: ReconcileFailedEvent[];
  progress: number[];
  /** A create served by the secondary while degraded. */
  createLocally(input?: Partial<CreateSessionInput>): Promise<SessionRecord>;
  /** A patch served by the secondary while degraded. */
  patchLocally(id: string, set: SessionData): Promise<number>;
  /** A session the primary holds (created before the outage). */
  createInPrimary(input?: Partial<CreateSessionInput>): Promise<SessionRecord>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    rig.primary.heal();
    await Promise.all([rig.primary.close(), rig.secondary.close()]);
  }
});

function rig(overrides: Partial<ReconcilerDeps> & { primaryMaxBytes?: number } = {}): Rig {
  const clock = new ManualClock(1_700_000_000_000);
  const primary = new OutageStore({
    clock,
    ...(overrides.primaryMaxBytes === undefined
      ? {}
      : { codec: createSessionCodec({ maxBytes: overrides.primaryMaxBytes }) }),
  });
  const secondary = new MemoryStore({ clock, cleanupIntervalMs: 0 });
  const journal = new DegradedJournal();
  const failed: ReconcileFailedEvent[] = [];
  const progress: number[] = [];
  const reconciler = new Reconciler({
    primary,
    secondary,
    journal,
    clock,
    execute: async (fn) => fn(),
    batchSize: 500,
    concurrency: 8,
    onFailed: (event) => failed.push(event),
    onDeferred: () => undefined,
    giveUpAfterMs: HOUR,
    onProgress: (_tally, remaining) => progress.push(remaining),
    onConflict: () => undefined,
    stopping: () => false,
    ...overrides,
  });
  const input = (partial: Partial<CreateSessionInput>): CreateSessionInput => ({
    id: generateSessionId(),
    data: { n: 0 },
    expiresAt: clock.now() + TTL,
    ...partial,
  });
  const created: Rig = {
    clock,
    primary,
    secondary,
    journal,
    reconciler,
    tally: emptyTally(),
    failed,
    progress,
    async createLocally(partial = {}) {
      const full = input(partial);
      const ticket = journal.beginWrite(full.id);
      const record = await secondary.create(full);
      journal.endWrite(ticket, true);
      return record;
    },
    async patchLocally(id, set) {
      const ticket = journal.beginWrite(id);
      const version = await secondary.patch(id, { set });
      journal.endWrite(ticket, true);
      return version;
    },
    createInPrimary: (partial = {}) => primary.backing.create(input(partial)),
  };
  rigs.push(created);
  return created;
}

describe('Reconciler', () => {
  it('creates a session made while degraded with the same id, owner, data and expiry, then forgets it', async () => {
    const r = rig();
    const local = await r.createLocally({ userId: 'ada', data: { cart: [1, 2] } });
    await r.patchLocally(local.id, { step: 2 });

    expect(await r.reconciler.run(r.tally)).toBe('drained');

    const stored = await r.primary.backing.load(local.id);
    expect(stored).toMatchObject({
      id: local.id,
      userId: 'ada',
      data: { cart: [1, 2], step: 2 },
      expiresAt: local.expiresAt,
      version: 1,
    });
    expect(r.tally).toEqual({
      written: 1,
      restored: 0,
      conflicts: 0,
      deleted: 0,
      skipped: 0,
      failed: 0,
    });
    expect(r.journal.pending).toBe(0);
    expect(await r.secondary.load(local.id)).toBeNull();
  });

  it('skips a session that expired before it could be written back', async () => {
    const r = rig();
    const local = await r.createLocally({ expiresAt: r.clock.now() + 1_000 });
    r.clock.advance(1_000);
    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(await r.primary.backing.load(local.id)).toBeNull();
    expect(r.tally).toMatchObject({ written: 0, skipped: 1 });
    expect(r.journal.pending).toBe(0);
  });

  it('a session created while degraded that the primary already has is a conflict: the primary wins', async () => {
    const r = rig();
    const local = await r.createLocally({ data: { from: 'memory' } });
    await r.primary.backing.create({
      id: local.id,
      data: { from: 'primary' },
      expiresAt: local.expiresAt,
    });
    await r.primary.backing.patch(local.id, { set: { more: true } });

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(r.tally).toMatchObject({ written: 0, conflicts: 1 });
    expect(await r.primary.backing.load(local.id)).toMatchObject({
      version: 2,
      data: { from: 'primary', more: true },
    });
    expect(await r.secondary.load(local.id)).toBeNull();
    expect(r.journal.pending).toBe(0);
  });

  it('a create that landed in an earlier run (its reply lost to a timeout) counts as written, not as a conflict', async () => {
    const r = rig();
    const local = await r.createLocally({ userId: 'ann', data: { cart: [1] } });
    // What Redis executed before the client gave up on the reply.
    await r.primary.backing.create({
      id: local.id,
      userId: 'ann',
      data: { cart: [1] },
      expiresAt: local.expiresAt,
    });

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(r.tally).toMatchObject({ written: 1, conflicts: 0 });
    expect(await r.primary.backing.load(local.id)).toMatchObject({
      version: 1,
      data: { cart: [1] },
    });
    expect(await r.secondary.load(local.id)).toBeNull();
  });

  it.each(['create', 'save'] as const)(
    'a write-back (%s) that landed without its answer, of a copy changed here since, is built on: no conflict, nothing lost',
    async (operation) => {
      // The write-back lands but its answer is lost (a client timeout, as
      // under a second outage mid-reconcile).
      let loseAnswerOf: string | undefined = operation;
      let calls: readonly string[] = [];
      const r = rig({
        execute: async (fn) => {
          const value = await fn();
          if (loseAnswerOf !== undefined && calls.at(-1) === loseAnswerOf) {
            loseAnswerOf = undefined;
            throw new StorageUnavailableError('timed out', { timeout: true });
          }
          return value;
        },
      });
      calls = r.primary.calls;
      let id: string;
      let versionBefore = 0;
      if (operation === 'create') {
        id = (await r.createLocally({ userId: 'ann', data: { counter: 0, at: 'memory' } })).id;
      } else {
        // A session the primary holds at version 1, changed here while degraded.
        const saved = await r.createInPrimary({ userId: 'ann', data: { counter: 0 } });
        id = saved.id;
        versionBefore = saved.version;
        await r.createLocally({ id, data: { counter: 0, at: 'memory' }, userId: 'ann' });
        const entry = r.journal.get(id)!;
        r.journal.rebase(id, entry, entry.incarnation, saved.version);
      }
      expect(await r.reconciler.run(r.tally)).toBe('interrupted');
      expect(loseAnswerOf).toBeUndefined();
      // Served from memory meanwhile: the copy moves on past what was sent.
      await r.patchLocally(id, { counter: 1 });
      expect(await r.reconciler.run(r.tally)).toBe('drained');

      expect(r.tally).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
      expect(await r.primary.backing.load(id)).toMatchObject({
        version: versionBefore + 2,
        data: { counter: 1, at: 'memory' },
        userId: 'ann',
      });
      expect(r.journal.pending).toBe(0);
    },
  );

  it('with a base version: CAS-saves when the primary is still at it, conflicts when it moved on', async () => {
    const r = rig();
    const same = await r.createInPrimary({ data: { v: 'primary' } });
    const moved = await r.createInPrimary({ data: { v: 'primary' } });
    const gone = await r.createInPrimary({ data: { v: 'primary' } });
    for (const session of [same, moved, gone]) {
      // The secondary's copy derives from the primary's version 1.
      await r.createLocally({ id: session.id, data: { v: 'memory' }, userId: 'bob' });
      const entry = r.journal.get(session.id)!;
      r.journal.rebase(session.id, entry, entry.incarnation, 1);
    }
    await r.primary.backing.patch(moved.id, { set: { v: 'changed elsewhere' } });
    await r.primary.backing.delete(gone.id);

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    // `gone` was deleted in the primary: its id is retired, and the copy
    // written while degraded must not bring it back.
    expect(r.tally).toMatchObject({ written: 1, conflicts: 2 });
    expect(await r.primary.backing.load(same.id)).toMatchObject({
      version: 2,
      data: { v: 'memory' },
      userId: 'bob',
    });
    expect(await r.primary.backing.load(moved.id)).toMatchObject({
      version: 2,
      data: { v: 'changed elsewhere' },
    });
    expect(await r.primary.backing.load(gone.id)).toBeNull();
  });

  it('replays deletes; an id re-used after its delete stays retired (the copy is dropped)', async () => {
    const r = rig();
    const doomed = await r.createInPrimary();
    const reused = await r.createInPrimary({ data: { old: true } });
    r.journal.markDelete(doomed.id);
    r.journal.markDelete(generateSessionId()); // the primary never had it
    r.journal.markDelete(reused.id);
    await r.createLocally({ id: reused.id, data: { fresh: true } });

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(await r.primary.backing.load(doomed.id)).toBeNull();
    expect(await r.primary.backing.load(reused.id)).toBeNull();
    expect(r.tally).toMatchObject({ written: 0, deleted: 2, conflicts: 1 });
    expect(r.journal.pending).toBe(0);
  });

  it('a revocation deletes the user’s primary sessions created up to its time, except kept and journaled ones', async () => {
    const r = rig();
    const old = await r.createInPrimary({ userId: 'eve' });
    const kept = await r.createInPrimary({ userId: 'eve' });
    const otherUser = await r.createInPrimary({ userId: 'mallory' });
    const local = await r.createLocally({ userId: 'eve' });
    r.journal.addRevocation({ userId: 'eve', at: r.clock.now(), except: new Set([kept.id]) });
    r.clock.advance(1);
    const later = await r.createInPrimary({ userId: 'eve' });

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(await r.primary.backing.load(old.id)).toBeNull();
    for (const id of [kept.id, otherUser.id, later.id, local.id]) {
      expect(await r.primary.backing.load(id)).not.toBeNull();
    }
    expect(r.tally).toMatchObject({ deleted: 1, written: 1 });
    expect(r.journal.pending).toBe(0);
  });

  it('an outage mid-run stops it, keeps what is left journaled, and the next run finishes', async () => {
    const r = rig({ batchSize: 2, concurrency: 1 });
    const sessions = [];
    for (let i = 0; i < 7; i++) sessions.push(await r.createLocally({ data: { i } }));
    const reconciler = new Reconciler({
      primary: r.primary,
      secondary: r.secondary,
      journal: r.journal,
      clock: r.clock,
      execute: async (fn) => fn(),
      batchSize: 2,
      concurrency: 1,
      onFailed: () => undefined,
      onDeferred: () => undefined,
      giveUpAfterMs: HOUR,
      onProgress: () => {
        r.primary.fail(); // the second outage, right after the first batch
      },
      onConflict: () => undefined,
      stopping: () => false,
    });

    expect(await reconciler.run(r.tally)).toBe('interrupted');
    expect(r.tally.written).toBe(2);
    expect(r.journal.pending).toBe(5);
    expect(r.secondary.stats().valid).toBe(5);

    r.primary.heal();
    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(r.tally.written).toBe(7);
    for (const session of sessions) {
      expect((await r.primary.backing.load(session.id))?.data).toEqual(session.data);
    }
    expect(r.secondary.stats().total).toBe(0);
  });

  it('a session the primary rejects for good is reported, counted and let go', async () => {
    const r = rig({ primaryMaxBytes: 64 });
    const big = await r.createLocally({ data: { blob: 'x'.repeat(200) } });
    const small = await r.createLocally({ data: { ok: 1 } });

    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(r.tally).toMatchObject({ written: 1, failed: 1 });
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]?.sessionIdHash).toBe(hashSessionId(big.id));
    expect(r.failed[0]?.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await r.primary.backing.load(small.id)).not.toBeNull();
    expect(r.journal.pending).toBe(0);
  });

  it('a change made while its write-back was in flight is written back too, on top of it', async () => {
    const r = rig();
    const local = await r.createLocally({ data: { a: 1 } });
    r.primary.hold('create');
    const run = r.reconciler.run(r.tally);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.primary.calls).toContain('create');

    await r.patchLocally(local.id, { b: 2 });
    r.primary.heal();

    expect(await run).toBe('drained');
    expect(await r.primary.backing.load(local.id)).toMatchObject({
      version: 2,
      data: { a: 1, b: 2 },
    });
    expect(r.tally).toMatchObject({ written: 2, conflicts: 0 });
    expect(r.journal.pending).toBe(0);
  });

  it('works in batches with at most `concurrency` entries in flight, reporting progress', async () => {
    let inFlight = 0;
    let most = 0;
    const r = rig({
      batchSize: 3,
      concurrency: 2,
      execute: async (fn) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          return await fn();
        } finally {
          inFlight -= 1;
        }
      },
    });
    for (let i = 0; i < 7; i++) await r.createLocally();
    expect(await r.reconciler.run(r.tally)).toBe('drained');
    expect(r.progress).toEqual([4, 1, 0]);
    expect(most).toBe(2);
  });

  it('stops between entries when the store is closing', async () => {
    const r = rig({ stopping: () => true });
    await r.createLocally();
    expect(await r.reconciler.run(r.tally)).toBe('stopped');
    expect(r.journal.pending).toBe(1);
  });
});
