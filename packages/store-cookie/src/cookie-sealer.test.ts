import { randomBytes } from 'node:crypto';
import {
  ManualClock,
  SessionCorruptedError,
  SessionEncryptionError,
  SessionExpiredError,
  SessionSerializationError,
  SessionValidationError,
  generateSessionId,
} from '@session-cluster/core';
import { expectSessionError } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { CookieSealer } from './cookie-sealer.js';
import type { SealedSession } from './sealed-payload.js';

const keyA = { id: 'a', key: randomBytes(32) };
const keyB = { id: 'b', key: randomBytes(32) };

function session(
  clock: ManualClock,
  data: SealedSession['data'] = { cart: [1, 2] },
): SealedSession {
  return {
    id: generateSessionId(),
    userId: 'alice',
    data,
    createdAt: clock.now(),
    expiresAt: clock.now() + 60_000,
  };
}

/** Sync throw as a rejected promise, for expectSessionError. */
const attempt = (fn: () => unknown): Promise<unknown> => Promise.resolve().then(fn);

describe('CookieSealer', () => {
  it('round-trips a session and binds nothing readable into the cookie', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const sealer = new CookieSealer({ keys: [keyA], clock });
    const original = session(clock, { cart: [1, 2], nested: { theme: 'dark', n: null } });
    const value = sealer.seal(original);
    expect(value).toMatch(/^v1\.a\.[A-Za-z0-9_-]+$/);
    expect(value).not.toContain('alice');
    expect(value).not.toContain(original.id);
    expect(sealer.open(value)).toEqual(original);
  });

  it('seals with a fresh IV every time', () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    const s = session(clock);
    expect(sealer.seal(s)).not.toBe(sealer.seal(s));
  });

  it('rotates: seals with the first key, opens with any key of the ring', () => {
    const clock = new ManualClock();
    const old = new CookieSealer({ keys: [keyA], clock });
    const rotated = new CookieSealer({ keys: [keyB, keyA], clock });
    const s = session(clock);
    const sealedOld = old.seal(s);
    expect(rotated.open(sealedOld)).toEqual(s);
    expect(rotated.seal(s)).toMatch(/^v1\.b\./);
  });

  it('a retired key is UNKNOWN_KEY_ID', async () => {
    const clock = new ManualClock();
    const sealed = new CookieSealer({ keys: [keyA], clock }).seal(session(clock));
    const retired = new CookieSealer({ keys: [keyB], clock });
    await expectSessionError(
      attempt(() => retired.open(sealed)),
      SessionEncryptionError,
      'UNKNOWN_KEY_ID',
    );
  });

  it('tampering with any byte is DECRYPTION_FAILED; malformed values are corrupted', async () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    const value = sealer.seal(session(clock));
    const body = value.slice('v1.a.'.length);
    for (const at of [0, 13, 30, body.length - 2]) {
      const flipped = body[at] === 'A' ? 'B' : 'A';
      const tampered = `v1.a.${body.slice(0, at)}${flipped}${body.slice(at + 1)}`;
      await expectSessionError(
        attempt(() => sealer.open(tampered)),
        SessionEncryptionError,
        'DECRYPTION_FAILED',
      );
    }
    for (const bad of [
      '',
      'x',
      'v2.a.AAAA',
      'v1.a.',
      'v1..AAAA',
      'v1.a.AAAA',
      'v1.a.a b',
      'v1.a',
    ]) {
      await expectSessionError(
        attempt(() => sealer.open(bad)),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
    }
  });

  it('only the canonical base64url spelling of a seal opens', async () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    // A seal whose byte length is not a multiple of 3 has unused bits in its last character.
    const value = [0, 1, 2]
      .map((pad) => sealer.seal(session(clock, { pad: 'x'.repeat(pad) })))
      .find((v) => Buffer.from(v.slice('v1.a.'.length), 'base64url').length % 3 !== 0)!;
    const body = value.slice('v1.a.'.length);
    const bytes = Buffer.from(body, 'base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
    const twin = alphabet
      .map((c) => `${body.slice(0, -1)}${c}`)
      .find((b) => b !== body && Buffer.from(b, 'base64url').equals(bytes));
    expect(twin).toBeDefined();
    await expectSessionError(
      attempt(() => sealer.open(`v1.a.${twin!}`)),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
    expect(sealer.open(value).data).toMatchObject({ pad: expect.any(String) as unknown });
  });

  it('a seal made for another cookie name does not open', async () => {
    const clock = new ManualClock();
    const one = new CookieSealer({ keys: [keyA], clock, cookieName: 'one' });
    const two = new CookieSealer({ keys: [keyA], clock, cookieName: 'two' });
    await expectSessionError(
      attempt(() => two.open(one.seal(session(clock)))),
      SessionEncryptionError,
      'DECRYPTION_FAILED',
    );
  });

  it('the expiry inside the seal is enforced', async () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    const value = sealer.seal(session(clock));
    clock.advance(59_999);
    expect(sealer.open(value).data).toEqual({ cart: [1, 2] });
    clock.advance(1);
    await expectSessionError(
      attempt(() => sealer.open(value)),
      SessionExpiredError,
      'SESSION_EXPIRED',
    );
  });

  it('refuses a session over the cookie size limit with a clear error', async () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    const error = await expectSessionError(
      attempt(() => sealer.seal(session(clock, { blob: 'x'.repeat(4_000) }))),
      SessionValidationError,
      'PAYLOAD_TOO_LARGE',
    );
    expect(error.details).toMatchObject({ maxCookieBytes: 4096 });
    expect(Number(error.details?.['bytes'])).toBeGreaterThan(4096);
    // Just under the limit is fine.
    expect(() => sealer.seal(session(clock, { blob: 'x'.repeat(2_500) }))).not.toThrow();
  });

  it('validates data like the server-side stores', async () => {
    const clock = new ManualClock();
    const sealer = new CookieSealer({ keys: [keyA], clock });
    await expectSessionError(
      attempt(() => sealer.seal(session(clock, { n: 1n } as never))),
      SessionSerializationError,
      'SERIALIZATION_FAILED',
    );
    await expectSessionError(
      attempt(() => sealer.seal({ ...session(clock), id: 'not-an-id' })),
      SessionValidationError,
      'INVALID_SESSION_ID',
    );
  });

  it('rejects bad options with the field named', () => {
    expect(() => new CookieSealer({ keys: [] })).toThrow(SessionValidationError);
    expect(() => new CookieSealer({ keys: [{ id: 'k', key: randomBytes(16) }] })).toThrow(
      /cookie\.keys\[0\]\.key/,
    );
    expect(() => new CookieSealer({ keys: [keyA], cookieName: 'bad name' })).toThrow(/cookieName/);
    expect(() => new CookieSealer({ keys: [keyA], maxCookieBytes: 10 })).toThrow(/maxCookieBytes/);
  });
});
