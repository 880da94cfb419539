import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { SessionValidationError, toSessionError } from '@session-cluster/core';
import { cookieClient, listenOnLoopback, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import express from 'express';
import type { Request, RequestHandler } from 'express';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClusterStore, storeId } from './express-session-store.js';
import type { ExpressSessionData } from './express-session-store.js';

// express-session itself, without @types/express-session (its req.session
// type would clash with ours in this program): the few parts used are typed here.
interface EsSession extends Record<string, unknown> {
  regenerate(cb: (error?: unknown) => void): void;
  destroy(cb: (error?: unknown) => void): void;
}
const session = createRequire(import.meta.url)('express-session') as (options: {
  store: SessionClusterStore;
  secret: string;
  resave: boolean;
  saveUninitialized: boolean;
  rolling?: boolean;
  cookie?: { maxAge?: number; secure?: boolean };
}) => RequestHandler;
const es = (req: Request): EsSession => (req as unknown as { session: EsSession }).session;
const esId = (req: Request): string => (req as unknown as { sessionID: string }).sessionID;

const COOKIE = 'connect.sid';
let redis: RedisServerHandle;
const clusters: SessionCluster[] = [];
const urls: string[] = [];
const stores: SessionClusterStore[] = [];
const closers: (() => Promise<void>)[] = [];

/** One instance: its own cluster (own Redis connections), express-session with our Store. */
async function startInstance(name: string, prefix: string): Promise<void> {
  const cluster = createSessionCluster({ redis: { url: redis.url }, prefix });
  clusters.push(cluster);
  const store = new SessionClusterStore({
    store: cluster.store,
    userIdOf: (s) => s['user'],
    listIds: async () => (await cluster.manager.listByUser('erin')).map((r) => r.id),
  });
  stores.push(store);
  const app = express();
  app.use(
    session({
      store,
      secret: 'keyboard cat with enough characters',
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { maxAge: 60_000, secure: false },
    }),
  );
  app.post('/visit', (req, res) => {
    const s = es(req);
    s['views'] = Number(s['views'] ?? 0) + 1;
    res.json({ instance: name, views: s['views'] });
  });
  app.get('/views', (req, res) => {
    res.json({
      instance: name,
      views: es(req)['views'] ?? null,
      user: es(req)['user'] ?? null,
      sid: esId(req),
    });
  });
  app.post('/login/:user', (req, res, next) => {
    const views = es(req)['views'];
    es(req).regenerate((error) => {
      if (error !== undefined && error !== null) {
        next(error);
        return;
      }
      Object.assign(es(req), { views, user: req.params['user'] });
      res.json({ instance: name });
    });
  });
  app.post('/logout', (req, res, next) => {
    es(req).destroy((error) => {
      if (error !== undefined && error !== null) next(error);
      else res.json({ instance: name });
    });
  });
  const server = await listenOnLoopback(app);
  closers.push(server.close);
  urls.push(server.url);
}

beforeAll(async () => {
  redis = await startRedisServer();
  const prefix = `test:${randomUUID()}`;
  for (const name of ['one', 'two', 'three']) await startInstance(name, prefix);
});

afterAll(async () => {
  for (const close of closers) await close();
  await Promise.all(clusters.map((c) => c.close()));
  await redis.stop();
});

describe('SessionClusterStore: express-session + our Store as a drop-in, three instances', () => {
  it('a session created on one instance is read and changed on the others', async () => {
    const tab = cookieClient(COOKIE);
    expect((await tab.request('POST', `${urls[0]!}/visit`)).json()).toMatchObject({ views: 1 });
    expect(tab.cookie).toBeDefined();
    expect((await tab.request('POST', `${urls[1]!}/visit`)).json()).toMatchObject({ views: 2 });
    expect((await tab.request('POST', `${urls[2]!}/visit`)).json()).toMatchObject({ views: 3 });
    for (const url of urls) {
      expect((await tab.request('GET', `${url}/views`)).json()).toMatchObject({ views: 3 });
    }
  });

  it('regenerate, user index, touch and destroy go through the store', async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${urls[0]!}/visit`);
    const before = (await tab.request('GET', `${urls[1]!}/views`)).json<{ sid: string }>().sid;
    await tab.request('POST', `${urls[1]!}/login/erin`);
    const after = (await tab.request('GET', `${urls[2]!}/views`)).json<{
      sid: string;
      views: number;
    }>();
    expect(after).toMatchObject({ views: 1, user: 'erin' });
    expect(after.sid).not.toBe(before);
    expect(await clusters[0]!.manager.get(storeId(before))).toBeNull();
    const owned = await clusters[0]!.manager.listByUser('erin');
    expect(owned.map((r) => r.id)).toEqual([storeId(after.sid)]);

    // rolling: an unmodified request touches the session (our touch moves the expiry).
    const expires = owned[0]!.expiresAt;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await tab.request('GET', `${urls[0]!}/views`);
    expect((await clusters[0]!.manager.get(storeId(after.sid)))!.expiresAt).toBeGreaterThan(
      expires,
    );

    const length = await new Promise<number | undefined>((resolve, reject) => {
      stores[0]!.length((error, n) => {
        if (error !== null && error !== undefined) reject(toSessionError(error));
        else resolve(n);
      });
    });
    expect(length).toBe(1);

    await tab.request('POST', `${urls[2]!}/logout`);
    expect(await clusters[0]!.manager.listByUser('erin')).toEqual([]);
    expect((await tab.request('GET', `${urls[0]!}/views`)).json()).toMatchObject({ views: null });
  });

  it('store ids: ours unchanged, express-session ids hashed to a valid id', () => {
    const ours = 'A'.repeat(42) + 'E';
    expect(storeId(ours)).toBe(ours);
    expect(storeId('abc')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(storeId('abc')).toBe(storeId('abc'));
  });

  it('on a RedisStore, ids/length enumerate through its listSessionIds by default', async () => {
    const direct = new SessionClusterStore({ store: clusters[0]!.redis });
    const sid = 'enumerated-session-id';
    await new Promise<void>((resolve, reject) => {
      direct.set(sid, { cookie: { maxAge: 60_000 }, n: 1 }, (e) => {
        if (e !== null && e !== undefined) reject(toSessionError(e));
        else resolve();
      });
    });
    const ids = await new Promise<string[]>((resolve, reject) => {
      direct.ids((e, list) => {
        if (e !== null && e !== undefined) reject(toSessionError(e));
        else resolve(list ?? []);
      });
    });
    expect(ids).toContain(storeId(sid));
  });

  it('all/ids/length/clear without listIds fail with INVALID_CONFIG', async () => {
    const bare = new SessionClusterStore({ store: clusters[0]!.store });
    const error = await new Promise<unknown>((resolve) => {
      bare.all((e) => {
        resolve(e);
      });
    });
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect(() => new SessionClusterStore({ store: {} as never })).toThrow(/store/);
  });

  it('a session whose cookie already expired is deleted, not stored', async () => {
    const store = stores[0]!;
    const sid = 'expired-session-id';
    const sess: ExpressSessionData = { cookie: { expires: new Date(Date.now() - 1_000) }, a: 1 };
    await new Promise<void>((resolve, reject) => {
      store.set(sid, sess, (e) => {
        if (e !== null && e !== undefined) reject(toSessionError(e));
        else resolve();
      });
    });
    expect(await clusters[0]!.manager.get(storeId(sid))).toBeNull();
  });
});
