import { createHmac } from 'node:crypto';
import { generateSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { SessionCookieSigner, VERIFIED_COOKIE_MEMO_SIZE } from './signed-cookie.js';

const SECRET = 'a-test-secret-that-is-long-enough-0001';
const signer = new SessionCookieSigner(SECRET);

describe('SessionCookieSigner: the version the browser last wrote', () => {
  it('carries the version, and a cookie without one (earlier releases) verifies as version 0', () => {
    const id = generateSessionId();
    expect(signer.verify(signer.sign(id, 1_000, 42))).toMatchObject({ ok: true, id, version: 42 });
    const legacy = signer.sign(id, 1_000);
    expect(legacy.split('.')).toHaveLength(3);
    expect(signer.verify(legacy)).toMatchObject({ ok: true, id, touchedAt: 1_000, version: 0 });
  });

  it('signs the id and roll time; the read-your-writes token rides outside the signature', () => {
    const id = generateSessionId();
    const cookie = signer.sign(id, 1_000, 42, 5_000);
    const [sid, touched, version, since, mac] = cookie.split('.');
    expect([version, since]).toEqual([(42).toString(36), (5_000).toString(36)]);
    // The token changed, or dropped: still this id and roll time, as the browser says.
    expect(signer.verify(`${sid}.${touched}.${(7).toString(36)}.${since}.${mac}`)).toMatchObject({
      ok: true,
      id,
      touchedAt: 1_000,
      version: 7,
      versionSince: 5_000,
    });
    expect(new SessionCookieSigner(SECRET).verify(`${sid}.${touched}.${mac}`)).toMatchObject({
      ok: true,
      id,
      version: 0,
      versionSince: 1_000,
    });
    // The signed part changed: refused, by this signer and by a fresh one
    // (whose memo is empty), whatever the token says.
    const otherId = generateSessionId();
    for (const forged of [
      `${otherId}.${touched}.${version}.${since}.${mac}`,
      `${sid}.${(2_000).toString(36)}.${version}.${since}.${mac}`,
      `${sid}.${touched}.${version}.${since}.${mac!.slice(0, -1)}${mac!.endsWith('A') ? 'B' : 'A'}`,
      `${sid}.${touched}.${version}.${mac}`,
    ]) {
      expect(signer.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
      expect(new SessionCookieSigner(SECRET).verify(forged)).toMatchObject({
        ok: false,
        reason: 'bad-signature',
      });
    }
    // A malformed token is refused, not read as a hint.
    expect(signer.verify(`${sid}.${touched}.${version}.${since}.x.${mac}`)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
    expect(signer.verify(`${sid}.${touched}.Z.${since}.${mac}`)).toMatchObject({ ok: false });
  });

  it("a write in the roll's minute re-issues the same signed part: no new HMAC, the same signature", () => {
    const id = generateSessionId();
    const first = signer.sign(id, 60_000, 1, 60_000);
    const second = signer.sign(id, 60_000, 2, 61_000);
    expect(second.split('.').at(-1)).toBe(first.split('.').at(-1));
    expect(signer.sign(id, 120_000, 3).split('.').at(-1)).not.toBe(first.split('.').at(-1));
    expect(new SessionCookieSigner(SECRET).verify(second)).toMatchObject({
      ok: true,
      version: 2,
      versionSince: 61_000,
    });
  });

  it('verifies a cookie of the earlier release, whose signature covered the version', () => {
    const id = generateSessionId();
    const payload = `${id}.${(1_000).toString(36)}.${(42).toString(36)}`;
    const legacy = `${payload}.${createHmac('sha256', SECRET).update(payload).digest('base64url')}`;
    expect(new SessionCookieSigner(SECRET).verify(legacy)).toMatchObject({
      ok: true,
      id,
      touchedAt: 1_000,
      version: 42,
      versionSince: 1_000,
    });
    // Its version was signed: changing it breaks the signature.
    const forged = legacy.replace(`.${(42).toString(36)}.`, `.${(7).toString(36)}.`);
    expect(new SessionCookieSigner(SECRET).verify(forged)).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });
});

describe('SessionCookieSigner: verified cookies are remembered', () => {
  it('answers a cookie it verified from memory, never a rejected one, and forgets the oldest past the bound', () => {
    const memo = new SessionCookieSigner([
      'a-test-secret-that-is-long-enough-0002',
      'a-test-secret-that-is-long-enough-0001',
    ]);
    const cookie = memo.sign(generateSessionId(), 5_000, 3);
    const first = memo.verify(cookie);
    expect(first).toMatchObject({ ok: true, version: 3, rotated: false });
    expect(Object.isFrozen(first)).toBe(true);
    expect(memo.verify(cookie)).toBe(first);
    // Signed with the old secret: verified, marked rotated, and remembered so.
    const old = signer.sign(generateSessionId(), 5_000);
    expect(memo.verify(old)).toMatchObject({ ok: true, rotated: true });
    expect(memo.verify(old)).toMatchObject({ ok: true, rotated: true });
    // A rejected cookie is checked every time and stays rejected.
    const forged = `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`;
    expect(memo.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(memo.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
    // Past the bound the oldest entries go: the first cookie verifies anew (a fresh object).
    for (let i = 0; i < VERIFIED_COOKIE_MEMO_SIZE; i++) {
      memo.verify(memo.sign(generateSessionId(), i));
    }
    const again = memo.verify(cookie);
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
  });

  it('a cookie it just signed answers from memory exactly what the HMAC check answers', () => {
    const secrets = [
      'a-test-secret-that-is-long-enough-0004',
      'a-test-secret-that-is-long-enough-0001',
    ];
    const memo = new SessionCookieSigner(secrets);
    for (const [touchedAt, version] of [
      [5_000.7, 3],
      [0, 0],
      [-5, 1.5],
      [Date.now(), 2 ** 40],
    ] as const) {
      const cookie = memo.sign(generateSessionId(), touchedAt, version);
      // A fresh signer with the same secrets has nothing remembered: it checks the HMAC.
      const checked = new SessionCookieSigner(secrets).verify(cookie);
      expect(checked.ok).toBe(true);
      expect(memo.verify(cookie)).toEqual(checked);
      expect(Object.isFrozen(memo.verify(cookie))).toBe(true);
    }
  });

  it('a signer with other secrets does not share the memory', () => {
    const cookie = signer.sign(generateSessionId(), 1_000);
    expect(signer.verify(cookie).ok).toBe(true);
    const other = new SessionCookieSigner('another-secret-that-is-long-enough-0003');
    expect(other.verify(cookie)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });
});
