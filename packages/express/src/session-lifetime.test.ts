import { randomBytes, randomUUID } from 'node:crypto';
import { generateSessionId } from '@session-cluster/core';
import { CookieSealer } from '@session-cluster/store-cookie';
import { RedisStore } from '@session-cluster/store-redis';
import { cookieClient, listenOnLoopback, useRedisServer } from '@session-cluster/testkit';
import { createSessionCluster } from 'session-cluster';
import { describe, expect, it } from 'vitest';
import { SESSION_MIDDLEWARE_DEFAULTS } from './middleware-options.js';
import { sessionMiddleware } from './session-middleware.js';
import { SessionCookieSigner } from './signed-cookie.js';
import { buildTestApp } from './test-app.test-helpers.js';

const DAY_MS = 24 * 3_600_000;
const SECRET = 'a-test-secret-that-is-long-enough-0001';
const quiet = { warn: () => undefined };

describe('absolute session lifetime (maxLifetimeMs, default 7 days)', () => {
  const redis = useRedisServer();

  it('managed: a live session created 8 days ago is ended and replaced, however active', async () => {
    expect(SESSION_MIDDLEWARE_DEFAULTS.maxLifetimeMs).toBe(7 * DAY_MS);
    const cluster = createSessionCluster({ redis: { url: redis.url }, prefix: `t${randomUUID()}` });
    const middleware = sessionMiddleware(cluster.manager, {
      secrets: [SECRET],
      cookie: { secure: false },
      logger: quiet,
    });
    const server = await listenOnLoopback(buildTestApp(middleware).app);
    // A session written 8 days ago and kept alive (rolled) ever since.
    const past = new RedisStore({
      client: cluster.redis.client,
      prefix: cluster.redis.prefix,
      clock: { now: () => Date.now() - 8 * DAY_MS },
    });
    try {
      const old = await past.create({
        id: generateSessionId(),
        userId: 'alice',
        data: { user: 'alice' },
        expiresAt: Date.now() + 60_000,
      });
      expect(await cluster.manager.get(old.id)).not.toBeNull();
      const signed = new SessionCookieSigner([SECRET]).sign(old.id, Date.now());
      const tab = cookieClient('sc.sid', signed);
      const view = await tab.request('GET', `${server.url}/session`);
      expect(view.json()).toMatchObject({ data: {} });
      expect(view.json()).not.toHaveProperty('userId');
      expect(tab.cookie).toBeUndefined();
      expect(middleware.stats.sessionsPastLifetime).toBe(1);
      expect(await cluster.manager.get(old.id)).toBeNull();

      // A younger one is untouched.
      const young = await cluster.manager.create({ data: { user: 'bob' } });
      const bob = cookieClient(
        'sc.sid',
        new SessionCookieSigner([SECRET]).sign(young.id, Date.now()),
      );
      expect((await bob.request('GET', `${server.url}/session`)).json()).toMatchObject({
        data: { user: 'bob' },
      });
    } finally {
      await server.close();
      await cluster.close();
    }
  });

  it('sealed: a cookie sealed for a session created 8 days ago starts a fresh session', async () => {
    const key = { id: 'a', key: randomBytes(32) };
    const middleware = sessionMiddleware({
      store: 'cookie',
      keys: [key],
      cookie: { secure: false },
      logger: quiet,
    });
    const server = await listenOnLoopback(buildTestApp(middleware).app);
    try {
      const sealer = new CookieSealer({ keys: [key], cookieName: 'sc.sess' });
      const now = Date.now();
      const stale = sealer.seal({
        id: generateSessionId(),
        userId: 'alice',
        data: { user: 'alice' },
        createdAt: now - 8 * DAY_MS,
        expiresAt: now + 60_000,
      });
      const tab = cookieClient('sc.sess', stale);
      expect((await tab.request('GET', `${server.url}/session`)).json()).toMatchObject({
        data: {},
      });
      expect(tab.cookie).toBeUndefined();
      expect(middleware.stats.sessionsPastLifetime).toBe(1);

      // Rolling never carries a session past its lifetime.
      const young = sealer.seal({
        id: generateSessionId(),
        userId: undefined,
        data: { n: 1 },
        createdAt: now - 7 * DAY_MS + 5_000,
        expiresAt: now + 60_000,
      });
      const roller = cookieClient('sc.sess', young);
      await roller.request('POST', `${server.url}/set/n/2`);
      const rolled = sealer.open(roller.cookie!);
      expect(rolled.expiresAt).toBeLessThanOrEqual(now - 7 * DAY_MS + 5_000 + 7 * DAY_MS);
    } finally {
      await server.close();
    }
  });

  it('refuses a maxLifetimeMs under a second; false turns it off', () => {
    expect(() =>
      sessionMiddleware({
        store: 'cookie',
        keys: [{ id: 'a', key: randomBytes(32) }],
        maxLifetimeMs: 10,
      }),
    ).toThrow(/maxLifetimeMs/);
    expect(() =>
      sessionMiddleware({
        store: 'cookie',
        keys: [{ id: 'a', key: randomBytes(32) }],
        maxLifetimeMs: false,
      }),
    ).not.toThrow();
  });
});
