import { describe, expect, it } from 'vitest';
import { ManualClock } from '@session-cluster/core';
import { HotSessions } from './hot-sessions.js';

describe('HotSessions', () => {
  it('remembers a session for ttlMs after its last mark', () => {
    const clock = new ManualClock();
    const hot = new HotSessions(1_000, 10, clock);
    expect(hot.has('a')).toBe(false);
    hot.mark('a');
    clock.advance(999);
    expect(hot.has('a')).toBe(true);
    hot.mark('a');
    clock.advance(999);
    expect(hot.has('a')).toBe(true);
    clock.advance(1);
    expect(hot.has('a')).toBe(false);
    // An expired mark is forgotten when looked at.
    expect(hot.size).toBe(0);
  });

  it('is bounded: past maxSessions the session marked longest ago goes first', () => {
    const clock = new ManualClock();
    const hot = new HotSessions(60_000, 2, clock);
    hot.mark('a');
    hot.mark('b');
    hot.mark('a'); // marked again: now the newest
    hot.mark('c');
    expect(hot.size).toBe(2);
    expect([hot.has('a'), hot.has('b'), hot.has('c')]).toEqual([true, false, true]);
  });

  it('remembers nothing with ttlMs 0', () => {
    const hot = new HotSessions(0, 10, new ManualClock());
    hot.mark('a');
    expect(hot.has('a')).toBe(false);
    expect(hot.size).toBe(0);
  });
});
