import { randomBytes, randomUUID } from 'node:crypto';
import { StorageUnavailableError, createSessionCodec } from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DegradedJournal } from './degraded-journal.js';
import { degradedWrites } from './degraded-writes.test-helpers.js';
import type { ReconcileConflictEvent } from './fallback-events.js';
import { Reconciler, emptyTally } from './reconciler.js';

/*
 * Per-key write-back (`SessionStore.merge`) into a real Redis whose values
 * are encrypted at rest: the script cannot compare a stored value with the
 * one sent (a fresh IV per write), so only the version tells a key nobody
 * else changed.
 */

let server: RedisServerHandle;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

function rig() {
  const primary = new RedisStore({
    connection: { url: server.url },
    prefix: `t${randomUUID().slice(0, 8)}`,
    codec: createSessionCodec({ encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } }),
  });
  const secondary = new MemoryStore({ cleanupIntervalMs: 0 });
  const journal = new DegradedJournal();
  const conflicts: ReconcileConflictEvent[] = [];
  // Set to lose the answer of the next primary merge: Redis runs it, the
  // caller gets a timeout (as under a second outage mid-reconcile).
  const lose = { nextMerge: false };
  const merges: SessionData[] = [];
  const reconciler = new Reconciler({
    primary,
    secondary,
    journal,
    clock: { now: () => Date.now() },
    execute: async (fn) => {
      const before = merges.length;
      const value = await fn();
      if (lose.nextMerge && merges.length > before) {
        lose.nextMerge = false;
        throw new StorageUnavailableError('timed out', { timeout: true });
      }
      return value;
    },
    batchSize: 500,
    concurrency: 1,
    onFailed: () => undefined,
    onDeferred: () => undefined,
    giveUpAfterMs: 3_600_000,
    onProgress: () => undefined,
    onConflict: (event) => conflicts.push(event),
    stopping: () => false,
  });
  const merge = primary.merge.bind(primary);
  primary.merge = (id, changes) => {
    merges.push(Object.fromEntries(changes.changes.map((c) => [c.key, c.value])) as SessionData);
    return merge(id, changes);
  };

  return {
    primary,
    secondary,
    journal,
    reconciler,
    ...degradedWrites({ primary, secondary, journal }),
    conflicts,
    lose,
    merges,
  };
}

/**
 * A session held before the outage, changed in memory (`counter` 0 → 1),
 * and a run whose merge lands in Redis but whose answer is lost.
 */
async function mergeLandsUnanswered(r: ReturnType<typeof rig>) {
  const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
  await r.patchLocally(held.id, { counter: 1 });
  const tally = emptyTally();
  r.lose.nextMerge = true;
  expect(await r.reconciler.run(tally)).toBe('interrupted');
  expect(r.merges).toEqual([{ counter: 1 }]);
  return { held, tally };
}

describe('Reconciler merge into Redis with encryption at rest', () => {
  it('a merge that landed without its answer is built on by the next run: no conflict reported, nothing lost', async () => {
    const r = rig();
    try {
      const { held, tally } = await mergeLandsUnanswered(r);
      // It landed: Redis holds the merge, one version on.
      expect(await r.primary.load(held.id)).toMatchObject({ version: 2, data: { counter: 1 } });

      // Served from memory meanwhile: the copy moves on past what was sent.
      await r.patchLocally(held.id, { counter: 2 });
      expect(await r.reconciler.run(tally)).toBe('drained');

      expect(r.conflicts).toEqual([]);
      expect(tally).toMatchObject({ written: 1, conflicts: 0, failed: 0 });
      expect(await r.primary.load(held.id)).toMatchObject({
        version: 3,
        data: { counter: 2, theme: 'light' },
        userId: 'ann',
      });
      expect(r.journal.pending).toBe(0);
    } finally {
      await Promise.all([r.primary.close(), r.secondary.close()]);
    }
  });

  it('another writer after the unanswered merge still makes its keys conflicts (reported, last writer wins)', async () => {
    const r = rig();
    try {
      const { held, tally } = await mergeLandsUnanswered(r);
      // Another instance writes the same key after the merge landed.
      await r.primary.patch(held.id, { set: { counter: 10 } });
      await r.patchLocally(held.id, { counter: 2 });
      expect(await r.reconciler.run(tally)).toBe('drained');

      expect(tally).toMatchObject({ conflicts: 1, failed: 0 });
      expect(r.conflicts.map((c) => c.keys)).toEqual([['counter']]);
      // The local change is the later one: it wins, and the other key is kept.
      expect(await r.primary.load(held.id)).toMatchObject({
        data: { counter: 2, theme: 'light' },
      });
    } finally {
      await Promise.all([r.primary.close(), r.secondary.close()]);
    }
  });
});
