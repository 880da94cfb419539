import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionCodec } from './codec.js';
import {
  SessionCorruptedError,
  SessionEncryptionError,
  SessionSerializationError,
  SessionValidationError,
  isSessionError,
} from './errors.js';
import type { SessionData } from './session.js';
import { generateSessionId } from './session-id.js';
import { checkSessionEntry, checkSessionKey, createSessionCodec } from './session-codec.js';

const sid = generateSessionId();
const otherSid = generateSessionId();

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function roundTrip(codec: SessionCodec, data: SessionData): SessionData {
  return codec.decodeData(sid, codec.encodeData(sid, data).fields);
}

/** Replace one character in the middle of `text` with a different one. */
function flipChar(text: string, at = Math.floor(text.length / 2)): string {
  const replacement = text[at] === 'A' ? 'B' : 'A';
  return text.slice(0, at) + replacement + text.slice(at + 1);
}

class CartItem {
  public readonly sku = 'A';
}

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32).toString('base64') };

const codecs: [string, SessionCodec][] = [
  ['plain', createSessionCodec()],
  ['encrypted', createSessionCodec({ encryption: { keys: [k1] } })],
];

describe.each(codecs)('session codec (%s)', (label, codec) => {
  it('round-trips nested data, unicode, arrays and numbers', () => {
    const data: SessionData = {
      user: { id: 'u1', roles: ['admin', 'editor'], profile: { name: 'Zoë 😀 日本', age: 37 } },
      cart: {
        items: [
          { sku: 'A', qty: 2, price: 0.1 },
          { sku: 'B', qty: 1, price: 1e21 },
        ],
      },
      empty: {},
      list: [],
      nested: [[], [[]], [{}]],
      flags: [true, false, null],
      'odd key with spaces & ünïcode': 'ok',
      'line\u2028separator': 'ok',
      text: 'quotes " and \\ backslashes \n newlines \u0000 nul',
      lone: '\ud800 lone surrogate in a value is escaped by JSON',
      num: -12.5e-7,
    };
    const back = roundTrip(codec, data);
    expect(back).toEqual(data);
    expect(Object.keys(back)).toEqual(Object.keys(data));
    expect((back['cart'] as { items: { price: number }[] }).items[0]!.price).toBe(0.1);
  });

  it('round-trips an empty object', () => {
    const encoded = codec.encodeData(sid, {});
    expect(encoded).toEqual({ fields: [], bytes: 0 });
    expect(codec.decodeData(sid, encoded.fields)).toEqual({});
  });

  it('stores -0 as 0 (JSON has no negative zero)', () => {
    expect(Object.is(roundTrip(codec, { z: -0 })['z'], 0)).toBe(true);
  });

  it('accepts null-prototype objects and shared (non-cyclic) references', () => {
    const shared = { a: 1 };
    const bare = Object.assign(Object.create(null) as SessionData, { x: shared, y: shared });
    expect(roundTrip(codec, bare)).toEqual({ x: { a: 1 }, y: { a: 1 } });
  });

  it('returns a fresh plain object on every decode', () => {
    const { fields } = codec.encodeData(sid, { a: { b: 1 } });
    const first = codec.decodeData(sid, fields);
    const second = codec.decodeData(sid, fields);
    expect(first).not.toBe(second);
    expect(first['a']).not.toBe(second['a']);
    expect(Object.getPrototypeOf(first)).toBe(Object.prototype);
  });

  it('counts bytes as Redis stores the entries: JSON key plus value, no checksum prefix', () => {
    const data = { é: 'ü', b: [1, 'two'] };
    const encoded = codec.encodeData(sid, data);
    const entries = codec.encodeEntries(sid, data);
    expect(encoded.bytes).toBe(
      entries.entries.reduce(
        (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
        0,
      ),
    );
    expect(encoded.bytes).toBe(entries.bytes);
    let patched = 0;
    for (const [key, value] of encoded.fields) patched += codec.fieldBytes(key, value);
    expect(patched).toBe(encoded.bytes);
    // '"é"' is 4 bytes, 'ab' 2; a j1 value counts without its 12-byte prefix.
    expect(codec.fieldBytes('é', 'ab')).toBe(6);
    expect(codec.fieldBytes('é', 'j1:00000000:"ü"')).toBe(8);
  });

  it('detects a value moved to another key or another session', () => {
    const { fields } = codec.encodeData(sid, { a: 1, b: 1 });
    const [, encodedA] = fields[0]!;
    expect(codec.decodeField(sid, 'a', encodedA)).toBe(1);
    const movedKey = catchError(() => codec.decodeField(sid, 'b', encodedA));
    const movedSession = catchError(() => codec.decodeField(otherSid, 'a', encodedA));
    for (const error of [movedKey, movedSession]) {
      expect(isSessionError(error)).toBe(true);
      expect(error).toBeInstanceOf(
        label === 'plain' ? SessionCorruptedError : SessionEncryptionError,
      );
    }
  });

  it('rejects a tampered value', () => {
    const [[, encoded]] = codec.encodeData(sid, { a: { text: 'hello world, a longer value' } })
      .fields as [[string, string]];
    const error = catchError(() => codec.decodeField(sid, 'a', flipChar(encoded)));
    if (label === 'plain') {
      expect(error).toBeInstanceOf(SessionCorruptedError);
      expect((error as SessionCorruptedError).code).toBe('SESSION_CORRUPTED');
      expect((error as SessionCorruptedError).cause).toBeInstanceOf(Error);
    } else {
      expect(error).toBeInstanceOf(SessionEncryptionError);
      expect((error as SessionEncryptionError).code).toBe('DECRYPTION_FAILED');
      expect((error as SessionEncryptionError).cause).toBeInstanceOf(Error);
    }
  });

  it('rejects unknown formats, malformed values and truncation as corrupted', () => {
    const [[, encoded]] = codec.encodeData(sid, { a: 'x' }).fields as [[string, string]];
    const bad = [
      '',
      'x',
      'j2:00000000:1',
      'j1:zzzzzzzz:1',
      'j1:00000000;1',
      'e1:',
      'e1:k1',
      'e1:bad id!:AAAA',
      'e1:k1:not*base64',
      'e1:k1:AAAA',
      '{"a":1}',
      encoded.slice(0, 5),
      12 as unknown as string,
    ];
    for (const value of bad) {
      const error = catchError(() => codec.decodeField(sid, 'a', value));
      expect(error, JSON.stringify(value)).toBeInstanceOf(SessionCorruptedError);
      expect((error as SessionCorruptedError).cause).toBeInstanceOf(Error);
    }
  });

  it('throws nothing but SessionErrors on arbitrary stored text', () => {
    const [[, encoded]] = codec.encodeData(sid, { a: { b: [1, 'two'] } }).fields as [
      [string, string],
    ];
    const inputs = [
      ...Array.from({ length: encoded.length }, (_, n) => encoded.slice(0, n)),
      ...Array.from({ length: 200 }, () => randomBytes(40).toString('latin1')),
      ...Array.from({ length: 200 }, () => `j1:${randomBytes(20).toString('hex')}`),
      ...Array.from({ length: 200 }, () => `e1:k1:${randomBytes(40).toString('base64url')}`),
      forgePlain(sid, 'a', '['.repeat(100_000)),
    ];
    for (const input of inputs) {
      const error = catchError(() => codec.decodeField(sid, 'a', input));
      expect(isSessionError(error), JSON.stringify(input.slice(0, 40))).toBe(true);
    }
  });

  it('rejects a top-level __proto__ key read from storage without assigning it', () => {
    const { fields } = codec.encodeData(sid, { a: { polluted: true } });
    const hostile = [['__proto__', fields[0]![1]] as const];
    const error = catchError(() => codec.decodeData(sid, hostile));
    expect(error).toBeInstanceOf(SessionCorruptedError);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('rejects duplicate and empty keys read from storage', () => {
    const { fields } = codec.encodeData(sid, { a: 1 });
    const a = fields[0]!;
    expect(() => codec.decodeData(sid, [a, a])).toThrow(SessionCorruptedError);
    expect(() => codec.decodeData(sid, [['', a[1]]])).toThrow(SessionCorruptedError);
  });
});

describe('session codec: plain integrity format', () => {
  const codec = createSessionCodec();
  afterEach(() => {
    delete (Object.prototype as Record<string, unknown>)['polluted'];
  });

  it('writes j1:<crc32 hex>:<json>', () => {
    const [[, encoded]] = codec.encodeData(sid, { a: { b: [1] } }).fields as [[string, string]];
    expect(encoded).toMatch(/^j1:[0-9a-f]{8}:\{"b":\[1\]\}$/);
  });

  it('detects one flipped character anywhere in the JSON', () => {
    const [[, encoded]] = codec.encodeData(sid, { a: 'abcdef' }).fields as [[string, string]];
    for (let at = 12; at < encoded.length; at++) {
      expect(() => codec.decodeField(sid, 'a', flipChar(encoded, at))).toThrow(
        SessionCorruptedError,
      );
    }
  });

  it('never lets __proto__ in stored JSON text pollute Object.prototype', () => {
    // Forge a value with a valid checksum by encoding a harmless string and
    // then re-checksumming hostile text through a second session of the same codec.
    for (const json of [
      '{"__proto__":{"polluted":true}}',
      '{"a":{"\\u005f_proto__":{"polluted":true}}}',
      '[{"constructor":{"prototype":{"polluted":true}}}]',
    ]) {
      const forged = forgePlain(sid, 'a', json);
      const error = catchError(() => codec.decodeField(sid, 'a', forged));
      expect(error).toBeInstanceOf(SessionCorruptedError);
      expect(() => codec.decodeData(sid, [['a', forged]])).toThrow(SessionCorruptedError);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    }
  });

  it('reports unparsable JSON with a valid checksum as corrupted without echoing it', () => {
    const forged = forgePlain(sid, 'a', '{"secret-token-123": ');
    const error = catchError(() => codec.decodeField(sid, 'a', forged)) as SessionCorruptedError;
    expect(error).toBeInstanceOf(SessionCorruptedError);
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(error.message).not.toContain('secret');
  });

  it('reports encrypted values as UNKNOWN_KEY_ID when it has no key ring', () => {
    const encrypting = createSessionCodec({ encryption: { keys: [k1] } });
    const [[, encrypted]] = encrypting.encodeData(sid, { a: 1 }).fields as [[string, string]];
    const error = catchError(() => codec.decodeField(sid, 'a', encrypted));
    expect(error).toBeInstanceOf(SessionEncryptionError);
    expect((error as SessionEncryptionError).code).toBe('UNKNOWN_KEY_ID');
  });
});

/**
 * A plain value with a correct checksum around arbitrary JSON text, as an
 * attacker with write access to storage could produce.
 */
function forgePlain(sessionId: string, key: string, json: string): string {
  const crc = (zlibCrc32(`${sessionId}\0${key}\0${json}`) >>> 0).toString(16).padStart(8, '0');
  return `j1:${crc}:${json}`;
}

describe('session codec: validation before encoding', () => {
  const codec = createSessionCodec({ maxDepth: 4, maxKeyLength: 8 });

  it.each([
    ['BigInt', { a: { n: 1n } }, 'data.a.n'],
    ['a function', { a: [() => 1] }, 'data.a[0]'],
    ['a symbol', { a: Symbol('s') }, 'data.a'],
    ['undefined in an array', { a: [1, undefined] }, 'data.a[1]'],
    // eslint-disable-next-line no-sparse-arrays -- a hole is the case under test
    ['a hole in a sparse array', { a: [1, , 3] }, 'data.a[1]'],
    ['undefined as a property', { a: { b: undefined } }, 'data.a.b'],
    ['undefined at the top level', { a: undefined }, 'data.a'],
    ['NaN', { a: NaN }, 'data.a'],
    ['Infinity', { a: { b: [Infinity] } }, 'data.a.b[0]'],
    ['-Infinity', { a: -Infinity }, 'data.a'],
    ['a Date', { a: { when: new Date(0) } }, 'data.a.when'],
    ['a Map', { a: new Map() }, 'data.a'],
    ['a Set', { a: new Set([1]) }, 'data.a'],
    ['a Buffer', { a: Buffer.from('x') }, 'data.a'],
    ['a class instance', { cart: { items: [1, 2, 3, new CartItem()] } }, 'data.cart.items[3]'],
    ['a boxed string', { a: Object('x') as unknown }, 'data.a'],
    ['symbol-keyed properties', { a: { [Symbol('s')]: 1 } }, 'data.a'],
    ['an odd key in the path', { a: { 'x y': 1n } }, 'data.a["x y"]'],
  ])('rejects %s with SessionSerializationError naming the path', (_what, data, path) => {
    const error = catchError(() => codec.encodeData(sid, data as unknown as SessionData));
    expect(error).toBeInstanceOf(SessionSerializationError);
    expect((error as SessionSerializationError).code).toBe('SERIALIZATION_FAILED');
    expect((error as SessionSerializationError).message).toContain(path);
    expect((error as SessionSerializationError).details).toEqual({ path });
  });

  it('rejects symbol keys on the data object itself', () => {
    const data = { a: 1, [Symbol('hidden')]: 2 } as SessionData;
    const error = catchError(() => codec.encodeData(sid, data));
    expect(error).toBeInstanceOf(SessionSerializationError);
    expect((error as SessionSerializationError).details).toEqual({ path: 'data' });
  });

  it('rejects cycles', () => {
    const a: Record<string, unknown> = { x: 1 };
    a['self'] = { back: a };
    const error = catchError(() => codec.encodeData(sid, { a } as unknown as SessionData));
    expect(error).toBeInstanceOf(SessionSerializationError);
    expect((error as Error).message).toContain('data.a.self.back');
    const list: unknown[] = [];
    list.push(list);
    expect(() => codec.encodeData(sid, { l: list } as unknown as SessionData)).toThrow(
      SessionSerializationError,
    );
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'x'],
    ['a class instance', new CartItem()],
    ['a Map', new Map()],
  ])('rejects %s as data with INVALID_ARGUMENT', (_what, data) => {
    const error = catchError(() => codec.encodeData(sid, data as unknown as SessionData));
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
    expect((error as SessionValidationError).field).toBe('data');
  });

  it.each([
    ['__proto__ at the top', JSON.parse('{"__proto__":1}') as SessionData, 'data.__proto__'],
    ['constructor at the top', { constructor: 1 }, 'data.constructor'],
    ['prototype nested', { a: { b: { prototype: 1 } } }, 'data.a.b.prototype'],
    [
      '__proto__ nested in an array',
      { a: [JSON.parse('{"__proto__":{}}')] },
      'data.a[0].__proto__',
    ],
  ])('rejects %s with INVALID_ARGUMENT', (_what, data, field) => {
    const error = catchError(() => codec.encodeData(sid, data));
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
    expect((error as SessionValidationError).field).toBe(field);
  });

  it('rejects empty, too long and malformed top-level keys', () => {
    const bad: SessionData[] = [{ '': 1 }, { abcdefghi: 1 }, { ['a\ud800']: 1 }];
    for (const data of bad) {
      const error = catchError(() => codec.encodeData(sid, data));
      expect(error).toBeInstanceOf(SessionValidationError);
      expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
    }
    expect(roundTrip(codec, { abcdefgh: 1, ['😀']: 2 })).toEqual({ abcdefgh: 1, ['😀']: 2 });
  });

  it('limits nesting depth (the data object is level 1)', () => {
    const deepest = { a: { b: [{ c: 1 }] } }; // levels 1 to 4
    expect(roundTrip(codec, deepest)).toEqual(deepest);
    const error = catchError(() => codec.encodeData(sid, { a: { b: [{ c: [] }] } }));
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
    expect((error as SessionValidationError).field).toBe('data.a.b[0].c');
  });

  it('rejects a deeply nested cycle as a cycle before the depth limit', () => {
    const loop: Record<string, unknown> = {};
    loop['again'] = loop;
    expect(() => codec.encodeData(sid, { a: loop } as unknown as SessionData)).toThrow(
      SessionSerializationError,
    );
  });
});

describe("checkSessionEntry / checkSessionKey: the codec's checks without encoding", () => {
  const codec = createSessionCodec({ maxBytes: 2 ** 30 });
  const described = (error: unknown) =>
    isSessionError(error)
      ? { name: error.name, code: error.code, message: error.message, details: error.details }
      : error;
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  const entries: [string, unknown][] = [
    ['ok', { a: [1, 'two', null, true] }],
    ['n', 10n],
    ['nan', Number.NaN],
    ['fn', () => 1],
    ['cycle', cyclic],
    ['deep', deep],
    ['date', new Date(0)],
    ['nested', { __proto__: 1, constructor: 2 }],
    ['undef', undefined],
    ['__proto__', 1],
    ['constructor', 1],
    ['', 1],
    ['k'.repeat(300), 1],
    ['ctl\u0001', 1],
    ['lone\ud800', 1],
  ];

  /** `'accepted'`, or what the error says (class, code, message, details). */
  function outcome(fn: () => unknown): unknown {
    try {
      fn();
      return 'accepted';
    } catch (error) {
      return described(error);
    }
  }

  it.each(entries)(
    'set %j: refused (or accepted) exactly as encodePatch refuses it',
    (key, value) => {
      expect(
        outcome(() => {
          checkSessionEntry(key, value);
        }),
      ).toEqual(outcome(() => codec.encodePatch(sid, { set: { [key]: value } as SessionData })));
    },
  );

  it.each(entries.map(([key]) => [key]))('unset %j: as encodePatch checks patch.unset', (key) => {
    expect(
      outcome(() => {
        checkSessionKey(key);
      }),
    ).toEqual(outcome(() => codec.encodePatch(sid, { unset: [key] })));
  });
});

describe('session codec: size limit', () => {
  const data: SessionData = { user: { name: 'Zoë' }, list: [1, 2, 3], s: 'ü'.repeat(40) };

  it.each([
    ['plain', undefined],
    ['encrypted', { keys: [k1] }],
  ] as const)('accepts exactly maxBytes and rejects one byte less (%s)', (_label, encryption) => {
    const size = createSessionCodec({ encryption }).encodeData(sid, data).bytes;
    const atLimit = createSessionCodec({ maxBytes: size, encryption });
    expect(atLimit.encodeData(sid, data).bytes).toBe(size);
    const below = createSessionCodec({ maxBytes: size - 1, encryption });
    const error = catchError(() => below.encodeData(sid, data)) as SessionValidationError;
    expect(error).toBeInstanceOf(SessionValidationError);
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.message).toContain(String(size));
    expect(error.message).toContain(String(size - 1));
    expect(error.message).not.toContain('Zoë');
    expect(error.details).toMatchObject({ bytes: size, maxBytes: size - 1 });
  });

  it('defaults to 64 KiB', () => {
    const codec = createSessionCodec();
    expect(codec.maxBytes).toBe(65_536);
    // JSON key '"a"' (3) + the value's quotes (2) + payload, as Redis stores it
    const payload = 'x'.repeat(65_536 - 5);
    expect(codec.encodeData(sid, { a: payload }).bytes).toBe(65_536);
    expect(() => codec.encodeData(sid, { a: `${payload}x` })).toThrow(SessionValidationError);
  });
});

describe('session codec: patches', () => {
  const codec = createSessionCodec({ maxBytes: 64 });

  it('encodes set like data and validates unset keys', () => {
    const patch = codec.encodePatch(sid, { set: { a: 1 }, unset: ['b', 'c', 'b'] });
    expect(patch.set.fields.map(([key]) => key)).toEqual(['a']);
    expect(codec.decodeData(sid, patch.set.fields)).toEqual({ a: 1 });
    expect(patch.unset).toEqual(['b', 'c']);
    expect(codec.encodePatch(sid, {})).toEqual({ set: { fields: [], bytes: 0 }, unset: [] });
  });

  it('rejects a key that is both set and unset', () => {
    const error = catchError(() => codec.encodePatch(sid, { set: { a: 1 }, unset: ['a'] }));
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
  });

  it.each([
    ['a non-string key', [1]],
    ['an empty key', ['']],
    ['a forbidden key', ['__proto__']],
    ['a key that is too long', ['k'.repeat(257)]],
    ['a non-array', 'a'],
  ])('rejects %s in unset', (_what, unset) => {
    const error = catchError(() =>
      codec.encodePatch(sid, { unset: unset as unknown as readonly string[] }),
    );
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_ARGUMENT');
  });

  it('rejects bad values in set and a set over maxBytes', () => {
    expect(() => codec.encodePatch(sid, { set: { a: 1n } as unknown as SessionData })).toThrow(
      SessionSerializationError,
    );
    const error = catchError(() => codec.encodePatch(sid, { set: { a: 'x'.repeat(64) } }));
    expect((error as SessionValidationError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((error as SessionValidationError).field).toBe('patch.set');
    expect(() => codec.encodePatch(sid, { set: [] as unknown as SessionData })).toThrow(
      SessionValidationError,
    );
  });
});

describe('session codec: encryption at rest', () => {
  it('writes e1:<keyId>:<base64url> with a fresh IV per value', () => {
    const codec = createSessionCodec({ encryption: { keys: [k1] } });
    const first = codec.encodeData(sid, { a: 'same' }).fields[0]![1];
    const second = codec.encodeData(sid, { a: 'same' }).fields[0]![1];
    expect(first).toMatch(/^e1:k1:[A-Za-z0-9_-]+$/);
    expect(first).not.toBe(second);
    expect(first).not.toContain('same');
  });

  it('decrypts with any key of the ring and encrypts with the first', () => {
    const old = createSessionCodec({ encryption: { keys: [k1] } });
    const rotated = createSessionCodec({ encryption: { keys: [k2, k1] } });
    const { fields } = old.encodeData(sid, { cart: [1, 2] });
    expect(rotated.decodeData(sid, fields)).toEqual({ cart: [1, 2] });
    expect(rotated.encodeData(sid, { a: 1 }).fields[0]![1]).toMatch(/^e1:k2:/);
  });

  it('reports a key id missing from the ring as UNKNOWN_KEY_ID', () => {
    const old = createSessionCodec({ encryption: { keys: [k1] } });
    const withoutK1 = createSessionCodec({ encryption: { keys: [k2] } });
    const { fields } = old.encodeData(sid, { a: 1 });
    const error = catchError(() => withoutK1.decodeData(sid, fields));
    expect(error).toBeInstanceOf(SessionEncryptionError);
    expect((error as SessionEncryptionError).code).toBe('UNKNOWN_KEY_ID');
  });

  it('reports a key with the right id but wrong bytes as DECRYPTION_FAILED', () => {
    const impostor = createSessionCodec({ encryption: { keys: [{ id: 'k1', key: k2.key }] } });
    const { fields } = createSessionCodec({ encryption: { keys: [k1] } }).encodeData(sid, { a: 1 });
    const error = catchError(() => impostor.decodeData(sid, fields));
    expect((error as SessionEncryptionError).code).toBe('DECRYPTION_FAILED');
  });

  it('reports tampered IV, tag or ciphertext as DECRYPTION_FAILED', () => {
    const codec = createSessionCodec({ encryption: { keys: [k1] } });
    const encoded = codec.encodeData(sid, { a: 'some secret value' }).fields[0]![1];
    const body = Buffer.from(encoded.slice('e1:k1:'.length), 'base64url');
    for (const offset of [0, 11, 12, 27, 28, body.length - 1]) {
      const tampered = Buffer.from(body);
      tampered[offset] = tampered[offset]! ^ 0x01;
      const error = catchError(() =>
        codec.decodeField(sid, 'a', `e1:k1:${tampered.toString('base64url')}`),
      );
      expect(error).toBeInstanceOf(SessionEncryptionError);
      expect((error as SessionEncryptionError).code).toBe('DECRYPTION_FAILED');
      expect((error as SessionEncryptionError).cause).toBeInstanceOf(Error);
    }
  });

  it('refuses plain values under encryption (planted, or from before it), unless acceptPlaintext', () => {
    const { fields } = createSessionCodec().encodeData(sid, { a: { b: 1 } });
    const encrypting = createSessionCodec({ encryption: { keys: [k1] } });
    expect(encrypting.requiresEncryption).toBe(true);
    expect(() => encrypting.decodeData(sid, fields)).toThrow(SessionCorruptedError);
    expect(() => encrypting.decodeEntry(sid, 'a', '{"b":1}')).toThrow(SessionCorruptedError);
    const migrating = createSessionCodec({ encryption: { keys: [k1] }, acceptPlaintext: true });
    expect(migrating.requiresEncryption).toBe(false);
    expect(migrating.decodeData(sid, fields)).toEqual({ a: { b: 1 } });
    expect(migrating.decodeEntry(sid, 'a', '{"b":1}')).toEqual({ b: 1 });
    expect(() => createSessionCodec({ acceptPlaintext: 'yes' as never })).toThrow(
      /acceptPlaintext/,
    );
  });

  it('accepts raw, Uint8Array, base64 and base64url keys and copies them', () => {
    const raw = randomBytes(32);
    for (const key of [
      raw,
      new Uint8Array(raw),
      raw.toString('base64'),
      raw.toString('base64url'),
    ]) {
      const codec = createSessionCodec({ encryption: { keys: [{ id: 'k', key }] } });
      const { fields } = codec.encodeData(sid, { a: 1 });
      const reference = createSessionCodec({ encryption: { keys: [{ id: 'k', key: raw }] } });
      expect(reference.decodeData(sid, fields)).toEqual({ a: 1 });
    }
    const mutable = Buffer.from(raw);
    const codec = createSessionCodec({ encryption: { keys: [{ id: 'k', key: mutable }] } });
    mutable.fill(0);
    const { fields } = codec.encodeData(sid, { a: 1 });
    const reference = createSessionCodec({ encryption: { keys: [{ id: 'k', key: raw }] } });
    expect(reference.decodeData(sid, fields)).toEqual({ a: 1 });
  });
});

describe('session codec: configuration', () => {
  const key = randomBytes(32);

  it.each([
    ['no keys', { keys: [] }, 'encryption.keys'],
    ['keys not an array', { keys: 'k' }, 'encryption.keys'],
    ['an entry that is not an object', { keys: [null] }, 'encryption.keys[0]'],
    ['an empty id', { keys: [{ id: '', key }] }, 'encryption.keys[0].id'],
    ['an id with a colon', { keys: [{ id: 'a:b', key }] }, 'encryption.keys[0].id'],
    ['an id over 32 chars', { keys: [{ id: 'k'.repeat(33), key }] }, 'encryption.keys[0].id'],
    [
      'a duplicate id',
      {
        keys: [
          { id: 'a', key },
          { id: 'a', key },
        ],
      },
      'encryption.keys[1].id',
    ],
    [
      'a 16-byte key',
      {
        keys: [
          { id: 'a', key },
          { id: 'b', key: randomBytes(16) },
        ],
      },
      'encryption.keys[1].key',
    ],
    ['a 33-byte key', { keys: [{ id: 'a', key: randomBytes(33) }] }, 'encryption.keys[0].key'],
    [
      'a short base64 key',
      { keys: [{ id: 'a', key: randomBytes(31).toString('base64') }] },
      'encryption.keys[0].key',
    ],
    [
      'non-base64 text',
      { keys: [{ id: 'a', key: 'not base64 at all!' }] },
      'encryption.keys[0].key',
    ],
    ['a number as key', { keys: [{ id: 'a', key: 42 }] }, 'encryption.keys[0].key'],
  ])('rejects %s as INVALID_CONFIG naming the field', (_what, encryption, field) => {
    const error = catchError(() =>
      createSessionCodec({ encryption: encryption as unknown as { keys: [] } }),
    );
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).field).toBe(field);
  });

  it.each([
    ['maxBytes', { maxBytes: 0 }],
    ['maxBytes', { maxBytes: 1.5 }],
    ['maxDepth', { maxDepth: -1 }],
    ['maxKeyLength', { maxKeyLength: Number.NaN }],
  ])('rejects a bad %s', (field, options) => {
    const error = catchError(() => createSessionCodec(options));
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).field).toBe(field);
  });

  it('never leaks key material into errors', () => {
    const error = catchError(() =>
      createSessionCodec({ encryption: { keys: [{ id: 'a', key: randomBytes(31) }] } }),
    ) as SessionValidationError;
    expect(JSON.stringify(error.toJSON())).not.toContain(key.toString('base64'));
  });
});

describe('session codec: hostile inputs while encoding', () => {
  const codec = createSessionCodec();

  it('wraps a throwing getter as SessionSerializationError with the cause', () => {
    const boom = new Error('getter failed');
    const data = Object.defineProperty({}, 'a', {
      enumerable: true,
      get: () => {
        throw boom;
      },
    }) as SessionData;
    const error = catchError(() => codec.encodeData(sid, data)) as SessionSerializationError;
    expect(error).toBeInstanceOf(SessionSerializationError);
    expect(error.cause).toBe(boom);
    expect(error.details).toEqual({ path: 'data.a' });
  });

  it('rejects a getter that changes its answer between validation and stringify', () => {
    // Validation sees toJSON as a number; stringify then finds a function
    // returning undefined, which would otherwise store nothing at all.
    let reads = 0;
    const value = Object.defineProperty({}, 'toJSON', {
      enumerable: true,
      get: () => (++reads === 1 ? 1 : () => undefined),
    }) as SessionData;
    const error = catchError(() => codec.encodeData(sid, { a: value }));
    expect(error).toBeInstanceOf(SessionSerializationError);
    expect(reads).toBe(2);
  });
});

describe.each(codecs)('session codec entries form (%s)', (label, codec) => {
  const decodeAll = (entries: readonly (readonly [string, string])[]): SessionData =>
    Object.fromEntries(
      entries.map(([jsonKey, value]) => {
        const key = JSON.parse(jsonKey) as string;
        return [key, codec.decodeEntry(sid, key, value)];
      }),
    );

  it('writes JSON keys and plain JSON text (or e1 values) that round-trip', () => {
    const data: SessionData = { 'a "quoted" key': [1, { b: null }], ünï: 'cödé', n: -0.5 };
    const { entries, bytes } = codec.encodeEntries(sid, data);
    expect(entries.map(([key]) => key)).toEqual(Object.keys(data).map((k) => JSON.stringify(k)));
    for (const [key, value] of entries) {
      if (label === 'plain') expect(value).toBe(JSON.stringify(data[JSON.parse(key) as string]));
      else expect(value).toMatch(/^e1:k1:/);
    }
    expect(bytes).toBe(
      entries.reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0),
    );
    expect(decodeAll(entries)).toEqual(data);
  });

  it('validates like encodeData and encodes patches with JSON keys', () => {
    expect(() => codec.encodeEntries(sid, { bad: 10n } as unknown as SessionData)).toThrow(
      SessionSerializationError,
    );
    const patch = codec.encodePatchEntries(sid, { set: { a: 1 }, unset: ['b', 'b', 'c'] });
    expect(patch.set.entries.map(([key]) => key)).toEqual(['"a"']);
    expect(patch.unset).toEqual(['"b"', '"c"']);
    expect(() => codec.encodePatchEntries(sid, { set: { a: 1 }, unset: ['a'] })).toThrow(
      SessionValidationError,
    );
  });

  it('rejects garbage and forbidden keys in an entry value as corrupted', () => {
    for (const value of ['garbage', '', '{"__proto__":1}', '[1,', 'e1:nokey:AAAA']) {
      const error = catchError(() => codec.decodeEntry(sid, 'a', value));
      expect(isSessionError(error)).toBe(true);
      expect(['SESSION_CORRUPTED', 'UNKNOWN_KEY_ID', 'DECRYPTION_FAILED']).toContain(
        (error as SessionCorruptedError).code,
      );
    }
  });
});
