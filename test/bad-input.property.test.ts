import {
  SessionSerializationError,
  SessionValidationError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import type {
  SessionData,
  SessionError,
  SessionErrorCode,
  SessionRecord,
} from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { RedisStore } from '@session-cluster/store-redis';
import { expectSessionError } from '@session-cluster/testkit';
import type { RedisServerHandle, SessionErrorClass } from '@session-cluster/testkit';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type { SessionCluster } from 'session-cluster';
import { startInspectedRedis, testCluster } from './fixtures/inspected-redis.js';
import type { InspectedRedis } from './fixtures/inspected-redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix } from './fixtures/scenario-session.js';
import { commandsExecuted, scanKeys, sessionKeyOf } from './fixtures/redis-inspection.js';
import {
  invalidSessionId,
  loneSurrogate,
  nestedKey,
  sessionData,
  topLevelKey,
} from './fixtures/session-arbitraries.js';

/*
 * Bad input, generated: every store and manager operation must refuse it
 * with a typed SessionError before anything reaches Redis, and leave every
 * stored byte as it was. The contract suite checks a fixed list of such
 * inputs; these properties throw thousands of generated ones at the real
 * RedisStore, the wired SessionManager and the MemoryStore.
 */

/** Small, so over-limit payloads stay cheap to build. */
const MAX_BYTES = 4_096;
const TTL_MS = 10 * 60_000;

let inspected: InspectedRedis;
let redis: RedisServerHandle;
let admin: Redis;
let store: RedisStore;
let storePrefix: string;
let memory: MemoryStore;
let cluster: SessionCluster;
let clusterPrefix: string;
/** One live session per backend that no property may change. */
let stored: SessionRecord;
let managed: SessionRecord;
let remembered: SessionRecord;

beforeAll(async () => {
  inspected = await startInspectedRedis();
  ({ server: redis, admin } = inspected);
  storePrefix = freshPrefix();
  clusterPrefix = freshPrefix();
  store = new RedisStore({
    connection: { url: redis.url },
    prefix: storePrefix,
    codec: createSessionCodec({ maxBytes: MAX_BYTES }),
  });
  memory = new MemoryStore({
    codec: createSessionCodec({ maxBytes: MAX_BYTES }),
    cleanupIntervalMs: 0,
  });
  cluster = testCluster(redis.url, clusterPrefix, { codec: { maxBytes: MAX_BYTES } });
  const input = {
    userId: 'owner',
    data: { cart: ['book', 2], profile: { name: 'Zoë', tags: ['a', 'b'] } },
  };
  stored = await store.create({ id: generateSessionId(), ...input, expiresAt: later() });
  remembered = await memory.create({ id: generateSessionId(), ...input, expiresAt: later() });
  managed = await cluster.manager.create(input);
  // The cluster's instance cache turns tracking on in the background
  // (CLIENT ID, SUBSCRIBE, CLIENT TRACKING): done before any test counts
  // the commands Redis served.
  for (let waited = 0; cluster.redis.cacheStats()?.state !== 'ready'; waited += 10) {
    if (waited > 5_000) throw new Error('the test cluster cache did not get ready');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
});

afterAll(async () => {
  await cluster.close();
  await store.close();
  await memory.close();
  await inspected.close();
});

function later(): number {
  return Date.now() + TTL_MS;
}

type Attempt = readonly [operation: string, run: () => Promise<unknown>];

/** Await a rejection of class `errorClass` with `code`, naming the operation when it is not. */
async function expectRejected<E extends SessionError>(
  [operation, run]: Attempt,
  errorClass: SessionErrorClass<E>,
  code: SessionErrorCode,
): Promise<E> {
  return expectSessionError(run(), errorClass, code).catch((cause: unknown) => {
    throw new Error(`${operation}: expected ${code}`, { cause });
  });
}

/** Every RedisStore / MemoryStore operation that takes a session id, called with `id`. */
function storeAttempts(target: RedisStore | MemoryStore, id: string, owner: string): Attempt[] {
  return [
    ['load', () => target.load(id)],
    ['create', () => target.create({ id, userId: owner, data: { a: 1 }, expiresAt: later() })],
    ['save', () => target.save(id, { data: { a: 2 }, expiresAt: later() }, 1)],
    ['patch', () => target.patch(id, { set: { a: 2 } })],
    ['patch with expiry', () => target.patch(id, { unset: ['a'] }, { expiresAt: later() })],
    ['touch', () => target.touch(id, later())],
    ['delete', () => target.delete(id)],
    ['deleteByUser except', () => target.deleteByUser(owner, { except: [id] })],
  ];
}

/** Every SessionManager operation that takes a session id, called with `id`. */
function managerAttempts(id: string): Attempt[] {
  const manager = cluster.manager;
  return [
    ['get', () => manager.get(id)],
    ['update', () => manager.update(id, (data) => ({ ...data, a: 1 }))],
    ['patch', () => manager.patch(id, { set: { a: 2 } })],
    ['touch', () => manager.touch(id)],
    ['regenerate', () => manager.regenerate(id, { userId: 'owner' })],
    ['delete', () => manager.delete(id)],
    ['withLock', () => manager.withLock(id, () => Promise.resolve(1))],
    ['deleteByUser except', () => manager.deleteByUser('owner', { except: [id] })],
  ];
}

async function rawFrame(target: RedisStore, id: string): Promise<Buffer | null> {
  return admin.getBuffer(sessionKeyOf(target, id));
}

describe('invalid session ids (generated)', () => {
  it('every RedisStore operation throws INVALID_SESSION_ID and sends Redis no command at all', async () => {
    const frame = await rawFrame(store, stored.id);
    await fc.assert(
      fc.asyncProperty(invalidSessionId, async (id) => {
        const keysBefore = (await scanKeys(admin, storePrefix)).length;
        const commandsBefore = await commandsExecuted(admin);
        for (const attempt of storeAttempts(store, id, 'owner')) {
          const error = await expectRejected(attempt, SessionValidationError, 'INVALID_SESSION_ID');
          expect(error.retryable).toBe(false);
          // The message and its JSON never echo the (possibly hostile) input.
          if (id.length >= 16) {
            expect(`${error.message} ${JSON.stringify(error.toJSON())}`).not.toContain(id);
          }
        }
        expect(await commandsExecuted(admin)).toBe(commandsBefore);
        expect((await scanKeys(admin, storePrefix)).length).toBe(keysBefore);
      }),
      { numRuns: 300 },
    );
    expect((await rawFrame(store, stored.id))?.equals(frame!)).toBe(true);
    expect(await store.load(stored.id)).toEqual(stored);
  });

  it('every SessionManager and MemoryStore operation throws INVALID_SESSION_ID and writes nothing', async () => {
    const frame = await rawFrame(cluster.redis, managed.id);
    const memoryBefore = memory.stats();
    await fc.assert(
      fc.asyncProperty(invalidSessionId, async (id) => {
        const keysBefore = await scanKeys(admin, clusterPrefix);
        for (const attempt of [...managerAttempts(id), ...storeAttempts(memory, id, 'owner')]) {
          await expectRejected(attempt, SessionValidationError, 'INVALID_SESSION_ID');
        }
        // Lock keys included: not even a lock was taken.
        expect((await scanKeys(admin, clusterPrefix)).sort()).toEqual(keysBefore.sort());
      }),
      { numRuns: 200 },
    );
    expect((await rawFrame(cluster.redis, managed.id))?.equals(frame!)).toBe(true);
    expect(await cluster.manager.get(managed.id)).toMatchObject({
      data: managed.data,
      version: managed.version,
    });
    expect(memory.stats()).toEqual(memoryBefore);
    expect(await memory.load(remembered.id)).toEqual(remembered);
  });
});

/** What a poison is expected to be refused with. */
interface Expected {
  readonly errorClass: SessionErrorClass;
  readonly code: SessionErrorCode;
}

const SERIALIZATION: Expected = {
  errorClass: SessionSerializationError,
  code: 'SERIALIZATION_FAILED',
};
const INVALID: Expected = { errorClass: SessionValidationError, code: 'INVALID_ARGUMENT' };
const TOO_LARGE: Expected = { errorClass: SessionValidationError, code: 'PAYLOAD_TOO_LARGE' };

class Point {
  public constructor(
    public readonly x = 1,
    public readonly y = 2,
  ) {}
}

function cycle(): unknown {
  const node: Record<string, unknown> = { name: 'loop', children: [] };
  (node['children'] as unknown[]).push({ parent: node });
  return node;
}

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { down: value };
  return value;
}

/**
 * Values no store may accept anywhere in session data, built fresh per use
 * (a cycle or a Map must not be shared between runs).
 */
const POISONS: readonly (readonly [label: string, make: () => unknown, expected: Expected])[] = [
  ['BigInt', () => 10n, SERIALIZATION],
  ['function', () => () => 1, SERIALIZATION],
  ['symbol', () => Symbol('s'), SERIALIZATION],
  ['undefined', () => undefined, SERIALIZATION],
  ['NaN', () => Number.NaN, SERIALIZATION],
  ['Infinity', () => Number.POSITIVE_INFINITY, SERIALIZATION],
  ['-Infinity', () => Number.NEGATIVE_INFINITY, SERIALIZATION],
  ['cycle', cycle, SERIALIZATION],
  ['Date', () => new Date(0), SERIALIZATION],
  ['Map', () => new Map([['a', 1]]), SERIALIZATION],
  ['Set', () => new Set([1]), SERIALIZATION],
  ['Uint8Array', () => new Uint8Array(2), SERIALIZATION],
  ['class instance', () => new Point(), SERIALIZATION],
  ['RegExp', () => /x/, SERIALIZATION],
  ['symbol-keyed object', () => ({ [Symbol('k')]: 1 }), SERIALIZATION],
  ['sparse array', () => [1, , 3], SERIALIZATION], // eslint-disable-line no-sparse-arrays -- the hole is the point
  ['object with toJSON', () => ({ toJSON: () => 'x' }), SERIALIZATION],
  ['__proto__ key', () => JSON.parse('{"__proto__":{"polluted":true}}') as unknown, INVALID],
  ['null-prototype __proto__ key', () => nullProtoWith('__proto__'), INVALID],
  ['constructor key', () => ({ constructor: { prototype: { polluted: true } } }), INVALID],
  ['prototype key', () => ({ prototype: { polluted: true } }), INVALID],
  ['deep nesting', () => nested(40), INVALID],
  ['over-limit string', () => 'x'.repeat(MAX_BYTES + 1), TOO_LARGE],
];

function nullProtoWith(key: string): unknown {
  const value = Object.create(null) as Record<string, unknown>;
  value[key] = { polluted: true };
  return value;
}

/** Wrap `inner` in objects and arrays along `path` (a number is an array index). */
function wrap(path: readonly (string | number)[], inner: unknown): unknown {
  let value = inner;
  for (const segment of [...path].reverse()) {
    if (typeof segment === 'number') {
      const array: unknown[] = Array.from({ length: segment }, () => null);
      array.push(value);
      value = array;
    } else {
      value = { [segment]: value };
    }
  }
  return value;
}

/** Valid data with one poison planted at a random depth under a random key. */
const poisonedData = fc
  .record({
    base: sessionData,
    key: topLevelKey,
    path: fc.array(fc.oneof(nestedKey, fc.nat({ max: 3 })), { maxLength: 4 }),
    poison: fc.constantFrom(...POISONS),
  })
  .map(({ base, key, path, poison: [label, make, expected] }) => {
    const data: Record<string, unknown> = { ...base };
    data[key] = wrap(path, make());
    return { data: data as SessionData, label, expected };
  });

/** Top-level keys every store refuses (nested keys are free; top-level ones are storage fields). */
const invalidTopLevelKey = fc.oneof(
  fc.constant(''),
  fc.constantFrom('__proto__', 'constructor', 'prototype'),
  fc.string({ minLength: 257, maxLength: 300 }),
  fc
    .tuple(
      fc.string({ maxLength: 4 }),
      fc.integer({ min: 0, max: 0x1f }),
      fc.string({ maxLength: 4 }),
    )
    .map(([head, code, tail]) => head + String.fromCharCode(code) + tail),
  fc.tuple(fc.string({ maxLength: 4 }), loneSurrogate).map(([head, lone]) => head + lone),
  fc.constant('\x7f'),
);

describe('invalid user ids (generated)', () => {
  it('are refused with INVALID_ARGUMENT before any command, by the stores and the manager', async () => {
    const invalidUserId = fc.oneof(
      fc.constant(''),
      fc.string({ minLength: 257, maxLength: 300 }),
      fc
        .tuple(
          fc.string({ maxLength: 6 }),
          fc.constantFrom('\n', '\r', '\0', '\x1f', '\x7f', '\x85', '\u2028'),
        )
        .map(([head, bad]) => head + bad),
      fc.tuple(fc.string({ maxLength: 6 }), loneSurrogate).map(([head, lone]) => head + lone),
    );
    await fc.assert(
      fc.asyncProperty(invalidUserId, async (userId) => {
        const commandsBefore = await commandsExecuted(admin);
        for (const target of [store, memory]) {
          const existing = target === store ? stored : remembered;
          const attempts: Attempt[] = [
            [
              'create',
              () =>
                target.create({ id: generateSessionId(), userId, data: {}, expiresAt: later() }),
            ],
            [
              'save',
              () =>
                target.save(
                  existing.id,
                  { userId, data: {}, expiresAt: later() },
                  existing.version,
                ),
            ],
            ['listByUser', () => target.listByUser(userId)],
            ['deleteByUser', () => target.deleteByUser(userId)],
          ];
          for (const attempt of attempts) {
            await expectRejected(attempt, SessionValidationError, 'INVALID_ARGUMENT');
          }
        }
        expect(await commandsExecuted(admin)).toBe(commandsBefore);
        const viaManager: Attempt[] = [
          ['manager.create', () => cluster.manager.create({ userId, data: {} })],
          ['manager.regenerate', () => cluster.manager.regenerate(managed.id, { userId })],
          ['manager.listByUser', () => cluster.manager.listByUser(userId)],
          ['manager.deleteByUser', () => cluster.manager.deleteByUser(userId)],
        ];
        for (const attempt of viaManager) {
          await expectRejected(attempt, SessionValidationError, 'INVALID_ARGUMENT');
        }
      }),
      { numRuns: 100 },
    );
    expect(await store.load(stored.id)).toEqual(stored);
    expect(await memory.load(remembered.id)).toEqual(remembered);
  });
});

describe('payloads no store may accept (generated)', () => {
  it('create, save, patch and update refuse them with the typed error; stored bytes stay identical', async () => {
    const frame = await rawFrame(store, stored.id);
    const managedFrame = await rawFrame(cluster.redis, managed.id);
    await fc.assert(
      fc.asyncProperty(poisonedData, async ({ data, expected }) => {
        const keysBefore = await scanKeys(admin, storePrefix);
        const clusterKeysBefore = await scanKeys(admin, clusterPrefix);
        const commandsBefore = await commandsExecuted(admin);
        const direct: Attempt[] = [];
        for (const target of [store, memory]) {
          const existing = target === store ? stored : remembered;
          direct.push(
            ['create', () => target.create({ id: generateSessionId(), data, expiresAt: later() })],
            [
              'save',
              () => target.save(existing.id, { data, expiresAt: later() }, existing.version),
            ],
            ['patch', () => target.patch(existing.id, { set: data })],
          );
        }
        for (const attempt of direct) {
          await expectRejected(attempt, expected.errorClass, expected.code);
        }
        // Refused by the codec before the first round trip.
        expect(await commandsExecuted(admin)).toBe(commandsBefore);

        const viaManager: Attempt[] = [
          ['manager.create', () => cluster.manager.create({ data })],
          ['manager.patch', () => cluster.manager.patch(managed.id, { set: data })],
          ['manager.update', () => cluster.manager.update(managed.id, () => data)],
        ];
        for (const attempt of viaManager) {
          await expectRejected(attempt, expected.errorClass, expected.code);
        }
        expect((await scanKeys(admin, storePrefix)).sort()).toEqual(keysBefore.sort());
        expect((await scanKeys(admin, clusterPrefix)).sort()).toEqual(clusterKeysBefore.sort());
      }),
      { numRuns: 150 },
    );
    expect((await rawFrame(store, stored.id))?.equals(frame!)).toBe(true);
    expect((await rawFrame(cluster.redis, managed.id))?.equals(managedFrame!)).toBe(true);
    expect(await memory.load(remembered.id)).toEqual(remembered);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('top-level keys that cannot be storage fields are refused in data, patch.set and patch.unset', async () => {
    const frame = await rawFrame(store, stored.id);
    await fc.assert(
      fc.asyncProperty(invalidTopLevelKey, sessionData, async (key, base) => {
        const data = { ...base };
        Object.defineProperty(data, key, { value: 1, enumerable: true, writable: true });
        const commandsBefore = await commandsExecuted(admin);
        for (const target of [store, memory]) {
          const existing = target === store ? stored : remembered;
          const attempts: Attempt[] = [
            ['create', () => target.create({ id: generateSessionId(), data, expiresAt: later() })],
            [
              'save',
              () => target.save(existing.id, { data, expiresAt: later() }, existing.version),
            ],
            ['patch set', () => target.patch(existing.id, { set: data })],
            ['patch unset', () => target.patch(existing.id, { unset: [key] })],
          ];
          for (const attempt of attempts) {
            await expectRejected(attempt, SessionValidationError, 'INVALID_ARGUMENT');
          }
        }
        expect(await commandsExecuted(admin)).toBe(commandsBefore);
        await expectRejected(
          ['manager.patch unset', () => cluster.manager.patch(managed.id, { unset: [key] })],
          SessionValidationError,
          'INVALID_ARGUMENT',
        );
      }),
      { numRuns: 150 },
    );
    expect((await rawFrame(store, stored.id))?.equals(frame!)).toBe(true);
    expect(await memory.load(remembered.id)).toEqual(remembered);
  });

  it('a patch is refused with PAYLOAD_TOO_LARGE exactly when the merged session would exceed maxBytes', async () => {
    // Redis frames count Σ UTF-8 bytes of JSON key + JSON value per entry.
    const entryBytes = (key: string, value: string): number =>
      Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.nat({ max: 1_600 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.tuple(fc.constantFrom('a', 'b', 'c', 'e'), fc.nat({ max: 2_400 })),
        async (initial, [patchKey, patchLength]) => {
          const data: Record<string, string> = {};
          for (const [key, length] of initial) data[key] = 'x'.repeat(length);
          const initialBytes = Object.entries(data).reduce((n, [k, v]) => n + entryBytes(k, v), 0);
          fc.pre(initialBytes <= MAX_BYTES);
          const session = await store.create({ id: generateSessionId(), data, expiresAt: later() });
          const before = await rawFrame(store, session.id);
          const merged = { ...data, [patchKey]: 'y'.repeat(patchLength) };
          const mergedBytes = Object.entries(merged).reduce((n, [k, v]) => n + entryBytes(k, v), 0);
          const patch = store.patch(session.id, { set: { [patchKey]: merged[patchKey]! } });
          if (mergedBytes <= MAX_BYTES) {
            expect(await patch).toBe(2);
            expect((await store.load(session.id))?.data).toEqual(merged);
          } else {
            const error = await expectSessionError(
              patch,
              SessionValidationError,
              'PAYLOAD_TOO_LARGE',
            );
            expect(error.details).toMatchObject({ bytes: mergedBytes, maxBytes: MAX_BYTES });
            expect((await rawFrame(store, session.id))?.equals(before!)).toBe(true);
          }
          await store.delete(session.id);
        },
      ),
      { numRuns: 150 },
    );
  });
});
