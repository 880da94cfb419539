import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { SessionValidationError, isSessionError } from '@session-cluster/core';
import {
  cookieClient,
  listenOnLoopback,
  startRedisCluster,
  startRedisServer,
  untilReconciled,
} from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import express from 'express';
import type { Request, RequestHandler } from 'express';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionClusterStore, storeId } from './express-session-store.js';
import type { SessionClusterStoreOptions } from './express-session-store.js';

// express-session itself, without @types/express-session (its req.session
// type would clash with ours in this program): the few parts used are typed here.
interface EsSession extends Record<string, unknown> {
  destroy(cb: (error?: unknown) => void): void;
}
const requireHere = createRequire(import.meta.url);
const session = requireHere('express-session') as (options: {
  store: SessionClusterStore;
  secret: string;
  resave: boolean;
  saveUninitialized: boolean;
  genid?: () => string;
  cookie?: { maxAge?: number; secure?: boolean };
}) => RequestHandler;
const { Cookie } = requireHere('express-session') as {
  Cookie: new () => { expires: Date | null };
};
const es = (req: Request): EsSession => (req as unknown as { session: EsSession }).session;

let redis: RedisServerHandle;
const opened: SessionCluster[] = [];
const closers: (() => Promise<void>)[] = [];

/** A cluster on a fresh prefix (a fresh keyspace per test). */
function newCluster(options: { maxBytes?: number } = {}): SessionCluster {
  const cluster = createSessionCluster({
    redis: { url: redis.url },
    prefix: `test:${randomUUID()}`,
    ...(options.maxBytes === undefined ? {} : { codec: { maxBytes: options.maxBytes } }),
  });
  opened.push(cluster);
  return cluster;
}

function newStore(
  cluster: SessionCluster,
  options: Omit<SessionClusterStoreOptions, 'store'> = {},
): SessionClusterStore {
  return new SessionClusterStore({ store: cluster.store, ...options });
}

/** A cookie expiry `seconds` from now, as express-session's Cookie serialises it. */
const inSeconds = (seconds: number): Date => new Date(Date.now() + seconds * 1000);

beforeAll(async () => {
  redis = await startRedisServer();
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await redis.stop();
});

describe("SessionClusterStore: connect-redis's lifecycle test, on cluster.store", () => {
  it('set/get/touch with expiries, length/ids/all with real ids, destroy, clear, 1000 sessions, past expiry removes', async () => {
    const cluster = newCluster();
    const store = newStore(cluster);
    const expiryOf = async (sid: string) =>
      (await cluster.store.load(storeId(sid)))?.expiresAt ?? null;
    await store.clear();

    const sess = { foo: 'bar', cookie: { originalMaxAge: null } };
    await store.set('123', sess);
    expect(await store.get('123')).toEqual(sess);
    // No cookie expiry: the default ttl, one day.
    expect((await expiryOf('123'))!).toBeGreaterThanOrEqual(Date.now() + 86_399_000);

    const expires = inSeconds(60);
    await store.set('456', { cookie: { originalMaxAge: null, expires } });
    expect((await expiryOf('456'))!).toBeLessThanOrEqual(Date.now() + 60_000);

    await store.touch('456', { cookie: { originalMaxAge: null, expires: inSeconds(90) } });
    expect((await expiryOf('456'))!).toBeGreaterThan(Date.now() + 60_000);

    expect(await store.length()).toBe(2);
    expect((await store.ids())!.sort()).toEqual(['123', '456']);
    const all = (await store.all())!.sort((a, b) => (a.id > b.id ? 1 : -1));
    expect(all).toEqual([
      { id: '123', foo: 'bar', cookie: { originalMaxAge: null } },
      { id: '456', cookie: { originalMaxAge: null, expires: expires.toISOString() } },
    ]);

    await store.destroy('456');
    expect(await store.length()).toBe(1);
    await store.clear();
    expect(await store.length()).toBe(0);

    const count = 1000;
    const cookie = new Cookie();
    for (let sid = 0; sid < count; sid++) {
      // connect-redis gives each 1 s; sequential sets on a busy CI runner
      // can take longer than that in all, so the first would expire.
      cookie.expires = inSeconds(60);
      await store.set(`s${sid}`, { cookie });
    }
    expect(await store.length()).toBe(count);
    await store.clear();
    expect(await store.length()).toBe(0);

    await store.set('789', { cookie: { originalMaxAge: null, expires: inSeconds(90) } });
    expect(await store.length()).toBe(1);
    await store.set('789', { cookie: { originalMaxAge: null, expires: inSeconds(-90) } });
    expect(await store.length()).toBe(0);
    expect(await store.get('789')).toBeNull();
  });

  it('callbacks work as well as promises, and errors reach the callback', async () => {
    const store = newStore(newCluster());
    const called = (run: (cb: (error?: unknown, value?: unknown) => void) => void) =>
      new Promise<{ error: unknown; value: unknown }>((resolve) => {
        run((error, value) => {
          resolve({ error, value });
        });
      });
    expect(
      await called((cb) => void store.set('cb', { cookie: { originalMaxAge: null }, a: 1 }, cb)),
    ).toEqual({ error: null, value: undefined });
    expect(await called((cb) => void store.get('cb', cb))).toMatchObject({
      error: null,
      value: { a: 1 },
    });
    expect(await called((cb) => void store.ids(cb))).toEqual({ error: null, value: ['cb'] });
    expect(await called((cb) => void store.length(cb))).toEqual({ error: null, value: 1 });
    const failed = await called((cb) => void store.get('', cb));
    expect(isSessionError(failed.error)).toBe(true);
    // With a callback the promise never rejects.
    await expect(store.get('', () => undefined)).resolves.toBeUndefined();
    await expect(store.get('')).rejects.toBeInstanceOf(SessionValidationError);
  });

  it('ids of any shape: uid-safe, "123", our own format, unicode', async () => {
    const store = newStore(newCluster());
    const ids = ['x'.repeat(32), '123', `${'A'.repeat(42)}E`, 'ünïcødé id with spaces'];
    for (const sid of ids) await store.set(sid, { cookie: { originalMaxAge: null }, sid });
    expect((await store.ids())!.sort()).toEqual([...ids].sort());
    for (const sid of ids) expect(await store.get(sid)).toMatchObject({ sid });
    const all = await store.all();
    for (const listed of all!) expect(listed['sid']).toBe(listed.id);
  });

  it('prefix: two stores on one cluster see only their own sessions', async () => {
    const cluster = newCluster();
    const a = newStore(cluster, { prefix: 'a:' });
    const b = newStore(cluster, { prefix: 'b:' });
    await a.set('same', { cookie: { originalMaxAge: null }, owner: 'a' });
    await b.set('same', { cookie: { originalMaxAge: null }, owner: 'b' });
    expect(await a.get('same')).toMatchObject({ owner: 'a' });
    expect(await b.get('same')).toMatchObject({ owner: 'b' });
    expect(await a.ids()).toEqual(['same']);
    await a.clear();
    expect(await a.length()).toBe(0);
    expect(await b.length()).toBe(1);
  });

  it('ttl as a function decides every expiry; 0 deletes', async () => {
    const cluster = newCluster();
    const store = newStore(cluster, { ttl: (s) => Number(s['seconds']) });
    await store.set('t', {
      cookie: { originalMaxAge: null, expires: inSeconds(3600) },
      seconds: 5,
    });
    const record = await cluster.store.load(storeId('t'));
    expect(record!.expiresAt).toBeLessThanOrEqual(Date.now() + 5_000);
    await store.set('t', { cookie: { originalMaxAge: null }, seconds: 0 });
    expect(await store.get('t')).toBeNull();
  });

  it('disableTouch and disableTTL: touch leaves the expiry; disableTTL keeps sessions for good', async () => {
    const cluster = newCluster();
    const noTouch = newStore(cluster, { disableTouch: true });
    await noTouch.set('n', { cookie: { originalMaxAge: null, expires: inSeconds(60) } });
    const before = (await cluster.store.load(storeId('n')))!.expiresAt;
    await noTouch.touch('n', { cookie: { originalMaxAge: null, expires: inSeconds(600) } });
    expect((await cluster.store.load(storeId('n')))!.expiresAt).toBe(before);

    const noTtl = newStore(cluster, { disableTTL: true });
    await noTtl.set('k', { cookie: { originalMaxAge: null, expires: inSeconds(60) } });
    expect((await cluster.store.load(storeId('k')))!.expiresAt).toBeGreaterThan(
      Date.now() + 50 * 365 * 86_400_000,
    );
    await noTtl.set('k', { cookie: { originalMaxAge: null, expires: inSeconds(-1) } });
    expect(await noTtl.get('k')).toBeNull();
  });

  it('options are checked at construction', () => {
    const store = newCluster().store;
    expect(() => new SessionClusterStore({ store: {} as never })).toThrow(/store/);
    expect(() => new SessionClusterStore({ store, ttl: 'day' as never })).toThrow(/ttl/);
    expect(() => new SessionClusterStore({ store, disableTTL: 1 as never })).toThrow(/disableTTL/);
    expect(() => new SessionClusterStore({ store, prefix: 1 as never })).toThrow(/prefix/);
  });

  it('a session over the size limit fails with PAYLOAD_TOO_LARGE naming the limit and codec.maxBytes', async () => {
    const store = newStore(newCluster({ maxBytes: 1_024 }));
    const error: unknown = await store
      .set('big', { cookie: { originalMaxAge: null }, blob: 'x'.repeat(2_000) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionValidationError);
    expect(error).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      field: 'codec.maxBytes',
      details: { maxBytes: 1_024, option: 'codec.maxBytes' },
    });
    expect((error as Error).message).toMatch(/1024 bytes.*codec: \{ maxBytes \}/);
  });

  it('on a Redis Cluster: ids/all/length/clear list every master', async () => {
    const redisCluster = await startRedisCluster();
    try {
      const cluster = createSessionCluster({
        redis: { cluster: { nodes: [...redisCluster.startupNodes] } },
        locks: { nodes: [redis.url] },
        prefix: `test:${randomUUID()}`,
      });
      opened.push(cluster);
      const store = newStore(cluster);
      const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
      for (const sid of ids) await store.set(sid, { cookie: { originalMaxAge: null }, sid });
      expect((await store.ids())!.sort()).toEqual([...ids].sort());
      expect(await store.length()).toBe(50);
      await store.clear();
      expect(await store.length()).toBe(0);
    } finally {
      await Promise.all(opened.splice(0).map((c) => c.close()));
      await redisCluster.stop();
    }
  });
});

describe('SessionClusterStore under express-session, in one process', () => {
  async function app(store: SessionClusterStore, genid?: () => string): Promise<string> {
    const server = express();
    server.use(
      session({
        store,
        secret: 'keyboard cat with enough characters',
        resave: false,
        saveUninitialized: false,
        ...(genid === undefined ? {} : { genid }),
        cookie: { maxAge: 60_000, secure: false },
      }),
    );
    server.post('/set/:key', (req, res) => {
      es(req)[req.params['key']] = 1;
      res.json({ ok: true });
    });
    server.post('/slow-set/:key', (req, res) => {
      // Holds the loaded session while another request destroys it.
      setTimeout(() => {
        es(req)[req.params['key']] = 1;
        res.json({ ok: true });
      }, 100);
    });
    server.post('/unset/:key', (req, res) => {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- removing a session key is the point
      delete es(req)[req.params['key']];
      res.json({ ok: true });
    });
    // An explicit save mid-request, then one more change saved at the end.
    server.post('/save-twice', (req, res, next) => {
      es(req)['first'] = 1;
      (es(req) as unknown as { save(cb: (error?: unknown) => void): void }).save((error) => {
        if (error !== undefined && error !== null) {
          next(error);
          return;
        }
        es(req)['second'] = 2;
        res.json({ ok: true });
      });
    });
    server.post('/logout', (req, res) => {
      es(req).destroy(() => res.json({ ok: true }));
    });
    server.get('/data', (req, res) => {
      res.json({ ...es(req) });
    });
    const listening = await listenOnLoopback(server);
    closers.push(listening.close);
    return listening.url;
  }

  it('parallel requests changing different keys keep every change; a removed key is unset', async () => {
    const cluster = newCluster();
    const store = newStore(cluster);
    const url = await app(store);
    const tab = cookieClient('connect.sid');
    await tab.request('POST', `${url}/set/gone`);
    const results = await Promise.all([
      tab.request('POST', `${url}/unset/gone`),
      ...Array.from({ length: 50 }, (_, i) => tab.request('POST', `${url}/set/k${i}`)),
    ]);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Read what Redis keeps: a loaded machine can push the burst past the fallback's deadline.
    await untilReconciled(cluster.fallback);
    const data = (await tab.request('GET', `${url}/data`)).json();
    expect(data).not.toHaveProperty('gone');
    for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(1);
  });

  it('an explicit save() then the automatic one: both changes stored', async () => {
    const store = newStore(newCluster());
    const url = await app(store);
    const tab = cookieClient('connect.sid');
    await tab.request('POST', `${url}/set/start`);
    expect((await tab.request('POST', `${url}/save-twice`)).status).toBe(200);
    expect((await tab.request('GET', `${url}/data`)).json()).toMatchObject({
      start: 1,
      first: 1,
      second: 2,
    });
  });

  it('parallel sets of one new id (racing creators) all succeed', async () => {
    const store = newStore(newCluster());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        store.set('racing', { cookie: { originalMaxAge: null }, [`k${i}`]: i, writer: i }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    // Each replaces the session key by key (never a compare-and-set): the
    // last writer's keys are all there; keys another writer added meanwhile may be too.
    const stored = (await store.get('racing'))!;
    const writer = Number(stored['writer']);
    expect(stored).toMatchObject({ cookie: { originalMaxAge: null }, [`k${writer}`]: writer });
  });

  it('userIdOf: the owner is indexed on create and moved when a loaded session gains one', async () => {
    const cluster = newCluster();
    const store = newStore(cluster, { userIdOf: (s) => s['user'] });
    await store.set('owned', { cookie: { originalMaxAge: null }, user: 'erin' });
    expect((await cluster.manager.listByUser('erin')).map((r) => r.id)).toEqual([storeId('owned')]);

    const url = await app(store);
    const tab = cookieClient('connect.sid');
    await tab.request('POST', `${url}/set/start`);
    await tab.request('POST', `${url}/set/user`); // user = 1: not a valid owner, ignored
    expect(await cluster.manager.listByUser('1')).toEqual([]);
    const [sid] = (await store.ids())!.filter((id) => id !== 'owned');
    const loaded = { ...(await store.get(sid!))!, user: 'frank' };
    // What a request would do: createSession binds what get returned to req.
    const req = {};
    const bound = store.createSession(req, (await store.get(sid!))!);
    Object.assign(bound, loaded);
    await store.set(sid!, bound as never);
    expect((await cluster.manager.listByUser('frank')).map((r) => r.id)).toEqual([storeId(sid!)]);
    expect(await store.get(sid!)).toMatchObject({ start: 1, user: 'frank' });
  });

  it('a late save of a session destroyed meanwhile leaves it gone', async () => {
    const store = newStore(newCluster(), { userIdOf: (s) => s['user'] });
    const url = await app(store, () => 'fixed-genid-123');
    const tab = cookieClient('connect.sid');
    await tab.request('POST', `${url}/set/user`);
    expect(await store.ids()).toEqual(['fixed-genid-123']);
    const [late, logout] = await Promise.all([
      tab.request('POST', `${url}/slow-set/late`),
      new Promise((resolve) => setTimeout(resolve, 30)).then(() =>
        cookieClient('connect.sid', tab.cookie).request('POST', `${url}/logout`),
      ),
    ]);
    expect([late.status, logout.status]).toEqual([200, 200]);
    expect(await store.get('fixed-genid-123')).toBeNull();
    expect(await store.length()).toBe(0);
  });
});
