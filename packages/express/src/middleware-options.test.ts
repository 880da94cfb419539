import { randomBytes } from 'node:crypto';
import { SessionManager } from '@session-cluster/manager';
import type { SessionManagerOptions } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { configErrorField } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { resolveCookieOptions, touchAfterWithin } from './middleware-options.js';
import { sessionMiddleware } from './session-middleware.js';

const SECRET = 'middleware-options-test-secret-0123456789';

const fieldOf = configErrorField;

describe('resolveCookieOptions: checked at construction by the cookie library’s rules', () => {
  it('refuses a path or domain the cookie library would refuse at every commit', () => {
    expect(fieldOf(() => resolveCookieOptions({ path: '/café' }, 'sc.sid'))).toBe('cookie.path');
    expect(fieldOf(() => resolveCookieOptions({ domain: '-bad-.example' }, 'sc.sid'))).toBe(
      'cookie.domain',
    );
    expect(resolveCookieOptions({ path: '/app', domain: '.example.com' }, 'sc.sid')).toMatchObject({
      path: '/app',
      domain: '.example.com',
    });
  });

  it('refuses maxAgeMs under one second (Max-Age would be 0: the browser deletes the cookie)', () => {
    expect(fieldOf(() => resolveCookieOptions({ maxAgeMs: 999 }, 'sc.sid'))).toBe(
      'cookie.maxAgeMs',
    );
    expect(resolveCookieOptions({ maxAgeMs: 1_000 }, 'sc.sid').maxAgeMs).toBe(1_000);
  });
});

describe('touchAfterMs is kept below the expiry a roll sets', () => {
  const manager = (options: Partial<SessionManagerOptions> = {}) =>
    new SessionManager({
      store: new MemoryStore({ cleanupIntervalMs: 0 }),
      locker: new MemoryLocker(),
      ...options,
    });

  it('refuses touchAfterMs at or above the session ttlMs, naming both', () => {
    expect(() => touchAfterWithin(30_000, 30_000, 30_000)).toThrow(
      /touchAfterMs: expected an integer from 0 to 29999, below the session ttlMs \(30000\)/,
    );
    expect(touchAfterWithin(29_999, 29_999, 30_000)).toBe(29_999);
    expect(touchAfterWithin(0, 0, 30_000)).toBe(0);
  });

  it('caps the default at half the ttlMs; a ttlMs that does not roll bounds nothing', () => {
    expect(touchAfterWithin(undefined, 60_000, 30_000)).toBe(15_000);
    expect(touchAfterWithin(undefined, 60_000, 3_600_000)).toBe(60_000);
    expect(touchAfterWithin(5_000_000, 5_000_000, undefined)).toBe(5_000_000);
  });

  it('sessionMiddleware and the cookie store check it against their own ttlMs', async () => {
    const short = manager({ ttlMs: 30_000 });
    const absolute = manager({ ttlMs: 30_000, rolling: false });
    try {
      expect(short.rollingTtlMs).toBe(30_000);
      expect(absolute.rollingTtlMs).toBeUndefined();
      expect(
        fieldOf(() => sessionMiddleware(short, { secrets: SECRET, touchAfterMs: 30_000 })),
      ).toBe('touchAfterMs');
      expect(() => sessionMiddleware(short, { secrets: SECRET })).not.toThrow();
      expect(() =>
        sessionMiddleware(absolute, { secrets: SECRET, touchAfterMs: 60_000 }),
      ).not.toThrow();
      expect(
        fieldOf(() =>
          sessionMiddleware({
            store: 'cookie',
            keys: [{ id: 'k1', key: randomBytes(32) }],
            ttlMs: 10_000,
            touchAfterMs: 10_000,
          }),
        ),
      ).toBe('touchAfterMs');
    } finally {
      await Promise.all([short.close(), absolute.close()]);
    }
  });
});
