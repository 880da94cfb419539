import { randomBytes } from 'node:crypto';
import {
  SessionCorruptedError,
  SessionEncryptionError,
  createSessionCodec,
  generateSessionId,
  isSessionError,
} from '@session-cluster/core';
import type {
  SessionData,
  SessionError,
  SessionErrorCode,
  SessionRecord,
} from '@session-cluster/core';
import {
  ENTRY_SEPARATOR,
  FIELD_SEPARATOR,
  RETIRED_FRAME,
  RedisStore,
} from '@session-cluster/store-redis';
import type { CorruptionInfo } from '@session-cluster/store-redis';
import { expectSessionError } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { startInspectedRedis } from './fixtures/inspected-redis.js';
import type { InspectedRedis } from './fixtures/inspected-redis.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix } from './fixtures/scenario-session.js';
import {
  HEADER_FIELD,
  frameEntryPairs,
  joinFrameWithValidCheck,
  sessionKeyOf,
  splitFrame,
} from './fixtures/redis-inspection.js';
import { jsonValue, sessionData, topLevelKey } from './fixtures/session-arbitraries.js';

/*
 * Damaged stored data, generated: whatever sits in a session's key — random
 * bytes, a truncated frame, a flipped byte, a bad header, tampered or moved
 * ciphertext — every operation answers with a typed SessionError (or treats
 * the session as gone, per the corruption policy), never crashes, never
 * writes into the damage, and never disturbs another session.
 */

const TTL_MS = 10 * 60_000;
const KEY = { id: 'k1', key: randomBytes(32) };
const sealedCodec = createSessionCodec({ encryption: { keys: [KEY] } });

let inspected: InspectedRedis;
let redis: RedisServerHandle;
let admin: Redis;
let prefix: string;
/** failFastOnCorruption: true (the default): corruption is an error, the data is kept. */
let strict: RedisStore;
/** failFastOnCorruption: false: a corrupted session is deleted and reads as missing. */
let lenient: RedisStore;
let sealedStrict: RedisStore;
let sealedLenient: RedisStore;
let bystander: SessionRecord;
let bystanderFrame: Buffer;
const reported: CorruptionInfo[] = [];

beforeAll(async () => {
  inspected = await startInspectedRedis();
  ({ server: redis, admin } = inspected);
  prefix = freshPrefix();
  const connection = { url: redis.url };
  strict = new RedisStore({ connection, prefix, onCorruption: (info) => reported.push(info) });
  lenient = new RedisStore({ connection, prefix, failFastOnCorruption: false });
  const codec = sealedCodec;
  sealedStrict = new RedisStore({ connection, prefix, codec });
  sealedLenient = new RedisStore({ connection, prefix, codec, failFastOnCorruption: false });
  bystander = await strict.create({
    id: generateSessionId(),
    userId: 'bystander',
    data: { fine: true, list: [1, 2, 3] },
    expiresAt: Date.now() + TTL_MS,
  });
  bystanderFrame = (await admin.getBuffer(sessionKeyOf(strict, bystander.id)))!;
});

afterEach(async () => {
  // Every property leaves the one session it did not touch exactly as it was.
  expect((await admin.getBuffer(sessionKeyOf(strict, bystander.id)))?.equals(bystanderFrame)).toBe(
    true,
  );
  expect(await strict.load(bystander.id)).toEqual(bystander);
});

afterAll(async () => {
  await Promise.all([strict, lenient, sealedStrict, sealedLenient].map((s) => s.close()));
  await inspected.close();
});

type Outcome =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'error'; readonly error: SessionError };

/** How a call ended; anything thrown that is not a SessionError fails the property. */
async function settle(promise: Promise<unknown>): Promise<Outcome> {
  try {
    return { kind: 'value', value: await promise };
  } catch (error) {
    if (!isSessionError(error)) throw new Error('a non-SessionError escaped', { cause: error });
    return { kind: 'error', error };
  }
}

function codeOf(outcome: Outcome): SessionErrorCode | 'ok' {
  return outcome.kind === 'error' ? outcome.error.code : 'ok';
}

let sessions = 0;

/** A live session owned by a user of its own, created through `store`. */
async function createSession(store: RedisStore, data: SessionData): Promise<SessionRecord> {
  sessions += 1;
  return store.create({
    id: generateSessionId(),
    userId: `victim-${sessions}`,
    data,
    expiresAt: Date.now() + TTL_MS,
  });
}

async function rawOf(id: string): Promise<Buffer | null> {
  return admin.getBuffer(sessionKeyOf(strict, id));
}

async function replaceRaw(id: string, raw: Buffer | string): Promise<void> {
  await admin.set(sessionKeyOf(strict, id), raw, 'KEEPTTL');
}

/**
 * The corruption policies on a frame both loaders call corrupted: the strict
 * store throws SESSION_CORRUPTED from load, patch and listByUser and keeps
 * every byte; the lenient one reads it as missing and deletes it.
 */
async function expectCorruptionPolicy(session: SessionRecord, damaged: Buffer): Promise<void> {
  const reportsBefore = reported.length;
  await expectSessionError(strict.load(session.id), SessionCorruptedError, 'SESSION_CORRUPTED');
  expect(reported.length).toBe(reportsBefore + 1);
  await expectSessionError(
    strict.patch(session.id, { set: { fresh: 1 } }),
    SessionCorruptedError,
    'SESSION_CORRUPTED',
  );
  await expectSessionError(
    strict.listByUser(session.userId!),
    SessionCorruptedError,
    'SESSION_CORRUPTED',
  );
  expect((await rawOf(session.id))?.equals(damaged)).toBe(true);

  const deletedBefore = lenient.corruptSessionsDeleted;
  expect(await lenient.load(session.id)).toBeNull();
  expect(lenient.corruptSessionsDeleted).toBe(deletedBefore + 1);
  // Deleted: only the tombstone of the retired id is left.
  expect((await rawOf(session.id))?.toString()).toBe(RETIRED_FRAME);
  expect(await lenient.listByUser(session.userId!)).toEqual([]);
}

const nonEmptyData = fc.dictionary(topLevelKey, jsonValue, {
  minKeys: 1,
  maxKeys: 6,
  noNullPrototype: true,
});

describe('damaged frames (generated)', () => {
  it('random bytes in a session key: typed errors or "gone", never a write into them', async () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.string({ maxLength: 80 }).map((text) => Buffer.from(text)),
      fc
        .tuple(
          fc.constantFrom('SC2\x1f', 'SC1\x1f', 'SC2', 'SC3\x1f', 'sc2\x1f', 'SC2\x1e', ''),
          fc.uint8Array({ maxLength: 200 }),
        )
        .map(([head, tail]) => Buffer.concat([Buffer.from(head), tail])),
    );
    await fc.assert(
      fc.asyncProperty(garbage, sessionData, async (raw, data) => {
        const session = await createSession(strict, data);
        await replaceRaw(session.id, raw);
        const magic = raw.subarray(0, 4);
        if (!magic.equals(Buffer.from('SC2\x1f')) && !magic.equals(Buffer.from('SC1\x1f'))) {
          // Not even the frame magic: corrupted, whichever field one looks at.
          await expectCorruptionPolicy(session, raw);
          return;
        }
        // Behind the magic anything goes: the store may read it as corrupted,
        // or as expired (a readable expiry in the past); never as live data.
        const load = await settle(strict.load(session.id));
        expect(['SESSION_CORRUPTED', 'ok']).toContain(codeOf(load));
        if (load.kind === 'value') expect(load.value).toBeNull();
        const patch = await settle(strict.patch(session.id, { set: { fresh: 1 } }));
        expect(['SESSION_CORRUPTED', 'SESSION_NOT_FOUND']).toContain(codeOf(patch));
        // touch runs patch's checks: corrupted, or (a readable past expiry) not live.
        const touch = await settle(strict.touch(session.id, Date.now() + TTL_MS));
        expect(['SESSION_CORRUPTED', 'ok']).toContain(codeOf(touch));
        if (touch.kind === 'value') expect(touch.value).toBe(false);
        expect((await rawOf(session.id))?.subarray(0, 4).equals(raw.subarray(0, 4))).toBe(true);
        await admin.del(sessionKeyOf(strict, session.id));
      }),
      { numRuns: 150 },
    );
  });

  it('a truncated frame is corrupted for every reader and writer', async () => {
    await fc.assert(
      fc.asyncProperty(
        nonEmptyData,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        async (data, at) => {
          const session = await createSession(strict, data);
          const frame = (await rawOf(session.id))!;
          const truncated = frame.subarray(0, Math.floor(at * frame.length));
          await replaceRaw(session.id, truncated);
          await expectCorruptionPolicy(session, truncated);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('one flipped byte anywhere in the data fails the checksum k', async () => {
    await fc.assert(
      fc.asyncProperty(
        nonEmptyData,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (data, at, mask) => {
          const session = await createSession(strict, data);
          const frame = (await rawOf(session.id))!;
          const entriesStart = frame.indexOf(ENTRY_SEPARATOR);
          expect(entriesStart).toBeGreaterThan(0);
          const offset = entriesStart + Math.floor(at * (frame.length - entriesStart));
          const flipped = Buffer.from(frame);
          flipped[offset] = flipped[offset]! ^ mask;
          await replaceRaw(session.id, flipped);
          await expectCorruptionPolicy(session, flipped);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('one flipped byte anywhere in the header but the expiry fails the checksum k', async () => {
    // k covers v, c, m, z and the owner u: a damaged owner must never read as
    // another user's session. Only e is outside (touch moves it alone).
    await fc.assert(
      fc.asyncProperty(
        sessionData,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (data, at, mask) => {
          const session = await createSession(strict, data);
          const frame = (await rawOf(session.id))!;
          const rs = frame.indexOf(ENTRY_SEPARATOR);
          const headerEnd = rs < 0 ? frame.length : rs;
          const us: number[] = [];
          for (let i = 0; i < headerEnd; i++) if (frame[i] === 0x1f) us.push(i);
          // The bytes of e: after the second separator, up to the third.
          const [eStart, eEnd] = [us[1]! + 1, us[2]!];
          const outside = headerEnd - (eEnd - eStart);
          let offset = Math.floor(at * outside);
          if (offset >= eStart) offset += eEnd - eStart;
          const flipped = Buffer.from(frame);
          flipped[offset] = flipped[offset]! ^ mask;
          await replaceRaw(session.id, flipped);
          await expectCorruptionPolicy(session, flipped);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('magic other than SC1 and SC2 is corrupted for every reader and writer', async () => {
    await fc.assert(
      fc.asyncProperty(
        nonEmptyData,
        fc
          .string({ maxLength: 6 })
          .filter(
            (magic) =>
              magic !== 'SC1' &&
              magic !== 'SC2' &&
              !magic.includes(ENTRY_SEPARATOR) &&
              !magic.includes(FIELD_SEPARATOR),
          ),
        async (data, magic) => {
          const session = await createSession(strict, data);
          const frame = (await admin.get(sessionKeyOf(strict, session.id)))!;
          const damaged = Buffer.from(magic + frame.slice(3));
          await replaceRaw(session.id, damaged);
          await expectCorruptionPolicy(session, damaged);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a damaged header number: the loader and the patch script agree on what the session is', async () => {
    // Replacement text from what damage plausibly leaves in a number field.
    const numberText = fc
      .oneof(
        fc.constantFrom('', ' ', 'inf', '-inf', 'nan', 'Infinity', '1.5', '0', '-1', '-0', '1e400'),
        fc.constantFrom('1e15', '1e16', '9007199254740992', '9007199254740993', '+3', '.5', '5.'),
        fc.integer().map(String),
        fc.double().map(String),
        fc.stringMatching(/^[0-9.e+ -]{1,8}$/),
      )
      // The last safe version: readable, but one more write overflows it (unreachable in practice).
      .filter((text) => text !== '9007199254740991');
    await fc.assert(
      fc.asyncProperty(
        nonEmptyData,
        fc.constantFrom('v', 'e', 'c', 'm'),
        numberText,
        async (data, field, text) => {
          const session = await createSession(strict, data);
          const { header, entries } = splitFrame(
            (await admin.get(sessionKeyOf(strict, session.id)))!,
          );
          header[HEADER_FIELD[field]] = text;
          const damaged = Buffer.from(header.join(FIELD_SEPARATOR) + entries);
          await replaceRaw(session.id, damaged);

          const load = await settle(strict.load(session.id));
          const patch = await settle(strict.patch(session.id, { set: { fresh: 1 } }));
          if (load.kind === 'error') {
            expect(load.error.code).toBe('SESSION_CORRUPTED');
            // Never merge into what the loader refuses: the new frame would launder it.
            expect(codeOf(patch)).toBe('SESSION_CORRUPTED');
            expect((await rawOf(session.id))?.equals(damaged)).toBe(true);
          } else if (load.value === null) {
            expect(codeOf(patch)).toBe('SESSION_NOT_FOUND');
            expect((await rawOf(session.id))?.equals(damaged)).toBe(true);
          } else {
            const record = load.value as SessionRecord;
            expect(patch).toEqual({ kind: 'value', value: record.version + 1 });
            expect((await strict.load(session.id))?.data).toEqual({ ...data, fresh: 1 });
          }
          await admin.del(sessionKeyOf(strict, session.id));
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** How an encrypted entry is damaged, and what a load must say about it. */
type Tamper = 'flip' | 'flip-unchecked' | 'key-id' | 'move-key' | 'move-session' | 'truncate';

describe('tampered encrypted values (generated)', () => {
  it('AES-GCM catches what the checksum cannot; damage stays confined to its entry', async () => {
    const twoOrMoreKeys = fc.dictionary(topLevelKey, jsonValue, {
      minKeys: 2,
      maxKeys: 5,
      noNullPrototype: true,
    });
    const unknownKeyId = fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/).filter((id) => id !== KEY.id);
    await fc.assert(
      fc.asyncProperty(
        twoOrMoreKeys,
        fc.constantFrom<Tamper>(
          'flip',
          'flip-unchecked',
          'key-id',
          'move-key',
          'move-session',
          'truncate',
        ),
        fc.nat(),
        fc.nat(),
        unknownKeyId,
        async (data, tamper, pick, position, keyId) => {
          const session = await createSession(sealedStrict, data);
          const other = await createSession(sealedStrict, data);
          const sessionKey = sessionKeyOf(strict, session.id);
          const { header, entries } = splitFrame((await admin.get(sessionKey))!);
          const pairs = frameEntryPairs(entries);
          const index = pick % pairs.length;
          const [jsonKey, value] = pairs[index]!;
          expect(value.startsWith(`e1:${KEY.id}:`)).toBe(true);
          const body = value.slice(`e1:${KEY.id}:`.length);
          const sealed = Buffer.from(body, 'base64url');

          let replacement: string;
          let expected: SessionErrorCode;
          switch (tamper) {
            case 'flip':
            case 'flip-unchecked': {
              const bit = position % (sealed.length * 8);
              sealed[bit >> 3] = sealed[bit >> 3]! ^ (1 << (bit & 7));
              replacement = `e1:${KEY.id}:${sealed.toString('base64url')}`;
              expected = tamper === 'flip' ? 'DECRYPTION_FAILED' : 'SESSION_CORRUPTED';
              break;
            }
            case 'key-id':
              replacement = `e1:${keyId}:${body}`;
              expected = 'UNKNOWN_KEY_ID';
              break;
            case 'move-key':
              // Another entry's value, sealed for another key (AAD = sid NUL key).
              replacement = pairs[(index + 1) % pairs.length]![1];
              expected = 'DECRYPTION_FAILED';
              break;
            case 'move-session': {
              const theirs = frameEntryPairs(
                splitFrame((await admin.get(sessionKeyOf(strict, other.id)))!).entries,
              );
              replacement = theirs.find(([k]) => k === jsonKey)![1];
              expected = 'DECRYPTION_FAILED';
              break;
            }
            case 'truncate': {
              const cut = body.slice(0, 1 + (position % (body.length - 1)));
              replacement = `e1:${KEY.id}:${cut}`;
              expected =
                Buffer.from(cut, 'base64url').length < 29
                  ? 'SESSION_CORRUPTED'
                  : 'DECRYPTION_FAILED';
              break;
            }
          }
          pairs[index] = [jsonKey, replacement];
          const tamperedEntries = pairs
            .map(([k, v]) => ENTRY_SEPARATOR + k + FIELD_SEPARATOR + v)
            .join('');
          const damaged =
            tamper === 'flip-unchecked'
              ? header.join(FIELD_SEPARATOR) + tamperedEntries
              : // Past the keyed frame check (its secrets are sent to Redis with
                // every write, so assume they leaked): AES-GCM still refuses.
                joinFrameWithValidCheck(session.id, header, tamperedEntries, sealedCodec.frameKeys);
          await admin.set(sessionKey, damaged, 'KEEPTTL');

          const errorClass =
            expected === 'SESSION_CORRUPTED' ? SessionCorruptedError : SessionEncryptionError;
          await expectSessionError(sealedStrict.load(session.id), errorClass, expected);
          if (expected !== 'SESSION_CORRUPTED') {
            // A key problem is not bit rot: even the lenient store keeps the session
            // (deleting here would wipe every session after a key ring mistake).
            await expectSessionError(sealedLenient.load(session.id), errorClass, expected);
            expect(await admin.get(sessionKey)).toBe(damaged);
            // The writer never decrypts: a patch that replaces the damaged key heals
            // the session, and every other entry was intact all along.
            const key = JSON.parse(jsonKey) as string;
            await sealedStrict.patch(session.id, { set: { [key]: 'healed' } });
            expect((await sealedStrict.load(session.id))?.data).toEqual({
              ...data,
              [key]: 'healed',
            });
          }
          expect(await sealedStrict.load(other.id)).toEqual(other);
          await admin.del(sessionKey, sessionKeyOf(strict, other.id));
        },
      ),
      { numRuns: 150 },
    );
  });
});
