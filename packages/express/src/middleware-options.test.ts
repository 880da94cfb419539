import { configErrorField } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { resolveCookieOptions } from './middleware-options.js';

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
