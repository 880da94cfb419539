import { randomUUID } from 'node:crypto';
import { generateSessionId, hashSessionId, isSessionError } from '@session-cluster/core';
import {
  cookieClient,
  respCommand,
  untilReconciled,
  useRedisServer,
  withBadSignature,
} from '@session-cluster/testkit';
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionCluster } from './session-plugin.js';
import type { FastifySessionOptions } from './session-plugin.js';
import { buildFastifyTestApp } from './test-app.test-helpers.js';
import type { FastifyTestApp } from './test-app.test-helpers.js';

const SECRET = 'a-test-secret-that-is-long-enough-0001';
const OLD_SECRET = 'an-old-secret-that-is-long-enough-0002';
const COOKIE = 'sc.sid';

const redis = useRedisServer();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface Harness {
  readonly url: string;
  readonly cluster: SessionCluster;
  readonly test: FastifyTestApp;
  readonly warnings: { details: Readonly<Record<string, unknown>>; message: string }[];
  keys(): Promise<number>;
}

/** Each cluster's key prefix, to count what it stored. */
const prefixes = new WeakMap<SessionCluster, string>();

function newCluster(prefix = `test:${randomUUID()}`): SessionCluster {
  const cluster = createSessionCluster({
    redis: { url: redis.url, commandTimeoutMs: 500 },
    prefix,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  closers.push(() => cluster.close());
  prefixes.set(cluster, prefix);
  return cluster;
}

async function start(
  options: Partial<FastifySessionOptions> = {},
  cluster: SessionCluster = newCluster(),
): Promise<Harness> {
  const warnings: Harness['warnings'] = [];
  const test = await buildFastifyTestApp({
    manager: cluster.manager,
    secrets: [SECRET],
    cookie: { secure: false },
    logger: { warn: (details, message) => warnings.push({ details, message }) },
    ...options,
  });
  const url = await test.app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => test.app.close());
  const prefix = prefixes.get(cluster) ?? 'none';
  return {
    url,
    cluster,
    test,
    warnings,
    keys: async () => {
      const keys = await respCommand(redis.port, ['KEYS', `${prefix}:*`]);
      return Array.isArray(keys) ? keys.length : 0;
    },
  };
}

describe('sessionCluster (Fastify plugin, Redis through the manager)', () => {
  it('stores nothing and sets no cookie until something is written; then the reply carries it', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    for (const path of ['/nothing', '/session']) {
      const res = await tab.request('GET', `${h.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([]);
    }
    expect((await tab.request('POST', `${h.url}/unset/x`)).setCookies).toEqual([]);
    expect(await h.keys()).toBe(0);

    const written = await tab.request('POST', `${h.url}/set/theme/dark`);
    expect(written.setCookies).toHaveLength(1);
    expect(written.setCookies[0]).toMatch(/; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(h.test.stats().sessionsCreated).toBe(1);
    const seen = (await tab.request('GET', `${h.url}/session`)).json();
    expect(seen).toMatchObject({ isNew: false, data: { theme: 'dark' } });
    expect(seen['idHash']).toMatch(/^[0-9a-f]{12}$/);

    // reply.send() instead of a returned value: committed all the same.
    const sent = await tab.request('POST', `${h.url}/set-and-send`);
    expect(sent.headers.get('x-route')).toBe('sent');
    await tab.request('POST', `${h.url}/unset/theme`);
    expect((await tab.request('GET', `${h.url}/session`)).json()).toMatchObject({
      data: { sent: true },
    });
    expect((await tab.request('GET', `${h.url}/session`)).json()['data']).not.toHaveProperty(
      'theme',
    );
    // A sibling context without the plugin has no session.
    expect((await tab.request('GET', `${h.url}/plain/session`)).json()).toEqual({});
  });

  it('a tampered, unsigned or malformed cookie starts a fresh session and leaves the original alone', async () => {
    const h = await start();
    const owner = cookieClient(COOKIE);
    await owner.request('POST', `${h.url}/set/secret/owner-data`);
    const parts = owner.cookie!.split('.');
    const [id, signature] = [parts[0]!, parts.at(-1)!];
    const touched = parts.slice(1, -1).join('.');
    const forgeries = [
      withBadSignature(owner.cookie!),
      id,
      `${id}.${touched}`,
      'garbage',
      `${generateSessionId()}.${touched}.${signature}`,
    ];
    for (const forged of forgeries) {
      const attacker = cookieClient(COOKIE, forged);
      const seen = await attacker.request('GET', `${h.url}/session`);
      expect(seen.status).toBe(200);
      expect(seen.json()).toMatchObject({ isNew: true, data: {} });
      expect(attacker.cookie).toBeUndefined();
      await attacker.request('POST', `${h.url}/set/secret/attacker-data`);
      expect(attacker.cookie!.startsWith(id)).toBe(false);
    }
    expect((await owner.request('GET', `${h.url}/session`)).json()).toMatchObject({
      data: { secret: 'owner-data' },
    });
    expect(h.test.stats().rejectedCookies).toBe(forgeries.length);
    expect(h.warnings[0]?.details).toMatchObject({
      reason: 'bad-signature',
      sessionIdHash: hashSessionId(id),
    });
    expect(JSON.stringify(h.warnings)).not.toContain(id);
  });

  it('secret rotation: a cookie signed with the old secret is read and re-signed with the new one', async () => {
    const cluster = newCluster();
    const before = await start({ secrets: [OLD_SECRET] }, cluster);
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${before.url}/set/cart/book`);
    const oldCookie = tab.cookie!;

    const rotating = await start({ secrets: [SECRET, OLD_SECRET] }, cluster);
    const seen = await tab.request('GET', `${rotating.url}/session`);
    expect(seen.json()).toMatchObject({ isNew: false, data: { cart: 'book' } });
    expect(seen.setCookies).toHaveLength(1);
    expect(tab.cookie).not.toBe(oldCookie);

    const after = await start({ secrets: [SECRET] }, cluster);
    expect((await tab.request('GET', `${after.url}/session`)).json()).toMatchObject({
      data: { cart: 'book' },
    });
    // The old secret is gone: a cookie only it signed is worth nothing.
    expect(
      (await cookieClient(COOKIE, oldCookie).request('GET', `${after.url}/session`)).json(),
    ).toMatchObject({ isNew: true, data: {} });
  });

  it('regenerate at login: new id, same data, owner set; the old cookie is worth nothing', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/set/cart/book`);
    const fixated = tab.cookie!;
    const before = (await tab.request('GET', `${h.url}/session`)).json();
    await tab.request('POST', `${h.url}/login/alice`);
    const after = (await tab.request('GET', `${h.url}/session`)).json();
    expect(after).toMatchObject({ isNew: false, userId: 'alice', data: { cart: 'book' } });
    expect(after['idHash']).not.toBe(before['idHash']);
    expect(
      (await cookieClient(COOKIE, fixated).request('GET', `${h.url}/session`)).json(),
    ).toMatchObject({ isNew: true, data: {} });
    // A login on a fresh session stores it, owned, even with no data.
    const fresh = cookieClient(COOKIE);
    await fresh.request('POST', `${h.url}/login/bob`);
    expect((await fresh.request('GET', `${h.url}/session`)).json()).toMatchObject({
      isNew: false,
      userId: 'bob',
    });
  });

  it('destroy and destroyAllForUser (with and without keepCurrent)', async () => {
    const h = await start();
    const [laptop, phone, tablet] = [
      cookieClient(COOKIE),
      cookieClient(COOKIE),
      cookieClient(COOKIE),
    ];
    for (const device of [laptop, phone, tablet]) {
      await device.request('POST', `${h.url}/login/carol`);
    }
    const others = await laptop.request('POST', `${h.url}/logout-everywhere?keep=1`);
    expect(others.json()).toMatchObject({ deleted: 2 });
    expect((await phone.request('GET', `${h.url}/session`)).json()).toMatchObject({ isNew: true });
    const all = await laptop.request('POST', `${h.url}/logout-everywhere`);
    expect(all.json()).toMatchObject({ deleted: 1 });
    expect(laptop.cookie).toBeUndefined();
    expect(await h.cluster.manager.listByUser('carol')).toHaveLength(0);

    await tablet.request('POST', `${h.url}/login/dave`);
    await tablet.request('POST', `${h.url}/logout`);
    expect(tablet.cookie).toBeUndefined();
    expect(await h.cluster.manager.listByUser('dave')).toHaveLength(0);
  });

  it('rolling expiry: a read past touchAfterMs moves the expiry and re-sends the cookie; before it, neither', async () => {
    const cluster = newCluster();
    const lazy = await start({ touchAfterMs: 60_000 }, cluster);
    const eager = await start({ touchAfterMs: 0 }, cluster);
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${lazy.url}/set/a/1`);
    const first = (await tab.request('GET', `${lazy.url}/session`)).json<{ expiresAt: number }>();
    const quiet = await tab.request('GET', `${lazy.url}/session`);
    expect(quiet.setCookies).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const touched = await tab.request('GET', `${eager.url}/session`);
    expect(touched.setCookies).toHaveLength(1);
    const after = (await tab.request('GET', `${lazy.url}/session`)).json<{ expiresAt: number }>();
    expect(after.expiresAt).toBeGreaterThan(first.expiresAt);
  });

  it('update() and per-key sets lose nothing under parallel requests; lock: request makes read-modify-write exact', async () => {
    const cluster = newCluster();
    const open = await start({}, cluster);
    const locked = await start({ lock: 'request' }, cluster);
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${open.url}/set/counter/0`);
    const n = 60;
    const increments = await Promise.all(
      Array.from({ length: n }, () => tab.request('POST', `${open.url}/incr`)),
    );
    expect(increments.every((r) => r.status === 200)).toBe(true);
    const sets = await Promise.all(
      Array.from({ length: n }, (_, i) => tab.request('POST', `${open.url}/set/k${i}/${i}`)),
    );
    expect(sets.every((r) => r.status === 200)).toBe(true);
    // What Redis keeps, once anything a loaded machine sent through the fallback is back.
    await untilReconciled(cluster.fallback);
    const { data } = (await tab.request('GET', `${open.url}/session`)).json<{
      data: Record<string, unknown>;
    }>();
    expect(data['counter']).toBe(n);
    for (let i = 0; i < n; i++) expect(data[`k${i}`]).toBe(String(i));

    await tab.request('POST', `${open.url}/set/counter/0`);
    const readSets = await Promise.all(
      Array.from({ length: n }, () => tab.request('POST', `${locked.url}/incr-read-set`)),
    );
    expect(readSets.filter((r) => r.status !== 200).map((r) => r.text)).toEqual([]);
    await untilReconciled(cluster.fallback);
    expect((await tab.request('GET', `${open.url}/session`)).json()).toMatchObject({
      data: { counter: n },
    });
  });

  it('a storage failure reaches the error handler as a SessionError; one reply per request, also under lock: request', async () => {
    const dead = createSessionCluster({
      redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 },
      fallback: { enabled: false },
      retry: { maxAttempts: 1 },
    });
    closers.push(() => dead.close());
    for (const lock of ['none', 'request'] as const) {
      const h = await start({ lock }, dead);
      const res = await cookieClient(COOKIE).request('POST', `${h.url}/set/a/1`);
      expect(res.status).toBe(503);
      expect(res.json()).toEqual({ error: expect.stringMatching(/^STORAGE_/) as unknown });
      expect(h.test.errors.map((e) => e.code)).toEqual([expect.stringMatching(/^STORAGE_/)]);
      expect(h.test.errors[0]?.operation).toBeDefined();
      expect(h.test.stats().commitFailures).toBe(1);
      expect(h.test.replies.count).toBe(1);
    }
  });

  it('a failed lock: request read reaches the error handler and the next request takes the lock', async () => {
    const h = await start({ lock: 'request' });
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/set/counter/0`);
    const res = await tab.request('POST', `${h.url}/throws`);
    expect(res.status).toBe(500);
    // The throwing handler's change was committed with the error reply, and the lock given back.
    const next = await tab.request('POST', `${h.url}/incr-read-set`);
    expect(next.json()).toMatchObject({ counter: 1 });
    expect(h.test.replies.count).toBe(3);
  });

  it("keeps another plugin's Set-Cookie (@fastify/cookie) and its own", async () => {
    const cluster = newCluster();
    const app = Fastify();
    closers.push(() => app.close());
    await app.register(fastifyCookie);
    await app.register(sessionCluster, {
      manager: cluster.manager,
      secrets: [SECRET],
      cookie: { secure: false },
    });
    app.post('/both', (request, reply) => {
      request.session.set('a', 1);
      void reply.setCookie('theme', 'dark', { path: '/' });
      return { ok: true };
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${url}/both`, { method: 'POST' });
    const cookies = res.headers.getSetCookie().map((line) => line.split('=')[0]);
    expect(cookies.sort()).toEqual([COOKIE, 'theme']);
  });

  it('bad options and a second registration are typed SessionErrors', async () => {
    const cluster = newCluster();
    const attempts: [string, (app: FastifyInstance) => unknown][] = [
      [
        'secrets',
        (app) => app.register(sessionCluster, { manager: cluster.manager, secrets: 'short' }),
      ],
      [
        'manager',
        (app) =>
          app.register(sessionCluster, {
            manager: {} as never,
            secrets: [SECRET],
          }),
      ],
      [
        'lock',
        (app) =>
          app.register(sessionCluster, {
            manager: cluster.manager,
            secrets: [SECRET],
            lock: 'always' as 'request',
          }),
      ],
      [
        'register',
        (app) =>
          app
            .register(sessionCluster, { manager: cluster.manager, secrets: [SECRET] })
            .register(sessionCluster, { manager: cluster.manager, secrets: [SECRET] }),
      ],
    ];
    for (const [field, register] of attempts) {
      const app = Fastify();
      void register(app);
      const error: unknown = await app.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSessionError(error)).toBe(true);
      expect(error).toMatchObject({
        code: 'INVALID_CONFIG',
        details: { field: expect.stringMatching(new RegExp(`^${field}`)) as unknown },
      });
      // Named as the plugin, not as the Express middleware whose core it shares.
      expect((error as Error).message).toMatch(/^sessionCluster \(Fastify plugin\)/);
      await app.close().catch(() => undefined);
    }
  });
});
