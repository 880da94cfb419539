import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  SessionError,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
  generateSessionId,
} from '@session-cluster/core';
import type {
  ManualClock,
  RetryEvent,
  SessionData,
  SessionLocker,
  SessionStore,
} from '@session-cluster/core';
import { HealthMonitor } from '@session-cluster/health';
import { HookedStore, expectSessionError } from '@session-cluster/testkit';
import { SessionManager } from './session-manager.js';
import type { SessionManagerOptions } from './manager-options.js';

/** One application instance's view of the backend under test. */
export interface BackendConnection {
  readonly store: SessionStore;
  readonly locker: SessionLocker;
}

/** Options of {@link ManagerBackend.connect}. */
export interface ConnectOptions {
  /** Bound on one lock acquisition, ms. */
  readonly lockAcquireTimeoutMs?: number;
}

/** The real backend a suite run talks to (memory, or Redis + Redlock). */
export interface ManagerBackend {
  /** Shared by every store of the backend and every manager of the test. */
  readonly clock: ManualClock;
  /** A store and locker on the same sessions, as another instance would have them. */
  connect(options?: ConnectOptions): BackendConnection;
  /** Called after every manager of the test was closed. */
  teardown(): Promise<void>;
}

const TTL_MS = 60_000;

/**
 * The behaviour every backend must show through the manager. Run once on
 * MemoryStore + MemoryLocker and once on RedisStore + RedlockLocker.
 */
export function describeManagerSuite(name: string, createBackend: () => Promise<ManagerBackend>) {
  describe(`SessionManager on ${name}`, () => {
    let backend: ManagerBackend;
    const managers: SessionManager[] = [];

    function newManager(
      overrides: Partial<SessionManagerOptions> = {},
      connectOptions: ConnectOptions = {},
    ): SessionManager {
      const { store, locker } = backend.connect(connectOptions);
      const manager = new SessionManager({
        store,
        locker,
        clock: backend.clock,
        ttlMs: TTL_MS,
        // Short delays: these tests are about which errors are retried, not when.
        retry: { baseDelayMs: 5, maxDelayMs: 20 },
        ...overrides,
      });
      managers.push(manager);
      return manager;
    }

    beforeEach(async () => {
      backend = await createBackend();
    });

    afterEach(async () => {
      await Promise.all(managers.splice(0).map((m) => m.close()));
      await backend.teardown();
    });

    it('create → get returns the session as stored; a missing id is null', async () => {
      const manager = newManager();
      const created = await manager.create({ userId: 'u1', data: { cart: [1, 2] } });
      expect(created).toMatchObject({
        userId: 'u1',
        data: { cart: [1, 2] },
        version: 1,
        expiresAt: backend.clock.now() + TTL_MS,
      });
      expect(await manager.get(created.id)).toEqual(created);
      expect(await manager.get(generateSessionId())).toBeNull();
    });

    it('create honours a per-session ttl, and the session is gone once it passed', async () => {
      const manager = newManager();
      const created = await manager.create({ data: {}, ttlMs: 1_000 });
      expect(created.expiresAt).toBe(backend.clock.now() + 1_000);
      backend.clock.advance(1_000);
      expect(await manager.get(created.id)).toBeNull();
    });

    it('update is a read-modify-write that rolls the expiry', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: { visits: 1 } });
      backend.clock.advance(5_000);
      const updated = await manager.update(id, (data) => {
        data['visits'] = Number(data['visits']) + 1;
        return data;
      });
      expect(updated).toMatchObject({ data: { visits: 2 }, version: 2 });
      expect(updated.expiresAt).toBe(backend.clock.now() + TTL_MS);
      expect(await manager.get(id)).toMatchObject({ data: { visits: 2 }, version: 2 });
    });

    it('update of a missing session throws SessionNotFoundError naming update', async () => {
      const manager = newManager();
      const error = await expectSessionError(
        manager.update(generateSessionId(), (d) => d),
        SessionNotFoundError,
        'SESSION_NOT_FOUND',
      );
      expect(error.operation).toBe('update');
    });

    for (const lock of ['on-conflict', 'always'] as const) {
      it(`300 parallel update increments lose none (lock: '${lock}')`, async () => {
        const manager = newManager({ update: { lock } }, { lockAcquireTimeoutMs: 30_000 });
        const { id } = await manager.create({ data: { counter: 0 } });
        await Promise.all(
          Array.from({ length: 300 }, () =>
            manager.update(id, async (data) => {
              // Yield between read and write, as app code would.
              await Promise.resolve();
              return { ...data, counter: Number(data['counter']) + 1 };
            }),
          ),
        );
        expect(await manager.get(id)).toMatchObject({ data: { counter: 300 }, version: 301 });
        const stats = manager.updateStats();
        if (lock === 'always') {
          expect(stats).toMatchObject({ always: 300, optimistic: 0, conflicts: 0 });
        } else {
          // Contended from the start, and visibly so in this process: every
          // call but the first found another update of the session running
          // here and queued on the lock at once.
          expect(stats).toMatchObject({ always: 0, escalatedLocal: 299 });
        }
      });
    }

    it("a version conflict is retried: fn runs again on fresh data (lock: 'always', by the policy)", async () => {
      const retries: RetryEvent[] = [];
      const manager = newManager({ onRetry: (event) => retries.push(event) });
      const other = newManager();
      const { id } = await manager.create({ data: { counter: 0 } });
      const seen: SessionData[] = [];
      const updated = await manager.update(
        id,
        async (data) => {
          seen.push(structuredClone(data));
          // First run only: another instance writes between our load and our save.
          if (seen.length === 1) await other.patch(id, { set: { other: 'was here' } });
          return { ...data, counter: Number(data['counter']) + 1 };
        },
        { lock: 'always' },
      );
      expect(seen).toEqual([{ counter: 0 }, { counter: 0, other: 'was here' }]);
      expect(updated.data).toEqual({ counter: 1, other: 'was here' });
      expect(retries).toHaveLength(1);
      expect(retries[0]).toMatchObject({ operation: 'update', attempt: 1 });
      expect(retries[0]?.error.code).toBe('VERSION_CONFLICT');
      expect(await manager.get(id)).toMatchObject({ data: updated.data, version: 3 });
    });

    it("a version conflict is re-run at once without the lock (lock: 'on-conflict')", async () => {
      const retries: RetryEvent[] = [];
      const manager = newManager({ onRetry: (event) => retries.push(event) });
      const other = newManager();
      const { id } = await manager.create({ data: { counter: 0 } });
      // The lock is held elsewhere the whole time: a second optimistic try
      // that succeeds never needs it.
      const { locker } = backend.connect();
      const lock = await locker.acquire(id, { ttlMs: 10_000 });
      try {
        const seen: SessionData[] = [];
        const updated = await manager.update(id, async (data) => {
          seen.push(structuredClone(data));
          if (seen.length === 1) await other.patch(id, { set: { other: 'was here' } });
          return { ...data, counter: Number(data['counter']) + 1 };
        });
        expect(seen).toEqual([{ counter: 0 }, { counter: 0, other: 'was here' }]);
        expect(updated.data).toEqual({ counter: 1, other: 'was here' });
        // Not a policy retry: no backoff, no retry event.
        expect(retries).toHaveLength(0);
        expect(manager.updateStats()).toMatchObject({
          optimistic: 1,
          conflicts: 1,
          escalatedOnConflict: 0,
          hotSessions: 0,
        });
        expect(await manager.get(id)).toMatchObject({ data: updated.data, version: 3 });
      } finally {
        await lock.release();
        await locker.close();
      }
    });

    it('on-conflict: an uncontended update succeeds while the lock is held elsewhere; always waits for it', async () => {
      const manager = newManager({ retry: { maxAttempts: 1 } }, { lockAcquireTimeoutMs: 50 });
      const { id } = await manager.create({ data: { n: 0 } });
      const { locker } = backend.connect();
      const lock = await locker.acquire(id, { ttlMs: 10_000 });
      try {
        const written = await manager.update(id, (d) => ({ ...d, n: 1 }));
        expect(written).toMatchObject({ data: { n: 1 }, version: 2 });
        await expectSessionError(
          manager.update(id, (d) => ({ ...d, n: 2 }), { lock: 'always' }),
          ConcurrentAccessError,
          'LOCK_NOT_ACQUIRED',
        );
        const always = newManager(
          { update: { lock: 'always' }, retry: { maxAttempts: 1 } },
          { lockAcquireTimeoutMs: 50 },
        );
        await expectSessionError(
          always.update(id, (d) => ({ ...d, n: 3 })),
          ConcurrentAccessError,
          'LOCK_NOT_ACQUIRED',
        );
        // The per-call mode wins over the manager's.
        const optimistic = await always.update(id, (d) => ({ ...d, n: 4 }), {
          lock: 'on-conflict',
        });
        expect(optimistic).toMatchObject({ data: { n: 4 }, version: 3 });
        expect(manager.updateStats()).toMatchObject({ optimistic: 1, always: 1 });
      } finally {
        await lock.release();
        await locker.close();
      }
    });

    it('two conflicts in a row escalate to the lock, and the session stays hot for hotSessionTtlMs', async () => {
      const manager = newManager(
        { retry: { maxAttempts: 1 }, update: { hotSessionTtlMs: 1_000 } },
        { lockAcquireTimeoutMs: 50 },
      );
      const other = newManager();
      const { id } = await manager.create({ data: { n: 0 } });
      const { locker } = backend.connect();
      let lock = await locker.acquire(id, { ttlMs: 10_000 });
      try {
        let runs = 0;
        // Every optimistic run is overtaken by another writer; the escalated
        // attempt needs the lock, which is held elsewhere.
        await expectSessionError(
          manager.update(id, async (data) => {
            runs += 1;
            await other.patch(id, { set: { [`other${runs}`]: runs } });
            return { ...data, n: 1 };
          }),
          ConcurrentAccessError,
          'LOCK_NOT_ACQUIRED',
        );
        expect(runs).toBe(2);
        expect(manager.updateStats()).toMatchObject({
          optimistic: 0,
          conflicts: 2,
          escalatedOnConflict: 1,
          hotSessions: 1,
        });

        // Hot: the next update takes the lock at once, with no conflict to pay first.
        await expectSessionError(
          manager.update(id, (d) => ({ ...d, n: 2 })),
          ConcurrentAccessError,
          'LOCK_NOT_ACQUIRED',
        );
        expect(manager.updateStats()).toMatchObject({ escalatedHot: 1, conflicts: 2 });

        await lock.release();
        lock = await locker.acquire(id, { ttlMs: 10_000 });
        // Past the mark: optimistic again, so the lock held elsewhere does not matter.
        backend.clock.advance(1_000);
        expect(await manager.update(id, (d) => ({ ...d, n: 3 }))).toMatchObject({
          data: { n: 3 },
        });
        expect(manager.updateStats()).toMatchObject({ optimistic: 1, escalatedHot: 1 });
      } finally {
        await lock.release();
        await locker.close();
      }
    });

    it('an escalated update serializes under the lock and writes on fresh data', async () => {
      const manager = newManager({ retry: { maxAttempts: 1 } });
      const other = newManager();
      const { id } = await manager.create({ data: { n: 0 } });
      const seen: SessionData[] = [];
      const updated = await manager.update(id, async (data) => {
        seen.push(structuredClone(data));
        // The two optimistic runs are overtaken; the locked third is not.
        if (seen.length <= 2) await other.patch(id, { set: { [`p${seen.length}`]: 1 } });
        return { ...data, n: Number(data['n']) + 1 };
      });
      expect(seen).toEqual([{ n: 0 }, { n: 0, p1: 1 }, { n: 0, p1: 1, p2: 1 }]);
      expect(updated).toMatchObject({ data: { n: 1, p1: 1, p2: 1 }, version: 4 });
      expect(manager.updateStats()).toMatchObject({ conflicts: 2, escalatedOnConflict: 1 });
    });

    it('update refuses an unknown lock mode', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: {} });
      const error = await expectSessionError(
        manager.update(id, (d) => d, { lock: 'sometimes' as never }),
        SessionValidationError,
        'INVALID_ARGUMENT',
      );
      expect(error.field).toBe('options.lock');
    });

    it('non-retryable failures are not retried', async () => {
      const retries: RetryEvent[] = [];
      const manager = newManager({ onRetry: (event) => retries.push(event) });
      const { id } = await manager.create({ data: {} });
      let runs = 0;
      const boom = new Error('app bug');
      const internal = await expectSessionError(
        manager.update(id, () => {
          runs += 1;
          throw boom;
        }),
        SessionError,
        'INTERNAL',
      );
      expect(internal.cause).toBe(boom);
      expect(internal.operation).toBe('update');

      await expectSessionError(
        manager.update(id, () => {
          runs += 1;
          return { bad: 10n } as unknown as SessionData;
        }),
        SessionError,
        'SERIALIZATION_FAILED',
      );
      expect(runs).toBe(2);
      expect(retries).toEqual([]);
      expect(await manager.get(id)).toMatchObject({ data: {}, version: 1 });
    });

    it('patch merges fields without a lock, returns the version and rolls the expiry', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: { a: 1, b: 2 } });
      backend.clock.advance(1_000);
      const versions = await Promise.all([
        manager.patch(id, { set: { c: 3 } }),
        manager.patch(id, { unset: ['a'] }),
      ]);
      expect(versions.sort()).toEqual([2, 3]);
      expect(await manager.get(id)).toMatchObject({
        data: { b: 2, c: 3 },
        version: 3,
        expiresAt: backend.clock.now() + TTL_MS,
      });
      await expectSessionError(
        manager.patch(generateSessionId(), { set: { x: 1 } }),
        SessionNotFoundError,
        'SESSION_NOT_FOUND',
      );
    });

    it('touch moves the expiry without a version bump; false for a missing session', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: {} });
      backend.clock.advance(30_000);
      expect(await manager.touch(id)).toBe(true);
      expect(await manager.get(id)).toMatchObject({
        version: 1,
        expiresAt: backend.clock.now() + TTL_MS,
      });
      expect(await manager.touch(generateSessionId())).toBe(false);
    });

    it('with rolling: false expiry is absolute', async () => {
      const manager = newManager({ rolling: false });
      const { id, expiresAt } = await manager.create({ data: {} });
      backend.clock.advance(10_000);
      expect(await manager.touch(id)).toBe(true);
      await manager.patch(id, { set: { a: 1 } });
      await manager.update(id, (d) => ({ ...d, b: 2 }));
      expect(await manager.get(id)).toMatchObject({ data: { a: 1, b: 2 }, expiresAt });
      backend.clock.advance(TTL_MS);
      expect(await manager.touch(id)).toBe(false);
    });

    it('regenerate moves the data to a new id and kills the old one', async () => {
      const manager = newManager();
      const other = newManager();
      const old = await manager.create({ userId: 'anon', data: { cart: [7] } });
      const fresh = await manager.regenerate(old.id, { userId: 'alice' });

      expect(fresh.id).not.toBe(old.id);
      expect(fresh).toMatchObject({ userId: 'alice', data: { cart: [7] }, version: 1 });
      expect(await other.get(fresh.id)).toEqual(fresh);
      // Gone for everybody, including another instance.
      expect(await other.get(old.id)).toBeNull();
      await expectSessionError(
        other.patch(old.id, { set: { x: 1 } }),
        SessionNotFoundError,
        'SESSION_NOT_FOUND',
      );
      expect((await other.listByUser('alice')).map((s) => s.id)).toEqual([fresh.id]);
      expect(await other.listByUser('anon')).toEqual([]);
      await expectSessionError(
        manager.regenerate(old.id),
        SessionNotFoundError,
        'SESSION_NOT_FOUND',
      );
    });

    it('regenerate keeps the owner when no userId is given', async () => {
      const manager = newManager();
      const old = await manager.create({ userId: 'bob', data: { n: 1 } });
      const fresh = await manager.regenerate(old.id);
      expect(fresh.userId).toBe('bob');
      expect((await manager.listByUser('bob')).map((s) => s.id)).toEqual([fresh.id]);
    });

    it('regenerate retries when a patch slips in before the old id is retired, losing nothing', async () => {
      const { store, locker } = backend.connect();
      const hooked = new HookedStore(store);
      const manager = new SessionManager({
        store: hooked,
        locker,
        clock: backend.clock,
        retry: { baseDelayMs: 1 },
      });
      managers.push(manager);
      const other = newManager();
      const old = await manager.create({ data: { a: 1 } });
      let slipped = false;
      hooked.hooks.save = async () => {
        // Between the load and the retiring save: a lock-free patch from another instance.
        if (slipped) return;
        slipped = true;
        await other.patch(old.id, { set: { b: 2 } });
      };
      const fresh = await manager.regenerate(old.id);
      expect(fresh.data).toEqual({ a: 1, b: 2 });
      expect(hooked.calls.create).toBe(3); // the session, then one new id per attempt
      expect(await other.get(old.id)).toBeNull();
      expect(await other.get(fresh.id)).toMatchObject({ data: { a: 1, b: 2 } });
    });

    it('delete removes a session; deleting again is false', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: {} });
      expect(await manager.delete(id)).toBe(true);
      expect(await manager.get(id)).toBeNull();
      expect(await manager.delete(id)).toBe(false);
    });

    it('listByUser and deleteByUser (with except)', async () => {
      const manager = newManager();
      const a = await manager.create({ userId: 'carol', data: { n: 1 } });
      backend.clock.advance(1);
      const b = await manager.create({ userId: 'carol', data: { n: 2 } });
      backend.clock.advance(1);
      const c = await manager.create({ userId: 'carol', data: { n: 3 } });
      await manager.create({ userId: 'dave', data: {} });
      expect((await manager.listByUser('carol')).map((s) => s.id)).toEqual([a.id, b.id, c.id]);
      expect(await manager.deleteByUser('carol', { except: [b.id] })).toBe(2);
      expect((await manager.listByUser('carol')).map((s) => s.id)).toEqual([b.id]);
      expect(await manager.listByUser('dave')).toHaveLength(1);
    });

    it('cleanupExpired sweeps in bounded batches and returns the count', async () => {
      const manager = newManager();
      for (let i = 0; i < 5; i += 1) await manager.create({ data: { i }, ttlMs: 1_000 });
      const keeper = await manager.create({ data: {} });
      backend.clock.advance(1_000);
      expect(await manager.cleanupExpired({ batchSize: 2, maxBatches: 2 })).toBe(4);
      expect(await manager.cleanupExpired({ batchSize: 2 })).toBe(1);
      expect(await manager.cleanupExpired()).toBe(0);
      expect(await manager.get(keeper.id)).not.toBeNull();
    });

    it('health records successes, client errors as ok, and failures with their code', async () => {
      const health = new HealthMonitor();
      const manager = newManager(
        { health, retry: { maxAttempts: 2, baseDelayMs: 0 } },
        { lockAcquireTimeoutMs: 100 },
      );
      const { id } = await manager.create({ data: {} });
      await manager.get(id);
      await expect(manager.get('not-an-id')).rejects.toThrow(SessionValidationError);
      await expect(manager.update(generateSessionId(), (d) => d)).rejects.toThrow(
        SessionNotFoundError,
      );

      // A real lock held elsewhere: update gives up with LOCK_NOT_ACQUIRED.
      const { locker } = backend.connect();
      const lock = await locker.acquire(id, { ttlMs: 10_000 });
      try {
        await expectSessionError(
          manager.update(id, (d) => d, { lock: 'always' }),
          ConcurrentAccessError,
          'LOCK_NOT_ACQUIRED',
        );
      } finally {
        await lock.release();
        await locker.close();
      }

      const report = manager.health();
      expect(report?.operations['create']).toMatchObject({ count: 1, successRate: 1 });
      expect(report?.operations['get']).toMatchObject({ count: 2, successRate: 1 });
      expect(report?.operations['update']).toMatchObject({
        count: 2,
        failures: 1,
        failuresByCode: { LOCK_NOT_ACQUIRED: 1 },
      });
      expect(report?.overall.lastError?.code).toBe('LOCK_NOT_ACQUIRED');
      expect(report?.operations['update']?.latencyMs.p99).toBeGreaterThan(0);
    });

    it('a storage failure is retried, then recorded when attempts run out', async () => {
      const { store, locker } = backend.connect();
      const hooked = new HookedStore(store);
      const health = new HealthMonitor();
      const manager = new SessionManager({
        store: hooked,
        locker,
        health,
        clock: backend.clock,
        retry: { maxAttempts: 3, baseDelayMs: 0 },
      });
      managers.push(manager);
      const { id } = await manager.create({ data: { a: 1 } });

      let failures = 1;
      hooked.hooks.load = () => {
        if (failures-- > 0) throw new StorageUnavailableError('down for a moment');
      };
      expect(await manager.get(id)).toMatchObject({ data: { a: 1 } });
      expect(hooked.calls.load).toBe(2);

      failures = 10;
      const error = await expectSessionError(
        manager.get(id),
        StorageUnavailableError,
        'STORAGE_UNAVAILABLE',
      );
      expect(error.operation).toBe('get');
      expect(hooked.calls.load).toBe(5);
      expect(health.report().operations['get']).toMatchObject({
        count: 2,
        failures: 1,
        failuresByCode: { STORAGE_UNAVAILABLE: 1 },
      });
    });

    it('validation errors name the operation and the field, and reach no store', async () => {
      const { store, locker } = backend.connect();
      const hooked = new HookedStore(store);
      const manager = new SessionManager({ store: hooked, locker, clock: backend.clock });
      managers.push(manager);
      const id = generateSessionId();
      const cases: [string, string, () => Promise<unknown>][] = [
        ['create', 'data', () => manager.create({ data: [] as unknown as SessionData })],
        ['create', 'userId', () => manager.create({ userId: '', data: {} })],
        ['create', 'ttlMs', () => manager.create({ data: {}, ttlMs: 1.5 })],
        ['get', 'id', () => manager.get('x'.repeat(43))],
        ['update', 'fn', () => manager.update(id, 'nope' as never)],
        ['update', 'id', () => manager.update('../etc', (d) => d)],
        ['patch', 'changes.set', () => manager.patch(id, { set: 1 as never })],
        ['patch', 'changes.unset', () => manager.patch(id, { unset: [1] as never })],
        ['touch', 'id', () => manager.touch('*')],
        ['regenerate', 'userId', () => manager.regenerate(id, { userId: 'a\nb' })],
        ['delete', 'id', () => manager.delete('')],
        ['listByUser', 'userId', () => manager.listByUser(42 as never)],
        ['deleteByUser', 'except[1]', () => manager.deleteByUser('u', { except: [id, 'x'] })],
        ['cleanupExpired', 'batchSize', () => manager.cleanupExpired({ batchSize: 0 })],
      ];
      for (const [operation, field, call] of cases) {
        const error = await call().then(
          () => expect.fail(`${operation} (${field}) resolved`),
          (e: unknown) => e,
        );
        expect(error, `${operation} ${field}`).toBeInstanceOf(SessionValidationError);
        const validation = error as SessionValidationError;
        expect(validation.operation, `${operation} ${field}`).toBe(operation);
        if (field !== 'id') expect(validation.field, operation).toBe(field);
        else expect(validation.code).toBe('INVALID_SESSION_ID');
      }
      expect(Object.values(hooked.calls).every((n) => n === 0)).toBe(true);
    });

    it('close drains calls in progress, then refuses new ones', async () => {
      const manager = newManager();
      const { id } = await manager.create({ data: { n: 0 } });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const running = manager.update(id, async (data) => {
        entered();
        await gate;
        return { ...data, n: 1 };
      });
      await inside;
      let closed = false;
      const closing = manager.close().then(() => {
        closed = true;
      });
      const refused = await expectSessionError(
        manager.get(id),
        StorageUnavailableError,
        'STORAGE_UNAVAILABLE',
      );
      expect(refused.details).toMatchObject({ closed: true });
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(false);
      expect(manager.pendingCalls).toBe(1);
      release();
      expect((await running).data).toEqual({ n: 1 });
      await closing;
      expect(closed).toBe(true);
      const other = newManager();
      expect(await other.get(id)).toMatchObject({ data: { n: 1 } });
    });
  });
}
