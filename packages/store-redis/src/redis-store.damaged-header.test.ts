import {
  ConcurrentAccessError,
  SessionCorruptedError,
  generateSessionId,
} from '@session-cluster/core';
import { expectSessionError, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, freshPrefix } from './redis-harness.test-helpers.js';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';
import { ENTRY_SEPARATOR, FIELD_SEPARATOR, RETIRED_FRAME } from './session-frame.js';

/*
 * Regression: patchSession-2.lua used to merge into frames whose header the
 * loader refuses (a version of 0, -0, 1.5, inf or nan; a non-finite e; an
 * unreadable c or m), laundering them into readable frames or writing and
 * then failing with INTERNAL; and the loader read a blank number as 0 where
 * the scripts read it as unreadable. Found by test/stored-data.property.test.ts.
 */

const HEADER_INDEX = { v: 1, e: 2, c: 3, m: 4 } as const;

let server: RedisServerHandle;
let admin: Redis;
let store: RedisStore;
const prefix = freshPrefix();

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, '127.0.0.1', { commandTimeout: 2_000 });
  store = new RedisStore({ connection: { url: server.url }, prefix });
});

afterAll(async () => {
  await store.close();
  await deleteKeys(admin, prefix);
  await admin.quit();
  await server.stop();
});

/**
 * A fresh session `{ a: 1 }` whose stored frame `damage` rewrites behind the
 * store's back (TTL kept); its key layout, key and the damaged frame.
 */
async function damagedSession(damage: (frame: string) => string) {
  const session = await store.create({
    id: generateSessionId(),
    data: { a: 1 },
    expiresAt: Date.now() + 60_000,
  });
  const keys = new RedisKeys(prefix, store.bucketCount);
  const key = keys.session(session.id);
  const frame = (await admin.get(key))!;
  const damaged = damage(frame);
  expect(damaged).not.toBe(frame);
  await admin.set(key, damaged, 'KEEPTTL');
  return { session, keys, key, damaged };
}

/** `frame` with header field `field` replaced by `text`. */
function withHeaderField(frame: string, field: keyof typeof HEADER_INDEX, text: string): string {
  const rs = frame.indexOf(ENTRY_SEPARATOR);
  const header = frame.slice(0, rs).split(FIELD_SEPARATOR);
  header[HEADER_INDEX[field]] = text;
  return header.join(FIELD_SEPARATOR) + frame.slice(rs);
}

describe('RedisStore with a damaged header number', () => {
  const damage: readonly (readonly [keyof typeof HEADER_INDEX, string])[] = [
    ['v', '0'],
    ['v', '-0'],
    ['v', '-1'],
    ['v', '1.5'],
    ['v', 'inf'],
    ['v', 'nan'],
    ['v', '1e400'],
    ['v', '9007199254740993'],
    ['e', 'inf'],
    ['e', 'nan'],
    ['e', ' '],
    ['c', ''],
    ['c', 'nan'],
    ['m', ' '],
    ['m', 'Infinity'],
  ];

  it.each(damage)(
    '%s = %j: load, patch and touch say SESSION_CORRUPTED, create finds the id taken; none writes',
    async (field, text) => {
      const { session, key, damaged } = await damagedSession((frame) =>
        withHeaderField(frame, field, text),
      );

      await expectSessionError(store.load(session.id), SessionCorruptedError, 'SESSION_CORRUPTED');
      await expectSessionError(
        store.patch(session.id, { set: { b: 2 } }),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      await expectSessionError(
        store.touch(session.id, Date.now() + 120_000),
        SessionCorruptedError,
        'SESSION_CORRUPTED',
      );
      // A damaged expiry ('nan' included) counts as live: never overwritten.
      await expectSessionError(
        store.create({ id: session.id, data: { b: 1 }, expiresAt: Date.now() + 60_000 }),
        ConcurrentAccessError,
        'SESSION_ALREADY_EXISTS',
      );
      expect(await admin.get(key)).toBe(damaged);
    },
  );
});

describe('RedisStore.delete of a session whose header is unreadable', () => {
  it.each([
    ['a wrong magic', (frame: string) => `XX9${frame.slice(3)}`],
    ['an unreadable expiry', (frame: string) => withHeaderField(frame, 'e', 'nan')],
    // The delete script reads only the header (GETRANGE), which answers ''
    // for a missing key and an empty value alike: an empty value must still
    // count as a session to remove.
    ['an empty value', () => ''],
    [
      'a ninth header field',
      (frame: string) => frame.replace(ENTRY_SEPARATOR, `${FIELD_SEPARATOR}x${ENTRY_SEPARATOR}`),
    ],
  ])('with %s: removes it and its index entry (a logout must work)', async (_label, damage) => {
    const { session, keys, key } = await damagedSession(damage);
    const index = keys.expiryBucket(keys.bucketOf(session.id));
    await expectSessionError(store.load(session.id), SessionCorruptedError, 'SESSION_CORRUPTED');

    expect(await store.delete(session.id)).toBe(true);
    // Only the tombstone of the retired id is left.
    expect(await admin.get(key)).toBe(RETIRED_FRAME);
    expect(await admin.zscore(index, session.id)).toBeNull();
  });
});

describe('RedisStore.sweepBucket of a session whose expiry is unreadable', () => {
  // 'nan' once made every sweep of its bucket fail (the script reported the
  // text as the expiry), and 'inf' kept the session alive forever.
  it.each(['nan', 'inf', ' '])(
    'e = %j: removes it and reports it with the index score',
    async (text) => {
      const { session, keys, key } = await damagedSession((frame) =>
        withHeaderField(frame, 'e', text),
      );
      const bucket = keys.bucketOf(session.id);

      const swept = await store.sweepBucket(bucket, session.expiresAt + 1, 1_000);
      expect(swept.expired.find((expiry) => expiry.id === session.id)?.expiresAt).toBe(
        session.expiresAt,
      );
      expect(await admin.exists(key)).toBe(0);
      expect(await admin.zscore(keys.expiryBucket(bucket), session.id)).toBeNull();
    },
  );
});

describe('RedisStore.touch of a session whose data fails its check', () => {
  it('says SESSION_CORRUPTED (it used to report it live) and writes nothing', async () => {
    const { session, key, damaged } = await damagedSession((frame) =>
      frame.replace(`"a"${FIELD_SEPARATOR}1`, `"a"${FIELD_SEPARATOR}2`),
    );

    await expectSessionError(
      store.touch(session.id, Date.now() + 120_000),
      SessionCorruptedError,
      'SESSION_CORRUPTED',
    );
    expect(await admin.get(key)).toBe(damaged);
  });
});
