import { randomBytes } from 'node:crypto';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { SessionCookieSigner, sessionMiddleware } from '@session-cluster/express';
import type { SessionMiddleware } from '@session-cluster/express';
import { cookieClient } from '@session-cluster/testkit';
import type { ClientResponse, RedisServerHandle } from '@session-cluster/testkit';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type { SessionCluster } from 'session-cluster';
import { startInspectedRedis, testCluster } from './fixtures/inspected-redis.js';
import type { InspectedRedis } from './fixtures/inspected-redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanKeys, sessionKeyOf } from './fixtures/redis-inspection.js';
import { freshPrefix } from './fixtures/scenario-session.js';
import { sessionData } from './fixtures/session-arbitraries.js';
import { startSessionHttpApp } from './fixtures/session-http-app.js';
import type { SessionHttpApp } from './fixtures/session-http-app.js';

/*
 * Session cookies over real HTTP, generated: whatever a client sends as the
 * cookie — random text, a forgery built from a real cookie, a truncated
 * one, one signed with a retired secret — it gets a fresh session of its
 * own (never an error, never someone else's session, never the id it
 * chose), and the real owner's session is not touched. A cookie signed with
 * a secret still in the ring is accepted and re-issued under the first.
 */

const MANAGED = 'sc.sid';
const SEALED = 'sc.sess';
const CURRENT = 'current-secret-that-is-long-enough-000001';
const OLD = 'old-secret-still-in-the-ring-long-enough-02';

/** RFC 6265 cookie-octets: what a browser may send as a cookie value. */
const COOKIE_OCTETS = [
  '!',
  ...Array.from({ length: 0x2b - 0x23 + 1 }, (_, i) => String.fromCharCode(0x23 + i)),
  ...Array.from({ length: 0x3a - 0x2d + 1 }, (_, i) => String.fromCharCode(0x2d + i)),
  ...Array.from({ length: 0x5b - 0x3c + 1 }, (_, i) => String.fromCharCode(0x3c + i)),
  ...Array.from({ length: 0x7e - 0x5d + 1 }, (_, i) => String.fromCharCode(0x5d + i)),
];
const BASE64URL = Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');

let inspected: InspectedRedis;
let redis: RedisServerHandle;
let admin: Redis;
let prefix: string;
let cluster: SessionCluster;
let app: SessionHttpApp;
let managed: SessionMiddleware;
const warnings: Readonly<Record<string, unknown>>[] = [];
/** A real visitor whose session every property tries to reach. */
let ownerCookie: string;
let ownerId: string;
let ownerFrame: Buffer;

function managedMiddleware(secrets: readonly string[]): SessionMiddleware {
  return sessionMiddleware(cluster.manager, {
    secrets,
    cookie: { secure: false },
    logger: { warn: (details) => warnings.push(details) },
  });
}

beforeAll(async () => {
  inspected = await startInspectedRedis();
  ({ server: redis, admin } = inspected);
  prefix = freshPrefix();
  cluster = testCluster(redis.url, prefix);
  managed = managedMiddleware([CURRENT, OLD]);
  app = await startSessionHttpApp(managed);
  const owner = cookieClient(MANAGED);
  await owner.request('POST', `${app.url}/set/secret/owner-data`);
  ownerCookie = owner.cookie!;
  ownerId = ownerCookie.split('.')[0]!;
  ownerFrame = (await admin.getBuffer(sessionKeyOf(cluster.redis, ownerId)))!;
});

afterAll(async () => {
  await app.close();
  await cluster.close();
  await inspected.close();
});

/** The owner's session, byte for byte, and what its own cookie still sees. */
async function expectOwnerUntouched(): Promise<void> {
  expect((await admin.getBuffer(sessionKeyOf(cluster.redis, ownerId)))?.equals(ownerFrame)).toBe(
    true,
  );
}

/** A response to a rejected cookie: a fresh, empty session and at most a clearing Set-Cookie. */
function expectFreshSession(res: ClientResponse): void {
  expect(res.status).toBe(200);
  expect(res.json()).toMatchObject({ isNew: true, idHash: null, data: {} });
  for (const line of res.setCookies) expect(line).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);
}

/** Cookie values built from the owner's real cookie: the forgeries worth trying first. */
function forgeriesOf(cookie: string): fc.Arbitrary<string> {
  // `<id>.<touchedAt>[.<version>].<signature>`: everything between id and signature is signed.
  const parts = cookie.split('.');
  const [id = '', signature = ''] = [parts[0], parts.at(-1)];
  const touched = parts.slice(1, -1).join('.');
  const signature43 = fc.string({
    unit: fc.constantFrom(...BASE64URL),
    minLength: 43,
    maxLength: 43,
  });
  return fc.oneof(
    // One character replaced anywhere.
    fc
      .tuple(fc.nat({ max: cookie.length - 1 }), fc.constantFrom(...BASE64URL, '.'))
      .map(([at, ch]) => cookie.slice(0, at) + ch + cookie.slice(at + 1)),
    // The owner's id under a random signature, or re-dated under the real one.
    signature43.map((sig) => `${id}.${touched}.${sig}`),
    fc.nat().map((t) => `${id}.${t.toString(36)}.${signature}`),
    // Someone else's (or a made-up) id under the owner's signature.
    fc.constant(null).map(() => `${generateSessionId()}.${touched}.${signature}`),
    // Extra text around a real cookie.
    fc
      .string({ unit: fc.constantFrom(...COOKIE_OCTETS), minLength: 1, maxLength: 8 })
      .map((s) => cookie + s),
    fc
      .string({ unit: fc.constantFrom(...COOKIE_OCTETS), minLength: 1, maxLength: 8 })
      .map((s) => s + cookie),
    // Just the id, or id and roll time.
    fc.constantFrom(id, `${id}.${touched}`, `${id}..${signature}`),
  );
}

describe('managed sessions: cookies that must not verify (generated)', () => {
  it('random and forged cookie values get a fresh session and never reach the owner', async () => {
    const randomValue = fc.string({ unit: fc.constantFrom(...COOKIE_OCTETS), maxLength: 200 });
    const shaped = fc
      .tuple(
        fc.string({ unit: fc.constantFrom(...BASE64URL), minLength: 43, maxLength: 43 }),
        fc.nat(),
        fc.string({ unit: fc.constantFrom(...BASE64URL), minLength: 43, maxLength: 43 }),
      )
      .map(([id, t, sig]) => `${id}.${t.toString(36)}.${sig}`);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(randomValue, shaped, forgeriesOf(ownerCookie)).filter((v) => v !== ownerCookie),
        fc.boolean(),
        async (forged, write) => {
          const keysBefore = await scanKeys(admin, prefix);
          const rejectedBefore = managed.stats.rejectedCookies;
          const warningsBefore = warnings.length;
          const attacker = cookieClient(MANAGED, forged);
          expectFreshSession(await attacker.request('GET', `${app.url}/session`));
          expect(managed.stats.rejectedCookies).toBe(rejectedBefore + 1);
          // Logged with the claimed id's hash at most, never with the id itself.
          const logged = JSON.stringify(warnings.slice(warningsBefore));
          expect(logged).not.toContain(ownerId);
          const claimed = forged.split('.')[0]!;
          if (claimed.length >= 16) expect(logged).not.toContain(claimed);
          expect((await scanKeys(admin, prefix)).sort()).toEqual(keysBefore.sort());

          if (write) {
            // A write starts a session of the attacker's own, under a fresh id.
            const attacked = cookieClient(MANAGED, forged);
            await attacked.request('POST', `${app.url}/set/secret/attacker-data`);
            const issued = attacked.cookie!;
            const [newId = ''] = issued.split('.');
            expect(new SessionCookieSigner(CURRENT).verify(issued)).toMatchObject({ ok: true });
            expect(newId).not.toBe(ownerId);
            expect(forged).not.toContain(newId);
            await cluster.manager.delete(newId);
          }
          await expectOwnerUntouched();
        },
      ),
      { numRuns: 120 },
    );
    const owner = cookieClient(MANAGED, ownerCookie);
    expect((await owner.request('GET', `${app.url}/session`)).json()).toMatchObject({
      isNew: false,
      data: { secret: 'owner-data' },
    });
    expect(app.errors).toEqual([]);
  });

  it('a truncated cookie gets a fresh session', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: ownerCookie.length - 1 }), async (length) => {
        const truncated = cookieClient(MANAGED, ownerCookie.slice(0, length));
        expectFreshSession(await truncated.request('GET', `${app.url}/session`));
        await expectOwnerUntouched();
      }),
      { numRuns: 60 },
    );
    expect(app.errors).toEqual([]);
  });
});

describe('managed sessions: secret rotation (generated)', () => {
  const secret = fc.string({
    unit: fc.constantFrom(...COOKIE_OCTETS),
    minLength: 32,
    maxLength: 64,
  });

  it('a secret still in the ring verifies and the cookie is re-issued under the first; once removed, it does not', async () => {
    await fc.assert(
      fc.asyncProperty(
        secret.filter((s) => s !== CURRENT),
        secret,
        sessionData,
        async (retiring, other, data) => {
          const session = await cluster.manager.create({ data });
          const signedByOld = new SessionCookieSigner(retiring).sign(session.id, Date.now());

          // While the old secret is in the ring: accepted, and re-issued under the first.
          app.use(managedMiddleware([CURRENT, retiring]));
          const tab = cookieClient(MANAGED, signedByOld);
          const seen = await tab.request('GET', `${app.url}/session`);
          expect(seen.json()).toMatchObject({
            isNew: false,
            idHash: hashSessionId(session.id),
            data,
          });
          expect(seen.setCookies).toHaveLength(1);
          expect(new SessionCookieSigner(CURRENT).verify(tab.cookie!)).toMatchObject({
            ok: true,
            id: session.id,
            rotated: false,
          });

          // Removed from the ring: the same cookie starts a fresh session, and the
          // session it names is still there, unchanged.
          const frame = await admin.getBuffer(sessionKeyOf(cluster.redis, session.id));
          const ring = other === retiring ? [CURRENT] : [CURRENT, other];
          const after = managedMiddleware(ring);
          app.use(after);
          const stale = cookieClient(MANAGED, signedByOld);
          expectFreshSession(await stale.request('GET', `${app.url}/session`));
          expect(after.stats.rejectedCookies).toBe(1);
          expect(await admin.getBuffer(sessionKeyOf(cluster.redis, session.id))).toEqual(frame);
          await cluster.manager.delete(session.id);
        },
      ),
      { numRuns: 40 },
    );
    app.use(managed);
    expect(app.errors).toEqual([]);
    await expectOwnerUntouched();
  });
});

describe('sealed cookie sessions: cookies that must not open (generated)', () => {
  it('random, forged and truncated sealed cookies get a fresh session, never an error', async () => {
    const sealed = sessionMiddleware({
      store: 'cookie',
      keys: [{ id: 'k1', key: randomBytes(32) }],
      cookie: { secure: false },
      logger: { warn: (details) => warnings.push(details) },
    });
    const sealedApp = await startSessionHttpApp(sealed);
    try {
      const tab = cookieClient(SEALED);
      await tab.request('POST', `${sealedApp.url}/set/secret/sealed-data`);
      const real = tab.cookie!;
      const body = real.split('.')[2]!;
      const forged = fc.oneof(
        fc.string({ unit: fc.constantFrom(...COOKIE_OCTETS), maxLength: 300 }),
        fc.nat({ max: real.length - 1 }).map((length) => real.slice(0, length)),
        fc
          .tuple(fc.nat({ max: body.length - 1 }), fc.constantFrom(...BASE64URL))
          .map(([at, ch]) => `v1.k1.${body.slice(0, at)}${ch}${body.slice(at + 1)}`),
        fc
          .string({ unit: fc.constantFrom(...BASE64URL), minLength: 1, maxLength: 200 })
          .map((b) => `v1.k1.${b}`),
        fc.constantFrom(`v1.k2.${body}`, `v2.k1.${body}`, `v1..${body}`),
      );
      await fc.assert(
        fc.asyncProperty(
          forged.filter((value) => value !== real),
          async (value) => {
            const rejectedBefore = sealed.stats.rejectedCookies;
            const attacker = cookieClient(SEALED, value);
            // Even a change confined to the unused bits of the last base64url
            // symbol is refused: the sealer accepts canonical text only.
            expectFreshSession(await attacker.request('GET', `${sealedApp.url}/session`));
            expect(sealed.stats.rejectedCookies).toBe(rejectedBefore + 1);
          },
        ),
        { numRuns: 150 },
      );
      expect((await tab.request('GET', `${sealedApp.url}/session`)).json()).toMatchObject({
        isNew: false,
        data: { secret: 'sealed-data' },
      });
      expect(sealedApp.errors).toEqual([]);
    } finally {
      await sealedApp.close();
    }
  });
});
