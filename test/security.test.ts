import { randomBytes } from 'node:crypto';
import {
  SESSION_ID_BYTES,
  SESSION_ID_LENGTH,
  SessionNotFoundError,
  generateSessionId,
  hashSessionId,
  isValidSessionId,
} from '@session-cluster/core';
import { SessionCookieSigner, sessionMiddleware } from '@session-cluster/express';
import type { SessionLogger, SessionMiddleware } from '@session-cluster/express';
import { createLogger } from '@session-cluster/telemetry';
import { cookieClient, expectSessionError, withBadSignature } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import fc from 'fast-check';
import type { SessionCluster } from 'session-cluster';
import { startInspectedRedis, testCluster } from './fixtures/inspected-redis.js';
import type { InspectedRedis } from './fixtures/inspected-redis.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix } from './fixtures/scenario-session.js';
import { sessionData } from './fixtures/session-arbitraries.js';
import { startSessionHttpApp } from './fixtures/session-http-app.js';
import type { SessionHttpApp } from './fixtures/session-http-app.js';

/*
 * The security properties of sessions end to end: ids carry 256 bits from
 * the CSPRNG in one canonical spelling, regenerate retires the old id
 * everywhere, the cookie carries the documented flags, and a tampered
 * cookie is logged (through pino) without the session id it names.
 */

const COOKIE = 'sc.sid';
const SECRET = 'security-test-secret-that-is-long-enough-01';
const RETIRED = 'retired-secret-that-is-long-enough-00000002';

let inspected: InspectedRedis;
let redis: RedisServerHandle;
let prefix: string;
let cluster: SessionCluster;
let app: SessionHttpApp;

beforeAll(async () => {
  inspected = await startInspectedRedis();
  redis = inspected.server;
  prefix = freshPrefix();
  cluster = testCluster(redis.url, prefix);
  app = await startSessionHttpApp(middleware({ warn: () => undefined }));
});

afterAll(async () => {
  await app.close();
  await cluster.close();
  await inspected.close();
});

function middleware(logger: SessionLogger, secure = false): SessionMiddleware {
  return sessionMiddleware(cluster.manager, { secrets: [SECRET], cookie: { secure }, logger });
}

/** Bits of a 32-byte id, most significant first. */
function bitsOf(id: string): Uint8Array {
  const bytes = Buffer.from(id, 'base64url');
  const bits = new Uint8Array(bytes.length * 8);
  for (let i = 0; i < bits.length; i++) bits[i] = (bytes[i >> 3]! >> (7 - (i & 7))) & 1;
  return bits;
}

function hamming(a: Uint8Array, b: Uint8Array, bOffset = 0, length = a.length): number {
  let distance = 0;
  for (let i = 0; i < length; i++) distance += a[i]! ^ b[bOffset + i]!;
  return distance;
}

/**
 * Statistical checks on a batch of ids, each bounded at about 6 standard
 * deviations, so a sound 256-bit generator fails one with probability
 * below 1e-6 per run. Returns the checks that failed (empty: all passed).
 *
 * - every bit position is set in about half of the ids (a stuck or biased bit);
 * - all bits together are set about half the time;
 * - consecutive ids differ in about 128 bits (a counter, or reused state);
 * - the two halves of an id differ in about 64 bits (a 128-bit value doubled).
 */
function entropyChecks(ids: readonly string[]): { failures: string[]; summary: string } {
  const n = ids.length;
  const bits = ids.map(bitsOf);
  const width = SESSION_ID_BYTES * 8;
  const failures: string[] = [];
  const perBitSigma = Math.sqrt(n) / 2;
  let total = 0;
  let worst = 0;
  for (let bit = 0; bit < width; bit++) {
    let ones = 0;
    for (const id of bits) ones += id[bit]!;
    total += ones;
    worst = Math.max(worst, Math.abs(ones - n / 2) / perBitSigma);
    if (Math.abs(ones - n / 2) > 6 * perBitSigma) failures.push(`bit ${bit} set in ${ones}/${n}`);
  }
  if (Math.abs(total - (n * width) / 2) > 6 * (Math.sqrt(n * width) / 2)) {
    failures.push(`${total} of ${n * width} bits set`);
  }
  let consecutive = 0;
  for (let i = 1; i < n; i++) consecutive += hamming(bits[i - 1]!, bits[i]!);
  const consecutiveMean = consecutive / (n - 1);
  if (Math.abs(consecutiveMean - width / 2) > 6 * (Math.sqrt(width) / 2 / Math.sqrt(n - 1))) {
    failures.push(`consecutive ids differ in ${consecutiveMean.toFixed(2)} bits on average`);
  }
  const half = width / 2;
  let halves = 0;
  for (const id of bits) halves += hamming(id, id, half, half);
  const halvesMean = halves / n;
  if (Math.abs(halvesMean - half / 2) > 6 * (Math.sqrt(half) / 2 / Math.sqrt(n))) {
    failures.push(`the halves of an id differ in ${halvesMean.toFixed(2)} bits on average`);
  }
  const summary =
    `worst bit ${worst.toFixed(2)} sigma off 1/2, ${((100 * total) / (n * width)).toFixed(3)}% ones, ` +
    `consecutive ids ${consecutiveMean.toFixed(2)}/128 bits apart, halves ${halvesMean.toFixed(2)}/64`;
  return { failures, summary };
}

const SAMPLE = 2_000;

describe('session ids', () => {
  it('are 43 base64url characters of 32 bytes, canonical, valid and unique', () => {
    const ids = Array.from({ length: SAMPLE }, generateSessionId);
    expect(SESSION_ID_BYTES).toBe(32);
    expect(SESSION_ID_LENGTH).toBe(43);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
      expect(isValidSessionId(id)).toBe(true);
      const bytes = Buffer.from(id, 'base64url');
      expect(bytes).toHaveLength(32);
      expect(bytes.toString('base64url')).toBe(id);
    }
    expect(new Set(ids).size).toBe(SAMPLE);
  });

  it('every 32 bytes are exactly one valid id, and only canonical spellings are', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 63 }),
        (raw, c) => {
          const id = Buffer.from(raw).toString('base64url');
          expect(isValidSessionId(id)).toBe(true);
          // The same id with its last symbol replaced by any other.
          const symbols = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
          const variant = id.slice(0, 42) + symbols[c]!;
          const decoded = Buffer.from(variant, 'base64url');
          // Valid exactly when it is the one canonical spelling of its bytes, so the
          // same 32 bytes never have two ids.
          expect(isValidSessionId(variant)).toBe(decoded.toString('base64url') === variant);
          if (decoded.equals(raw)) expect(isValidSessionId(variant)).toBe(variant === id);
        },
      ),
      { numRuns: 500 },
    );
  });

  it(`carry 256 balanced, independent bits (${SAMPLE} ids)`, () => {
    const ids = Array.from({ length: SAMPLE }, generateSessionId);
    const { failures, summary } = entropyChecks(ids);
    console.info(`[security] ${SAMPLE} ids: ${summary}`);
    expect(failures).toEqual([]);
  });

  it('the entropy checks do catch broken generators', () => {
    const broken: Record<string, () => string> = {
      'one stuck bit': () => {
        const bytes = randomBytes(32);
        bytes[5] = bytes[5]! & 0b1110_1111;
        return bytes.toString('base64url');
      },
      '128 bits doubled': () => {
        const half = randomBytes(16);
        return Buffer.concat([half, half]).toString('base64url');
      },
      '128 bits padded': () =>
        Buffer.concat([randomBytes(16), Buffer.alloc(16)]).toString('base64url'),
      'a counter': (() => {
        const base = randomBytes(32);
        let counter = 0;
        return () => {
          const bytes = Buffer.from(base);
          bytes.writeUInt32BE((bytes.readUInt32BE(28) + counter++) >>> 0, 28);
          return bytes.toString('base64url');
        };
      })(),
    };
    for (const [name, generate] of Object.entries(broken)) {
      const { failures } = entropyChecks(Array.from({ length: SAMPLE }, generate));
      expect(failures, name).not.toEqual([]);
    }
  });
});

describe('regenerate (generated)', () => {
  it('moves the data to a new id and retires the old one for every operation', async () => {
    await fc.assert(
      fc.asyncProperty(sessionData, fc.boolean(), async (data, owned) => {
        const manager = cluster.manager;
        const before = await manager.create({ data, ...(owned ? { userId: 'before' } : {}) });
        const after = await manager.regenerate(before.id, { userId: 'after' });
        expect(after.id).not.toBe(before.id);
        expect(isValidSessionId(after.id)).toBe(true);
        expect(after.data).toEqual(data);
        expect((await manager.get(after.id))?.data).toEqual(data);

        expect(await manager.get(before.id)).toBeNull();
        expect(await manager.touch(before.id)).toBe(false);
        await expectSessionError(
          manager.patch(before.id, { set: { a: 1 } }),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        await expectSessionError(
          manager.update(before.id, (d) => d),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        await expectSessionError(
          manager.regenerate(before.id),
          SessionNotFoundError,
          'SESSION_NOT_FOUND',
        );
        const owners = (await manager.listByUser('after')).map((record) => record.id);
        expect(owners).toContain(after.id);
        expect(owners).not.toContain(before.id);
        expect(await manager.listByUser('before')).toEqual([]);
        // A correctly signed cookie for the old id is worth nothing now.
        const old = cookieClient(
          COOKIE,
          new SessionCookieSigner(SECRET).sign(before.id, Date.now()),
        );
        expect((await old.request('GET', `${app.url}/session`)).json()).toMatchObject({
          isNew: true,
          data: {},
        });
        await manager.delete(after.id);
      }),
      { numRuns: 25 },
    );
  });
});

describe('cookie attributes', () => {
  const savedEnv = process.env['NODE_ENV'];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env['NODE_ENV'];
    else process.env['NODE_ENV'] = savedEnv;
  });

  async function issuedCookies(nodeEnv: string): Promise<{ set: string; clear: string }[]> {
    process.env['NODE_ENV'] = nodeEnv;
    const quiet = { warn: () => undefined };
    const managed = sessionMiddleware(cluster.manager, { secrets: [SECRET], logger: quiet });
    const sealed = sessionMiddleware({
      store: 'cookie',
      keys: [{ id: 'k1', key: randomBytes(32) }],
      logger: quiet,
    });
    const out: { set: string; clear: string }[] = [];
    for (const [name, mw] of [
      [COOKIE, managed],
      ['sc.sess', sealed],
    ] as const) {
      app.use(mw);
      const tab = cookieClient(name);
      const set = (await tab.request('POST', `${app.url}/set/a/1`)).setCookies;
      const clear = (await tab.request('POST', `${app.url}/logout`)).setCookies;
      expect(set).toHaveLength(1);
      expect(clear).toHaveLength(1);
      out.push({ set: set[0]!, clear: clear[0]! });
    }
    return out;
  }

  function attributes(line: string): string[] {
    return line
      .split(';')
      .slice(1)
      .map((part) => part.trim().split('=')[0]!.toLowerCase());
  }

  it('HttpOnly, SameSite=Lax, Path=/ and Secure outside development, on set and clear', async () => {
    for (const { set, clear } of await issuedCookies('production')) {
      for (const line of [set, clear]) {
        expect(line).toMatch(/; HttpOnly(;|$)/);
        expect(line).toMatch(/; SameSite=Lax(;|$)/);
        expect(line).toMatch(/; Path=\/(;|$)/);
        expect(line).toMatch(/; Secure(;|$)/);
        expect(attributes(line)).not.toContain('domain');
      }
      expect(clear).toMatch(/Max-Age=0/);
    }
  });

  it('without Secure only when NODE_ENV=development, other flags unchanged', async () => {
    for (const { set, clear } of await issuedCookies('development')) {
      for (const line of [set, clear]) {
        expect(attributes(line)).not.toContain('secure');
        expect(line).toMatch(/; HttpOnly(;|$)/);
        expect(line).toMatch(/; SameSite=Lax(;|$)/);
      }
    }
  });
});

describe('logs of tampered cookies', () => {
  it('name the claimed id by its hash only, in pino output and in what the middleware hands any logger', async () => {
    app.use(middleware({ warn: () => undefined }));
    const owner = cookieClient(COOKIE);
    await owner.request('POST', `${app.url}/set/secret/owner-data`);
    const cookie = owner.cookie!;
    // `<id>.<touchedAt>.<version>.<signature>`: everything between id and signature is signed.
    const parts = cookie.split('.');
    const [id = '', signature = ''] = [parts[0], parts.at(-1)];
    const touched = parts.slice(1, -1).join('.');
    const forgeries = [
      withBadSignature(cookie), // bad signature
      new SessionCookieSigner(RETIRED).sign(id, Date.now()), // a secret no longer in the ring
      `${id}.${touched}`, // no signature
      id, // the bare id
      `${id}x.${touched}.${signature}`, // 44 characters: not masked as an id by pino
      `${id}.${touched}.${signature}.${id}`,
    ];

    const lines: string[] = [];
    const pino = createLogger({
      serviceName: 'security-test',
      level: 'warn',
      destination: { write: (line: string) => lines.push(line) },
    });
    const handed: Readonly<Record<string, unknown>>[] = [];
    const raw: SessionLogger = { warn: (details) => handed.push(details) };

    for (const logger of [pino, raw]) {
      const mw = middleware(logger);
      app.use(mw);
      for (const forged of forgeries) {
        const res = await cookieClient(COOKIE, forged).request('GET', `${app.url}/session`);
        expect(res.json()).toMatchObject({ isNew: true });
      }
      expect(mw.stats.rejectedCookies).toBe(forgeries.length);
    }

    expect(lines).toHaveLength(forgeries.length);
    const output = lines.join('');
    expect(output).not.toContain(id);
    expect(output).toContain(hashSessionId(id));
    for (const line of lines) {
      expect(JSON.parse(line)).toMatchObject({ level: 'warn', service: 'security-test' });
    }
    expect(handed).toHaveLength(forgeries.length);
    expect(JSON.stringify(handed)).not.toContain(id);
    expect(handed[0]).toMatchObject({ reason: 'bad-signature', sessionIdHash: hashSessionId(id) });
    expect(handed[1]).toMatchObject({ reason: 'bad-signature', sessionIdHash: hashSessionId(id) });
    // The owner's session never noticed.
    expect((await owner.request('GET', `${app.url}/session`)).json()).toMatchObject({
      isNew: false,
      data: { secret: 'owner-data' },
    });
  });
});
