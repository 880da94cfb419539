import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SESSION_CHANNELS, generateSessionId, hashSessionId } from '@session-cluster/core';
import type { ReconcileMessage, SessionEvent } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import type { RecoveredEvent } from './fallback-events.js';
import { FallbackStore } from './fallback-store.js';
import { OutageStore } from './outage-store.test-helpers.js';

const HALF_OPEN_AFTER = 1_000;

describe('FallbackStore publishes routing, breaker changes and reconciliation on SESSION_CHANNELS', () => {
  const events: SessionEvent[] = [];
  const runs: ReconcileMessage[] = [];
  const onEvent = (message: unknown): void => {
    events.push(message as SessionEvent);
  };
  const onRunEnd = (message: unknown): void => {
    runs.push(message as ReconcileMessage);
  };
  let primary: OutageStore;
  let store: FallbackStore;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    SESSION_CHANNELS.event.subscribe(onEvent);
    SESSION_CHANNELS.reconcile.asyncEnd.subscribe(onRunEnd);
    primary = new OutageStore();
    store = new FallbackStore({
      primary,
      secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
      breaker: { kind: 'consecutive', threshold: 2, halfOpenAfterMs: HALF_OPEN_AFTER },
      timeoutMs: 200,
    });
  });
  afterEach(async () => {
    primary.heal();
    await store.close();
    SESSION_CHANNELS.event.unsubscribe(onEvent);
    SESSION_CHANNELS.reconcile.asyncEnd.unsubscribe(onRunEnd);
    events.length = 0;
    runs.length = 0;
    vi.useRealTimers();
  });

  /** The events published while `call` ran. */
  async function during<T>(call: () => Promise<T>): Promise<SessionEvent[]> {
    events.length = 0;
    await call();
    return [...events];
  }

  const newSession = () => ({ id: generateSessionId(), data: {}, expiresAt: Date.now() + 60_000 });

  it('announces itself for gauges, then the route of each call: primary, failed over (with the code), secondary', async () => {
    expect(events[0]).toMatchObject({ type: 'fallback_opened' });
    expect(await during(() => store.create(newSession()))).toEqual([
      { type: 'route', route: 'primary', failure: undefined },
    ]);
    primary.fail();
    // Creates, not loads: a load that misses in the secondary while the
    // breaker is closed asks the primary once more (tested apart).
    expect(await during(() => store.create(newSession()))).toEqual([
      { type: 'route', route: 'primary_failed_over', failure: 'STORAGE_UNAVAILABLE' },
    ]);
    // The second failure opens the breaker: published inside the call that opened it.
    expect(await during(() => store.create(newSession()))).toEqual([
      { type: 'breaker', state: 'open' },
      { type: 'route', route: 'primary_failed_over', failure: 'STORAGE_UNAVAILABLE' },
    ]);
    expect(await during(() => store.load(generateSessionId()))).toEqual([
      { type: 'route', route: 'secondary', failure: undefined },
    ]);
  });

  it('a call timing out in the primary names STORAGE_TIMEOUT', async () => {
    primary.stall();
    events.length = 0;
    const creating = store.create(newSession());
    await vi.advanceTimersByTimeAsync(200);
    await creating;
    expect(events).toContainEqual({
      type: 'route',
      route: 'primary_failed_over',
      failure: 'STORAGE_TIMEOUT',
    });
  });

  it('publishes each reconciliation run as one traced call with its counts, batches and conflicts (hashed ids only)', async () => {
    primary.fail();
    const id = generateSessionId();
    await store.create({ id, data: { mine: 1 }, expiresAt: Date.now() + 60_000 });
    await store.create(newSession());
    // Another instance created the same id in the primary meanwhile.
    await primary.backing.create({ id, data: { theirs: 1 }, expiresAt: Date.now() + 60_000 });
    events.length = 0;
    const recovered = once(store, 'recovered') as Promise<[RecoveredEvent]>;
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    primary.heal();
    await store.load(generateSessionId());
    await recovered;
    expect(runs).toHaveLength(1);
    const [run] = runs;
    expect(run?.entries).toBe(2);
    expect(run?.result).toBe('drained');
    expect((run?.tally.written ?? 0) - (run?.before.written ?? 0)).toBe(1);
    expect((run?.tally.conflicts ?? 0) - (run?.before.conflicts ?? 0)).toBe(1);
    expect(events).toContainEqual({
      type: 'reconcile_conflict',
      sessionIdHash: hashSessionId(id),
      keys: [],
      deleted: false,
    });
    expect(events.some((event) => event.type === 'reconcile_batch')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(id);
  });

  it('telemetry: false publishes nothing', async () => {
    const quiet = new FallbackStore({
      primary: new OutageStore(),
      secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
      telemetry: false,
    });
    expect(await during(() => quiet.load(generateSessionId()))).toEqual([]);
    await quiet.close();
  });
});
