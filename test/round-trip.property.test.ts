import { randomBytes } from 'node:crypto';
import {
  ConcurrentAccessError,
  SessionValidationError,
  createSessionCodec,
  generateSessionId,
  isValidUserId,
} from '@session-cluster/core';
import type { JsonValue, SessionData, SessionStore } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { FIELD_SEPARATOR, RedisKeys, RedisStore } from '@session-cluster/store-redis';
import { expectSessionError } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { startInspectedRedis } from './fixtures/inspected-redis.js';
import type { InspectedRedis } from './fixtures/inspected-redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix } from './fixtures/scenario-session.js';
import {
  HEADER_FIELD,
  headerCheck,
  frameEntryPairs,
  sessionKeyOf,
  splitFrame,
} from './fixtures/redis-inspection.js';
import {
  jsonValue,
  loneSurrogate,
  sessionData,
  topLevelKey,
} from './fixtures/session-arbitraries.js';

/*
 * Round trips, generated: whatever JSON data passes validation comes back
 * exactly (values, types, key order), through Redis in plain and encrypted
 * form and through the MemoryStore; and any sequence of patches and saves
 * leaves the store equal to the same changes applied to a plain object.
 */

const TTL_MS = 10 * 60_000;
const sealedCodec = createSessionCodec({
  encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
});
/** The keyed frame check's secrets of the encrypting store (format 3 frames). */
const sealedFrameKeys = sealedCodec.frameKeys;

let inspected: InspectedRedis;
let redis: RedisServerHandle;
let admin: Redis;
let prefix: string;
let plain: RedisStore;
let sealed: RedisStore;
let memory: MemoryStore;

beforeAll(async () => {
  inspected = await startInspectedRedis();
  ({ server: redis, admin } = inspected);
  prefix = freshPrefix();
  plain = new RedisStore({ connection: { url: redis.url }, prefix });
  sealed = new RedisStore({
    connection: { url: redis.url },
    prefix,
    codec: sealedCodec,
  });
  memory = new MemoryStore({ cleanupIntervalMs: 0 });
});

afterAll(async () => {
  await Promise.all([plain.close(), sealed.close(), memory.close()]);
  await inspected.close();
});

const STORES = [
  ['RedisStore', () => plain],
  ['RedisStore with encryption at rest', () => sealed],
  ['MemoryStore', () => memory],
] as const;

/**
 * The frame invariants every Redis write keeps: `k` is the check of the
 * header and entries, `z` their exact byte total, and nothing is stored in clear when
 * the store encrypts.
 */
async function expectFrameInvariants(store: SessionStore, id: string): Promise<void> {
  if (!(store instanceof RedisStore)) return;
  const { header, entries } = splitFrame((await admin.get(sessionKeyOf(store, id)))!);
  expect(header[HEADER_FIELD.k]).toBe(headerCheck(id, header, entries, sealedFrameKeys));
  const pairs = frameEntryPairs(entries);
  const bytes = pairs.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  expect(Number(header[HEADER_FIELD.z])).toBe(bytes);
  if (store === sealed) {
    for (const [, value] of pairs) expect(value).toMatch(/^e1:k1:[A-Za-z0-9_-]+$/);
  }
}

function expectSameData(actual: SessionData | undefined, expected: SessionData): void {
  expect(actual).toStrictEqual(expected);
  // Key order too (integer-like keys first, as in any JS object).
  expect(Object.keys(actual ?? {})).toEqual(Object.keys(expected));
}

describe.each(STORES)('%s: round trips (generated)', (_name, storeOf) => {
  it('create → load and save → load return the data exactly', async () => {
    const store = storeOf();
    await fc.assert(
      fc.asyncProperty(sessionData, sessionData, async (first, second) => {
        const id = generateSessionId();
        const created = await store.create({ id, data: first, expiresAt: Date.now() + TTL_MS });
        expectSameData(created.data, first);
        const loaded = await store.load(id);
        expect(loaded).toEqual(created);
        expectSameData(loaded?.data, first);
        await expectFrameInvariants(store, id);

        expect(await store.save(id, { data: second, expiresAt: Date.now() + TTL_MS }, 1)).toBe(2);
        expectSameData((await store.load(id))?.data, second);
        await expectFrameInvariants(store, id);
        expect(await store.delete(id)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('any sequence of patches and saves equals the same changes on a plain object', async () => {
    const store = storeOf();
    // A small fixed pool makes keys collide (replace, re-add, unset what is there).
    const key = fc.oneof(fc.constantFrom('a', 'b', '0', '10', 'é', '👋 x', '"q"'), topLevelKey);
    const patch = fc
      .record({
        set: fc.dictionary(key, jsonValue, { maxKeys: 3, noNullPrototype: true }),
        unset: fc.uniqueArray(key, { maxLength: 3 }),
      })
      .map(({ set, unset }) => ({
        kind: 'patch' as const,
        set,
        unset: unset.filter((k) => !Object.hasOwn(set, k)),
      }));
    const save = fc.record({
      kind: fc.constantFrom('save' as const, 'stale save' as const),
      data: fc.dictionary(key, jsonValue, { maxKeys: 4, noNullPrototype: true }),
    });
    await fc.assert(
      fc.asyncProperty(
        sessionData,
        fc.array(fc.oneof({ arbitrary: patch, weight: 4 }, save), { minLength: 1, maxLength: 10 }),
        async (initial, steps) => {
          const id = generateSessionId();
          await store.create({ id, data: initial, expiresAt: Date.now() + TTL_MS });
          let model: Record<string, JsonValue> = { ...initial };
          let version = 1;
          for (const step of steps) {
            if (step.kind === 'patch') {
              expect(await store.patch(id, { set: step.set, unset: step.unset })).toBe(version + 1);
              version += 1;
              model = Object.fromEntries(
                Object.entries(model).filter(([k]) => !step.unset.includes(k)),
              );
              Object.assign(model, step.set);
            } else if (step.kind === 'save') {
              const input = { data: step.data, expiresAt: Date.now() + TTL_MS };
              expect(await store.save(id, input, version)).toBe(version + 1);
              version += 1;
              model = { ...step.data };
            } else {
              const input = { data: step.data, expiresAt: Date.now() + TTL_MS };
              await expectSessionError(
                store.save(id, input, version + 1),
                ConcurrentAccessError,
                'VERSION_CONFLICT',
              );
            }
            const loaded = await store.load(id);
            expect(loaded?.version).toBe(version);
            expectSameData(loaded?.data, model);
            await expectFrameInvariants(store, id);
          }
          await store.delete(id);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('any valid user id comes back unchanged and finds its session', async () => {
    const store = storeOf();
    const userId = fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
        // Long owners: the scripts that read only the header (GETRANGE of
        // 256 bytes) must read on when the owner runs past it.
        fc.string({ unit: 'binary', minLength: 100, maxLength: 256 }),
        fc.tuple(fc.string({ maxLength: 8 }), loneSurrogate).map(([head, lone]) => head + lone),
        fc.constantFrom(
          '{user}',
          'a:b',
          '*',
          'alice@example.com',
          ' ',
          '\u00a0',
          '👋',
          'é'.repeat(256),
        ),
      )
      .filter(isValidUserId);
    await fc.assert(
      fc.asyncProperty(userId, async (owner) => {
        const id = generateSessionId();
        await store.create({ id, userId: owner, data: {}, expiresAt: Date.now() + TTL_MS });
        expect((await store.load(id))?.userId).toBe(owner);
        expect((await store.listByUser(owner)).map((record) => record.id)).toEqual([id]);
        expect(await store.deleteByUser(owner)).toBe(1);
        expect(await store.load(id)).toBeNull();
      }),
      { numRuns: 150 },
    );
  });
});

describe('size limit', () => {
  // The MemoryStore is the fallback of the Redis store: it must take every
  // session Redis takes, or a degraded write of a large session fails.
  it.each([
    ['RedisStore', () => plain],
    ['MemoryStore', () => memory],
  ] as const)(
    '%s: takes a session of exactly maxBytes, refuses one byte more',
    async (_name, storeOf) => {
      const store = storeOf();
      // '"a"' (3 bytes) + the value's quotes (2) + payload = 65 536, the default.
      const payload = 'x'.repeat(65_536 - 5);
      const id = generateSessionId();
      await store.create({ id, data: { a: payload }, expiresAt: Date.now() + TTL_MS });
      await expectSessionError(
        store.create({
          id: generateSessionId(),
          data: { a: `${payload}x` },
          expiresAt: Date.now() + TTL_MS,
        }),
        SessionValidationError,
        'PAYLOAD_TOO_LARGE',
      );
      await expectSessionError(
        store.patch(id, { set: { b: 1 } }),
        SessionValidationError,
        'PAYLOAD_TOO_LARGE',
      );
      await store.patch(id, { set: { a: payload.slice(1) } });
      expect(await store.patch(id, { set: { a: payload } })).toBeGreaterThan(1);
      await store.delete(id);
    },
  );
});

describe('version conflicts', () => {
  it.each(STORES)(
    '%s: a save at a stale version says both versions as numbers',
    async (_name, storeOf) => {
      const store = storeOf();
      const id = generateSessionId();
      await store.create({ id, data: { a: 1 }, expiresAt: Date.now() + TTL_MS });
      await store.save(id, { data: { a: 2 }, expiresAt: Date.now() + TTL_MS }, 1);
      const conflict = await expectSessionError(
        store.save(id, { data: { a: 3 }, expiresAt: Date.now() + TTL_MS }, 1),
        ConcurrentAccessError,
        'VERSION_CONFLICT',
      );
      expect(conflict.details).toEqual({ expectedVersion: 1, currentVersion: 2 });
      expect((await store.load(id))?.data).toEqual({ a: 2 });
      await store.delete(id);
    },
  );
});

describe('sweeping owned sessions', () => {
  // The sweep reads only the header (a long owner costs it a second read)
  // and reports the owner; it leaves the owner's index, which expires with
  // its sessions and whose first reader drops the swept member. Any valid
  // user id must come back whole, and its index must empty.
  it('the sweep reports any valid user id, long or multi-byte, and its index empties at its next read', async () => {
    const store = new RedisStore({ connection: { url: redis.url }, prefix: freshPrefix() });
    const keys = new RedisKeys(store.prefix, store.bucketCount);
    const userId = fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 256 }),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
      )
      .filter(isValidUserId);
    try {
      await fc.assert(
        fc.asyncProperty(userId, async (owner) => {
          const id = generateSessionId();
          await store.create({ id, userId: owner, data: { a: 1 }, expiresAt: Date.now() + TTL_MS });
          expect(await admin.zscore(keys.userIndex(owner), id)).not.toBeNull();
          const swept = await store.sweepBucket(keys.bucketOf(id), Date.now() + 2 * TTL_MS, 10);
          expect(swept.expired.map((expiry) => [expiry.id, expiry.userId])).toEqual([[id, owner]]);
          expect(await admin.pttl(keys.userIndex(owner))).toBeGreaterThan(0);
          expect(await store.listByUser(owner)).toEqual([]);
          expect(await admin.exists(keys.userIndex(owner))).toBe(0);
        }),
        {
          numRuns: 150,
          examples: [
            ['a'],
            ['ab'],
            ['abc'],
            ['\u00ff\u00fe'],
            ['👋'.repeat(128)],
            ['é'.repeat(256)],
          ],
        },
      );
    } finally {
      await store.close();
    }
  });
});

describe('header fields', () => {
  it('a frame carries no raw separator inside any value (the framing stays unambiguous)', async () => {
    await fc.assert(
      fc.asyncProperty(sessionData, async (data) => {
        const id = generateSessionId();
        await plain.create({ id, data, expiresAt: Date.now() + TTL_MS });
        const { header, entries } = splitFrame((await admin.get(sessionKeyOf(plain, id)))!);
        expect(header).toHaveLength(8);
        const pairs = frameEntryPairs(entries);
        expect(pairs.map(([k]) => JSON.parse(k) as string)).toEqual(Object.keys(data));
        for (const [k, v] of pairs) expect(`${k}${v}`).not.toContain(FIELD_SEPARATOR);
        await plain.delete(id);
      }),
      { numRuns: 100 },
    );
  });
});
