import { createHash, randomBytes } from 'node:crypto';
import {
  ConcurrentAccessError,
  ManualClock,
  SessionCorruptedError,
  SessionEncryptionError,
  SessionValidationError,
  StorageUnavailableError,
  createSessionCodec,
  generateSessionId,
  hashSessionId,
} from '@session-cluster/core';
import type { SessionCodec } from '@session-cluster/core';
import { expectSessionError, respCommand, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteKeys, freshPrefix, replaceFrameEntry } from './redis-harness.test-helpers.js';
import { RedisKeys } from './redis-keys.js';
import { scriptCommandName, scriptSource } from './redis-scripts.js';
import { RedisStore } from './redis-store.js';
import { RedisExpiryOutbox } from './expiry-outbox-client.js';
import type { CorruptionInfo, RedisStoreOptions, UserCapEviction } from './redis-store-options.js';
import { RETIRED_FRAME } from './session-frame.js';

const GRACE_MS = 3_600_000;
const TTL_MS = 60_000;

let server: RedisServerHandle;
let admin: Redis;
const stores: RedisStore[] = [];
let clock: ManualClock;
let codec: SessionCodec;
let prefix: string;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, '127.0.0.1', { commandTimeout: 2_000 });
});

afterAll(async () => {
  await admin.quit();
  await server.stop();
});

beforeEach(() => {
  clock = new ManualClock(Date.now());
  codec = createSessionCodec();
  prefix = freshPrefix();
});

afterEach(async () => {
  await deleteKeys(admin, prefix);
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A store with its own (RESP2) connection, under this test's prefix. */
async function openStore(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix,
    clock,
    codec,
    ...options,
  });
  stores.push(store);
  await store.ping();
  return store;
}

function raw(store: RedisStore): Redis {
  return store.client as Redis;
}

function keysOf(store: RedisStore): RedisKeys {
  return new RedisKeys(store.prefix, store.bucketCount);
}

function idInBucket(keys: RedisKeys, bucket: number): string {
  for (;;) {
    const id = generateSessionId();
    if (keys.bucketOf(id) === bucket) return id;
  }
}

/** Commands the server has executed so far, not counting INFO itself. */
async function commandsExecuted(): Promise<number> {
  const info = String(await respCommand(server.port, ['INFO', 'commandstats']));
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') total += Number(match[2]);
  }
  return total;
}

describe('RedisStore data model', () => {
  it('writes the documented frame, expiry bucket and user index', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const expiresAt = clock.now() + TTL_MS;
    const session = await store.create({
      id: generateSessionId(),
      userId: 'ada',
      data: { a: 1, b: 'zwei' },
      expiresAt,
    });

    const frame = await raw(store).get(keys.session(session.id));
    const entries = '\x1e"a"\x1f1\x1e"b"\x1f"zwei"';
    // k covers every header field but e: v, c, m, z and u, then the entries.
    const covered = ['1', clock.now(), clock.now(), 13, 'ada'].join('\x1f');
    const check = createHash('sha1').update(`${session.id}\0${covered}\0${entries}`).digest('hex');
    const header = ['SC2', '1', expiresAt, clock.now(), clock.now(), 13, check, 'ada'];
    expect(frame).toBe(header.join('\x1f') + entries);
    expect(await raw(store).zscore(keys.expiryBucketOf(session.id), session.id)).toBe(
      String(expiresAt),
    );
    // The user index orders by creation; the fraction is the indexing write's version.
    expect(Number(await raw(store).zscore(keys.userIndex('ada'), session.id))).toBe(
      clock.now() + 1 / 1024,
    );
    // Physical TTL = logical expiry + grace, measured against Redis' own clock.
    const pttl = await raw(store).pttl(keys.session(session.id));
    expect(pttl).toBeGreaterThan(expiresAt + GRACE_MS - Date.now() - 2_000);
    expect(pttl).toBeLessThanOrEqual(expiresAt + GRACE_MS - clock.now() + 1_000);
  });

  it('patch keeps the byte total z exact', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const session = await store.create({
      id: generateSessionId(),
      data: { keep: 'k', replace: 'x'.repeat(100), drop: [1, 2, 3] },
      expiresAt: clock.now() + TTL_MS,
    });
    await store.patch(session.id, {
      set: { replace: 'ünïcödé', added: { n: 1 } },
      unset: ['drop'],
    });

    const [header = '', ...entries] = (await raw(store).get(keys.session(session.id)))!.split(
      '\x1e',
    );
    const actual = entries
      .map((entry) => entry.split('\x1f'))
      .reduce(
        (sum, [key = '', value = '']) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
        0,
      );
    expect(Number(header.split('\x1f')[5])).toBe(actual);
    // Entry order: kept keys in place, the replaced one in place, new ones appended.
    expect(entries.map((entry) => entry.split('\x1f')[0])).toEqual([
      '"keep"',
      '"replace"',
      '"added"',
    ]);
    expect((await store.load(session.id))?.data).toEqual({
      keep: 'k',
      replace: 'ünïcödé',
      added: { n: 1 },
    });
  });

  it('handles sessions with more fields than one Lua unpack() can take', async () => {
    codec = createSessionCodec({ maxBytes: 4_000_000 });
    const store = await openStore();
    const data = Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`k${i}`, i]));
    const session = await store.create({
      id: generateSessionId(),
      data,
      expiresAt: clock.now() + TTL_MS,
    });
    expect((await store.load(session.id))?.data).toEqual(data);
    const set = Object.fromEntries(Array.from({ length: 9_000 }, (_, i) => [`p${i}`, -i - 1]));
    const unset = Array.from({ length: 9_000 }, (_, i) => `k${i}`);
    expect(await store.patch(session.id, { set, unset })).toBe(2);
    const expected = { ...set, ...Object.fromEntries(Object.entries(data).slice(9_000)) };
    expect((await store.load(session.id))?.data).toEqual(expected);
    expect(await store.save(session.id, { data, expiresAt: clock.now() + TTL_MS }, 2)).toBe(3);
    expect((await store.load(session.id))?.data).toEqual(data);
  });
});

describe('RedisStore frame formats', () => {
  /** The stored frame of `id`, split into header fields and entries. */
  async function frameOf(store: RedisStore, id: string) {
    const frame = (await raw(store).get(keysOf(store).session(id)))!;
    const rs = frame.indexOf('\x1e');
    return { header: frame.slice(0, rs).split('\x1f'), entries: frame.slice(rs) };
  }

  it('a damaged owner, version or timestamp fails the check, like damaged data', async () => {
    const store = await openStore();
    const session = await store.create({
      id: generateSessionId(),
      userId: 'user-42',
      data: { role: 'customer' },
      expiresAt: clock.now() + TTL_MS,
    });
    const key = keysOf(store).session(session.id);
    const intact = (await raw(store).get(key))!;
    // v, c, m, z and u: each rewritten to another readable value.
    for (const [field, text] of [
      [7, 'user-43'],
      [1, '2'],
      [3, String(clock.now() - 1)],
      [4, String(clock.now() + 1)],
      [5, '99'],
    ] as const) {
      const { header, entries } = await frameOf(store, session.id);
      header[field] = text;
      const damaged = header.join('\x1f') + entries;
      await raw(store).set(key, damaged, 'KEEPTTL');
      await expectSessionError(store.load(session.id), SessionCorruptedError, 'SESSION_CORRUPTED');
      await expectSessionError(
        store.patch(session.id, { set: { role: 'admin' } }),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      await expectSessionError(
        store.touch(session.id, clock.now() + 2 * TTL_MS),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      expect(await raw(store).get(key)).toBe(damaged);
      await raw(store).set(key, intact, 'KEEPTTL');
    }
    expect((await store.load(session.id))?.userId).toBe('user-42');
  });

  it('reads frames of the earlier format (SC1) and upgrades them on the next patch', async () => {
    const store = await openStore();
    const session = await store.create({
      id: generateSessionId(),
      userId: 'ada',
      data: { a: 1, b: 'zwei' },
      expiresAt: clock.now() + TTL_MS,
    });
    const key = keysOf(store).session(session.id);
    // What an earlier release wrote: magic SC1, k over (sid NUL entries) only.
    const { header, entries } = await frameOf(store, session.id);
    header[0] = 'SC1';
    header[6] = createHash('sha1').update(`${session.id}\0${entries}`).digest('hex');
    const legacy = header.join('\x1f') + entries;
    await raw(store).set(key, legacy, 'KEEPTTL');

    expect(await store.load(session.id)).toEqual(session);
    // touch moves e only: the frame keeps its format and its check.
    expect(await store.touch(session.id, clock.now() + 2 * TTL_MS)).toBe(true);
    const touched = await frameOf(store, session.id);
    expect(touched.header[0]).toBe('SC1');
    expect(touched.header[6]).toBe(header[6]);
    expect((await store.load(session.id))?.expiresAt).toBe(clock.now() + 2 * TTL_MS);

    // A legacy frame's owner is not covered: patch checks what it can, then
    // rewrites the frame in the current format, owner included in k.
    await store.patch(session.id, { set: { c: true } });
    const patched = await frameOf(store, session.id);
    expect(patched.header[0]).toBe('SC2');
    expect(await store.load(session.id)).toMatchObject({
      userId: 'ada',
      data: { a: 1, b: 'zwei', c: true },
      version: 2,
    });
    patched.header[7] = 'eve';
    await raw(store).set(key, patched.header.join('\x1f') + patched.entries, 'KEEPTTL');
    await expectSessionError(store.load(session.id), SessionCorruptedError, 'SESSION_CORRUPTED');
  });

  it('frameFormat: 1 writes what earlier releases read, and a default store reads and upgrades it', async () => {
    // A rolling upgrade: new instances write format 1 while old ones still run.
    const rolling = await openStore({ frameFormat: 1 });
    const current = await openStore();
    const session = await rolling.create({
      id: generateSessionId(),
      userId: 'ada',
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    const legacyCheck = async () => {
      const { header, entries } = await frameOf(rolling, session.id);
      expect(header[0]).toBe('SC1');
      // Exactly what an earlier release verifies: sha1 of (sid NUL entries).
      expect(header[6]).toBe(createHash('sha1').update(`${session.id}\0${entries}`).digest('hex'));
    };
    await legacyCheck();
    await rolling.patch(session.id, { set: { b: 2 } });
    await legacyCheck();
    expect(
      await rolling.save(session.id, { data: { c: 3 }, expiresAt: session.expiresAt }, 2),
    ).toBe(3);
    await legacyCheck();
    expect(await current.load(session.id)).toMatchObject({ userId: 'ada', data: { c: 3 } });
    await current.patch(session.id, { set: { d: 4 } });
    expect((await frameOf(current, session.id)).header[0]).toBe('SC2');
    // And back: a format-1 writer may patch a format-2 frame (its check passes first).
    await rolling.patch(session.id, { set: { e: 5 } });
    await legacyCheck();
    expect((await current.load(session.id))?.data).toEqual({ c: 3, d: 4, e: 5 });
  });

  it('a legacy frame is saved, deleted and swept like a current one', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const make = async (userId: string) => {
      const session = await store.create({
        id: generateSessionId(),
        userId,
        data: { n: 1 },
        expiresAt: clock.now() + TTL_MS,
      });
      const { header, entries } = await frameOf(store, session.id);
      header[0] = 'SC1';
      header[6] = createHash('sha1').update(`${session.id}\0${entries}`).digest('hex');
      await raw(store).set(keys.session(session.id), header.join('\x1f') + entries, 'KEEPTTL');
      return session;
    };
    const saved = await make('ann');
    expect(await store.save(saved.id, { data: { n: 2 }, expiresAt: saved.expiresAt }, 1)).toBe(2);
    expect((await frameOf(store, saved.id)).header[0]).toBe('SC2');
    expect(await store.load(saved.id)).toMatchObject({ userId: 'ann', data: { n: 2 } });

    const deleted = await make('bob');
    expect(await store.delete(deleted.id)).toBe(true);
    expect(await store.listByUser('bob')).toEqual([]);

    const swept = await make('cyd');
    const result = await store.sweepBucket(keys.bucketOf(swept.id), swept.expiresAt, 100);
    expect(result.expired.map((e) => [e.id, e.userId])).toContainEqual([swept.id, 'cyd']);
    expect(await raw(store).exists(keys.session(swept.id))).toBe(0);
    expect(await store.listByUser('cyd')).toEqual([]);
  });
});

describe('RedisStore on a caller-owned RESP3 client', () => {
  it("works with ioredis' 'resp3' reply mapping (maps as objects, doubles as numbers)", async () => {
    const client = new Redis(server.port, '127.0.0.1', {
      protocol: 3,
      replyMapping: 'resp3',
      commandTimeout: 1_000,
    });
    try {
      const store = new RedisStore({ client, prefix, clock, codec });
      const session = await store.create({
        id: generateSessionId(),
        userId: 'r3',
        data: { a: [1, 2] },
        expiresAt: clock.now() + 1_000,
      });
      expect(await store.load(session.id)).toEqual(session);
      expect(await store.listByUser('r3')).toEqual([session]);
      expect(await store.patch(session.id, { set: { b: 1 } })).toBe(2);
      clock.advance(2_000);
      const swept = await store.sweepExpired(clock.now(), 10);
      expect(swept.expired.map((e) => [e.id, e.userId, e.expiresAt])).toEqual([
        [session.id, 'r3', session.expiresAt],
      ]);
      await store.close();
      expect(client.status).toBe('ready');
    } finally {
      await client.quit();
    }
  });
});

describe('RedisStore scripts', () => {
  it('registers every script under its versioned name and runs it by SHA', async () => {
    const store = await openStore();
    for (const name of ['createSession', 'saveSession', 'patchSession', 'sweepBucket'] as const) {
      expect(
        typeof (store.client as unknown as Record<string, unknown>)[scriptCommandName(name)],
      ).toBe('function');
    }
    await store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() + TTL_MS });
    const sha = createHash('sha1').update(scriptSource('createSession')).digest('hex');
    expect(await respCommand(server.port, ['SCRIPT', 'EXISTS', sha])).toEqual([1]);
  });
});

describe('RedisStore input validation', () => {
  it('sends zero commands to Redis for invalid input', async () => {
    const store = await openStore();
    const existing = await store.create({
      id: generateSessionId(),
      userId: 'owner',
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    const before = await commandsExecuted();
    const later = clock.now() + TTL_MS;
    const badIds: readonly unknown[] = ['', '*', 'a{b}c', `${existing.id}A`, null, 42];
    for (const bad of badIds) {
      const id = bad as string;
      const attempts: readonly (() => Promise<unknown>)[] = [
        () => store.load(id),
        () => store.create({ id, data: {}, expiresAt: later }),
        () => store.save(id, { data: {}, expiresAt: later }, 1),
        () => store.patch(id, { set: { a: 2 } }),
        () => store.touch(id, later),
        () => store.delete(id),
        () => store.deleteByUser('owner', { except: [id] }),
      ];
      for (const attempt of attempts) {
        await expectSessionError(attempt(), SessionValidationError, 'INVALID_SESSION_ID');
      }
    }
    const otherBadInput: readonly (() => Promise<unknown>)[] = [
      () => store.listByUser('a\nb'),
      () => store.deleteByUser(''),
      () => store.create({ id: generateSessionId(), userId: '', data: {}, expiresAt: later }),
      () => store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() }),
      () => store.save(existing.id, { data: {}, expiresAt: later }, 0),
      () => store.save(existing.id, { data: {}, expiresAt: Number.NaN }, 1),
      () => store.patch(existing.id, { set: { a: 1 } }, { expiresAt: Number.POSITIVE_INFINITY }),
      () => store.patch(existing.id, { unset: ['__proto__'] }),
      () => store.touch(existing.id, -1),
      () => store.sweepExpired(clock.now(), 0),
      () => store.sweepBucket(store.bucketCount, clock.now(), 10),
      () => store.sweepBucket(0, Number.NaN, 10),
    ];
    for (const attempt of otherBadInput) {
      await expect(attempt()).rejects.toBeInstanceOf(SessionValidationError);
    }
    expect(await commandsExecuted()).toBe(before);
    // The counter does see the store's commands: one valid load is one GET.
    await store.load(existing.id);
    expect(await commandsExecuted()).toBe(before + 1);
  });
});

describe('RedisStore.listSessionIds', () => {
  it('lists the live sessions of every bucket, not the expired ones', async () => {
    const store = await openStore({ buckets: 4 });
    const live = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() + TTL_MS }),
      ),
    );
    await store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() + 1_000 });
    clock.advance(2_000);
    expect((await store.listSessionIds()).sort()).toEqual(live.map((s) => s.id).sort());
  });
});

describe('RedisStore with encryption at rest', () => {
  it('seals every value, reads sessions written before encryption (acceptPlaintext), and patches mixed frames', async () => {
    const key = { id: 'k1', key: randomBytes(32) };
    const plainStore = await openStore();
    const sealedStore = await openStore({
      codec: createSessionCodec({ encryption: { keys: [key] }, acceptPlaintext: true }),
    });
    const before = await plainStore.create({
      id: generateSessionId(),
      data: { old: 'plain', n: [1, 2] },
      expiresAt: clock.now() + TTL_MS,
    });

    // Encryption turned on: old plain values still read, new ones are sealed.
    // A value with spaces: a frame's hex checks, decimal times and base64url
    // ciphertext never hold one, so only the plaintext could. Four digits
    // alone sit somewhere in a frame check's 40 hex digits about once in
    // 1 800 runs (it happened in CI).
    const card = '4111 1111 1111 1111';
    await sealedStore.patch(before.id, { set: { secret: { card } } });
    expect((await sealedStore.load(before.id))?.data).toEqual({
      old: 'plain',
      n: [1, 2],
      secret: { card },
    });
    const frame = (await raw(sealedStore).get(keysOf(sealedStore).session(before.id)))!;
    expect(frame).not.toContain(card);
    expect(frame).not.toContain('1111 1111');
    expect(frame).toContain('\x1e"secret"\x1fe1:k1:');

    const sealed = await sealedStore.create({
      id: generateSessionId(),
      data: { a: 'x', b: { deep: true } },
      expiresAt: clock.now() + TTL_MS,
    });
    expect(await sealedStore.load(sealed.id)).toEqual(sealed);
    // Without the key the store cannot read it, and says so (never "missing").
    await expectSessionError(plainStore.load(sealed.id), SessionEncryptionError, 'UNKNOWN_KEY_ID');
  });

  it('refuses a plain frame forged in Redis (data and owner planted, check recomputed) by default', async () => {
    const key = { id: 'k1', key: randomBytes(32) };
    const sealedStore = await openStore({
      codec: createSessionCodec({ encryption: { keys: [key] } }),
    });
    const victim = await sealedStore.create({
      id: generateSessionId(),
      userId: 'alice',
      data: { role: 'user' },
      expiresAt: clock.now() + TTL_MS,
    });
    // Whoever can write to Redis writes a plain frame with a valid
    // (unkeyed) check: what an unencrypting store would have written.
    const plainStore = await openStore();
    await plainStore.delete(victim.id);
    await raw(plainStore).del(keysOf(plainStore).session(victim.id));
    await plainStore.create({
      id: victim.id,
      userId: 'mallory',
      data: { role: 'admin' },
      expiresAt: clock.now() + TTL_MS,
    });
    await expectSessionError(
      sealedStore.load(victim.id),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
    await expectSessionError(
      sealedStore.listByUser('mallory'),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
  });
  it('checks the whole frame under the key ring: a forged owner, version or entry list is refused by every reader and writer', async () => {
    const key = { id: 'k1', key: randomBytes(32) };
    const store = await openStore({ codec: createSessionCodec({ encryption: { keys: [key] } }) });
    const victim = await store.create({
      id: generateSessionId(),
      userId: 'alice',
      data: { role: 'user', csrf: 'token' },
      expiresAt: clock.now() + TTL_MS,
    });
    const sessionKey = keysOf(store).session(victim.id);
    const genuine = (await raw(store).get(sessionKey))!;
    expect(genuine.startsWith('SC3\x1f')).toBe(true);
    const [header = '', ...entries] = genuine.split('\x1e');
    const withHeader = (index: number, value: string): string => {
      const fields = header.split('\x1f');
      fields[index] = value;
      return [fields.join('\x1f'), ...entries].join('\x1e');
    };
    // Unkeyed SC2 check over a planted owner: what anyone who can write to Redis can compute.
    const planted = header.split('\x1f');
    planted[0] = 'SC2';
    planted[7] = 'mallory';
    const body = entries.map((entry) => '\x1e' + entry).join('');
    const us = '\x1f';
    planted[6] = createHash('sha1')
      .update(
        `${victim.id}\0${planted[1]}${us}${planted[3]}${us}${planted[4]}${us}${planted[5]}${us}mallory\0${body}`,
      )
      .digest('hex');
    const forgeries = {
      owner: withHeader(7, 'mallory'),
      version: withHeader(1, '99'),
      // The csrf entry dropped (each remaining value still opens under the key).
      entry: [header, ...entries.filter((entry) => !entry.startsWith('"csrf"'))].join('\x1e'),
      unkeyed: [planted.join('\x1f'), ...entries].join('\x1e'),
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      expect(forged, what).not.toBe(genuine);
      await raw(store).set(sessionKey, forged, 'KEEPTTL');
      await expectSessionError(store.load(victim.id), SessionCorruptedError, 'SESSION_CORRUPTED');
      await expectSessionError(
        store.patch(victim.id, { set: { role: 'admin' } }),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      await expectSessionError(
        store.patch(victim.id, { set: { role: 'admin' } }, { expectedVersion: 99 }),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      await expectSessionError(
        store.touch(victim.id, clock.now() + TTL_MS),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      // No write laundered the forgery with a fresh check.
      expect(await raw(store).get(sessionKey), what).toBe(forged);
    }
    await raw(store).set(sessionKey, genuine, 'KEEPTTL');
    expect(await store.load(victim.id)).toEqual(victim);
  });

  it('verifies frames checked with an older key of the ring, and re-checks them with the current key on write', async () => {
    const oldKey = { id: 'old', key: randomBytes(32) };
    const newKey = { id: 'new', key: randomBytes(32) };
    const before = await openStore({
      codec: createSessionCodec({ encryption: { keys: [oldKey] } }),
    });
    const session = await before.create({
      id: generateSessionId(),
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    const rotated = await openStore({
      codec: createSessionCodec({ encryption: { keys: [newKey, oldKey] } }),
    });
    expect((await rotated.load(session.id))?.data).toEqual({ a: 1 });
    await rotated.patch(session.id, { set: { b: 2 } });
    const frame = (await raw(rotated).get(keysOf(rotated).session(session.id)))!;
    expect(frame.split('\x1e')[0]!.split('\x1f')[6]).toMatch(/^new:[0-9a-f]{40}$/);
    expect((await rotated.load(session.id))?.data).toEqual({ a: 1, b: 2 });
    // A store that never held the new key says which key it lacks.
    await expectSessionError(before.load(session.id), SessionEncryptionError, 'UNKNOWN_KEY_ID');
  });

  it.each([true, false])(
    'a write by a store that lacks the key a frame is checked with says so and keeps the session (failFastOnCorruption: %s)',
    async (failFastOnCorruption) => {
      // A rolling key rotation: the new key reaches one instance first.
      const oldKey = { id: 'old', key: randomBytes(32) };
      const newKey = { id: 'new', key: randomBytes(32) };
      const rotated = await openStore({
        codec: createSessionCodec({ encryption: { keys: [newKey, oldKey] } }),
      });
      const lagging = await openStore({
        codec: createSessionCodec({ encryption: { keys: [oldKey] } }),
        failFastOnCorruption,
      });
      const session = await rotated.create({
        id: generateSessionId(),
        data: { a: 1 },
        expiresAt: clock.now() + TTL_MS,
      });
      const sessionKey = keysOf(rotated).session(session.id);
      const stored = await raw(rotated).get(sessionKey);
      for (const write of [
        () => lagging.patch(session.id, { set: { b: 2 } }),
        () =>
          lagging.merge(session.id, {
            baseVersion: 1,
            changes: [{ key: 'b', value: 2, base: undefined, at: clock.now() }],
            expiresAt: clock.now() + TTL_MS,
          }),
        () => lagging.touch(session.id, clock.now() + 2 * TTL_MS),
      ]) {
        await expectSessionError(write(), SessionEncryptionError, 'UNKNOWN_KEY_ID');
      }
      // Nothing written, nothing deleted, nothing counted as corrupted.
      expect(await raw(rotated).get(sessionKey)).toBe(stored);
      expect(lagging.corruptSessionsDeleted).toBe(0);
      expect(await rotated.load(session.id)).toEqual(session);
    },
  );
});

describe('RedisStore corruption policy', () => {
  /** Replace data key `a` with garbage, or a header field (0 = magic, 1 = v, …) with `value`. */
  async function corrupt(store: RedisStore, id: string, headerField?: number, value = 'garbage') {
    const key = keysOf(store).session(id);
    const frame = (await raw(store).get(key))!;
    let corrupted: string;
    if (headerField === undefined) {
      corrupted = replaceFrameEntry(frame, 'a', value);
    } else {
      const [header = '', ...entries] = frame.split('\x1e');
      const fields = header.split('\x1f');
      fields[headerField] = value;
      corrupted = [fields.join('\x1f'), ...entries].join('\x1e');
    }
    await raw(store).set(key, corrupted, 'KEEPTTL');
  }

  it('failFastOnCorruption: true throws SessionCorruptedError, reports it and keeps the data', async () => {
    const seen: CorruptionInfo[] = [];
    const store = await openStore({ onCorruption: (info) => seen.push(info) });
    const session = await store.create({
      id: generateSessionId(),
      userId: 'eve',
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    await corrupt(store, session.id);

    const error = await expectSessionError(
      store.load(session.id),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
    expect(error.sessionIdHash).toBe(hashSessionId(session.id));
    expect(error.operation).toBe('load');
    expect(error.cause).toBeInstanceOf(SessionCorruptedError);
    await expectSessionError(store.listByUser('eve'), SessionCorruptedError, 'SESSION_CORRUPTED');
    expect(seen.map((info) => info.sessionIdHash)).toEqual([
      hashSessionId(session.id),
      hashSessionId(session.id),
    ]);
    expect(await raw(store).exists(keysOf(store).session(session.id))).toBe(1);
    expect(store.corruptSessionsDeleted).toBe(0);
  });

  it('patch of an unreadable frame writes nothing, throws SessionCorruptedError, and never merges into it', async () => {
    const store = await openStore();
    const session = await store.create({
      id: generateSessionId(),
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    const sessionKey = keysOf(store).session(session.id);
    const live = await raw(store).get(sessionKey);
    const header = live!.split('\x1e')[0]!.split('\x1f');
    header[6] = '0'.repeat(40); // k, the checksum
    const badCheck = [header.join('\x1f'), ...live!.split('\x1e').slice(1)].join('\x1e');
    expect(badCheck).not.toBe(live);
    for (const broken of [
      badCheck,
      'garbage',
      'SC1\x1f1',
      `SC1\x1f1\x1f${clock.now() + TTL_MS}\x1f0\x1f0\x1f0\x1fk\x1f\x1eno-separator`,
    ]) {
      await raw(store).set(sessionKey, broken, 'KEEPTTL');
      await expectSessionError(
        store.patch(session.id, { set: { b: 2 } }),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      expect(await raw(store).get(sessionKey)).toBe(broken);
    }
  });

  it('failFastOnCorruption: false deletes the session with its index entries and answers null', async () => {
    const seen: CorruptionInfo[] = [];
    const store = await openStore({
      failFastOnCorruption: false,
      onCorruption: (info) => seen.push(info),
    });
    const keys = keysOf(store);
    const make = () =>
      store.create({
        id: generateSessionId(),
        userId: 'mallory',
        data: { a: 1 },
        expiresAt: clock.now() + TTL_MS,
      });
    const broken = await make();
    const metaBroken = await make();
    const fine = await make();
    await corrupt(store, broken.id);
    await corrupt(store, metaBroken.id, 1, 'not-a-number');

    expect(await store.load(broken.id)).toBeNull();
    // Only the tombstone of the retired id is left.
    expect(await raw(store).get(keys.session(broken.id))).toBe(RETIRED_FRAME);
    expect(await raw(store).zscore(keys.expiryBucketOf(broken.id), broken.id)).toBeNull();
    expect(await raw(store).zscore(keys.userIndex('mallory'), broken.id)).toBeNull();

    expect((await store.listByUser('mallory')).map((r) => r.id)).toEqual([fine.id]);
    expect(await raw(store).get(keys.session(metaBroken.id))).toBe(RETIRED_FRAME);
    expect(store.corruptSessionsDeleted).toBe(2);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.error).toBeInstanceOf(SessionCorruptedError);
    expect(await store.load(fine.id)).toEqual(fine);
  });
});

describe('RedisStore sweeping', () => {
  it('sweepBucket re-checks expiry, fixes stale scores and drops orphans without reporting them', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const bucket = 5;
    const bucketKey = keys.expiryBucket(bucket);
    const expired = await store.create({
      id: idInBucket(keys, bucket),
      userId: 'sam',
      data: {},
      expiresAt: clock.now() + 1_000,
    });
    const touched = await store.create({
      id: idInBucket(keys, bucket),
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    const orphan = idInBucket(keys, bucket);
    // Behind the store's back: a stale score, and a member without a hash.
    await raw(store).zadd(bucketKey, clock.now(), touched.id, clock.now(), orphan);
    clock.advance(2_000);

    const result = await store.sweepBucket(bucket, clock.now(), 10);
    expect(result).toEqual({
      expired: [
        {
          id: expired.id,
          userId: 'sam',
          expiresAt: expired.expiresAt,
          bucket,
          createdAt: expired.createdAt,
        },
      ],
      more: false,
      orphansRemoved: 1,
      examined: 3,
    });
    // Without the pending option nothing waits to be acknowledged.
    expect(await store.pendingExpired(bucket, 10)).toEqual([]);
    expect(await raw(store).zscore(bucketKey, touched.id)).toBe(String(touched.expiresAt));
    expect(await raw(store).zscore(bucketKey, orphan)).toBeNull();
    // The owner's index keeps the member until its next reader.
    expect(await raw(store).zscore(keys.userIndex('sam'), expired.id)).not.toBeNull();
    expect(await store.listByUser('sam')).toEqual([]);
    expect(await raw(store).zscore(keys.userIndex('sam'), expired.id)).toBeNull();
    expect(await store.load(touched.id)).toEqual(touched);
    expect(await store.sweepBucket(bucket, clock.now(), 10)).toEqual({
      expired: [],
      more: false,
      orphansRemoved: 0,
      examined: 0,
    });
  });

  it('with pending: true a batch stays in the outbox, whole and under its id, until acknowledged', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const bucket = 3;
    const owned = await store.create({
      id: idInBucket(keys, bucket),
      userId: 'ann',
      data: { a: 1 },
      expiresAt: clock.now() + 1_000,
    });
    const anonymous = await store.create({
      id: idInBucket(keys, bucket),
      data: {},
      expiresAt: clock.now() + 1_500,
    });
    clock.advance(2_000);

    const swept = await store.sweepBucket(bucket, clock.now(), 10, { pending: true });
    expect(swept.expired.map((e) => e.id).sort()).toEqual([owned.id, anonymous.id].sort());
    expect(swept.batchId).toMatch(/^[0-9a-f]{32}$/);
    // The id is the first expiry's identity, never the raw session id.
    const first = swept.expired[0]!;
    expect(swept.batchId).toBe(
      createHash('sha1').update(`${first.id}\x1f${first.expiresAt}`).digest('hex').slice(0, 32),
    );
    // The sweeper "crashes" here: a second sweep reports nothing new (and
    // records no batch), but the outbox still holds the batch, exactly as swept.
    const again = await store.sweepBucket(bucket, clock.now(), 10, { pending: true });
    expect(again).toMatchObject({ expired: [], batchId: undefined });
    const pending = await store.pendingBatches(bucket, 10);
    expect(pending).toEqual([{ id: swept.batchId, bucket, expiries: swept.expired }]);
    expect(await raw(store).smembers(keys.unpublishedBucket(bucket))).toEqual([swept.batchId]);
    expect(swept.expired).toContainEqual({
      id: owned.id,
      userId: 'ann',
      expiresAt: owned.expiresAt,
      bucket,
      createdAt: owned.createdAt,
    });
    expect(swept.expired).toContainEqual({
      id: anonymous.id,
      userId: undefined,
      expiresAt: anonymous.expiresAt,
      bucket,
      createdAt: anonymous.createdAt,
    });

    // Published: no longer pending, but kept in the outbox for its consumer,
    // who reads it back whole and acknowledges it.
    expect(await store.markPublished(bucket, swept.batchId!)).toBe(true);
    expect(await store.markPublished(bucket, swept.batchId!)).toBe(false);
    expect(await store.pendingBatches(bucket, 10)).toEqual([]);
    const consumer = new RedisExpiryOutbox(raw(store), 5_000);
    expect(await consumer.read(prefix, bucket, swept.batchId!)).toEqual(pending[0]);
    expect(await store.ackBatch(bucket, swept.batchId!)).toBe(true);
    expect(await store.ackBatch(bucket, swept.batchId!)).toBe(false);
    expect(await consumer.read(prefix, bucket, swept.batchId!)).toBeUndefined();
    // Nothing left but ann's index, which the sweep leaves to its readers.
    expect(await admin.keys(`${prefix}:*`)).toEqual([keysOf(store).userIndex('ann')]);
    expect(await store.listByUser('ann')).toEqual([]);
    expect(await admin.keys(`${prefix}:*`)).toEqual([]);
    await expectSessionError(
      store.pendingBatches(store.bucketCount, 10),
      SessionValidationError,
      'INVALID_ARGUMENT',
    );
  });

  it('a consumer keeps what failed of a batch only while the batch is there, and its ack also forgets an unpublished id', async () => {
    const store = await openStore({ buckets: 1 });
    const keys = keysOf(store);
    for (let i = 0; i < 3; i++) {
      await store.create({
        id: generateSessionId(),
        userId: i === 0 ? 'ann' : undefined,
        data: {},
        expiresAt: clock.now() + 1_000 + i,
      });
    }
    clock.advance(2_000);
    const swept = await store.sweepBucket(0, clock.now(), 10, { pending: true });
    const id = swept.batchId!;
    const consumer = new RedisExpiryOutbox(raw(store), 5_000);
    const [first, , third] = swept.expired;
    expect(await consumer.keep(prefix, 0, id, [first!, third!])).toBe(true);
    expect(await consumer.read(prefix, 0, id)).toEqual({ id, bucket: 0, expiries: [first, third] });
    // Still unpublished (the publisher died): the drain sees what is left.
    expect(await store.pendingBatches(0, 10)).toEqual([
      { id, bucket: 0, expiries: [first, third] },
    ]);
    expect(await consumer.ack(prefix, 0, id)).toBe(true);
    expect(await raw(store).exists(keys.outboxBucket(0), keys.unpublishedBucket(0))).toBe(0);
    // Gone: a late consumer's keep does not bring it back.
    expect(await consumer.keep(prefix, 0, id, [first!])).toBe(false);
    expect(await consumer.read(prefix, 0, id)).toBeUndefined();
    await expectSessionError(
      consumer.read('{bad}', 0, id),
      SessionValidationError,
      'INVALID_ARGUMENT',
    );
    await expectSessionError(
      consumer.ack(prefix, -1, id),
      SessionValidationError,
      'INVALID_ARGUMENT',
    );
  });

  it('pendingBatches drops the id of a batch a consumer already acknowledged', async () => {
    const store = await openStore({ buckets: 1 });
    const keys = keysOf(store);
    await store.create({ id: generateSessionId(), data: {}, expiresAt: clock.now() + 1_000 });
    clock.advance(2_000);
    const { batchId } = await store.sweepBucket(0, clock.now(), 10, { pending: true });
    // Published, handled and acknowledged by a consumer field-only (HDEL):
    // the publisher died before marking it published.
    await raw(store).hdel(keys.outboxBucket(0), batchId!);
    expect(await store.pendingBatches(0, 10)).toEqual([]);
    expect(await raw(store).exists(keys.unpublishedBucket(0))).toBe(0);
  });

  it('pendingBatches returns at most limit batches and drops a field the sweep cannot have written', async () => {
    const store = await openStore({ buckets: 1 });
    const keys = keysOf(store);
    for (let i = 0; i < 40; i++) {
      await store.create({
        id: generateSessionId(),
        data: {},
        expiresAt: clock.now() + 1_000 + i,
      });
    }
    clock.advance(2_000);
    const batchIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      batchIds.push((await store.sweepBucket(0, clock.now(), 1, { pending: true })).batchId!);
    }
    // Unreadable fields and ids whose batch is gone: a page drawn among
    // them still holds `limit` batches (what it drops is drawn again).
    for (let i = 0; i < 20; i++) {
      await raw(store).hset(keys.outboxBucket(0), `junk${i}`, 'not a batch');
      await raw(store).sadd(keys.unpublishedBucket(0), `junk${i}`, `gone${i}`);
    }
    const page = await store.pendingBatches(0, 2);
    expect(page).toHaveLength(2);
    const all = await store.pendingBatches(0, 100);
    expect(all.map((b) => b.id).sort()).toEqual([...batchIds].sort());
    expect(all.every((b) => b.expiries.length === 1)).toBe(true);
    expect(await raw(store).hexists(keys.outboxBucket(0), 'junk0')).toBe(0);
    expect(await raw(store).scard(keys.unpublishedBucket(0))).toBe(40);
  });

  it('drains the per-expiry outbox an earlier release left behind', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const bucket = 2;
    const US = '\x1f';
    // What a 0.2 sweeper wrote before dying: `sid US userId US createdAt` → expiresAt.
    const a = idInBucket(keys, bucket);
    const b = idInBucket(keys, bucket);
    await raw(store).zadd(
      keys.pendingBucket(bucket),
      1_000,
      `${a}${US}ann${US}500`,
      2_000,
      `${b}${US}${US}`,
    );
    const pending = await store.pendingExpired(bucket, 10);
    expect(pending).toEqual([
      { id: a, userId: 'ann', expiresAt: 1_000, bucket, createdAt: 500 },
      { id: b, userId: undefined, expiresAt: 2_000, bucket, createdAt: undefined },
    ]);
    expect(await store.pendingExpired(bucket, 1)).toEqual(pending.slice(0, 1));
    expect(await store.ackExpired(bucket, pending)).toBe(2);
    expect(await store.ackExpired(bucket, pending)).toBe(0);
    expect(await admin.keys(`${prefix}:*`)).toEqual([]);
  });

  it('leaves the user indexes to their readers: listByUser drops the swept members, and each index expires with its latest session', async () => {
    const store = await openStore({ buckets: 1 });
    const keys = keysOf(store);
    // Owner ids of every length mod 3, braces, non-ASCII, every printable
    // ASCII byte in each position of a 3-byte group.
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
    const owners = [
      'ann',
      'bob',
      'cy',
      'a',
      'ab{c}',
      'ÿü日本語😀',
      printable,
      printable.slice(1),
      printable.slice(2),
    ];
    for (let i = 0; i < 3 * owners.length; i++) {
      await store.create({
        id: generateSessionId(),
        userId: owners[i % 3],
        data: {},
        expiresAt: clock.now() + 1_000,
      });
    }
    const keeper = await store.create({
      id: generateSessionId(),
      userId: 'bob',
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    clock.advance(2_000);
    expect((await store.sweepBucket(0, clock.now(), 100)).expired).toHaveLength(3 * owners.length);
    // The first three owners hold owners.length sessions each, bob also the keeper.
    for (const owner of owners.slice(0, 3)) {
      // The indexes are left as they were…
      const index = keys.userIndex(owner);
      expect(await raw(store).zcard(index)).toBe(owners.length + (owner === 'bob' ? 1 : 0));
      // …alive until the latest physical expiry of their sessions…
      const latest = owner === 'bob' ? keeper.expiresAt : clock.now() - 2_000 + 1_000;
      expect(await raw(store).call('PEXPIRETIME', index)).toBe(latest + GRACE_MS);
      // …and their first reader drops the members of the swept sessions.
      expect((await store.listByUser(owner)).map((r) => r.id)).toEqual(
        owner === 'bob' ? [keeper.id] : [],
      );
      const members = await raw(store).zrange(index, '0', '-1');
      expect(members).toEqual(owner === 'bob' ? [keeper.id] : []);
    }
  });

  it('concurrent sweepers report each expiry exactly once', async () => {
    const sweepers = [await openStore(), await openStore(), await openStore()];
    const store = sweepers[0]!;
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const session = await store.create({
        id: generateSessionId(),
        userId: i % 3 === 0 ? 'many' : undefined,
        data: { i },
        expiresAt: clock.now() + 1_000 + i,
      });
      ids.add(session.id);
    }
    clock.advance(5_000);

    const reports = await Promise.all(
      sweepers.map(async (sweeper) => {
        const seen: string[] = [];
        for (;;) {
          const { expired, more } = await sweeper.sweepExpired(clock.now(), 7);
          seen.push(...expired.map((e) => e.id));
          if (!more) return seen;
        }
      }),
    );
    const all = reports.flat();
    expect(all).toHaveLength(60);
    expect(new Set(all)).toEqual(ids);
    expect(await store.listByUser('many')).toEqual([]);
    expect(await admin.keys(`${prefix}:*`)).toEqual([]);
  });

  it('create repairs up to 16 long-dead members of its bucket, sparing recent ones', async () => {
    const store = await openStore({ buckets: 1 });
    const keys = keysOf(store);
    const bucketKey = keys.expiryBucket(0);
    const dead = Array.from({ length: 20 }, () => generateSessionId());
    for (const [i, id] of dead.entries()) {
      await raw(store).zadd(bucketKey, clock.now() - GRACE_MS - 1_000 - i, id);
    }
    const recentOrphan = generateSessionId();
    await raw(store).zadd(bucketKey, clock.now() - 1_000, recentOrphan);

    const session = await store.create({
      id: generateSessionId(),
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    const members = await raw(store).zrange(bucketKey, '0', '-1');
    expect(members).toHaveLength(20 - 16 + 2);
    expect(members).toContain(recentOrphan);
    expect(members).toContain(session.id);
  });
});

describe('RedisStore user index', () => {
  it('a save with the owner re-adds a missing user index member (crash repair)', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const session = await store.create({
      id: generateSessionId(),
      userId: 'ivy',
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    await raw(store).zrem(keys.userIndex('ivy'), session.id);
    expect(await store.listByUser('ivy')).toEqual([]);

    await store.save(
      session.id,
      { data: { x: 1 }, expiresAt: session.expiresAt, userId: 'ivy' },
      1,
    );
    expect((await store.listByUser('ivy')).map((r) => r.id)).toEqual([session.id]);
    expect(Number(await raw(store).zscore(keys.userIndex('ivy'), session.id))).toBe(
      session.createdAt + 2 / 1024,
    );
  });

  it('every write that indexes a member gives it a new score, so a late repair never drops a member re-added meanwhile', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const index = keys.userIndex('alice');
    const removeMembers = (...args: string[]): Promise<unknown> =>
      (store.client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
        scriptCommandName('removeUserIndexMembers')
      ]!(index, ...args);
    const session = await store.create({
      id: generateSessionId(),
      userId: 'alice',
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    // What a listByUser read before the session moved away and back.
    const seen = (await raw(store).zscore(index, session.id))!;
    await store.save(session.id, { data: {}, expiresAt: session.expiresAt, userId: 'bob' }, 1);
    await store.save(session.id, { data: {}, expiresAt: session.expiresAt, userId: 'alice' }, 2);
    // The repairs of what was seen before arrive late: the member stays.
    expect(await removeMembers(session.id, seen)).toBe(0);
    expect(await removeMembers(session.id, `${session.createdAt}@2`)).toBe(0);
    expect((await store.listByUser('alice')).map((r) => r.id)).toEqual([session.id]);
    // The member as it is now, or any member of a retired creation, goes.
    expect(await removeMembers(session.id, `${session.createdAt}@3`)).toBe(1);
    await raw(store).zadd(index, session.createdAt + 3 / 1024, session.id);
    expect(await removeMembers(session.id, `${session.createdAt}@`)).toBe(1);
    expect(await removeMembers(session.id, '')).toBe(0);
  });

  it("maxSessionsPerUser: a login past the cap retires the owner's oldest sessions, counted and reported", async () => {
    const evicted: UserCapEviction[] = [];
    const store = await openStore({
      maxSessionsPerUser: 3,
      onUserCapEviction: (info) => evicted.push(info),
    });
    const login = async (userId: string) => {
      clock.advance(1_000);
      return store.create({
        id: generateSessionId(),
        userId,
        data: { userId },
        expiresAt: clock.now() + TTL_MS,
      });
    };
    const bystander = await login('bob');
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await login('carol'));
    const [first, second, ...kept] = sessions;

    expect((await store.listByUser('carol')).map((r) => r.id)).toEqual(kept.map((r) => r.id));
    expect(await store.load(first!.id)).toBeNull();
    expect(await store.load(second!.id)).toBeNull();
    expect(store.sessionsEvictedByUserCap).toBe(2);
    expect(evicted).toEqual([
      { sessionIdHash: hashSessionId(first!.id), userId: 'carol' },
      { sessionIdHash: hashSessionId(second!.id), userId: 'carol' },
    ]);
    // Evicted ids are retired, like a logout; other users are untouched.
    await expectSessionError(
      store.create({ id: first!.id, data: {}, expiresAt: clock.now() + TTL_MS }),
      ConcurrentAccessError,
      'SESSION_ALREADY_EXISTS',
    );
    expect(await store.load(bystander.id)).toEqual(bystander);
    // A save that gives a session to carol counts too.
    await store.save(
      bystander.id,
      { data: {}, expiresAt: bystander.expiresAt, userId: 'carol' },
      1,
    );
    expect((await store.listByUser('carol')).map((r) => r.id)).toHaveLength(3);
    expect(store.sessionsEvictedByUserCap).toBe(3);
  });

  it('a user index lives as long as its latest session: indexing, touch, patch and merge extend it, nothing shortens it', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const index = keys.userIndex('uma');
    const expiry = async (): Promise<unknown> => raw(store).call('PEXPIRETIME', index);
    const first = await store.create({
      id: generateSessionId(),
      userId: 'uma',
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    expect(await expiry()).toBe(first.expiresAt + GRACE_MS);
    // A shorter-lived session does not shorten it; a longer-lived one extends it.
    await store.create({
      id: generateSessionId(),
      userId: 'uma',
      data: {},
      expiresAt: clock.now() + 1_000,
    });
    expect(await expiry()).toBe(first.expiresAt + GRACE_MS);
    await store.touch(first.id, clock.now() + 2 * TTL_MS);
    expect(await expiry()).toBe(clock.now() + 2 * TTL_MS + GRACE_MS);
    await store.touch(first.id, clock.now() + TTL_MS);
    expect(await expiry()).toBe(clock.now() + 2 * TTL_MS + GRACE_MS);
    await store.patch(first.id, { set: { a: 1 } }, { expiresAt: clock.now() + 3 * TTL_MS });
    expect(await expiry()).toBe(clock.now() + 3 * TTL_MS + GRACE_MS);
    // A patch that keeps the expiry leaves the index alone.
    await store.patch(first.id, { set: { a: 2 } });
    expect(await expiry()).toBe(clock.now() + 3 * TTL_MS + GRACE_MS);
    const merged = await store.merge(first.id, {
      baseVersion: 3,
      expiresAt: clock.now() + 4 * TTL_MS,
      changes: [],
    });
    expect(merged.kind).toBe('merged');
    expect(await expiry()).toBe(clock.now() + 4 * TTL_MS + GRACE_MS);
    const version = merged.kind === 'merged' ? merged.version : 0;
    await store.save(
      first.id,
      { data: {}, expiresAt: clock.now() + 5 * TTL_MS, userId: 'uma' },
      version,
    );
    expect(await expiry()).toBe(clock.now() + 5 * TTL_MS + GRACE_MS);
    // An anonymous session has no index to extend.
    const anonymous = await store.create({
      id: generateSessionId(),
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    expect(await store.touch(anonymous.id, clock.now() + 9 * TTL_MS)).toBe(true);
    expect(await expiry()).toBe(clock.now() + 5 * TTL_MS + GRACE_MS);
  });

  it('an index an earlier release wrote (no TTL) keeps none: a shorter session must not end it', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const index = keys.userIndex('old');
    const long = await store.create({
      id: generateSessionId(),
      userId: 'old',
      data: {},
      expiresAt: clock.now() + 10 * TTL_MS,
    });
    await raw(store).persist(index);
    clock.advance(1_000);
    const short = await store.create({
      id: generateSessionId(),
      userId: 'old',
      data: {},
      expiresAt: clock.now() + 1_000,
    });
    await store.touch(short.id, clock.now() + TTL_MS);
    expect(await raw(store).pttl(index)).toBe(-1);
    expect((await store.listByUser('old')).map((r) => r.id)).toEqual([long.id, short.id]);
  });

  it('maxSessionsPerUser counts live sessions: members of swept sessions do not cost a live one its place', async () => {
    const evicted: UserCapEviction[] = [];
    const store = await openStore({
      maxSessionsPerUser: 2,
      onUserCapEviction: (info) => evicted.push(info),
    });
    const keys = keysOf(store);
    const login = async (ttl: number) => {
      clock.advance(1_000);
      return store.create({
        id: generateSessionId(),
        userId: 'liv',
        data: {},
        expiresAt: clock.now() + ttl,
      });
    };
    const first = await login(TTL_MS);
    const brief = await login(1_500);
    clock.advance(5_000);
    // The sweep leaves the swept member in the index, younger than a live one.
    expect(
      (await store.sweepBucket(keys.bucketOf(brief.id), clock.now(), 10)).expired,
    ).toHaveLength(1);
    expect(await raw(store).zcard(keys.userIndex('liv'))).toBe(2);
    // 3 members, 2 live sessions: nothing evicted, the stale member dropped.
    const second = await login(TTL_MS);
    expect(evicted).toEqual([]);
    expect(await store.load(first.id)).toEqual(first);
    expect(await raw(store).zrange(keys.userIndex('liv'), '0', '-1')).toEqual([
      first.id,
      second.id,
    ]);
    // A third live session: the oldest live one goes.
    const third = await login(TTL_MS);
    expect(evicted).toEqual([{ sessionIdHash: hashSessionId(first.id), userId: 'liv' }]);
    expect(store.sessionsEvictedByUserCap).toBe(1);
    expect((await store.listByUser('liv')).map((r) => r.id)).toEqual([second.id, third.id]);
  });

  it('deleteByUser never deletes a session that now belongs to someone else', async () => {
    const store = await openStore();
    const keys = keysOf(store);
    const bobs = await store.create({
      id: generateSessionId(),
      userId: 'bob',
      data: {},
      expiresAt: clock.now() + TTL_MS,
    });
    // A stale member: alice's index still lists a session bob owns.
    await raw(store).zadd(keys.userIndex('alice'), bobs.createdAt, bobs.id);

    expect(await store.deleteByUser('alice')).toBe(0);
    expect(await store.load(bobs.id)).toEqual(bobs);
    expect(await raw(store).zcard(keys.userIndex('alice'))).toBe(0);
    expect((await store.listByUser('bob')).map((r) => r.id)).toEqual([bobs.id]);
  });
});

describe('RedisStore lifecycle', () => {
  it('close waits for in-flight calls, quits its own client, then refuses new calls', async () => {
    const store = await openStore();
    const session = await store.create({
      id: generateSessionId(),
      data: { a: 1 },
      expiresAt: clock.now() + TTL_MS,
    });
    const ended = new Promise((resolve) => raw(store).once('end', resolve));
    const pending = store.load(session.id);
    const closed = store.close();
    expect(await pending).toEqual(session);
    await closed;
    await ended;
    const error = await expectSessionError(
      store.load(session.id),
      StorageUnavailableError,
      'STORAGE_UNAVAILABLE',
    );
    expect(error.details?.['closed']).toBe(true);
    await store.close(); // idempotent
  });

  it('ping answers with a latency in ms', async () => {
    const store = await openStore();
    const latency = await store.ping();
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(latency).toBeLessThan(1_000);
  });
});
