import { once } from 'node:events';
import {
  ConcurrentAccessError,
  SessionCorruptedError,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import type { CreateSessionInput, SessionRecord } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { expectSessionError } from '@session-cluster/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CorruptibleCodec } from './corruptible-codec.test-helpers.js';
import type { DegradedEvent, RecoveredEvent } from './fallback-events.js';
import type { BreakerOptions } from './fallback-options.js';
import { FallbackStore, MISS_RECHECK_DELAY_MS } from './fallback-store.js';
import { OutageStore } from './outage-store.test-helpers.js';
import type { BreakerState } from './primary-policy.js';

const TTL = 60_000;
const HALF_OPEN_AFTER = 1_000;
const TIMEOUT = 200;

interface Rig {
  store: FallbackStore;
  primary: OutageStore;
  secondary: MemoryStore;
  codec: CorruptibleCodec;
  states: BreakerState[];
  degraded: DegradedEvent[];
  recovered: RecoveredEvent[];
  input(partial?: Partial<CreateSessionInput>): CreateSessionInput;
}

const rigs: Rig[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.primary.heal();
    await r.store.close();
  }
  vi.useRealTimers();
});

function rig(
  options: { breaker?: BreakerOptions; batchSize?: number; concurrency?: number } = {},
): Rig {
  // Both stores read the (faked) system clock, as cockatiel does.
  const codec = new CorruptibleCodec(createSessionCodec());
  const primary = new OutageStore({ codec });
  const secondary = new MemoryStore({ cleanupIntervalMs: 0 });
  const store = new FallbackStore({
    primary,
    secondary,
    breaker: options.breaker ?? {
      kind: 'consecutive',
      threshold: 3,
      halfOpenAfterMs: HALF_OPEN_AFTER,
    },
    timeoutMs: TIMEOUT,
    reconcile: { batchSize: options.batchSize ?? 500, concurrency: options.concurrency ?? 8 },
  });
  const r: Rig = {
    store,
    primary,
    secondary,
    codec,
    states: [],
    degraded: [],
    recovered: [],
    input: (partial = {}) => ({
      id: generateSessionId(),
      data: { n: 0 },
      expiresAt: Date.now() + TTL,
      ...partial,
    }),
  };
  store.on('breakerStateChange', (state) => r.states.push(state));
  store.on('degraded', (event) => r.degraded.push(event));
  store.on('recovered', (event) => r.recovered.push(event));
  rigs.push(r);
  return r;
}

/** Fail `count` creates (served by the secondary), returning what was stored. */
async function createDuringOutage(r: Rig, count: number): Promise<SessionRecord[]> {
  const created: SessionRecord[] = [];
  for (let i = 0; i < count; i++) created.push(await r.store.create(r.input({ data: { i } })));
  return created;
}

/** Wait out the open period, heal the primary, and let one call probe it. */
async function recover(r: Rig): Promise<RecoveredEvent> {
  const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
  vi.advanceTimersByTime(HALF_OPEN_AFTER);
  r.primary.heal();
  expect(await r.store.load(generateSessionId())).toBeNull();
  const [event] = await recovered;
  return event;
}

describe('FallbackStore breaker', () => {
  it('opens after `threshold` storage failures, serves from the secondary, probes after halfOpenAfterMs, then reconciles', async () => {
    const r = rig();
    const before = await r.store.create(r.input({ userId: 'ada' }));
    expect(r.store.degraded).toBe(false);

    r.primary.fail();
    const created = await createDuringOutage(r, 3);
    expect(r.store.degraded).toBe(true);
    expect(r.store.breakerState).toBe('open');
    expect(r.states).toEqual(['open']);
    expect(r.degraded).toHaveLength(1);
    expect(r.degraded[0]?.reason).toMatch(/^STORAGE_UNAVAILABLE: /);
    expect(r.degraded[0]?.at).toBe(Date.now());

    // Open: calls no longer reach the primary at all.
    const reached = r.primary.calls.length;
    created.push(...(await createDuringOutage(r, 2)));
    expect(await r.store.patch(created[0]!.id, { set: { patched: true } })).toBe(2);
    expect(await r.store.load(created[0]!.id)).toMatchObject({ data: { i: 0, patched: true } });
    expect(await r.store.delete(before.id)).toBe(false); // only in the primary: journaled
    expect(r.primary.calls.length).toBe(reached);
    expect(r.store.pendingReconciliation).toBe(6);

    // Still open just before halfOpenAfterMs.
    vi.advanceTimersByTime(HALF_OPEN_AFTER - 1);
    await r.store.load(generateSessionId());
    expect(r.primary.calls.length).toBe(reached);

    const recovered = await recover(r);
    expect(r.states).toEqual(['open', 'half-open', 'closed']);
    expect(r.store.degraded).toBe(false);
    expect(recovered).toMatchObject({
      written: 5,
      conflicts: 0,
      deleted: 1,
      skipped: 0,
      failed: 0,
      runs: 1,
    });
    expect(recovered.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.degraded).toHaveLength(1);

    for (const session of created) {
      const stored = await r.primary.backing.load(session.id);
      expect(stored?.data).toEqual(
        session.id === created[0]!.id ? { i: 0, patched: true } : session.data,
      );
    }
    expect(await r.primary.backing.load(before.id)).toBeNull();
    expect(r.secondary.stats().total).toBe(0);
    expect(r.store.pendingReconciliation).toBe(0);
  });

  it('a failed probe re-opens the breaker without a second degraded event', async () => {
    const r = rig();
    r.primary.fail();
    await createDuringOutage(r, 3);
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    expect(await r.store.load(generateSessionId())).toBeNull();
    expect(r.states).toEqual(['open', 'half-open', 'open']);
    expect(r.degraded).toHaveLength(1);
    expect(r.recovered).toHaveLength(0);

    await recover(r);
    expect(r.states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);

    // A new outage is a new degraded event.
    r.primary.fail();
    await createDuringOutage(r, 3);
    expect(r.degraded).toHaveLength(2);
  });

  it('not found, validation, version conflicts and corruption reach the caller and never trip the breaker', async () => {
    const r = rig();
    const session = await r.store.create(r.input({ data: { a: 1 } }));
    const corrupt = await r.store.create(r.input({ data: { a: 1 } }));
    r.codec.corrupt(corrupt.id, 'a', 'garbage');

    for (let i = 0; i < 5; i++) {
      await expectSessionError(
        r.store.load('not-an-id'),
        SessionValidationError,
        'INVALID_SESSION_ID',
      );
      await expectSessionError(
        r.store.patch(generateSessionId(), { set: { x: 1 } }),
        SessionNotFoundError,
        'SESSION_NOT_FOUND',
      );
      await expectSessionError(
        r.store.save(session.id, { data: {}, expiresAt: session.expiresAt }, 99),
        ConcurrentAccessError,
        'VERSION_CONFLICT',
      );
      await expectSessionError(
        r.store.create(r.input({ id: session.id })),
        ConcurrentAccessError,
        'SESSION_ALREADY_EXISTS',
      );
      await expectSessionError(
        r.store.load(corrupt.id),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
    }
    expect(r.states).toEqual([]);
    expect(r.store.degraded).toBe(false);
    expect(r.secondary.stats().total).toBe(0);
    expect(r.store.pendingReconciliation).toBe(0);
  });

  it('a primary that does not answer within timeoutMs counts as a failure and the call is served by the secondary', async () => {
    const r = rig();
    r.primary.stall();
    const load = r.store.load(generateSessionId());
    const create = r.store.create(r.input({ data: { slow: true } }));
    await vi.advanceTimersByTimeAsync(TIMEOUT - 1);
    expect(r.secondary.stats().total).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    const created = await create;
    expect(await r.secondary.load(created.id)).toMatchObject({ data: { slow: true } });
    // The load found nothing in the secondary either, so the primary is
    // asked once more; that call times out too, the third failure, which
    // opens the breaker: then the miss is the answer.
    expect(r.store.breakerState).toBe('closed');
    await vi.advanceTimersByTimeAsync(MISS_RECHECK_DELAY_MS + TIMEOUT);
    expect(await load).toBeNull();
    expect(r.degraded).toHaveLength(1);
    expect(r.degraded[0]?.reason).toMatch(/^TIMEOUT: /);
    expect(r.store.breakerState).toBe('open');

    const served = r.store.ping();
    expect(typeof (await served)).toBe('number');
  });

  it('a sampling breaker opens once the failure ratio passes its threshold at the minimum rate', async () => {
    const r = rig({
      breaker: {
        kind: 'sampling',
        threshold: 0.5,
        durationMs: 1_000,
        minimumRps: 5,
        halfOpenAfterMs: HALF_OPEN_AFTER,
      },
    });
    for (let i = 0; i < 5; i++) await r.store.load(generateSessionId());
    r.primary.fail();
    await createDuringOutage(r, 5); // 5 of 10 failed: not more than half
    expect(r.store.degraded).toBe(false);
    await createDuringOutage(r, 1); // 6 of 11
    expect(r.store.degraded).toBe(true);
    expect(r.degraded).toHaveLength(1);
    await recover(r);
    expect((await r.primary.backing.listByUser('nobody')).length).toBe(0);
    expect(r.recovered[0]).toMatchObject({ written: 6 });
  });

  it('isolate() holds the breaker open by hand; disposing it reconciles', async () => {
    const r = rig();
    const handle = r.store.isolate();
    expect(r.store.breakerState).toBe('isolated');
    expect(r.degraded).toEqual([{ reason: 'isolated', at: Date.now() }]);
    const [session] = await createDuringOutage(r, 1);
    expect(r.primary.calls).toEqual([]);

    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    handle.dispose();
    expect((await recovered)[0]).toMatchObject({ written: 1 });
    expect(r.states).toEqual(['isolated', 'closed']);
    expect(await r.primary.backing.load(session!.id)).toMatchObject({ data: session!.data });
  });

  it("listSessionIds: the primary's ids; while degraded the secondary's; after recovery both", async () => {
    const r = rig();
    const before = await r.store.create(r.input());
    expect(await r.store.listSessionIds()).toEqual([before.id]);
    const handle = r.store.isolate();
    const [during] = await createDuringOutage(r, 1);
    expect(await r.store.listSessionIds()).toEqual([during!.id]);

    const recovered = once(r.store, 'recovered');
    handle.dispose();
    await recovered;
    expect((await r.store.listSessionIds()).sort()).toEqual([before.id, during!.id].sort());
  });

  it('a single failure below the threshold is served from memory and written back after the next success', async () => {
    const r = rig();
    r.primary.fail();
    const [session] = await createDuringOutage(r, 1);
    expect(r.store.degraded).toBe(false);
    r.primary.heal();

    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    await r.store.load(generateSessionId());
    expect((await recovered)[0]).toMatchObject({ written: 1, runs: 1 });
    expect(r.degraded).toEqual([]);
    expect(await r.primary.backing.load(session!.id)).not.toBeNull();
  });
});

describe('FallbackStore: one failed call while the breaker is closed', () => {
  it('does not answer "no such session" for a session the primary holds: it asks the primary again', async () => {
    const r = rig();
    const live = await r.store.create(r.input({ data: { cart: 3 } }));

    r.primary.failNext(1);
    const load = r.store.load(live.id);
    await vi.advanceTimersByTimeAsync(MISS_RECHECK_DELAY_MS);
    expect(await load).toMatchObject({ id: live.id, data: { cart: 3 } });

    r.primary.failNext(1);
    const touch = r.store.touch(live.id, Date.now() + TTL);
    await vi.advanceTimersByTimeAsync(MISS_RECHECK_DELAY_MS);
    expect(await touch).toBe(true);

    r.primary.failNext(1);
    const patch = r.store.patch(live.id, { set: { cart: 4 } });
    await vi.advanceTimersByTimeAsync(MISS_RECHECK_DELAY_MS);
    expect(await patch).toBe(2);
    expect(await r.primary.backing.load(live.id)).toMatchObject({ version: 2, data: { cart: 4 } });

    // Nothing went to memory: no write to reconcile, no degraded mode.
    expect(r.store.pendingReconciliation).toBe(0);
    expect(r.store.breakerState).toBe('closed');
    expect(r.degraded).toEqual([]);
  });

  it('when the primary fails again the miss is the answer, and the failures count toward the breaker', async () => {
    const r = rig();
    const live = await r.store.create(r.input());
    r.primary.fail();
    const load = r.store.load(live.id);
    await vi.advanceTimersByTimeAsync(MISS_RECHECK_DELAY_MS);
    expect(await load).toBeNull();
    const patch = r.store.patch(live.id, { set: { x: 1 } });
    // The third failure (threshold 3) opens the breaker: no recheck wait.
    await expectSessionError(patch, SessionNotFoundError, 'SESSION_NOT_FOUND');
    expect(r.store.breakerState).toBe('open');
    expect(r.degraded).toHaveLength(1);
  });
});

describe('FallbackStore degraded mode', () => {
  it('a session only the primary holds reads as missing; writes to it fail as for a missing session', async () => {
    const r = rig();
    const remote = await r.store.create(r.input());
    r.primary.fail();
    await createDuringOutage(r, 3);

    expect(await r.store.load(remote.id)).toBeNull();
    expect(await r.store.touch(remote.id, Date.now() + TTL)).toBe(false);
    await expectSessionError(
      r.store.patch(remote.id, { set: { x: 1 } }),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
    await expectSessionError(
      r.store.save(remote.id, { data: {}, expiresAt: remote.expiresAt }, 1),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
    // Failed writes leave nothing to reconcile for it.
    expect(r.store.pendingReconciliation).toBe(3);
    await recover(r);
    expect(await r.store.load(remote.id)).toMatchObject({ version: 1, data: remote.data });
  });

  it('deleteByUser while degraded deletes locally and revokes the user’s older primary sessions on recovery', async () => {
    const r = rig();
    const old = await r.store.create(r.input({ userId: 'eve' }));
    const keep = await r.store.create(r.input({ userId: 'eve' }));
    r.primary.fail();
    await createDuringOutage(r, 3);
    const local = await r.store.create(r.input({ userId: 'eve' }));
    const localKept = await r.store.create(r.input({ userId: 'eve' }));

    expect(await r.store.deleteByUser('eve', { except: [keep.id, localKept.id] })).toBe(1);
    expect((await r.store.listByUser('eve')).map((s) => s.id)).toEqual([localKept.id]);
    await expectSessionError(r.store.deleteByUser(''), SessionValidationError, 'INVALID_ARGUMENT');

    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    r.primary.heal();
    const fresh = await r.store.create(r.input({ userId: 'eve' })); // the probe: after the revocation
    await vi.waitFor(() => {
      expect(r.recovered).toHaveLength(1);
    });
    // `old` revoked; `local` never reached the primary (its replayed delete finds nothing);
    // written: the 3 outage sessions and `localKept`.
    expect(r.recovered[0]).toMatchObject({ deleted: 1, written: 4 });
    const left = (await r.primary.backing.listByUser('eve')).map((s) => s.id).sort();
    expect(left).toEqual([keep.id, localKept.id, fresh.id].sort());
    expect(await r.primary.backing.load(old.id)).toBeNull();
    expect(await r.primary.backing.load(local.id)).toBeNull();
  });

  it('listByUser, sweepExpired and ping are served by the secondary while degraded', async () => {
    const r = rig();
    await r.store.create(r.input({ userId: 'ann' }));
    r.primary.fail();
    await createDuringOutage(r, 3);
    const local = await r.store.create(r.input({ userId: 'ann', expiresAt: Date.now() + 500 }));
    expect((await r.store.listByUser('ann')).map((s) => s.id)).toEqual([local.id]);
    vi.advanceTimersByTime(600);
    const swept = await r.store.sweepExpired(Date.now(), 10);
    expect(swept.expired.map((s) => s.id)).toEqual([local.id]);
    expect(await r.store.ping()).toBeGreaterThanOrEqual(0);

    // The swept session has nothing left to write back.
    const recovered = await recover(r);
    expect(recovered).toMatchObject({ written: 3, skipped: 1 });
  });

  it('while an id waits for reconciliation its reads and writes go to the secondary, and nothing is lost', async () => {
    const r = rig();
    r.primary.fail();
    const [session] = await createDuringOutage(r, 3);
    const owned = await r.store.create(r.input({ userId: 'zed' }));

    r.primary.hold('create'); // write-backs wait; the probe (a load) goes through
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    await r.store.load(generateSessionId());
    expect(r.store.breakerState).toBe('closed');
    expect(r.store.reconciling).toBe(true);

    // Only in memory, and still found: read, patched, listed.
    expect(await r.store.load(session!.id)).toMatchObject({ data: { i: 0 } });
    expect(await r.store.patch(session!.id, { set: { late: true } })).toBe(2);
    const remoteOwned = await r.primary.backing.create(r.input({ userId: 'zed' }));
    expect((await r.store.listByUser('zed')).map((s) => s.id).sort()).toEqual(
      [owned.id, remoteOwned.id].sort(),
    );

    const recovered = once(r.store, 'recovered') as Promise<[RecoveredEvent]>;
    r.primary.heal();
    expect((await recovered)[0]).toMatchObject({ conflicts: 0 });
    expect(await r.store.load(session!.id)).toMatchObject({
      version: 2,
      data: { i: 0, late: true },
    });
    expect(r.secondary.stats().total).toBe(0);
  });

  it('an outage during reconciliation interrupts it; the next recovery resumes and loses nothing', async () => {
    const r = rig({ batchSize: 5, concurrency: 1 });
    r.primary.fail();
    const created = await createDuringOutage(r, 20);
    r.store.once('reconcileProgress', () => {
      r.primary.fail();
    });
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    r.primary.heal();
    await r.store.load(generateSessionId());
    await vi.waitFor(() => {
      expect(r.store.reconciling).toBe(false);
    });
    expect(r.recovered).toEqual([]);
    const left = r.store.pendingReconciliation;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(20);

    // The primary is down again: live calls open the breaker (a new outage).
    await createDuringOutage(r, 3);
    expect(r.degraded).toHaveLength(2);

    const recovered = await recover(r);
    expect(recovered).toMatchObject({ written: 23, conflicts: 0, runs: 2 });
    for (const session of created) {
      expect((await r.primary.backing.load(session.id))?.data).toEqual(session.data);
    }
    expect(r.secondary.stats().total).toBe(0);
  });

  it('close() stops and closes both stores', async () => {
    const r = rig();
    await r.store.close();
    await r.store.close();
    await expectSessionError(r.secondary.ping(), StorageUnavailableError, 'STORAGE_UNAVAILABLE');
    await expectSessionError(
      r.primary.backing.ping(),
      StorageUnavailableError,
      'STORAGE_UNAVAILABLE',
    );
    await expectSessionError(
      r.store.load(generateSessionId()),
      StorageUnavailableError,
      'STORAGE_UNAVAILABLE',
    );
  });

  it('a throwing listener does not break the store', async () => {
    const r = rig();
    const warnings: unknown[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      r.store.on('degraded', () => {
        throw new Error('listener bug');
      });
      r.primary.fail();
      const created = await createDuringOutage(r, 4);
      expect(created).toHaveLength(4);
      expect(r.store.degraded).toBe(true);
      await vi.waitFor(() => {
        expect(warnings).toContain('listener bug');
      });
    } finally {
      process.off('warning', onWarning);
    }
  });
});
