import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sessionMiddleware, sessionOf } from '@session-cluster/express';
import { SessionClusterStore } from '@session-cluster/express/express-session';
import type { ExpressSessionData } from '@session-cluster/express/express-session';
import { toSessionError } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { cookieClient, useRedisServer } from '@session-cluster/testkit';
import express from 'express';
import { createSessionCluster } from 'session-cluster';
import { describe, expect, it } from 'vitest';

/** A callback-style Store call as a promise. */
function call<T>(
  run: (callback: (error?: unknown, value?: T) => void) => void,
): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    run((error, value) => {
      if (error !== undefined && error !== null) reject(toSessionError(error));
      else resolve(value);
    });
  });
}

describe('retired ids stay retired: destroy, then a late write', () => {
  const redis = useRedisServer();

  it('express-session Store: a set arriving after destroy leaves the session gone', async () => {
    const redisStore = new RedisStore({
      connection: { url: redis.url },
      prefix: `t${randomUUID().slice(0, 8)}`,
    });
    try {
      const store = new SessionClusterStore({ store: redisStore, userIdOf: (s) => s['user'] });
      const sid = 'logged-out-session';
      const session: ExpressSessionData = { cookie: { maxAge: 60_000 }, user: 'alice' };
      await call((cb) => {
        void store.set(sid, session, cb);
      });
      expect(
        await call((cb) => {
          void store.get(sid, cb);
        }),
      ).toMatchObject({ user: 'alice' });

      await call((cb) => {
        void store.destroy(sid, cb);
      });
      // The request that was still running when the visitor logged out ends
      // and express-session saves what it had loaded.
      await call((cb) => {
        void store.set(sid, session, cb);
      });
      expect(
        await call((cb) => {
          void store.get(sid, cb);
        }),
      ).toBeFalsy();
      expect(await redisStore.listByUser('alice')).toEqual([]);
    } finally {
      await redisStore.close();
    }
  });

  it('middleware: a request that loaded the session before the logout commits to a new id, never the old one', async () => {
    const cluster = createSessionCluster({
      redis: { url: redis.url },
      prefix: `t${randomUUID().slice(0, 8)}`,
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let loaded!: () => void;
    const hasLoaded = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    const app = express();
    app.use(
      sessionMiddleware(cluster.manager, {
        secrets: [randomUUID() + randomUUID()],
        cookie: { secure: false },
      }),
    );
    app.post('/login', (req, res) => {
      sessionOf(req).set('user', 'alice');
      res.json({});
    });
    app.post('/slow', async (req, res) => {
      const session = sessionOf(req);
      await session.load();
      loaded();
      await released;
      session.set('cart', 'book');
      res.json({ id: session.idHash });
    });
    app.post('/logout', async (req, res) => {
      await sessionOf(req).destroy();
      res.json({});
    });
    app.get('/session', async (req, res) => {
      res.json(await sessionOf(req).load());
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const tab = cookieClient('sc.sid');
      await tab.request('POST', `${url}/login`);
      const old = tab.cookie!;
      const slow = cookieClient('sc.sid', old).request('POST', `${url}/slow`);
      await hasLoaded;
      await tab.request('POST', `${url}/logout`);
      release();
      expect((await slow).status).toBe(200);
      const view = await cookieClient('sc.sid', old).request('GET', `${url}/session`);
      expect(view.json()).toMatchObject({ data: {} });
      expect(view.json()).not.toHaveProperty('userId');
    } finally {
      server.closeAllConnections();
      server.close();
      await cluster.close();
    }
  });
});
