import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionEncryptionError } from './errors.js';
import { MIN_SEALED_BYTES, createKeyRing, openWithKeyRing, sealWithKeyRing } from './key-ring.js';

const ring = createKeyRing({
  keys: [
    { id: 'new', key: randomBytes(32) },
    { id: 'old', key: randomBytes(32) },
  ],
});

describe('key ring', () => {
  it('seals with the first key and opens with the right AAD only', () => {
    expect(ring.primaryId).toBe('new');
    const sealed = Buffer.from(sealWithKeyRing(ring, 'sid\0key', '{"a":"ü"}'), 'base64url');
    expect(sealed.length).toBe(12 + 16 + Buffer.byteLength('{"a":"ü"}'));
    expect(openWithKeyRing(ring, 'new', 'sid\0key', sealed)).toBe('{"a":"ü"}');
    expect(() => openWithKeyRing(ring, 'new', 'sid\0other', sealed)).toThrow(
      SessionEncryptionError,
    );
    expect(() => openWithKeyRing(ring, 'old', 'sid\0key', sealed)).toThrow(SessionEncryptionError);
  });

  it('never repeats an IV across many seals (pool refills included)', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      ivs.add(
        Buffer.from(sealWithKeyRing(ring, 'a', 'x'), 'base64url')
          .subarray(0, 12)
          .toString('hex'),
      );
    }
    expect(ivs.size).toBe(2000);
    expect(MIN_SEALED_BYTES).toBe(29);
  });

  it('names the missing key id, and a missing ring, as UNKNOWN_KEY_ID', () => {
    const sealed = Buffer.from(sealWithKeyRing(ring, 'a', 'x'), 'base64url');
    for (const [candidate, id] of [
      [ring, 'gone'],
      [undefined, 'new'],
    ] as const) {
      let error: unknown;
      try {
        openWithKeyRing(candidate, id, 'a', sealed);
      } catch (e) {
        error = e;
      }
      expect((error as SessionEncryptionError).code).toBe('UNKNOWN_KEY_ID');
      expect((error as SessionEncryptionError).details).toEqual({ keyId: id });
    }
  });
});
