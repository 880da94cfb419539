import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecoveryMachine, SHARED_BREAKER, partitionBreakerKey } from './recovery-machine.js';
import type { RunOutcome } from './recovery-machine.js';

/* The state machine alone, its runs and probes recorded in an order log. */

const log: string[] = [];
let pending = 0;
let nextDue: number | undefined;
let finishRun: (outcome: RunOutcome) => void = () => undefined;

function machine(): RecoveryMachine {
  return new RecoveryMachine({
    clock: { now: () => Date.now() },
    idleProbeAfterMs: 100,
    outageBegan: (reason) => log.push(`degraded ${reason}`),
    reconcile: (afterOutage) => {
      log.push(afterOutage ? 'run' : 'run (backlog)');
      return new Promise<RunOutcome>((resolve) => {
        finishRun = resolve;
      });
    },
    recovered: () => log.push('recovered'),
    pending: () => pending,
    nextDue: () => nextDue,
    probe: (key) => {
      log.push(`probe ${key}`);
      return Promise.resolve();
    },
    stopping: () => false,
  });
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000 });
  log.length = 0;
  pending = 0;
  nextDue = undefined;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RecoveryMachine', () => {
  it('closed → open → half-open → reconciling → closed, one degraded and one recovered', async () => {
    const m = machine();
    m.broke(SHARED_BREAKER, 'down');
    m.broke(partitionBreakerKey('7'), 'down too');
    expect(m.state).toEqual({ kind: 'open', since: 1_000, reason: 'down' });
    m.halfOpened(SHARED_BREAKER);
    expect(m.state.kind).toBe('open'); // partition 7 is still open
    m.reset(SHARED_BREAKER);
    m.halfOpened(partitionBreakerKey('7'));
    expect(m.state.kind).toBe('half-open');
    m.reset(partitionBreakerKey('7'));
    expect(m.state).toEqual({ kind: 'reconciling', rerun: false, afterOutage: true });
    finishRun('drained');
    await vi.waitFor(() => {
      expect(m.state).toEqual({ kind: 'closed', backlog: false });
    });
    expect(log).toEqual(['degraded down', 'run', 'recovered']);
  });

  it('a breaker closing again while a run winds down runs once more, then recovers', async () => {
    const m = machine();
    m.broke(SHARED_BREAKER, 'first');
    m.reset(SHARED_BREAKER);
    const first = finishRun;
    m.broke(SHARED_BREAKER, 'second');
    m.reset(SHARED_BREAKER);
    expect(m.state).toEqual({ kind: 'reconciling', rerun: true, afterOutage: true });
    first('interrupted');
    await vi.waitFor(() => {
      expect(log).toEqual(['degraded first', 'run', 'degraded second', 'run']);
    });
    finishRun('drained');
    await vi.waitFor(() => {
      expect(log.at(-1)).toBe('recovered');
    });
  });

  it('a backlog with the breakers closed starts a run after a primary success, or after the idle delay', async () => {
    const m = machine();
    pending = 1;
    m.backlog();
    expect(m.state).toEqual({ kind: 'closed', backlog: true });
    m.primarySucceeded();
    // A single failure, not an outage: nothing the cache held is written back.
    expect(m.state).toEqual({ kind: 'reconciling', rerun: false, afterOutage: false });
    finishRun('interrupted');
    await vi.waitFor(() => {
      expect(m.state).toEqual({ kind: 'closed', backlog: true });
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(log).toEqual(['run (backlog)', `probe ${SHARED_BREAKER}`]);
  });

  it('a run that leaves only write-backs refused for now runs again when the first is due, not per primary success', async () => {
    const m = machine();
    pending = 1;
    m.backlog();
    m.primarySucceeded();
    nextDue = Date.now() + 5_000;
    finishRun('deferred');
    await vi.advanceTimersByTimeAsync(0);
    expect(m.state).toEqual({ kind: 'closed', backlog: false });
    m.primarySucceeded();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(log).toEqual(['run (backlog)']);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['run (backlog)', 'run (backlog)']);
    pending = 0;
    finishRun('drained');
    await vi.advanceTimersByTimeAsync(0);
    expect(log.at(-1)).toBe('recovered');
  });

  it('a write-back due while an outage is open waits for the reset; due mid-run, it runs once more', async () => {
    const m = machine();
    pending = 1;
    m.backlog();
    m.primarySucceeded();
    nextDue = Date.now() + 100;
    finishRun('deferred');
    await vi.advanceTimersByTimeAsync(0);
    m.broke(SHARED_BREAKER, 'down');
    await vi.advanceTimersByTimeAsync(100);
    // The idle probe, not a run: the breaker is still open.
    expect(log).toEqual(['run (backlog)', 'degraded down', `probe ${SHARED_BREAKER}`]);
    m.reset(SHARED_BREAKER);
    expect(log.at(-1)).toBe('run');
    nextDue = Date.now() + 100;
    finishRun('deferred');
    await vi.advanceTimersByTimeAsync(0);
    expect(m.state.kind).toBe('closed');
    m.backlog();
    m.primarySucceeded();
    expect(m.state).toEqual({ kind: 'reconciling', rerun: false, afterOutage: false });
    await vi.advanceTimersByTimeAsync(100);
    expect(m.state).toEqual({ kind: 'reconciling', rerun: true, afterOutage: false });
    finishRun('drained');
    await vi.advanceTimersByTimeAsync(0);
    expect(log.slice(-2)).toEqual(['run (backlog)', 'run (backlog)']);
  });

  it('arms the idle probe per open breaker and clears it when the breaker moves on', async () => {
    const m = machine();
    m.broke(partitionBreakerKey('a'), 'a down');
    m.broke(partitionBreakerKey('b'), 'b down');
    m.halfOpened(partitionBreakerKey('b'));
    await vi.advanceTimersByTimeAsync(100);
    expect(log).toEqual(['degraded a down', `probe ${partitionBreakerKey('a')}`]);
    expect(m.toJSON()).toMatchObject({
      kind: 'open',
      breakers: { 'partition:a': 'open', 'partition:b': 'half-open' },
    });
  });
});
