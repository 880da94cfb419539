import { randomUUID } from 'node:crypto';
import { isSessionError } from '@session-cluster/core';
import { cookieClient, untilReconciled, useRedisServer } from '@session-cluster/testkit';
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import { createRequire } from 'node:module';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterEach, describe, expect, it } from 'vitest';
import { FastifySessionClusterStore } from './fastify-session-store.js';

const SECRET = 'a-fastify-session-secret-long-enough-01';
const COOKIE = 'sessionId';

/**
 * @fastify/session loaded without its type declarations: they declare
 * `request.session` as its own `Session`, which would clash in this
 * package's program with the plugin's `request.session` (an app uses one or
 * the other). What the tests need of it is typed here.
 */
interface FastifySessionApi {
  set(key: string, value: unknown): void;
  regenerate(keys?: string[]): Promise<void>;
  destroy(): Promise<void>;
}
const fastifySession = createRequire(import.meta.url)('@fastify/session') as FastifyPluginCallback<
  Record<string, unknown>
>;
const sessionOf = (request: object): FastifySessionApi =>
  (request as { session: FastifySessionApi }).session;

const redis = useRedisServer();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** One @fastify/session app over the store; `cluster` shared by "instances" built on it. */
async function start(cluster: SessionCluster): Promise<{ url: string; app: FastifyInstance }> {
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: SECRET,
    cookie: { secure: false, maxAge: 3_600_000 },
    saveUninitialized: false,
    store: new FastifySessionClusterStore({ store: cluster.store }),
  });
  app.get('/session', (request) => ({
    data: JSON.parse(JSON.stringify(sessionOf(request))) as unknown,
  }));
  app.post<{ Params: { key: string; value: string } }>('/set/:key/:value', async (request) => {
    // Read, yield (a parallel request saves meanwhile), then change one key.
    await new Promise((resolve) => setTimeout(resolve, 5));
    sessionOf(request).set(request.params.key, request.params.value);
    return { ok: true };
  });
  app.post('/regenerate', async (request) => {
    await sessionOf(request).regenerate(['theme']);
    return { ok: true };
  });
  app.post('/logout', async (request) => {
    await sessionOf(request).destroy();
    return { ok: true };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return { url, app };
}

function newCluster(): SessionCluster {
  const cluster = createSessionCluster({
    redis: { url: redis.url },
    prefix: `test:${randomUUID()}`,
  });
  closers.push(() => cluster.close());
  return cluster;
}

describe('FastifySessionClusterStore under real @fastify/session', () => {
  it('stores, reads back on another instance, regenerates and destroys', async () => {
    const cluster = newCluster();
    const [one, two] = [await start(cluster), await start(cluster)];
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${one.url}/set/theme/dark`);
    expect(tab.cookie).toBeDefined();
    expect((await tab.request('GET', `${two.url}/session`)).json()).toMatchObject({
      data: { theme: 'dark' },
    });
    const before = tab.cookie!;
    await tab.request('POST', `${two.url}/regenerate`);
    expect(tab.cookie).not.toBe(before);
    expect((await tab.request('GET', `${one.url}/session`)).json()).toMatchObject({
      data: { theme: 'dark' },
    });
    const old = await cookieClient(COOKIE, before).request('GET', `${one.url}/session`);
    expect(old.json<{ data: Record<string, unknown> }>().data).not.toHaveProperty('theme');
    await tab.request('POST', `${one.url}/logout`);
    const after = await cookieClient(COOKIE, tab.cookie).request('GET', `${two.url}/session`);
    expect(after.json<{ data: Record<string, unknown> }>().data).not.toHaveProperty('theme');
  });

  it('parallel requests on two instances that set different keys all keep their keys', async () => {
    const cluster = newCluster();
    const instances = [await start(cluster), await start(cluster)];
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${instances[0]!.url}/set/start/1`);
    const n = 100;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        tab.request('POST', `${instances[i % 2]!.url}/set/k${i}/${i}`),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    // A loaded machine can push the burst past the fallback's deadline: what
    // Redis keeps is read once the writes made while degraded are back.
    const degraded = await untilReconciled(cluster.fallback);
    const { data } = (await tab.request('GET', `${instances[1]!.url}/session`)).json<{
      data: Record<string, unknown>;
    }>();
    const kept = Object.keys(data).filter((k) => /^k\d+$/.test(k));
    console.log(
      `[scenario] @fastify/session + FastifySessionClusterStore: ${n} parallel distinct-key sets -> ${kept.length} kept${degraded ? ' (after a degraded spell)' : ''}`,
    );
    expect(kept).toHaveLength(n);
    expect(data).toMatchObject({ start: '1' });
    // Nothing of the store's bookkeeping is stored or sent.
    expect(JSON.stringify(data)).not.toContain('loadedFields');
  });

  it('bad options are typed SessionErrors', () => {
    for (const options of [{}, { store: {} }, { store: newCluster().store, ttl: -1 }]) {
      let error: unknown;
      try {
        new FastifySessionClusterStore(options as never);
      } catch (e) {
        error = e;
      }
      expect(isSessionError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });
});
