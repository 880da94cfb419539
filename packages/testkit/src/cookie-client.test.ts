import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { withBadSignature } from './cookie-client.js';

describe('withBadSignature', () => {
  it('changes the signature, and only it, for every signature (those ending in AA included)', () => {
    const payloads = Array.from({ length: 2_000 }, () => randomBytes(32).toString('base64url'));
    const cookies = payloads.map(
      (payload) => `${payload}.${createHmac('sha256', 'k').update(payload).digest('base64url')}`,
    );
    cookies.push('id.lrz.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    for (const cookie of cookies) {
      const forged = withBadSignature(cookie);
      const dot = cookie.lastIndexOf('.');
      expect(forged).not.toBe(cookie);
      expect(forged.slice(0, dot + 1)).toBe(cookie.slice(0, dot + 1));
      expect(forged.slice(dot + 2)).toBe(cookie.slice(dot + 2));
    }
  });
});
