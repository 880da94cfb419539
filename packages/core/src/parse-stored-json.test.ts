import { afterEach, describe, expect, it } from 'vitest';
import { parseStoredJson } from './parse-stored-json.js';

describe('parseStoredJson', () => {
  afterEach(() => {
    delete (Object.prototype as Record<string, unknown>)['polluted'];
  });

  it('parses ordinary JSON, including forbidden words as values and escaped text', () => {
    expect(parseStoredJson('{"a":["constructor","prototype"],"b":"\\u00e9"}')).toEqual({
      a: ['constructor', 'prototype'],
      b: 'é',
    });
    expect(parseStoredJson('{"constructorName":1,"x\\\\u":2}')).toEqual({
      constructorName: 1,
      'x\\u': 2,
    });
  });

  it.each([
    '{"__proto__":{"polluted":true}}',
    '{"a":[{"constructor":{"prototype":{"polluted":true}}}]}',
    '{"\\u005f_proto__":{"polluted":true}}',
    '{"\\u0070rototype":1}',
    '[{"con\\u0073tructor":1}]',
  ])('rejects forbidden keys at any depth, however spelled: %s', (text) => {
    expect(() => parseStoredJson(text)).toThrow(SyntaxError);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('throws SyntaxError on invalid JSON', () => {
    expect(() => parseStoredJson('{"a":')).toThrow(SyntaxError);
  });
});
