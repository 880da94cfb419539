import { randomBytes } from 'node:crypto';
import type { SessionData } from '@session-cluster/core';

/**
 * A session-shaped value of about 1 KB as JSON: what a real app keeps (user,
 * cart, preferences, CSRF token, flash). `n` varies one field so values differ.
 */
export function sessionFixture(n: number): SessionData {
  return {
    user: { id: `user-${n}`, name: 'Ada Lovelace', roles: ['customer', 'beta'], locale: 'en-GB' },
    cart: Array.from({ length: 6 }, (_, i) => ({
      sku: `SKU-${(n * 7 + i) % 10_000}`,
      qty: (i % 3) + 1,
      price: 19.99 + i,
      title: `Item number ${i} with a descriptive title`,
    })),
    prefs: { theme: 'dark', currency: 'EUR', newsletter: true, pageSize: 50 },
    csrf: randomBytes(24).toString('base64url'),
    flash: null,
    visits: n,
    lastPath: '/account/orders?page=2&sort=desc',
  };
}

/** JSON size of {@link sessionFixture}, for the report. */
export function fixtureBytes(): number {
  return Buffer.byteLength(JSON.stringify(sessionFixture(0)));
}
