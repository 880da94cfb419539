import { generateSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { SessionCookieSigner } from './signed-cookie.js';

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
