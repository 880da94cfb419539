import { describe, expect, it } from 'vitest';
import { SessionValidationError } from './errors.js';
import { MAX_USER_ID_LENGTH, assertValidUserId, isValidUserId } from './user-id.js';

describe('isValidUserId', () => {
  it('accepts any text without control characters, surrogate pairs included', () => {
    for (const id of ['alice', '{user}', 'a:b *', 'Zoë', '👋', 'x'.repeat(MAX_USER_ID_LENGTH)]) {
      expect(isValidUserId(id)).toBe(true);
    }
  });

  it('rejects empty, too long, control characters and non-strings', () => {
    for (const id of ['', 'x'.repeat(MAX_USER_ID_LENGTH + 1), 'a\nb', '\u0085', '\u2028', 42]) {
      expect(isValidUserId(id)).toBe(false);
    }
  });

  // Regression: Redis stores a lone surrogate as U+FFFD, so '\ud800' came back
  // from RedisStore as '\ufffd' and shared a user index with '\udbff'
  // (found by test/round-trip.property.test.ts).
  it('rejects lone surrogates, high or low, anywhere', () => {
    for (const id of ['\ud800', '\udfff', 'a\udbff', '\udc00b', '👋'.slice(0, 1), '👋'.slice(1)]) {
      expect(isValidUserId(id)).toBe(false);
      expect(() => {
        assertValidUserId(id, 'create');
      }).toThrow(SessionValidationError);
    }
    let caught: unknown;
    try {
      assertValidUserId('\ud800', 'create');
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'userId',
      operation: 'create',
    });
  });
});
