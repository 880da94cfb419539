import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  ManualClock,
  SessionCorruptedError,
  SessionNotFoundError,
  SessionSerializationError,
  SessionValidationError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import type {
  CreateSessionInput,
  SessionCodec,
  SessionData,
  SessionRecord,
  SessionStore,
} from '@session-cluster/core';
import { expectSessionError } from './expect-session-error.js';

/** What a store under test hands the contract suite. */
export interface StoreContractHarness {
  readonly store: SessionStore;
  /** Physically stored entries/keys (for Redis: keys under the test prefix) — proves bad input wrote nothing. */
  countEntries(): Promise<number>;
  /** Remove a session's payload behind the store's back, leaving its index entries (simulates Redis TTL eviction). */
  dropPayload(id: string): Promise<void>;
  /** Overwrite one stored data field of a session with raw garbage (simulates corruption). */
  corruptField(id: string, key: string, raw: string): Promise<void>;
  /** Release everything the harness created (the store, connections, keys). */
  close(): Promise<void>;
}

/**
 * Fresh per test. The store must take every expiry decision from `clock`
 * (logical expiry: the suite never sleeps, it advances the clock) and encode
 * data with `codec`.
 */
export interface StoreContractContext {
  readonly clock: ManualClock;
  readonly codec: SessionCodec;
}

/** Options of {@link describeStoreContract}. */
export interface StoreContractOptions {
  /** Parallel writers in the compare-and-set test (default 1000). */
  readonly concurrentWriters?: number | undefined;
}

/** `maxBytes` of the codec the suite hands every store: small, so size tests stay cheap. */
export const CONTRACT_MAX_BYTES = 8192;

const DEFAULT_CONCURRENT_WRITERS = 1000;
const TTL_MS = 60_000;

/**
 * The behaviour every {@link SessionStore} must show, as a vitest suite: CRUD,
 * compare-and-set saves, lock-free field patches, logical expiry, the user
 * index, bounded sweeps, concurrent writers, corruption and bad input (which
 * must throw a typed error and change nothing).
 *
 * Call it at the top level of a test file; `factory` runs before each test
 * and must return a store with no sessions in it.
 *
 * @example
 * ```ts
 * describeStoreContract('MemoryStore', ({ clock, codec }) => {
 *   const store = new MemoryStore({ clock, codec, cleanupIntervalMs: 0 });
 *   return Promise.resolve({ store, countEntries, dropPayload, corruptField, close: () => store.close() });
 * });
 * ```
 */
export function describeStoreContract(
  name: string,
  factory: (ctx: StoreContractContext) => Promise<StoreContractHarness>,
  options: StoreContractOptions = {},
): void {
  const writers = options.concurrentWriters ?? DEFAULT_CONCURRENT_WRITERS;

  describe(`SessionStore contract: ${name}`, () => {
    let clock: ManualClock;
    let codec: SessionCodec;
    let harness: StoreContractHarness | undefined;
    let store: SessionStore;

    beforeEach(async () => {
      clock = new ManualClock(Date.now());
      codec = createSessionCodec({ maxBytes: CONTRACT_MAX_BYTES });
      harness = await factory({ clock, codec });
      store = harness.store;
    });

    afterEach(async () => {
      const current = harness;
      harness = undefined;
      await current?.close();
    });

    function h(): StoreContractHarness {
      if (harness === undefined) throw new Error('harness not initialised');
      return harness;
    }

    function later(ms: number = TTL_MS): number {
      return clock.now() + ms;
    }

    function createSession(input: Partial<CreateSessionInput> = {}): Promise<SessionRecord> {
      return store.create({
        id: generateSessionId(),
        data: { n: 1 },
        expiresAt: later(),
        ...input,
      });
    }

    describe('create, load, delete', () => {
      it('create stores version 1 and load returns an equal record', async () => {
        const id = generateSessionId();
        const data: SessionData = {
          user: { name: 'Ada', roles: ['admin', 'dev'] },
          count: 3,
          ratio: 0.25,
          flag: true,
          nothing: null,
          text: 'héllo 👋 "quoted" \\ \n',
          'odd key:{x}': 1,
        };
        const expiresAt = later();
        const expected: SessionRecord = {
          id,
          userId: 'user-1',
          data,
          version: 1,
          createdAt: clock.now(),
          updatedAt: clock.now(),
          expiresAt,
        };

        expect(await store.create({ id, userId: 'user-1', data, expiresAt })).toEqual(expected);
        clock.advance(10);
        expect(await store.load(id)).toEqual(expected);
      });

      it('a session without an owner has userId undefined', async () => {
        const session = await createSession();
        expect(session.userId).toBeUndefined();
        expect((await store.load(session.id))?.userId).toBeUndefined();
      });

      it('load of an unknown valid id is null', async () => {
        expect(await store.load(generateSessionId())).toBeNull();
      });

      it('create with a taken id throws SESSION_ALREADY_EXISTS and keeps the original', async () => {
        const original = await createSession({ userId: 'owner', data: { mine: true } });
        await expectSessionError(
          store.create({
            id: original.id,
            userId: 'thief',
            data: { mine: false },
            expiresAt: later(),
          }),
          ConcurrentAccessError,
          'SESSION_ALREADY_EXISTS',
        );
        expect(await store.load(original.id)).toEqual(original);
        expect((await store.listByUser('thief')).map((r) => r.id)).toEqual([]);
      });

      it('create repeated with the same input (a re-sent command) returns the stored session', async () => {
        const original = await createSession({ userId: 'owner', data: { cart: [1, 2] } });
        clock.advance(5);
        const again = await store.create({
          id: original.id,
          userId: 'owner',
          data: { cart: [1, 2] },
          expiresAt: original.expiresAt,
        });
        expect(again).toEqual(original);
        expect(await store.load(original.id)).toEqual(original);
        expect((await store.listByUser('owner')).map((r) => r.id)).toEqual([original.id]);
        // Changed since (version 2): the id is taken, not re-created.
        await store.save(original.id, { data: { cart: [1, 2] }, expiresAt: original.expiresAt }, 1);
        await expectSessionError(
          store.create({
            id: original.id,
            userId: 'owner',
            data: { cart: [1, 2] },
            expiresAt: original.expiresAt,
          }),
          ConcurrentAccessError,
          'SESSION_ALREADY_EXISTS',
        );
      });

      it('create may reuse the id of an expired session', async () => {
        const old = await createSession({ expiresAt: later(1_000) });
        clock.advance(1_001);
        const fresh = await store.create({ id: old.id, data: { fresh: 1 }, expiresAt: later() });
        expect(fresh.version).toBe(1);
        expect(await store.load(old.id)).toEqual(fresh);
      });

      it('a deleted, retired (save that expires it) or logged-out-everywhere id cannot be created again', async () => {
        const deleted = await createSession({ userId: 'gone' });
        const retired = await createSession({ userId: 'gone' });
        const everywhere = await createSession({ userId: 'everywhere' });
        expect(await store.delete(deleted.id)).toBe(true);
        // What regenerate does to the old id: a compare-and-set save that expires it.
        expect(await store.save(retired.id, { data: {}, expiresAt: clock.now() }, 1)).toBe(2);
        expect(await store.deleteByUser('everywhere')).toBe(1);
        for (const { id } of [deleted, retired, everywhere]) {
          expect(await store.load(id)).toBeNull();
          await expectSessionError(
            store.patch(id, { set: { back: true } }),
            SessionNotFoundError,
            'SESSION_NOT_FOUND',
          );
          const revived = store.create({ id, data: { back: true }, expiresAt: later() });
          const error = await expectSessionError(
            revived,
            ConcurrentAccessError,
            'SESSION_ALREADY_EXISTS',
          );
          expect(error.details).toMatchObject({ retired: true });
          expect(await store.load(id)).toBeNull();
        }
        expect(await store.listByUser('gone')).toEqual([]);
      });

      it('delete returns true, then false, and the session is gone', async () => {
        const session = await createSession({ userId: 'deleter' });
        expect(await store.delete(session.id)).toBe(true);
        expect(await store.load(session.id)).toBeNull();
        expect(await store.delete(session.id)).toBe(false);
        expect(await store.listByUser('deleter')).toEqual([]);
      });

      it('data is copied on the way in and on the way out', async () => {
        const input: SessionData = { cart: { items: [1, 2] } };
        const session = await store.create({
          id: generateSessionId(),
          data: input,
          expiresAt: later(),
        });
        (input['cart'] as { items: number[] }).items.push(99);

        const first = await store.load(session.id);
        expect(first?.data).toEqual({ cart: { items: [1, 2] } });
        // A store may hand out a shared, deep-frozen copy instead (RedisStore
        // with its instance cache): then changing it throws.
        const frozen = first !== null && Object.isFrozen(first.data);
        const change = (fn: () => void): void => {
          if (frozen) expect(fn).toThrow(TypeError);
          else fn();
        };
        change(() => (first?.data['cart'] as { items: number[] }).items.push(3));
        (session.data['cart'] as { items: number[] }).items.push(4);
        change(() => {
          if (first !== null) first.data['added'] = true;
        });

        expect((await store.load(session.id))?.data).toEqual({ cart: { items: [1, 2] } });
      });
    });

    describe('save (compare-and-set)', () => {
      it('save with the current version replaces the data and bumps the version', async () => {
        const session = await createSession({ userId: 'saver', data: { a: 1, b: 2 } });
        clock.advance(100);
        const expiresAt = later(5_000);

        expect(await store.save(session.id, { data: { a: 3, c: [1] }, expiresAt }, 1)).toBe(2);
        expect(await store.load(session.id)).toEqual({
          ...session,
          data: { a: 3, c: [1] },
          version: 2,
          updatedAt: clock.now(),
          expiresAt,
        });
        expect(await store.save(session.id, { data: {}, expiresAt }, 2)).toBe(3);
        expect((await store.load(session.id))?.data).toEqual({});
      });

      it('save with a stale or future version throws VERSION_CONFLICT and changes nothing', async () => {
        const session = await createSession({ data: { a: 1 } });
        await store.save(session.id, { data: { a: 2 }, expiresAt: session.expiresAt }, 1);
        const current = await store.load(session.id);

        for (const version of [1, 3, 100]) {
          const error = await expectSessionError(
            store.save(session.id, { data: { a: 666 }, expiresAt: later() }, version),
            ConcurrentAccessError,
            'VERSION_CONFLICT',
          );
          expect(error.retryable).toBe(true);
        }
        expect(await store.load(session.id)).toEqual(current);
      });

      it('save on a missing or expired session throws SessionNotFoundError', async () => {
        await expectSessionError(
          store.save(generateSessionId(), { data: {}, expiresAt: later() }, 1),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        const session = await createSession({ expiresAt: later(1_000) });
        clock.advance(1_001);
        await expectSessionError(
          store.save(session.id, { data: {}, expiresAt: later() }, 1),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        expect(await store.load(session.id)).toBeNull();
      });

      it('save with a userId moves the session to that user; without one keeps the owner', async () => {
        const session = await createSession({ userId: 'erin' });
        clock.advance(10);
        const younger = await createSession({ userId: 'frank' });
        await store.save(
          session.id,
          { data: {}, expiresAt: session.expiresAt, userId: 'frank' },
          1,
        );
        expect((await store.load(session.id))?.userId).toBe('frank');
        expect(await store.listByUser('erin')).toEqual([]);
        // Oldest first by createdAt, not by when the session joined the user.
        expect((await store.listByUser('frank')).map((r) => r.id)).toEqual([
          session.id,
          younger.id,
        ]);

        await store.save(session.id, { data: { x: 1 }, expiresAt: session.expiresAt }, 2);
        expect((await store.load(session.id))?.userId).toBe('frank');
      });
    });

    describe('patch (field-level merge)', () => {
      it('patch sets and unsets top-level keys, bumps the version, keeps other keys', async () => {
        const session = await createSession({ data: { a: 1, b: { deep: [1, 2] }, c: 'keep' } });
        clock.advance(5);

        expect(
          await store.patch(session.id, { set: { a: 2, d: [true] }, unset: ['b', 'absent'] }),
        ).toBe(2);
        expect(await store.load(session.id)).toEqual({
          ...session,
          data: { a: 2, c: 'keep', d: [true] },
          version: 2,
          updatedAt: clock.now(),
        });
        expect(await store.patch(session.id, { unset: ['a'] })).toBe(3);
        expect((await store.load(session.id))?.data).toEqual({ c: 'keep', d: [true] });
      });

      it('patch with expectedVersion merges only at that version (a fenced commit)', async () => {
        const session = await createSession({ data: { a: 1 } });
        expect(await store.patch(session.id, { set: { b: 2 } }, { expectedVersion: 1 })).toBe(2);
        const refused = store.patch(session.id, { set: { c: 3 } }, { expectedVersion: 1 });
        const error = await expectSessionError(refused, ConcurrentAccessError, 'VERSION_CONFLICT');
        expect(error.details).toMatchObject({ expectedVersion: 1, currentVersion: 2 });
        expect(await store.load(session.id)).toMatchObject({ version: 2, data: { a: 1, b: 2 } });
        // Without one, an ordinary lock-free merge.
        expect(await store.patch(session.id, { set: { c: 3 } })).toBe(3);
      });

      it('patch with expiresAt moves the expiry', async () => {
        const session = await createSession({ expiresAt: later(1_000) });
        const expiresAt = later(5_000);
        expect(await store.patch(session.id, { set: { x: 1 } }, { expiresAt })).toBe(2);
        clock.advance(2_000);
        const loaded = await store.load(session.id);
        expect(loaded?.expiresAt).toBe(expiresAt);
        expect(loaded?.data).toEqual({ n: 1, x: 1 });
      });

      it('patch on a missing or expired session throws SessionNotFoundError', async () => {
        await expectSessionError(
          store.patch(generateSessionId(), { set: { a: 1 } }),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        const session = await createSession({ expiresAt: later(1_000) });
        clock.advance(1_001);
        await expectSessionError(
          store.patch(session.id, { set: { a: 1 } }),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
      });

      it('patch counts the merged total against maxBytes and changes nothing when over', async () => {
        const session = await createSession({ data: { big: 'x'.repeat(5_000) } });
        const before = await h().countEntries();

        await expectSessionError(
          store.patch(session.id, { set: { more: 'y'.repeat(4_000) } }),
          SessionValidationError,
          'PAYLOAD_TOO_LARGE',
        );
        expect(await store.load(session.id)).toEqual(session);
        expect(await h().countEntries()).toBe(before);

        // A replaced key counts once, and an unset key frees its bytes.
        expect(await store.patch(session.id, { set: { big: 'z'.repeat(5_000) } })).toBe(2);
        expect(
          await store.patch(session.id, { set: { more: 'y'.repeat(4_000) }, unset: ['big'] }),
        ).toBe(3);
        expect((await store.load(session.id))?.data).toEqual({ more: 'y'.repeat(4_000) });
      });

      it('200 parallel patches of distinct keys all land', async () => {
        const session = await createSession({ data: {} });
        const versions = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.patch(session.id, { set: { [`k${i}`]: i } })),
        );
        expect(new Set(versions).size).toBe(200);
        const loaded = await store.load(session.id);
        expect(loaded?.version).toBe(201);
        expect(loaded?.data).toEqual(
          Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i])),
        );
      });
    });

    describe('expiry and touch', () => {
      it('an expired session is invisible to load, patch, save and touch', async () => {
        const session = await createSession({ expiresAt: later(1_000) });
        clock.advance(999);
        expect(await store.load(session.id)).not.toBeNull();
        clock.advance(2);

        expect(await store.load(session.id)).toBeNull();
        await expectSessionError(
          store.patch(session.id, { set: { a: 1 } }),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        await expectSessionError(
          store.save(session.id, { data: {}, expiresAt: later() }, 1),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        expect(await store.touch(session.id, later())).toBe(false);
        expect(await store.load(session.id)).toBeNull();
      });

      it('touch extends the expiry without bumping the version', async () => {
        const session = await createSession({ expiresAt: later(1_000) });
        clock.advance(800);
        const expiresAt = later(1_000);
        expect(await store.touch(session.id, expiresAt)).toBe(true);
        clock.advance(800);

        expect(await store.load(session.id)).toEqual({ ...session, expiresAt });
        clock.advance(201);
        expect(await store.load(session.id)).toBeNull();
      });

      it('touch of an unknown session is false', async () => {
        expect(await store.touch(generateSessionId(), later())).toBe(false);
      });
    });

    describe('listSessionIds', () => {
      it('lists live sessions: not deleted ones, not expired ones', async () => {
        // Optional in the contract; every store in this repository has it.
        expect('listSessionIds' in store).toBe(true);
        const list = async () => ((await store.listSessionIds?.()) ?? []).sort();
        expect(await list()).toEqual([]);
        const kept = await createSession();
        const brief = await createSession({ expiresAt: later(1_000) });
        const deleted = await createSession();
        await store.delete(deleted.id);
        expect(await list()).toEqual([kept.id, brief.id].sort());
        clock.advance(1_001);
        expect(await list()).toEqual([kept.id]);
      });
    });

    describe('user index', () => {
      it("listByUser returns the user's live sessions oldest first, dropping expired and stale ones", async () => {
        // Expiry order deliberately differs from creation order.
        const a1 = await createSession({ userId: 'alice', expiresAt: later(30_000) });
        clock.advance(10);
        const a2 = await createSession({ userId: 'alice', expiresAt: later(1_000) });
        clock.advance(10);
        const a3 = await createSession({ userId: 'alice', expiresAt: later(20_000) });
        clock.advance(10);
        const a4 = await createSession({ userId: 'alice', expiresAt: later(10_000) });
        clock.advance(10);
        await createSession({ userId: 'bob' });

        expect(await store.listByUser('alice')).toEqual([a1, a2, a3, a4]);

        clock.advance(2_000);
        await h().dropPayload(a4.id);
        expect((await store.listByUser('alice')).map((r) => r.id)).toEqual([a1.id, a3.id]);
        expect((await store.listByUser('alice')).map((r) => r.id)).toEqual([a1.id, a3.id]);
        expect(await store.listByUser('nobody')).toEqual([]);
      });

      it("deleteByUser deletes the user's sessions except the kept ones", async () => {
        const keep = await createSession({ userId: 'carol' });
        const gone1 = await createSession({ userId: 'carol' });
        const gone2 = await createSession({ userId: 'carol' });
        const other = await createSession({ userId: 'dave' });

        expect(await store.deleteByUser('carol', { except: [keep.id] })).toBe(2);
        expect((await store.listByUser('carol')).map((r) => r.id)).toEqual([keep.id]);
        expect(await store.load(gone1.id)).toBeNull();
        expect(await store.load(gone2.id)).toBeNull();
        expect(await store.load(other.id)).toEqual(other);

        expect(await store.deleteByUser('carol')).toBe(1);
        expect(await store.load(keep.id)).toBeNull();
        expect(await store.deleteByUser('carol')).toBe(0);
        expect((await store.listByUser('dave')).map((r) => r.id)).toEqual([other.id]);
      });

      it('invalid user ids are rejected with SessionValidationError and change nothing', async () => {
        const existing = await createSession({ userId: 'owner' });
        const count = await h().countEntries();
        const badUserIds: readonly unknown[] = ['', 'a\nb', 'tab\there', 'x'.repeat(257), 42, null];

        for (const bad of badUserIds) {
          const userId = bad as string;
          await expectSessionError(
            store.listByUser(userId),
            SessionValidationError,
            'INVALID_ARGUMENT',
          );
          await expectSessionError(
            store.deleteByUser(userId),
            SessionValidationError,
            'INVALID_ARGUMENT',
          );
          await expectSessionError(
            createSession({ userId }),
            SessionValidationError,
            'INVALID_ARGUMENT',
          );
          await expectSessionError(
            store.save(existing.id, { data: { hijacked: true }, expiresAt: later(), userId }, 1),
            SessionValidationError,
            'INVALID_ARGUMENT',
          );
        }
        expect(await h().countEntries()).toBe(count);
        expect(await store.load(existing.id)).toEqual(existing);
      });
    });

    describe('sweepExpired', () => {
      it('removes expired sessions in batches of at most `limit`, each reported once', async () => {
        const live = await Promise.all(
          Array.from({ length: 5 }, () =>
            createSession({ userId: 'keeper', expiresAt: later(3_600_000) }),
          ),
        );
        const baseline = await h().countEntries();
        const doomed = new Map<string, SessionRecord>();
        for (let i = 0; i < 25; i++) {
          const session = await createSession({
            userId: i % 2 === 0 ? 'doomed' : undefined,
            expiresAt: later(1_000 + i),
          });
          doomed.set(session.id, session);
        }
        expect(await store.sweepExpired(clock.now(), 10)).toEqual({ expired: [], more: false });

        clock.advance(10_000);
        const batches = [];
        for (let i = 0; i < 3; i++) batches.push(await store.sweepExpired(clock.now(), 10));

        expect(batches.map((b) => b.expired.length)).toEqual([10, 10, 5]);
        expect(batches.map((b) => b.more)).toEqual([true, true, false]);
        const reported = batches.flatMap((b) => b.expired);
        expect(new Set(reported.map((e) => e.id)).size).toBe(25);
        for (const expired of reported) {
          const session = doomed.get(expired.id);
          expect(session).toBeDefined();
          expect(expired.userId).toBe(session?.userId);
          expect(expired.expiresAt).toBe(session?.expiresAt);
        }

        // Payloads and their index entries are gone, not just invisible
        // (checked before listByUser, which may trim stale entries itself).
        expect(await h().countEntries()).toBe(baseline);
        expect(await store.sweepExpired(clock.now(), 10)).toEqual({ expired: [], more: false });
        expect(await store.listByUser('doomed')).toEqual([]);
        expect((await store.listByUser('keeper')).map((r) => r.id).sort()).toEqual(
          live.map((r) => r.id).sort(),
        );
        for (const session of live) expect(await store.load(session.id)).toEqual(session);
      });

      it('a session touched past `now` survives the sweep', async () => {
        const session = await createSession({ expiresAt: later(1_000) });
        await store.touch(session.id, later(10_000));
        clock.advance(2_000);
        expect(await store.sweepExpired(clock.now(), 10)).toEqual({ expired: [], more: false });
        expect((await store.load(session.id))?.expiresAt).toBe(session.createdAt + 10_000);
      });
    });

    describe('concurrent writers', () => {
      it(`of ${writers} concurrent saves with the same expected version exactly one wins`, async () => {
        const session = await createSession({ data: { writer: -1 } });
        const results = await Promise.allSettled(
          Array.from({ length: writers }, (_, i) =>
            store.save(session.id, { data: { writer: i }, expiresAt: session.expiresAt }, 1),
          ),
        );

        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        const winner = winners[0] ?? -1;
        expect(results[winner]).toEqual({ status: 'fulfilled', value: 2 });
        for (const result of results) {
          if (result.status === 'fulfilled') continue;
          expect(result.reason).toBeInstanceOf(ConcurrentAccessError);
          expect((result.reason as ConcurrentAccessError).code).toBe('VERSION_CONFLICT');
        }
        const loaded = await store.load(session.id);
        expect(loaded?.version).toBe(2);
        expect(loaded?.data).toEqual({ writer: winner });
      });
    });

    describe('corruption', () => {
      it('a corrupted field makes load throw SessionCorruptedError or return null, never worse', async () => {
        const otherId = generateSessionId();
        const garbage: readonly string[] = [
          'garbage',
          '',
          'j1:00000000:1',
          'j1:zz:{"a":1}',
          'e1:nokey:AAAA',
          '{"a":1}',
          // A well-formed value, but sealed for another key / another session.
          ...codec.encodeData(otherId, { b: 'two' }).fields.map(([, encoded]) => encoded),
          ...codec.encodeData(otherId, { a: 1 }).fields.map(([, encoded]) => encoded),
        ];
        const bystander = await createSession({ data: { fine: true } });

        for (const raw of garbage) {
          const session = await createSession({ data: { a: 1, b: 'two' } });
          await h().corruptField(session.id, 'a', raw);
          let outcome: unknown;
          try {
            outcome = await store.load(session.id);
          } catch (error) {
            outcome = error;
          }
          if (outcome !== null) {
            expect(outcome).toBeInstanceOf(SessionCorruptedError);
            expect((outcome as SessionCorruptedError).code).toBe('SESSION_CORRUPTED');
          }
        }
        expect(await store.load(bystander.id)).toEqual(bystander);
      });
    });

    describe('bad input changes nothing', () => {
      const valid = generateSessionId();
      const invalidIds: readonly (readonly [label: string, value: unknown])[] = [
        ['empty', ''],
        ['glob', '*'],
        ['hash tag', 'a{b}c'],
        ['key separator', 'x:y'],
        ['43 chars ending in CRLF', `${valid.slice(0, 41)}\r\n`],
        ['44 chars', `${valid}A`],
        ['43 chars, non-canonical last char', `${valid.slice(0, 42)}B`],
        ['unicode', 'é'.repeat(43)],
        ['emoji', `${valid.slice(0, 41)}👋`],
        ['undefined', undefined],
        ['null', null],
        ['number', 42],
        ['object', { id: valid }],
        ['array', [valid]],
      ];

      async function expectNothingChanged(
        existing: SessionRecord,
        act: () => Promise<void>,
      ): Promise<void> {
        const count = await h().countEntries();
        await act();
        expect(await h().countEntries()).toBe(count);
        expect(await store.load(existing.id)).toEqual(existing);
        expect((await store.listByUser('owner')).map((r) => r.id)).toEqual([existing.id]);
      }

      it('invalid session ids are rejected by every operation with INVALID_SESSION_ID', async () => {
        const existing = await createSession({ userId: 'owner', data: { a: 1 } });
        await expectNothingChanged(existing, async () => {
          for (const [label, value] of invalidIds) {
            const id = value as string;
            const attempts: readonly (readonly [string, () => Promise<unknown>])[] = [
              ['load', () => store.load(id)],
              [
                'create',
                () => store.create({ id, userId: 'owner', data: { a: 1 }, expiresAt: later() }),
              ],
              ['save', () => store.save(id, { data: { a: 2 }, expiresAt: later() }, 1)],
              ['patch', () => store.patch(id, { set: { a: 2 } })],
              ['touch', () => store.touch(id, later())],
              ['delete', () => store.delete(id)],
              ['deleteByUser except', () => store.deleteByUser('owner', { except: [id] })],
            ];
            for (const [operation, attempt] of attempts) {
              const error = await expectSessionError(
                attempt(),
                SessionValidationError,
                'INVALID_SESSION_ID',
              ).catch((cause: unknown) => {
                throw new Error(`${operation} with ${label} id`, { cause });
              });
              expect(error.retryable).toBe(false);
            }
          }
        });
      });

      it('times, versions and deleteByUser options out of shape are refused alike by every store (INVALID_ARGUMENT)', async () => {
        const existing = await createSession({ userId: 'owner', data: { a: 1 } });
        const { id } = existing;
        await expectNothingChanged(existing, async () => {
          const attempts: readonly (readonly [string, string, () => Promise<unknown>])[] = [
            [
              'create, expiresAt beyond a Date',
              'expiresAt',
              () => store.create({ id: generateSessionId(), data: {}, expiresAt: 8.64e15 + 1 }),
            ],
            [
              'save, negative expiresAt',
              'expiresAt',
              () => store.save(id, { data: {}, expiresAt: -1 }, 1),
            ],
            [
              'save, version 0',
              'expectedVersion',
              () => store.save(id, { data: {}, expiresAt: later() }, 0),
            ],
            [
              'patch, NaN expiresAt',
              'options.expiresAt',
              () => store.patch(id, { set: { a: 2 } }, { expiresAt: Number.NaN }),
            ],
            [
              'patch, fractional version',
              'options.expectedVersion',
              () => store.patch(id, { set: { a: 2 } }, { expectedVersion: 1.5 }),
            ],
            [
              'touch, infinite expiresAt',
              'expiresAt',
              () => store.touch(id, Number.POSITIVE_INFINITY),
            ],
            [
              'deleteByUser, except not an array',
              'options.except',
              () => store.deleteByUser('owner', { except: id as never }),
            ],
            [
              'deleteByUser, options an array',
              'options',
              () => store.deleteByUser('owner', [] as never),
            ],
          ];
          for (const [what, field, attempt] of attempts) {
            const error = await expectSessionError(
              attempt(),
              SessionValidationError,
              'INVALID_ARGUMENT',
            ).catch((cause: unknown) => {
              throw new Error(what, { cause });
            });
            expect(error.field, what).toBe(field);
          }
        });
      });

      it('oversize data is rejected with PAYLOAD_TOO_LARGE', async () => {
        const existing = await createSession({ userId: 'owner' });
        const oneBigField: SessionData = { blob: 'x'.repeat(CONTRACT_MAX_BYTES) };
        const manySmallFields: SessionData = Object.fromEntries(
          Array.from({ length: 100 }, (_, i) => [`f${i}`, 'y'.repeat(100)]),
        );
        await expectNothingChanged(existing, async () => {
          for (const data of [oneBigField, manySmallFields]) {
            await expectSessionError(
              createSession({ data }),
              SessionValidationError,
              'PAYLOAD_TOO_LARGE',
            );
            await expectSessionError(
              store.save(existing.id, { data, expiresAt: later() }, 1),
              SessionValidationError,
              'PAYLOAD_TOO_LARGE',
            );
            await expectSessionError(
              store.patch(existing.id, { set: data }),
              SessionValidationError,
              'PAYLOAD_TOO_LARGE',
            );
          }
        });
      });

      it('data JSON cannot carry is rejected with SessionSerializationError', async () => {
        const existing = await createSession({ userId: 'owner' });
        const cyclic: Record<string, unknown> = { name: 'loop' };
        cyclic['self'] = cyclic;
        const unserialisable: readonly unknown[] = [
          { big: 10n },
          { nested: { cyclic } },
          { fn: () => 1 },
          { nan: Number.NaN },
        ];
        await expectNothingChanged(existing, async () => {
          for (const value of unserialisable) {
            const data = value as SessionData;
            await expectSessionError(
              createSession({ data }),
              SessionSerializationError,
              'SERIALIZATION_FAILED',
            );
            await expectSessionError(
              store.save(existing.id, { data, expiresAt: later() }, 1),
              SessionSerializationError,
              'SERIALIZATION_FAILED',
            );
            await expectSessionError(
              store.patch(existing.id, { set: data }),
              SessionSerializationError,
              'SERIALIZATION_FAILED',
            );
          }
        });
      });

      it('prototype-polluting keys are rejected with SessionValidationError', async () => {
        const existing = await createSession({ userId: 'owner' });
        const polluting: readonly SessionData[] = [
          JSON.parse('{"__proto__":{"x":1}}') as SessionData,
          { nested: JSON.parse('{"a":{"__proto__":{"x":1}}}') as SessionData },
          { constructor: { prototype: { x: 1 } } },
        ];
        await expectNothingChanged(existing, async () => {
          for (const data of polluting) {
            await expectSessionError(
              createSession({ data }),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
            await expectSessionError(
              store.save(existing.id, { data, expiresAt: later() }, 1),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
            await expectSessionError(
              store.patch(existing.id, { set: data }),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
          await expectSessionError(
            store.patch(existing.id, { unset: ['__proto__'] }),
            SessionValidationError,
            'INVALID_ARGUMENT',
          );
        });
        expect(({} as Record<string, unknown>)['x']).toBeUndefined();
      });

      it('invalid expiresAt is rejected with INVALID_ARGUMENT', async () => {
        const existing = await createSession({ userId: 'owner' });
        const notFinite: readonly unknown[] = [
          Number.NaN,
          Number.POSITIVE_INFINITY,
          Number.NEGATIVE_INFINITY,
          String(later()),
          undefined,
          null,
        ];
        await expectNothingChanged(existing, async () => {
          for (const value of [...notFinite, clock.now(), clock.now() - 1]) {
            await expectSessionError(
              createSession({ expiresAt: value as number }),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
          for (const value of notFinite) {
            const expiresAt = value as number;
            await expectSessionError(
              store.save(existing.id, { data: {}, expiresAt }, 1),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
            if (value !== undefined) {
              // `undefined` means "unchanged" for patch.
              await expectSessionError(
                store.patch(existing.id, { set: { a: 2 } }, { expiresAt }),
                SessionValidationError,
                'INVALID_ARGUMENT',
              );
            }
            await expectSessionError(
              store.touch(existing.id, expiresAt),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
        });
      });

      it('an expectedVersion that is not a positive integer is rejected with INVALID_ARGUMENT', async () => {
        const existing = await createSession({ userId: 'owner' });
        await expectNothingChanged(existing, async () => {
          for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null]) {
            await expectSessionError(
              store.save(existing.id, { data: {}, expiresAt: later() }, value as number),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
        });
      });

      it('sweepExpired rejects a limit that is not a positive integer, or a bad now', async () => {
        const existing = await createSession({ userId: 'owner', expiresAt: later(1_000) });
        await expectNothingChanged(existing, async () => {
          for (const limit of [0, -1, 1.5, Number.NaN, '10', null]) {
            await expectSessionError(
              store.sweepExpired(clock.now() + 10_000, limit as number),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
          for (const now of [Number.NaN, Number.POSITIVE_INFINITY, '1']) {
            await expectSessionError(
              store.sweepExpired(now as number, 10),
              SessionValidationError,
              'INVALID_ARGUMENT',
            );
          }
        });
      });
    });

    it('ping answers with a latency in ms', async () => {
      const latency = await store.ping();
      expect(Number.isFinite(latency)).toBe(true);
      expect(latency).toBeGreaterThanOrEqual(0);
    });
  });
}
