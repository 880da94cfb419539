import { randomUUID } from 'node:crypto';
import { createSessionCodec, generateSessionId, isSessionError } from '@session-cluster/core';
import type { SessionCodec, SessionRecord } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { DegradedJournal } from './degraded-journal.js';
import { degradedWrites } from './degraded-writes.test-helpers.js';
import type { ReconcileDeferredEvent, ReconcileFailedEvent } from './fallback-events.js';
import { createPrimaryPolicy } from './primary-policy.js';
import { Reconciler, emptyTally } from './reconciler.js';
import { failureCode, isStorageFailure } from './storage-failure.js';

/*
 * What a real Redis answers a write-back with, and which way the reconciler
 * takes it. Every failure of a primary call either interrupts the run (a
 * storage failure: the entry stays journaled for the next run) or lets the
 * entry go (reported, counted as failed, the local copy dropped). These pin
 * that the refusals Redis can give while it is up but cannot take a write
 * (memory full, a stalled server) are of the first kind, and that those of
 * the second kind are permanent: the same call on a later run is refused
 * the same way, so letting go loses nothing a later run would have written.
 */

const HOUR = 3_600_000;
/** The primary's `commandTimeout` and the fallback's call timeout, as in production (both bound a call). */
const TIMEOUT_MS = 500;

let server: RedisServerHandle;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

interface RigOptions {
  readonly codec?: SessionCodec;
  readonly failFastOnCorruption?: boolean;
}

function rig(options: RigOptions = {}, giveUpAfterMs = HOUR) {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const primary = new RedisStore({
    connection: { url: server.url },
    prefix,
    commandTimeoutMs: TIMEOUT_MS,
    ...options,
  });
  const secondary = new MemoryStore({ cleanupIntervalMs: 0 });
  const journal = new DegradedJournal();
  const failed: ReconcileFailedEvent[] = [];
  const deferred: ReconcileDeferredEvent[] = [];
  /** Added to the reconciler's clock: a test moves it on to when a deferred write-back is due. */
  const skew = { ms: 0 };
  /** Every error a primary call rejected with, as the reconciler saw it. */
  const seen: unknown[] = [];
  // The FallbackStore's own policy: the breaker over the call timeout.
  const policy = createPrimaryPolicy(
    { kind: 'consecutive', threshold: 100, halfOpenAfterMs: 200 },
    TIMEOUT_MS,
  );
  const reconciler = new Reconciler({
    primary,
    secondary,
    journal,
    clock: { now: () => Date.now() + skew.ms },
    execute: async (fn) => {
      try {
        return await policy.execute(fn);
      } catch (error) {
        seen.push(error);
        throw error;
      }
    },
    batchSize: 500,
    concurrency: 1,
    onFailed: (event) => failed.push(event),
    onDeferred: (event) => deferred.push(event),
    giveUpAfterMs,
    onProgress: () => undefined,
    onConflict: () => undefined,
    stopping: () => false,
  });

  /** The Redis key of session `id`'s frame. */
  async function frameKey(id: string): Promise<string> {
    const keys = await primary.client.keys(`${prefix}:s:*:${id}`);
    expect(keys).toHaveLength(1);
    return keys[0] as string;
  }

  return {
    primary,
    secondary,
    journal,
    reconciler,
    ...degradedWrites({ primary, secondary, journal }),
    failed,
    deferred,
    skew,
    seen,
    frameKey,
    close: () => Promise.all([primary.close(), secondary.close()]),
  };
}

/** ACL rules that take scripts from the application's user: every write-back gets `NOPERM`. */
const SCRIPTS = ['-evalsha', '-eval'];

/**
 * Run `work` while the application's user (Redis' `default`) lacks `rules`
 * (a wrong ACL rollout), then give it every command back.
 */
async function whileRefused(rules: readonly string[], work: () => Promise<void>): Promise<void> {
  const admin = new Redis(server.url);
  try {
    await admin.acl('SETUSER', 'default', ...rules);
    try {
      await work();
    } finally {
      await admin.acl('SETUSER', 'default', '+@all');
    }
  } finally {
    await admin.quit();
  }
}

/**
 * A run now writes back both: `held` (`{ counter: 0, theme: 'light' }` in
 * Redis) with its `counter: 1` merged, and `created` (`{ cart: [1] }`) created.
 */
async function expectBothWrittenBack(
  r: ReturnType<typeof rig>,
  held: SessionRecord,
  created: SessionRecord,
): Promise<void> {
  const tally = emptyTally();
  expect(await r.reconciler.run(tally)).toBe('drained');
  expect(tally).toMatchObject({ written: 2, failed: 0 });
  expect(await r.primary.load(held.id)).toMatchObject({
    version: 2,
    data: { counter: 1, theme: 'light' },
  });
  expect(await r.primary.load(created.id)).toMatchObject({ version: 1, data: { cart: [1] } });
}

/** The merge a later run would send for a copy of `held` with `counter` changed 0 → 1. */
function counterMerge(held: SessionRecord) {
  return {
    baseVersion: held.version,
    changes: [{ key: 'counter', value: 1, base: 0, at: Date.now() }],
    expiresAt: held.expiresAt,
  };
}

describe('Reconciler against refusals of a real Redis', () => {
  it('Redis out of memory (maxmemory, noeviction) interrupts the run: nothing is let go, and the next run writes it all back', async () => {
    const r = rig();
    try {
      const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
      await r.patchLocally(held.id, { counter: 1 });
      const created = await r.createLocally({ cart: [1] });

      await r.primary.client.config('SET', 'maxmemory', '1');
      const tally = emptyTally();
      try {
        expect(await r.reconciler.run(tally)).toBe('interrupted');
      } finally {
        await r.primary.client.config('SET', 'maxmemory', '0');
      }
      // The OOM reply is a storage failure, not a refusal of this session.
      expect(r.seen).toHaveLength(1);
      expect(r.seen[0]).toMatchObject({ code: 'STORAGE_UNAVAILABLE', details: { reply: 'OOM' } });
      expect(isStorageFailure(r.seen[0])).toBe(true);
      expect(r.failed).toEqual([]);
      expect(tally.failed).toBe(0);
      expect(r.journal.pending).toBe(2);
      expect(await r.secondary.load(held.id)).not.toBeNull();

      await expectBothWrittenBack(r, held, created);
    } finally {
      await r.close();
    }
  });

  it('Redis stalled (SIGSTOP) past the call timeout interrupts the run; the merge that lands on resume is found by the next run, nothing lost', async () => {
    const r = rig();
    try {
      const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
      await r.patchLocally(held.id, { counter: 1 });

      server.pause();
      try {
        expect(await r.reconciler.run(emptyTally())).toBe('interrupted');
      } finally {
        server.resume();
      }
      // The call timeout (cockatiel's) or the client's command timeout, whichever fired first.
      expect(r.seen).toHaveLength(1);
      expect(['STORAGE_TIMEOUT', 'STORAGE_UNAVAILABLE']).toContain(failureCode(r.seen[0]));
      expect(isStorageFailure(r.seen[0])).toBe(true);
      expect(r.failed).toEqual([]);
      expect(r.journal.pending).toBe(1);

      // The merge sent while Redis was stopped ran when it resumed: the
      // next run finds it landed and has nothing left to write.
      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(tally).toEqual(emptyTally());
      expect(await r.primary.load(held.id)).toMatchObject({
        version: 2,
        data: { counter: 1, theme: 'light' },
      });
      expect(r.journal.pending).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('a primary copy that fails its check (SESSION_CORRUPTED, failFastOnCorruption) is let go: a later run is refused the same way', async () => {
    const r = rig();
    try {
      const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
      await r.patchLocally(held.id, { counter: 1 });
      const key = await r.frameKey(held.id);
      const damaged = (await r.primary.client.get(key))!.replace('"theme"', '"THEME"');
      await r.primary.client.set(key, damaged, 'KEEPTTL');

      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(tally.failed).toBe(1);
      expect(r.failed).toHaveLength(1);
      expect(r.failed[0]?.error).toMatchObject({ code: 'SESSION_CORRUPTED', retryable: false });
      expect(r.seen.filter(isStorageFailure)).toEqual([]);
      expect(r.journal.pending).toBe(0);

      // Nothing in Redis changed: the frame is still refused, by the merge a
      // later run would send and by a read.
      expect(await r.primary.client.get(key)).toBe(damaged);
      await expect(r.primary.merge(held.id, counterMerge(held))).rejects.toMatchObject({
        code: 'SESSION_CORRUPTED',
      });
      await expect(r.primary.load(held.id)).rejects.toMatchObject({ code: 'SESSION_CORRUPTED' });
    } finally {
      await r.close();
    }
  });

  it("a user's revocation still logs out their sessions when one of them fails its check (the list fails under failFastOnCorruption)", async () => {
    const r = rig();
    try {
      const sessions = await Promise.all(
        [1, 2, 3].map((n) =>
          r.primary.create({
            id: generateSessionId(),
            userId: 'ann',
            data: { n },
            expiresAt: Date.now() + HOUR,
          }),
        ),
      );
      const [damagedOne, kept, other] = sessions;
      if (damagedOne === undefined || kept === undefined || other === undefined) {
        throw new Error('unreachable');
      }
      const key = await r.frameKey(damagedOne.id);
      const frame = await r.primary.client.get(key);
      await r.primary.client.set(key, frame!.replace('"n"', '"N"'), 'KEEPTTL');
      await expect(r.primary.listByUser('ann')).rejects.toMatchObject({
        code: 'SESSION_CORRUPTED',
      });
      // "Log out everywhere but here", and a session created in memory
      // after it (journaled): both stay.
      r.journal.addRevocation({ userId: 'ann', at: Date.now(), except: new Set([kept.id]) });
      const createdAfter = await r.createLocally({ fresh: true });

      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(await r.primary.load(other.id)).toBeNull();
      expect(await r.primary.client.get(key)).not.toContain('"N"');
      expect((await r.primary.load(kept.id))?.data).toEqual({ n: 2 });
      expect(await r.primary.load(createdAfter.id)).toMatchObject({ data: { fresh: true } });
      // The failed list is reported; the revocation is not lost with it.
      expect(r.failed[0]?.error).toMatchObject({ code: 'SESSION_CORRUPTED' });
      expect(tally.deleted).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('a primary copy that fails its check without failFastOnCorruption is retired by Redis: a later run would find it deleted', async () => {
    const r = rig({ failFastOnCorruption: false });
    try {
      const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
      await r.patchLocally(held.id, { counter: 1 });
      const key = await r.frameKey(held.id);
      const frame = (await r.primary.client.get(key))!;
      await r.primary.client.set(key, frame.replace('"theme"', '"THEME"'), 'KEEPTTL');

      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(tally.failed).toBe(1);
      expect(r.failed[0]?.error).toMatchObject({ code: 'SESSION_CORRUPTED', retryable: false });
      expect(r.journal.pending).toBe(0);
      expect(r.primary.corruptSessionsDeleted).toBe(1);

      // What a later run would get: the id is retired, so the merge says
      // deleted (a conflict, let go) and a whole-record create is refused.
      expect(await r.primary.merge(held.id, counterMerge(held))).toEqual({ kind: 'deleted' });
      const refused = await r.primary
        .create({ id: held.id, data: { counter: 1 }, expiresAt: held.expiresAt })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(isSessionError(refused) && refused.code).toBe('SESSION_ALREADY_EXISTS');
    } finally {
      await r.close();
    }
  });

  it('a merge Redis refuses as too large (PAYLOAD_TOO_LARGE) is let go: the same merge is refused again', async () => {
    const r = rig({ codec: createSessionCodec({ maxBytes: 400 }) });
    try {
      const held = await r.heldBeforeOutage({ counter: 0, pad: 'x'.repeat(200) });
      await r.patchLocally(held.id, { more: 'y'.repeat(200) });

      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(tally.failed).toBe(1);
      expect(r.failed[0]?.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', retryable: false });
      expect(r.seen.filter(isStorageFailure)).toEqual([]);
      expect(r.journal.pending).toBe(0);

      // Redis still holds the session as it was; a later run's merge, built
      // on it, is refused for the same size.
      expect(await r.primary.load(held.id)).toMatchObject({ version: 1, data: held.data });
      await expect(
        r.primary.merge(held.id, {
          baseVersion: held.version,
          changes: [{ key: 'more', value: 'y'.repeat(200), base: undefined, at: Date.now() }],
          expiresAt: held.expiresAt,
        }),
      ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    } finally {
      await r.close();
    }
  });

  it('a write-back refused by an ACL change (NOPERM) stays journaled and is tried again with backoff: once lifted, nothing is lost', async () => {
    const r = rig();
    try {
      const held = await r.heldBeforeOutage({ counter: 0, theme: 'light' });
      await r.patchLocally(held.id, { counter: 1 });
      const created = await r.createLocally({ cart: [1] });

      // The application's user loses scripts mid-recovery (a wrong ACL rollout).
      await whileRefused(SCRIPTS, async () => {
        const tally = emptyTally();
        const before = Date.now();
        expect(await r.reconciler.run(tally)).toBe('deferred');
        expect(tally.failed).toBe(0);
        expect(r.failed).toEqual([]);
        expect(r.journal.pending).toBe(2);
        expect(r.deferred).toHaveLength(2);
        for (const event of r.deferred) {
          expect(event.error).toMatchObject({ code: 'INTERNAL', details: { reply: 'NOPERM' } });
          expect(event.tries).toBe(1);
          // First delay 1 s ± 20 %.
          expect(event.dueAt - before).toBeGreaterThanOrEqual(800);
          expect(event.dueAt - Date.now()).toBeLessThanOrEqual(1_200);
          expect(event.giveUpAt - before).toBeGreaterThanOrEqual(HOUR);
        }
        expect(r.journal.nextDue()).toBe(Math.min(...r.deferred.map((event) => event.dueAt)));

        // Not due yet: a run tries nothing.
        const calls = r.seen.length;
        expect(await r.reconciler.run(tally)).toBe('deferred');
        expect(r.seen).toHaveLength(calls);

        // Due and still refused: tried again, the delay doubled.
        r.skew.ms = 1_300;
        expect(await r.reconciler.run(tally)).toBe('deferred');
        expect(r.deferred.map((event) => event.tries)).toEqual([1, 1, 2, 2]);
        expect(r.failed).toEqual([]);
      });
      expect(await r.secondary.load(held.id)).toMatchObject({ data: { counter: 1 } });

      r.skew.ms = 5_000;
      await expectBothWrittenBack(r, held, created);
      expect(r.journal.pending).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('a write-back still refused when its time budget ends is let go and reported, once', async () => {
    const r = rig({}, 10_000);
    try {
      const held = await r.heldBeforeOutage({ counter: 0 });
      await r.patchLocally(held.id, { counter: 1 });
      const tally = emptyTally();
      await whileRefused(SCRIPTS, async () => {
        const outcomes: string[] = [];
        for (let skew = 0; skew <= 12_000; skew += 500) {
          r.skew.ms = skew;
          outcomes.push(await r.reconciler.run(tally));
          if (outcomes.at(-1) === 'drained') break;
        }
        expect(outcomes.at(-1)).toBe('drained');
        expect(outcomes.slice(0, -1).every((outcome) => outcome === 'deferred')).toBe(true);
      });
      // 1, 2, 4 s apart, then the last try at the budget's end.
      expect(r.deferred.map((event) => event.tries)).toEqual([1, 2, 3, 4]);
      expect(r.deferred.at(-1)?.dueAt).toBe(r.deferred[0]?.giveUpAt);
      expect(tally.failed).toBe(1);
      expect(r.failed).toHaveLength(1);
      expect(r.failed[0]?.error).toMatchObject({ code: 'INTERNAL', details: { reply: 'NOPERM' } });
      expect(r.journal.pending).toBe(0);
      expect(await r.primary.load(held.id)).toMatchObject({ version: 1, data: { counter: 0 } });
    } finally {
      await r.close();
    }
  });

  it("a revocation refused for now (NOPERM) is replayed once lifted: the user's sessions still end", async () => {
    const r = rig();
    try {
      const held = await r.primary.create({
        id: generateSessionId(),
        userId: 'ann',
        data: {},
        expiresAt: Date.now() + HOUR,
      });
      r.journal.addRevocation({ userId: 'ann', at: Date.now() + 1, except: new Set() });

      await whileRefused(['-@read', '-@write', '-@scripting'], async () => {
        expect(await r.reconciler.run(emptyTally())).toBe('deferred');
      });
      expect(r.deferred).toMatchObject([{ sessionIdHash: undefined, tries: 1 }]);
      expect(r.failed).toEqual([]);
      expect(await r.primary.load(held.id)).not.toBeNull();

      r.skew.ms = 2_000;
      const tally = emptyTally();
      expect(await r.reconciler.run(tally)).toBe('drained');
      expect(tally).toMatchObject({ deleted: 1, failed: 0 });
      expect(await r.primary.load(held.id)).toBeNull();
    } finally {
      await r.close();
    }
  });

  it('giveUpAfterMs 0 lets a refused write-back go at once, as before deferral', async () => {
    const r = rig({}, 0);
    try {
      const held = await r.heldBeforeOutage({ counter: 0 });
      await r.patchLocally(held.id, { counter: 1 });
      const tally = emptyTally();
      await whileRefused(SCRIPTS, async () => {
        expect(await r.reconciler.run(tally)).toBe('drained');
      });
      expect(r.deferred).toEqual([]);
      expect(tally.failed).toBe(1);
      expect(r.failed[0]?.error).toMatchObject({ code: 'INTERNAL', details: { reply: 'NOPERM' } });
      expect(r.journal.pending).toBe(0);
    } finally {
      await r.close();
    }
  });
});
