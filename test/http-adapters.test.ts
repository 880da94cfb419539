import { randomUUID } from 'node:crypto';
import { cookieClient, useRedisServer, withBadSignature } from '@session-cluster/testkit';
import type { ManagedSessionOptions } from '@session-cluster/express';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, startAdapterApp } from './fixtures/adapter-apps.js';
import type { Adapter } from './fixtures/adapter-apps.js';

const SECRET = 'a-shared-core-secret-long-enough-000001';
const OLD_SECRET = 'an-old-shared-core-secret-long-enough-02';
const COOKIE = 'sc.sid';

const redis = useRedisServer();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function newCluster(): SessionCluster {
  const cluster = createSessionCluster({
    redis: { url: redis.url, commandTimeoutMs: 500 },
    prefix: `test:${randomUUID()}`,
  });
  closers.push(() => cluster.close());
  return cluster;
}

async function start(
  adapter: Adapter,
  cluster: SessionCluster,
  options: Partial<ManagedSessionOptions> = {},
): Promise<string> {
  const app = await startAdapterApp(adapter, cluster.manager, {
    secrets: [SECRET],
    cookie: { secure: false },
    logger: { warn: () => undefined },
    ...options,
  });
  closers.push(() => app.close());
  return app.url;
}

type View = {
  isNew: boolean;
  idHash: string | null;
  userId?: string;
  data: Record<string, unknown>;
};

describe.each(ADAPTERS)('the shared HTTP session core behind %s', (adapter) => {
  it('a tampered cookie starts a fresh session and leaves the original alone', async () => {
    const url = await start(adapter, newCluster());
    const owner = cookieClient(COOKIE);
    await owner.request('POST', `${url}/set/secret/mine`);
    const forged = withBadSignature(owner.cookie!);
    const attacker = cookieClient(COOKIE, forged);
    const seen = await attacker.request('GET', `${url}/session`);
    expect(seen.json<View>()).toMatchObject({ isNew: true, data: {} });
    expect(attacker.cookie).toBeUndefined();
    expect((await owner.request('GET', `${url}/session`)).json<View>().data).toEqual({
      secret: 'mine',
    });
  });

  it('secret rotation: old-secret cookies are read and re-signed; dropped secrets are worth nothing', async () => {
    const cluster = newCluster();
    const tab = cookieClient(COOKIE);
    await tab.request(
      'POST',
      `${await start(adapter, cluster, { secrets: [OLD_SECRET] })}/set/a/1`,
    );
    const old = tab.cookie!;
    const rotating = await start(adapter, cluster, { secrets: [SECRET, OLD_SECRET] });
    const seen = await tab.request('GET', `${rotating}/session`);
    expect(seen.json<View>().data).toEqual({ a: '1' });
    expect(tab.cookie).not.toBe(old);
    const after = await start(adapter, cluster, { secrets: [SECRET] });
    expect((await tab.request('GET', `${after}/session`)).json<View>().data).toEqual({ a: '1' });
    const stale = cookieClient(COOKIE, old);
    expect((await stale.request('GET', `${after}/session`)).json<View>().isNew).toBe(true);
  });

  it('regenerate: new id, same data, owner bound; destroy-all ends every device', async () => {
    const url = await start(adapter, newCluster());
    const [laptop, phone] = [cookieClient(COOKIE), cookieClient(COOKIE)];
    await laptop.request('POST', `${url}/set/cart/book`);
    const fixated = laptop.cookie!;
    await laptop.request('POST', `${url}/login/erin`);
    await phone.request('POST', `${url}/login/erin`);
    expect((await laptop.request('GET', `${url}/session`)).json<View>()).toMatchObject({
      userId: 'erin',
      data: { cart: 'book' },
    });
    expect(
      (await cookieClient(COOKIE, fixated).request('GET', `${url}/session`)).json<View>().isNew,
    ).toBe(true);
    const out = await laptop.request('POST', `${url}/logout-everywhere`);
    expect(out.json()).toEqual({ deleted: 2 });
    expect((await phone.request('GET', `${url}/session`)).json<View>().isNew).toBe(true);
  });

  it('degraded mode: requests succeed and a header says so (unless turned off)', async () => {
    const cluster = newCluster();
    const url = await start(adapter, cluster);
    const isolation = cluster.fallback!.isolate();
    try {
      const tab = cookieClient(COOKIE);
      const res = await tab.request('POST', `${url}/set/a/1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-session-degraded')).toBe('1');
      expect((await tab.request('GET', `${url}/session`)).json<View>().data).toMatchObject({
        a: '1',
      });
    } finally {
      isolation.dispose();
    }
    const off = await start(adapter, cluster, { degradedHeader: false });
    const again = cluster.fallback!.isolate();
    try {
      const res = await cookieClient(COOKIE).request('POST', `${off}/set/a/1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-session-degraded')).toBeNull();
    } finally {
      again.dispose();
    }
  });

  it('rolling expiry: a read past touchAfterMs rolls the expiry and re-sends the cookie', async () => {
    const cluster = newCluster();
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${await start(adapter, cluster)}/set/a/1`);
    const lazy = await start(adapter, cluster, { touchAfterMs: 60_000 });
    const eager = await start(adapter, cluster, { touchAfterMs: 0 });
    expect((await tab.request('GET', `${lazy}/session`)).setCookies).toEqual([]);
    const before = (await tab.request('GET', `${lazy}/session`)).json<{ expiresAt: number }>();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await tab.request('GET', `${eager}/session`)).setCookies).toHaveLength(1);
    const after = (await tab.request('GET', `${lazy}/session`)).json<{ expiresAt: number }>();
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
  });
});

describe('Express and Fastify instances share sessions', () => {
  it('a session written through one adapter is read and changed through the other', async () => {
    const cluster = newCluster();
    const [viaExpress, viaFastify] = [
      await start('express', cluster),
      await start('fastify', cluster),
    ];
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${viaExpress}/set/from/express`);
    await tab.request('POST', `${viaFastify}/set/also/fastify`);
    expect((await tab.request('GET', `${viaExpress}/session`)).json<View>().data).toEqual({
      from: 'express',
      also: 'fastify',
    });
  });
});
