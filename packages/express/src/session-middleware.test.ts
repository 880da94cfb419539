import { randomUUID } from 'node:crypto';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import {
  cookieClient,
  listenOnLoopback,
  respCommand,
  useRedisServer,
  withBadSignature,
} from '@session-cluster/testkit';
import { createSessionCluster } from 'session-cluster';
import type { SessionCluster } from 'session-cluster';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ManagedSessionOptions } from './middleware-options.js';
import { sessionMiddleware } from './session-middleware.js';
import type { SessionMiddleware } from './session-middleware.js';
import { SessionCookieSigner } from './signed-cookie.js';
import { buildTestApp } from './test-app.test-helpers.js';
import type { TestApp } from './test-app.test-helpers.js';

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
  readonly middleware: SessionMiddleware;
  readonly app: TestApp;
  readonly warnings: { details: Readonly<Record<string, unknown>>; message: string }[];
  keys(): Promise<number>;
}

async function start(
  options: Partial<ManagedSessionOptions> = {},
  cluster?: SessionCluster,
): Promise<Harness> {
  const prefix = `test:${randomUUID()}`;
  const own =
    cluster ??
    createSessionCluster({
      redis: { url: redis.url, commandTimeoutMs: 500 },
      prefix,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
    });
  if (cluster === undefined) closers.push(() => own.close());
  const warnings: Harness['warnings'] = [];
  const middleware = sessionMiddleware(own.manager, {
    secrets: [SECRET],
    cookie: { secure: false },
    logger: { warn: (details, message) => warnings.push({ details, message }) },
    ...options,
  });
  const app = buildTestApp(middleware);
  const server = await listenOnLoopback(app.app);
  closers.push(server.close);
  return {
    url: server.url,
    cluster: own,
    middleware,
    app,
    warnings,
    keys: async () => {
      const keys = await respCommand(redis.port, ['KEYS', `${prefix}:*`]);
      return Array.isArray(keys) ? keys.length : 0;
    },
  };
}

describe('sessionMiddleware (Redis through the manager)', () => {
  it('stores nothing and sets no cookie until something is written', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    for (const path of ['/nothing', '/session']) {
      const res = await tab.request('GET', `${h.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([]);
    }
    expect((await tab.request('GET', `${h.url}/session`)).json()).toMatchObject({
      isNew: true,
      data: {},
    });
    // Removing a key of no session stores nothing either.
    expect((await tab.request('POST', `${h.url}/unset/x`)).setCookies).toEqual([]);
    expect(await h.keys()).toBe(0);

    const written = await tab.request('POST', `${h.url}/set/theme/dark`);
    expect(written.setCookies).toHaveLength(1);
    expect(written.setCookies[0]).toMatch(/; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(await h.keys()).toBeGreaterThan(0);
    expect(h.middleware.stats.sessionsCreated).toBe(1);
    const seen = (await tab.request('GET', `${h.url}/session`)).json();
    expect(seen).toMatchObject({ isNew: false, data: { theme: 'dark' } });
    expect(seen['idHash']).toMatch(/^[0-9a-f]{12}$/);
  });

  it('a cookie whose version Redis no longer holds is answered by the instance cache once Redis was read after it was issued', async () => {
    const h = await start();
    // Until tracking is confirmed the cache neither serves nor fills.
    await vi.waitFor(() => {
      expect(h.cluster.redis.cacheStats()?.state).toBe('ready');
    });
    const session = await h.cluster.manager.create({ data: { theme: 'dark' } });
    const signer = new SessionCookieSigner(SECRET);
    const gets = async (): Promise<number> => {
      const info = String(await respCommand(redis.port, ['INFO', 'commandstats']));
      return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };
    const read = async (tab: ReturnType<typeof cookieClient>): Promise<void> => {
      const res = await tab.request('GET', `${h.url}/session`);
      expect(res.json()).toMatchObject({ isNew: false, data: { theme: 'dark' } });
      expect(res.setCookies).toEqual([]);
    };
    // Version 4 acknowledged 5 s ago, then lost (a failover): Redis holds 1.
    const lost = cookieClient(COOKIE, signer.sign(session.id, Date.now() - 5_000, 4));
    await read(lost);
    let before = await gets();
    for (let i = 0; i < 3; i += 1) await read(lost);
    expect(await gets()).toBe(before);
    // The same version in a cookie issued just now: nothing cached here was
    // read after it, so each read asks Redis (a write it acknowledges may be newer).
    const fresh = cookieClient(COOKIE, signer.sign(session.id, Date.now(), 4));
    before = await gets();
    await read(fresh);
    await read(fresh);
    expect(await gets()).toBe(before + 2);
  });

  it('Secure is on by default outside development', async () => {
    const h = await start({ cookie: {} });
    const res = await cookieClient(COOKIE).request('POST', `${h.url}/set/a/1`);
    expect(res.setCookies[0]).toMatch(/; Secure/);
  });

  it('a tampered, unsigned or malformed cookie starts a fresh session and leaves the original alone', async () => {
    const h = await start();
    const owner = cookieClient(COOKIE);
    await owner.request('POST', `${h.url}/set/secret/owner-data`);
    const original = owner.cookie!;
    // `<id>.<touchedAt>.<version>.<signature>`: everything between id and signature is signed.
    const parts = original.split('.');
    const [id, signature] = [parts[0], parts.at(-1)];
    const touched = parts.slice(1, -1).join('.');
    const forgeries = [
      withBadSignature(original), // bad signature
      id!, // unsigned id
      `${id}.${touched}`, // no signature
      'garbage',
      `${generateSessionId()}.${touched}.${signature}`, // someone else's id under this signature
    ];
    for (const forged of forgeries) {
      const attacker = cookieClient(COOKIE, forged);
      const seen = await attacker.request('GET', `${h.url}/session`);
      expect(seen.status).toBe(200);
      expect(seen.json()).toMatchObject({ isNew: true, data: {} });
      // The bad cookie is cleared; a write starts a session of the attacker's own.
      expect(attacker.cookie).toBeUndefined();
      await attacker.request('POST', `${h.url}/set/secret/attacker-data`);
      expect(attacker.cookie).toBeDefined();
      expect(attacker.cookie!.startsWith(id!)).toBe(false);
    }
    expect((await owner.request('GET', `${h.url}/session`)).json()).toMatchObject({
      data: { secret: 'owner-data' },
    });
    expect(h.middleware.stats.rejectedCookies).toBe(forgeries.length);
    expect(h.warnings[0]?.details).toMatchObject({
      reason: 'bad-signature',
      sessionIdHash: hashSessionId(id!),
    });
    expect(JSON.stringify(h.warnings)).not.toContain(id!);
  });

  it('a stored session that cannot be read (corrupted, sealed with a retired key) starts a fresh session', async () => {
    const prefix = `test:${randomUUID()}`;
    const oldKey = { id: 'k-old', key: Buffer.alloc(32, 7) };
    const sealedWithOld = createSessionCluster({
      redis: { url: redis.url },
      prefix,
      codec: { encryptionKeys: [oldKey] },
    });
    closers.push(() => sealedWithOld.close());
    const writer = await start({}, sealedWithOld);
    const corrupted = cookieClient(COOKIE);
    await corrupted.request('POST', `${writer.url}/set/secret/one`);
    const retired = cookieClient(COOKIE);
    await retired.request('POST', `${writer.url}/set/secret/two`);

    // Damage the first session's header in Redis (its version no longer
    // reads as a number): corrupted whatever keys the reader holds. (A
    // damaged value is caught by the keyed frame check, which a reader
    // without k-old cannot run: for it that session is UNKNOWN_KEY_ID.)
    const keys = (await respCommand(redis.port, ['KEYS', `${prefix}:s:*`])) as string[];
    const corruptedId = corrupted.cookie!.split('.')[0]!;
    const key = keys.find((k) => k.endsWith(corruptedId))!;
    const raw = String(await respCommand(redis.port, ['GET', key]));
    const [magic = '', , ...rest] = raw.split('\x1f');
    const damaged = [magic, 'x', ...rest].join('\x1f');
    expect(damaged).not.toBe(raw);
    await respCommand(redis.port, ['SET', key, damaged, 'KEEPTTL']);

    // A deployment whose ring no longer holds k-old reads the second one.
    const rotated = createSessionCluster({
      redis: { url: redis.url },
      prefix,
      codec: { encryptionKeys: [{ id: 'k-new', key: Buffer.alloc(32, 9) }] },
    });
    closers.push(() => rotated.close());
    const h = await start({}, rotated);
    const before = await respCommand(redis.port, ['MGET', ...keys]);
    for (const [client, code] of [
      [corrupted, 'SESSION_CORRUPTED'],
      [retired, 'UNKNOWN_KEY_ID'],
    ] as const) {
      const id = client.cookie!.split('.')[0]!;
      const seen = await client.request('GET', `${h.url}/session`);
      expect(seen.status).toBe(200);
      expect(seen.json()).toMatchObject({ isNew: true, data: {} });
      expect(client.cookie).toBeUndefined();
      expect(h.warnings.at(-1)?.details).toMatchObject({ code, sessionIdHash: hashSessionId(id) });
      await client.request('POST', `${h.url}/set/secret/fresh`);
      expect(client.cookie!.startsWith(id)).toBe(false);
    }
    expect(h.middleware.stats.unreadableSessions).toBe(2);
    expect(h.app.errors).toEqual([]);
    expect(JSON.stringify(h.warnings)).not.toContain(corruptedId);
    // Nothing was written over the unreadable records.
    expect(await respCommand(redis.port, ['MGET', ...keys])).toEqual(before);
  });

  it('rotates secrets: signs with the first, accepts any, re-issues old cookies', async () => {
    const h = await start({ secrets: [SECRET, OLD_SECRET] });
    const session = await h.cluster.manager.create({ data: { a: 1 } });
    const oldCookie = new SessionCookieSigner(OLD_SECRET).sign(session.id, Date.now());
    const tab = cookieClient(COOKIE, oldCookie);
    const res = await tab.request('GET', `${h.url}/session`);
    expect(res.json()).toMatchObject({ data: { a: 1 } });
    expect(res.setCookies).toHaveLength(1);
    expect(tab.cookie).toBe(
      new SessionCookieSigner(SECRET).sign(session.id, readTouched(tab.cookie!)),
    );
    // And a cookie signed with a secret no longer in the list is refused.
    const gone = cookieClient(COOKIE, new SessionCookieSigner('x'.repeat(40)).sign(session.id, 0));
    expect((await gone.request('GET', `${h.url}/session`)).json()).toMatchObject({ isNew: true });
  });

  it('rolls the expiry at most once per touchAfterMs', async () => {
    const lazy = await start({ touchAfterMs: 60_000 });
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${lazy.url}/set/a/1`);
    const id = idOf(tab.cookie!);
    const before = (await lazy.cluster.manager.get(id))!.expiresAt;
    for (let i = 0; i < 3; i++) {
      const res = await tab.request('GET', `${lazy.url}/session`);
      expect(res.setCookies).toEqual([]);
    }
    expect((await lazy.cluster.manager.get(id))!.expiresAt).toBe(before);

    // A cookie whose roll is older than touchAfterMs is touched once and re-issued.
    const stale = cookieClient(
      COOKIE,
      new SessionCookieSigner(SECRET).sign(id, Date.now() - 61_000),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const touched = await stale.request('GET', `${lazy.url}/nothing`);
    expect(touched.setCookies).toHaveLength(1);
    expect((await lazy.cluster.manager.get(id))!.expiresAt).toBeGreaterThan(before);
    expect(readTouched(stale.cookie!)).toBeGreaterThan(Date.now() - 5_000);

    // Writes within touchAfterMs of the cookie's roll do not roll the
    // expiry again: the cookie they re-issue keeps its roll time and says
    // which version the browser has seen written, and since when.
    const rolledAt = readTouched(stale.cookie!);
    const rolledExpiry = (await lazy.cluster.manager.get(id))!.expiresAt;
    for (const value of ['1', '2']) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const wrote = await stale.request('POST', `${lazy.url}/set/b/${value}`);
      expect(wrote.setCookies).toHaveLength(1);
      expect(readTouched(stale.cookie!)).toBe(rolledAt);
    }
    const written = (await lazy.cluster.manager.get(id))!;
    expect(written.data['b']).toBe('2');
    expect(written.expiresAt).toBe(rolledExpiry);
    const verified = new SessionCookieSigner(SECRET).verify(stale.cookie!);
    expect(verified).toMatchObject({ ok: true, id, touchedAt: rolledAt, version: written.version });
    expect(verified.ok && verified.versionSince).toBeGreaterThan(rolledAt);
    // A write whose cookie's roll is older than touchAfterMs rolls it, and says so.
    const old = cookieClient(COOKIE, new SessionCookieSigner(SECRET).sign(id, Date.now() - 61_000));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await old.request('POST', `${lazy.url}/set/b/3`);
    expect((await lazy.cluster.manager.get(id))!.expiresAt).toBeGreaterThan(rolledExpiry);
    expect(readTouched(old.cookie!)).toBeGreaterThan(rolledAt);

    // A touched session that is gone clears the cookie.
    await lazy.cluster.manager.delete(id);
    const gone = cookieClient(COOKIE, new SessionCookieSigner(SECRET).sign(id, 0));
    const cleared = await gone.request('GET', `${lazy.url}/nothing`);
    expect(cleared.setCookies[0]).toMatch(/Max-Age=0/);
  });

  it('regenerate keeps the data under a new id and retires the old one', async () => {
    const h = await start();
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/set/cart/book`);
    const before = tab.cookie!;
    await tab.request('POST', `${h.url}/login/alice`);
    expect(idOf(tab.cookie!)).not.toBe(idOf(before));
    expect((await tab.request('GET', `${h.url}/session`)).json()).toMatchObject({
      userId: 'alice',
      data: { cart: 'book' },
    });
    expect(await h.cluster.manager.get(idOf(before))).toBeNull();
    // The old cookie is worth nothing now.
    const fixated = cookieClient(COOKIE, before);
    expect((await fixated.request('GET', `${h.url}/session`)).json()).toMatchObject({
      isNew: true,
    });

    // Login on a fresh visitor stores a (user-owned) session even with no data.
    const fresh = cookieClient(COOKIE);
    await fresh.request('POST', `${h.url}/login/bob`);
    expect((await fresh.request('GET', `${h.url}/session`)).json()).toMatchObject({
      userId: 'bob',
      isNew: false,
    });
  });

  it('destroy and destroyAllForUser end sessions and clear the cookie', async () => {
    const h = await start();
    const laptop = cookieClient(COOKIE);
    const phone = cookieClient(COOKIE);
    const tablet = cookieClient(COOKIE);
    for (const device of [laptop, phone, tablet])
      await device.request('POST', `${h.url}/login/carol`);
    expect(await h.cluster.manager.listByUser('carol')).toHaveLength(3);
    const others = await laptop.request('POST', `${h.url}/logout-everywhere?keep=1`);
    expect(others.json()).toMatchObject({ deleted: 2 });
    expect(laptop.cookie).toBeDefined();
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

  it('a storage failure reaches the error handler as a SessionError', async () => {
    const dead = createSessionCluster({
      redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 },
      fallback: { enabled: false },
      retry: { maxAttempts: 1 },
    });
    closers.push(() => dead.close());
    const h = await start({}, dead);
    const res = await cookieClient(COOKIE).request('POST', `${h.url}/set/a/1`);
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ error: expect.stringMatching(/^STORAGE_/) as unknown });
    expect(h.app.errors[0]?.code).toMatch(/^STORAGE_/);
    expect(h.middleware.stats.commitFailures).toBe(1);
  });

  it('a session degraded mode cannot see keeps its cookie, and is back after recovery', async () => {
    // Two instances on one prefix: the session is written through `w`;
    // `h` never sees it before its breaker is held open.
    const prefix = `test:${randomUUID()}`;
    const instance = (): SessionCluster => {
      const cluster = createSessionCluster({
        redis: { url: redis.url, commandTimeoutMs: 500 },
        prefix,
        retry: { baseDelayMs: 5, maxDelayMs: 20 },
      });
      closers.push(() => cluster.close());
      return cluster;
    };
    const w = await start({ touchAfterMs: 0 }, instance());
    const h = await start({ touchAfterMs: 0 }, instance());
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${w.url}/set/cart/3-items`);
    const cookie = tab.cookie!;
    const isolation = h.cluster.fallback!.isolate();
    let seen;
    try {
      // Served from this instance's memory, which never held the session.
      seen = await tab.request('GET', `${h.url}/session`);
    } finally {
      isolation.dispose();
    }
    expect(seen.status).toBe(200);
    expect(seen.headers.get('x-session-degraded')).toBe('1');
    expect(seen.json()).toMatchObject({ data: {} });
    // Neither cleared nor replaced: the same cookie still names the session.
    expect(seen.setCookies).toEqual([]);
    expect(tab.cookie).toBe(cookie);
    const after = await tab.request('GET', `${h.url}/session`);
    expect(after.json()).toMatchObject({ data: { cart: '3-items' } });
  });

  it('a session this instance held is carried through degraded mode from its instance cache', async () => {
    const h = await start({ touchAfterMs: 0 });
    const tab = cookieClient(COOKIE);
    await tab.request('POST', `${h.url}/set/cart/3-items`);
    const isolation = h.cluster.fallback!.isolate();
    try {
      const seen = await tab.request('GET', `${h.url}/session`);
      expect(seen.headers.get('x-session-degraded')).toBe('1');
      expect(seen.json()).toMatchObject({ data: { cart: '3-items' } });
      await tab.request('POST', `${h.url}/set/theme/dark`);
    } finally {
      isolation.dispose();
    }
    // Written back once the breaker closes.
    await vi.waitFor(async () => {
      const after = await tab.request('GET', `${h.url}/session`);
      expect(after.headers.get('x-session-degraded')).toBeNull();
      expect(after.json()).toMatchObject({ data: { cart: '3-items', theme: 'dark' } });
    });
  });

  it('holds a streamed response at its first byte until the commit is done', async () => {
    const h = await start();
    const committed = cookieClient(COOKIE);
    const ok = await committed.request('POST', `${h.url}/stream?commit=1`);
    expect(ok.text).toBe('part 1;part 2');
    expect((await committed.request('GET', `${h.url}/session`)).json()).toMatchObject({
      data: { streamed: true },
    });
    // Without commit() the first write holds the response until the commit is done.
    const held = cookieClient(COOKIE);
    const res = await held.request('POST', `${h.url}/stream`);
    expect(res.text).toBe('part 1;part 2');
    expect(held.cookie).toBeDefined();
  });

  it('refuses values the store would refuse, in the handler that set them', async () => {
    const h = await start();
    const res = await cookieClient(COOKIE).request('POST', `${h.url}/set/__proto__/x`);
    expect(res.status).toBe(400);
    expect(h.app.errors[0]).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects bad options with the field named', () => {
    const manager = { patch: () => undefined, withLock: () => undefined } as never;
    expect(() => sessionMiddleware(manager, { secrets: 'short' })).toThrow(/secrets/);
    expect(() => sessionMiddleware(manager, { secrets: SECRET, lock: 'x' as never })).toThrow(
      /lock/,
    );
    expect(() =>
      sessionMiddleware(manager, { secrets: SECRET, cookie: { sameSite: 'none', secure: false } }),
    ).toThrow(/cookie\.sameSite/);
    expect(() => sessionMiddleware(manager, { secrets: SECRET, touchAfterMs: -1 })).toThrow(
      /touchAfterMs/,
    );
    expect(() => sessionMiddleware({} as never, { secrets: SECRET })).toThrow(/manager/);
    expect(() =>
      sessionMiddleware(manager, { secrets: SECRET, cookie: { samesite: 'lax' } as never }),
    ).toThrow(/cookie\.samesite: no such option/);
  });
});

function idOf(cookie: string): string {
  return cookie.split('.')[0]!;
}

function readTouched(cookie: string): number {
  return parseInt(cookie.split('.')[1]!, 36);
}
