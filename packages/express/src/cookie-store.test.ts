import { cookieClient, listenOnLoopback } from '@session-cluster/testkit';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { CookieStoreSessionOptions } from './middleware-options.js';
import { sessionMiddleware } from './session-middleware.js';
import { buildTestApp } from './test-app.test-helpers.js';

const COOKIE = 'sc.sess';
const keyA = { id: 'a', key: randomBytes(32) };
const keyB = { id: 'b', key: randomBytes(32) };
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function start(options: Partial<CookieStoreSessionOptions> = {}) {
  const warnings: string[] = [];
  const middleware = sessionMiddleware({
    store: 'cookie',
    keys: [keyA],
    cookie: { secure: false },
    logger: { warn: (_details, message) => warnings.push(message) },
    ...options,
  });
  const app = buildTestApp(middleware);
  const server = await listenOnLoopback(app.app);
  closers.push(server.close);
  return { url: server.url, middleware, errors: app.errors, warnings };
}

describe("sessionMiddleware({ store: 'cookie' })", () => {
  it('keeps the whole session sealed in the cookie, nothing until written', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    expect((await tab.request('GET', `${h.url}/session`)).setCookies).toEqual([]);
    const written = await tab.request('POST', `${h.url}/set/theme/dark`);
    expect(written.setCookies[0]).toMatch(
      /^sc\.sess=v1\.a\.[A-Za-z0-9_-]+; Max-Age=1800; Path=\/; Expires=.*; HttpOnly; SameSite=Lax$/,
    );
    expect(tab.cookie).not.toContain('dark');
    await tab.request('POST', `${h.url}/incr`);
    await tab.request('POST', `${h.url}/login/alice`);
    expect((await tab.request('GET', `${h.url}/session`)).json()).toMatchObject({
      userId: 'alice',
      data: { theme: 'dark', counter: 1 },
    });
    await tab.request('POST', `${h.url}/logout`);
    expect(tab.cookie).toBeUndefined();
  });

  it('tampered cookies and retired keys start a fresh session', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/set/a/1`);
    const value = tab.cookie!;
    const flipped = `${value.slice(0, 10)}${value[10] === 'A' ? 'B' : 'A'}${value.slice(11)}`;
    for (const bad of [flipped, 'v1.a.AAAA', 'nonsense']) {
      const attacker = cookieClient(COOKIE, bad);
      const res = await attacker.request('GET', `${h.url}/session`);
      expect(res.json()).toMatchObject({ isNew: true, data: {} });
      expect(attacker.cookie).toBeUndefined();
    }
    const rotated = await start({ keys: [keyB] });
    const old = cookieClient(COOKIE, value);
    expect((await old.request('GET', `${rotated.url}/session`)).json()).toMatchObject({
      isNew: true,
    });
    expect(h.middleware.stats.rejectedCookies).toBe(3);
    expect(rotated.middleware.stats.rejectedCookies).toBe(1);
    // With the old key still in the ring, the old cookie opens.
    const ring = await start({ keys: [keyB, keyA] });
    expect(
      (await cookieClient(COOKIE, value).request('GET', `${ring.url}/session`)).json(),
    ).toMatchObject({
      data: { a: '1' },
    });
  });

  it('a session over 4 KB is a clear PAYLOAD_TOO_LARGE in the error handler', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    const res = await tab.request('POST', `${h.url}/big?bytes=5000`);
    expect(res.status).toBe(400);
    expect(h.errors).toEqual([{ code: 'PAYLOAD_TOO_LARGE', operation: 'seal' }]);
    expect(tab.cookie).toBeUndefined();
    expect((await tab.request('POST', `${h.url}/big?bytes=2000`)).status).toBe(200);
  });

  it('refuses what a stateless session cannot do', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/login/alice`);
    const res = await tab.request('POST', `${h.url}/logout-everywhere`);
    expect(res.status).toBe(400);
    expect(h.errors[0]).toMatchObject({ code: 'INVALID_CONFIG' });
    expect(() =>
      sessionMiddleware({ store: 'cookie', keys: [keyA], lock: 'request' } as never),
    ).toThrow(/lock/);
    // 'none' is what a stateless session does anyway; a signing secret is the managed kind's.
    expect(sessionMiddleware({ store: 'cookie', keys: [keyA], lock: 'none' })).toBeTypeOf(
      'function',
    );
    expect(() =>
      sessionMiddleware({ store: 'cookie', keys: [keyA], secrets: 'x' } as never),
    ).toThrow(/secrets: no such option/);
  });
});
