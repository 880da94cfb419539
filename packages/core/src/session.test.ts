import { describe, expect, it } from 'vitest';
import { copySessionData } from './session.js';
import type { SessionData } from './session.js';

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  for (const child of Object.values(value)) deepFreeze(child);
  Object.freeze(value);
}

describe('copySessionData', () => {
  it('copies every level: equal, unshared, unfrozen', () => {
    const data: SessionData = {
      n: 1,
      s: 'text',
      none: null,
      flag: false,
      cart: { items: [1, { sku: 'a' }] },
    };
    deepFreeze(data);
    const copy = copySessionData(data);
    expect(copy).toEqual(data);
    expect(copy).not.toBe(data);
    expect(copy['cart']).not.toBe(data['cart']);
    expect(Object.isFrozen(copy)).toBe(false);
    (copy['cart'] as { items: unknown[] }).items.push(2);
    expect((data['cart'] as { items: unknown[] }).items).toHaveLength(2);
  });

  it('gives what a JSON round trip gives: -0 comes back 0', () => {
    const copy = copySessionData({ zero: -0, nested: [-0, { z: -0 }] });
    expect(copy).toEqual(JSON.parse(JSON.stringify({ zero: -0, nested: [-0, { z: -0 }] })));
    expect(Object.is(copy['zero'], 0)).toBe(true);
    expect(Object.is((copy['nested'] as [number])[0], 0)).toBe(true);
  });

  it('keeps a __proto__ key as data, as JSON.parse does, never as the prototype', () => {
    const data = JSON.parse(
      '{"__proto__": {"polluted": true}, "a": {"__proto__": 1}}',
    ) as SessionData;
    const copy = copySessionData(data);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'a']);
    expect(copy).toEqual(data);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
