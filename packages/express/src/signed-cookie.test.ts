import { generateSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { SessionCookieSigner, VERIFIED_COOKIE_MEMO_SIZE } from './signed-cookie.js';

const signer = new SessionCookieSigner('a-test-secret-that-is-long-enough-0001');

describe('SessionCookieSigner: the version the browser last wrote', () => {
  it('carries the version, and a cookie without one (earlier releases) verifies as version 0', () => {
    const id = generateSessionId();
    expect(signer.verify(signer.sign(id, 1_000, 42))).toMatchObject({ ok: true, id, version: 42 });
    const legacy = signer.sign(id, 1_000);
    expect(legacy.split('.')).toHaveLength(3);
    expect(signer.verify(legacy)).toMatchObject({ ok: true, id, touchedAt: 1_000, version: 0 });
  });

  it('refuses a cookie whose version was changed, added or dropped', () => {
    const id = generateSessionId();
    const [sid, touched, version, mac] = signer.sign(id, 1_000, 42).split('.');
    expect(version).toBe((42).toString(36));
    for (const forged of [
      `${sid}.${touched}.${(7).toString(36)}.${mac}`,
      `${sid}.${touched}.${mac}`,
      `${signer.sign(id, 1_000).split('.').slice(0, 2).join('.')}.zz.${mac}`,
    ]) {
      expect(signer.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
    }
  });
});

describe('SessionCookieSigner: when the browser learned its version', () => {
  it('signs the time with the version when it is not the roll time, and refuses it changed or dropped', () => {
    const id = generateSessionId();
    const cookie = signer.sign(id, 60_000, 3, 61_500);
    expect(cookie.split('.')).toHaveLength(5);
    expect(signer.verify(cookie)).toMatchObject({
      ok: true,
      id,
      touchedAt: 60_000,
      version: 3,
      versionSince: 61_500,
    });
    // A fresh signer (nothing remembered) checks the HMAC over all of it.
    expect(
      new SessionCookieSigner('a-test-secret-that-is-long-enough-0001').verify(cookie),
    ).toMatchObject({
      ok: true,
      versionSince: 61_500,
    });
    const [sid, touched, version, since, mac] = cookie.split('.');
    for (const forged of [
      `${sid}.${touched}.${version}.${(99_999).toString(36)}.${mac}`,
      `${sid}.${touched}.${version}.${mac}`,
      `${sid}.${touched}.${(4).toString(36)}.${since}.${mac}`,
    ]) {
      expect(signer.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
    }
    // The same time as the roll: left out, as earlier releases wrote it.
    const plain = signer.sign(id, 60_000, 3, 60_000);
    expect(plain.split('.')).toHaveLength(4);
    expect(signer.verify(plain)).toMatchObject({ ok: true, version: 3, versionSince: 60_000 });
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

  it("remembers each session's latest cookie: a busy session's writes crowd out no other session", () => {
    const memo = new SessionCookieSigner('a-test-secret-that-is-long-enough-0005');
    const quiet = memo.sign(generateSessionId(), 1_000);
    const remembered = memo.verify(quiet);
    const busy = generateSessionId();
    const first = memo.sign(busy, 1_000, 1);
    let latest = first;
    // Twice the bound in cookies, all of one session.
    for (let version = 2; version <= VERIFIED_COOKIE_MEMO_SIZE * 2; version++) {
      latest = memo.sign(busy, 1_000, version);
    }
    expect(memo.verify(quiet)).toBe(remembered);
    const last = memo.verify(latest);
    expect(last).toMatchObject({ ok: true, id: busy, version: VERIFIED_COOKIE_MEMO_SIZE * 2 });
    expect(memo.verify(latest)).toBe(last);
    // A superseded cookie of the session (another tab) is checked by its
    // HMAC and verifies as what it carries; then the latest one is again.
    expect(memo.verify(first)).toMatchObject({ ok: true, id: busy, version: 1 });
    expect(memo.verify(latest)).toMatchObject({
      ok: true,
      id: busy,
      version: VERIFIED_COOKIE_MEMO_SIZE * 2,
    });
    // A cookie of a remembered session with its signature changed is refused.
    const forged = `${latest.slice(0, -1)}${latest.endsWith('A') ? 'B' : 'A'}`;
    expect(memo.verify(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
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
