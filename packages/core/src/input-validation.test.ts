import { describe, expect, it } from 'vitest';
import { assertJsonValue, assertTopLevelKey, formatPath } from './input-validation.js';
import { SessionSerializationError, SessionValidationError } from './errors.js';

const limits = { maxDepth: 3, maxKeyLength: 4 };

describe('formatPath', () => {
  it('uses dots for identifiers, brackets for indexes and other keys', () => {
    expect(formatPath('data', ['cart', 'items', 3, 'sku'])).toBe('data.cart.items[3].sku');
    expect(formatPath('data', ['a b', '0', '$ok_1'])).toBe('data["a b"]["0"].$ok_1');
  });
});

describe('assertJsonValue', () => {
  it('accepts JSON values up to maxDepth and shared references', () => {
    const shared = { x: 1 };
    expect(() => {
      assertJsonValue([shared, shared, 'ü', 0, -1.5, true, null], 'data', limits, 'a');
    }).not.toThrow();
    expect(() => {
      assertJsonValue({ b: [] }, 'data', limits, 'a');
    }).not.toThrow();
  });

  it('counts the data object as level 1', () => {
    expect(() => {
      assertJsonValue({ b: [[]] }, 'data', limits, 'a');
    }).toThrow(SessionValidationError);
  });

  it('refuses arrays carrying properties besides their elements (JSON would drop them)', () => {
    const named = Object.assign([1, 2], { note: 'dropped' });
    const symbolic = Object.assign([1], { [Symbol('s')]: 1 });
    const oddIndex = Object.assign([1], { '01': 1 });
    for (const value of [named, symbolic, oddIndex]) {
      expect(() => {
        assertJsonValue({ b: value }, 'data', limits, 'a');
      }).toThrow(SessionSerializationError);
    }
    expect(() => {
      assertJsonValue({ b: [1, 2] }, 'data', limits, 'a');
    }).not.toThrow();
  });

  it('leaves no state behind after a failure', () => {
    expect(() => {
      assertJsonValue({ b: [1n] }, 'data', limits, 'a');
    }).toThrow(SessionSerializationError);
    expect(() => {
      assertJsonValue({ b: [1] }, 'data', limits, 'a');
    }).not.toThrow();
  });
});

describe('assertTopLevelKey', () => {
  it.each([[''], ['abcde'], ['__proto__'], ['\udc00'], [7]])('rejects %j', (key) => {
    expect(() => {
      assertTopLevelKey(key, limits, 'data');
    }).toThrow(SessionValidationError);
  });

  it('accepts keys up to maxKeyLength code units, pairs included', () => {
    expect(() => {
      assertTopLevelKey('ab😀', limits, 'data');
    }).not.toThrow();
  });
});

describe('top-level key control characters', () => {
  it('rejects keys carrying control characters (stores frame fields with RS/US)', () => {
    const limits = { maxDepth: 32, maxKeyLength: 256 };
    for (const key of ['a\u001eb', 'a\u001fb', 'line\nbreak', 'nul\u0000', 'del\u007f']) {
      expect(() => {
        assertTopLevelKey(key, limits, 'data');
      }).toThrow(SessionValidationError);
    }
    expect(() => {
      assertTopLevelKey('tab-free key é', limits, 'data');
    }).not.toThrow();
  });
});
