import { generateSessionId } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RecoveredEvent } from './fallback-events.js';
import { FallbackStore } from './fallback-store.js';
import { OutageStore } from './outage-store.test-helpers.js';
import type { BreakerState } from './primary-policy.js';

/*
 * Idle recovery: with no traffic at all, an open breaker still probes the
 * primary (after twice halfOpenAfterMs) and the journal is written back.
 * Fake timers step the clock; nothing here sleeps.
 */

const TTL = 60_000;
const HALF_OPEN_AFTER = 1_000;
const IDLE_PROBE_AFTER = 2 * HALF_OPEN_AFTER;

interface Rig {
  store: FallbackStore;
  primary: OutageStore;
  states: BreakerState[];
  recovered: RecoveredEvent[];
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

function rig(): Rig {
  const primary = new OutageStore();
  const store = new FallbackStore({
    primary,
    secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
    breaker: { kind: 'consecutive', threshold: 3, halfOpenAfterMs: HALF_OPEN_AFTER },
    timeoutMs: 200,
  });
  const r: Rig = { store, primary, states: [], recovered: [] };
  store.on('breakerStateChange', (state) => r.states.push(state));
  store.on('recovered', (event) => r.recovered.push(event));
  rigs.push(r);
  return r;
}

async function createWhileDown(r: Rig, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const session = await r.store.create({
      id: generateSessionId(),
      data: { i },
      expiresAt: Date.now() + TTL,
    });
    ids.push(session.id);
  }
  return ids;
}

describe('FallbackStore idle recovery', () => {
  it('an open breaker with no traffic probes by itself and reconciles', async () => {
    const r = rig();
    r.primary.fail();
    const ids = await createWhileDown(r, 3);
    expect(r.store.recoveryState).toMatchObject({ kind: 'open' });
    r.primary.heal();
    const reached = r.primary.calls.length;

    // Before the idle delay nothing calls the primary.
    await vi.advanceTimersByTimeAsync(IDLE_PROBE_AFTER - 1);
    expect(r.primary.calls.length).toBe(reached);
    expect(r.store.recoveryState.kind).toBe('open');

    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => {
      expect(r.recovered).toHaveLength(1);
    });
    expect(r.primary.calls[reached]).toBe('ping');
    expect(r.states).toEqual(['open', 'half-open', 'closed']);
    expect(r.recovered[0]).toMatchObject({ written: 3, runs: 1 });
    expect(r.store.recoveryState).toEqual({ kind: 'closed', backlog: false });
    expect(r.store.pendingReconciliation).toBe(0);
    for (const id of ids) expect(await r.primary.backing.load(id)).not.toBeNull();
  });

  it('a failed idle probe opens the breaker again and the next one recovers', async () => {
    const r = rig();
    r.primary.fail();
    await createWhileDown(r, 3);
    await vi.advanceTimersByTimeAsync(IDLE_PROBE_AFTER);
    expect(r.states).toEqual(['open', 'half-open', 'open']);
    expect(r.store.recoveryState.kind).toBe('open');
    expect(r.recovered).toEqual([]);

    r.primary.heal();
    await vi.advanceTimersByTimeAsync(IDLE_PROBE_AFTER);
    await vi.waitFor(() => {
      expect(r.recovered).toHaveLength(1);
    });
    expect(r.states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('a write journaled by a single failure (breaker closed) is written back with no further traffic', async () => {
    const r = rig();
    r.primary.fail();
    const [id] = await createWhileDown(r, 1);
    r.primary.heal();
    expect(r.store.recoveryState).toEqual({ kind: 'closed', backlog: true });

    await vi.advanceTimersByTimeAsync(IDLE_PROBE_AFTER);
    await vi.waitFor(() => {
      expect(r.recovered).toHaveLength(1);
    });
    expect(await r.primary.backing.load(id!)).not.toBeNull();
    expect(r.states).toEqual([]);
  });

  it('an isolated breaker is never probed', async () => {
    const r = rig();
    const handle = r.store.isolate();
    await createWhileDown(r, 2);
    const reached = r.primary.calls.length;
    await vi.advanceTimersByTimeAsync(5 * IDLE_PROBE_AFTER);
    expect(r.primary.calls.length).toBe(reached);
    expect(r.store.recoveryState.kind).toBe('open');
    handle.dispose();
    await vi.waitFor(() => {
      expect(r.recovered).toHaveLength(1);
    });
    expect(r.recovered[0]).toMatchObject({ written: 2 });
  });

  it('close() stops the idle probe', async () => {
    const r = rig();
    r.primary.fail();
    await createWhileDown(r, 3);
    await r.store.close();
    const reached = r.primary.calls.length;
    await vi.advanceTimersByTimeAsync(5 * IDLE_PROBE_AFTER);
    expect(r.primary.calls.length).toBe(reached);
  });
});
