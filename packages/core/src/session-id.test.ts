import { describe, expect, it } from 'vitest';
import {
  SESSION_ID_LENGTH,
  assertValidSessionId,
  generateSessionId,
  isValidSessionId,
} from './session-id.js';

describe('generateSessionId', () => {
  it('hands out distinct, valid ids across several refills of its pool', () => {
    // 1 000 ids span 8 refills of the 128-id pool: a refill that reused or
    // skipped a slice would show up as a duplicate here.
    const ids = Array.from({ length: 1_000 }, generateSessionId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toHaveLength(SESSION_ID_LENGTH);
      expect(isValidSessionId(id)).toBe(true);
    }
  });

  it('no two consecutive ids share a byte position more often than chance allows', () => {
    // Bytes equal at the same position between consecutive ids: 1/256 by chance.
    const bytes = Array.from({ length: 2_001 }, () =>
      Buffer.from(generateSessionId(), 'base64url'),
    );
    let equal = 0;
    for (let i = 1; i < bytes.length; i += 1) {
      const a = bytes[i - 1]!;
      const b = bytes[i]!;
      for (let j = 0; j < a.length; j += 1) if (a[j] === b[j]) equal += 1;
    }
    // Expected 250 of 64 000 pairs, σ ≈ 15.8: a pool handing out the same
    // slice twice would put this near 64 000.
    expect(equal).toBeLessThan(400);
  });
});

describe('isValidSessionId', () => {
  it.each([
    ['too short', 'a'.repeat(42)],
    ['too long', 'a'.repeat(44)],
    ['non-canonical last symbol', `${'a'.repeat(42)}b`],
    ['glob and hash-tag characters', `${'a'.repeat(40)}*{}A`],
    ['padding', `${'a'.repeat(42)}=`],
  ])('rejects %s', (_label, value) => {
    expect(isValidSessionId(value)).toBe(false);
    expect(() => {
      assertValidSessionId(value, 'load');
    }).toThrow(expect.objectContaining({ code: 'INVALID_SESSION_ID', operation: 'load' }));
  });
});
