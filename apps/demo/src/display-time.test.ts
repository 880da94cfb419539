import { describe, expect, it } from 'vitest';
import { formatRelative, formatTime } from './display-time.js';

describe('display times', () => {
  it('formatTime: UTC to the second, no milliseconds', () => {
    expect(formatTime(Date.UTC(2026, 11, 4, 15, 32, 41, 987))).toBe('2026-12-04 15:32:41 UTC');
  });

  it('formatRelative: whole units, past and future', () => {
    const now = Date.UTC(2026, 11, 4, 12);
    expect(formatRelative(now + 2_000, now)).toBe('just now');
    expect(formatRelative(now - 40_000, now)).toBe('40 s ago');
    expect(formatRelative(now + 30 * 60_000 - 1, now)).toBe('in 30 min');
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(formatRelative(now + 2 * 86_400_000, now)).toBe('in 2 d');
  });
});
