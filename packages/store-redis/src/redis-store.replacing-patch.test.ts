import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ConcurrentAccessError,
  SessionNotFoundError,
  createSessionCodec,
  generateSessionId,
} from '@session-cluster/core';
import type { SessionData, SessionRecord } from '@session-cluster/core';
import { expectSessionError, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteKeys, freshPrefix } from './redis-harness.test-helpers.js';
import { RedisKeys } from './redis-keys.js';
import { RedisStore } from './redis-store.js';
import type { RedisStoreOptions } from './redis-store-options.js';
import { REPLACING_PATCH_MAX_BYTES } from './replacing-patch.js';
import { FIELD_SEPARATOR, FRAME_MAGIC } from './session-frame.js';

/*
 * A patch on this instance's copy of the session sends the whole merged
 * frame, which Redis stores as sent while it still holds that copy, and
 * merges the keys otherwise (lua/patchSession-2.lua). What Redis was sent
 * is watched with MONITOR; what it holds is read by a store without the
 * cache, which checks every frame it loads.
 */

let server: RedisServerHandle;
let admin: Redis;
let prefix: string;
const stores: RedisStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, '127.0.0.1', { commandTimeout: 2_000 });
});

afterAll(async () => {
  await admin.quit();
  await server.stop();
});

beforeEach(() => {
  prefix = freshPrefix();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await deleteKeys(admin, prefix);
});

async function openStore(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix,
    cache: true,
    ...options,
  });
  stores.push(store);
  const deadline = Date.now() + 3_000;
  while (store.cacheStats() !== undefined && store.cacheStats()?.state !== 'ready') {
    if (Date.now() > deadline) throw new Error('cache not ready within 3 s');
    await delay(5);
  }
  return store;
}

async function created(store: RedisStore, data: SessionData = { n: 0 }): Promise<SessionRecord> {
  return store.create({ id: generateSessionId(), data, expiresAt: Date.now() + 60_000 });
}

/** MONITOR's rendering of an argument, back to its bytes (it writes non-printables as \xNN). */
function unescaped(arg: string): string {
  return arg.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * Run `write` and say whether a session frame went to Redis whole: a
 * script argument that is a frame's lead or a frame (a replacing patch's
 * ARGV[8] and ARGV[9]; a batch packs each call's arguments with NULs).
 */
async function sentWhole(write: () => Promise<unknown>): Promise<boolean> {
  const monitor = await admin.duplicate().monitor();
  const args: string[] = [];
  monitor.on('monitor', (_time: string, command: string[]) => {
    // EVAL the first time a script runs on this server, EVALSHA after.
    if (/^eval/i.test(command[0] ?? '')) args.push(...command.map(unescaped));
  });
  try {
    // MONITOR answers OK before it starts forwarding: a PING it shows marks the start.
    const seen = { ping: false };
    monitor.on('monitor', (_time: string, command: string[]) => {
      if (command[0]?.toLowerCase() === 'ping') seen.ping = true;
    });
    while (!seen.ping) {
      await admin.ping();
      await delay(2);
    }
    await write();
    // The write's own command is shown before its reply is sent; one more
    // round trip makes sure it was read.
    await admin.ping();
    await delay(20);
  } finally {
    monitor.disconnect();
  }
  // A script call's arguments, or a batch's per call, packed with NULs.
  const lead = FRAME_MAGIC + FIELD_SEPARATOR;
  return args.some((arg) => arg.split('\0').some((piece) => piece.startsWith(lead)));
}

describe('RedisStore patch on a copy this instance holds', () => {
  it('sends the whole frame, which Redis stores as sent: what a store without the cache loads', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await store.create({
      id: generateSessionId(),
      userId: 'owner-1',
      data: { keep: { deep: [1, 'ü', null] }, drop: true, n: 0 },
      expiresAt: Date.now() + 60_000,
    });
    // The copy set aside by create is the base: no read needed.
    let version = 0;
    expect(
      await sentWhole(async () => {
        version = await store.patch(session.id, {
          set: { n: 1, added: { at: '2026-12-06' }, '10': 'numeric key' },
          unset: ['drop'],
        });
      }),
    ).toBe(true);
    expect(version).toBe(2);
    const stored = await reader.load(session.id);
    expect(stored).toMatchObject({
      version: 2,
      userId: 'owner-1',
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
      data: {
        keep: { deep: [1, 'ü', null] },
        n: 1,
        added: { at: '2026-12-06' },
        '10': 'numeric key',
      },
    });
    // Kept keys in place, new ones appended, as the merge orders them.
    expect(Object.keys(stored?.data ?? {})).toEqual(['10', 'keep', 'n', 'added']);
    // Its own write is its next base: a second patch goes whole too.
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 2 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
  });

  it('a copy another instance wrote past costs only the bytes: Redis merges the keys, none lost', async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await created(a, { n: 0 });
    // a's own write leaves its base, which Redis does not track for a: b's
    // write below sends a no invalidation.
    expect(await sentWhole(() => a.patch(session.id, { set: { n: 1 } }))).toBe(true);
    await b.patch(session.id, { set: { b: 1 } });
    // a's copy is version 2, Redis holds 3: a's frame is refused, its key merged.
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 1 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({
      version: 4,
      data: { n: 1, b: 1, a: 1 },
    });
    // Refused once, the copy is no base any more: the next patch sends its keys alone.
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 2 } }))).toBe(false);
    expect(await a.load(session.id)).toMatchObject({ version: 5, data: { n: 1, b: 1, a: 2 } });
  });

  it('a copy Redis says another instance changed is no base: its keys go alone', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await created(a, { n: 0 });
    await a.load(session.id);
    await b.patch(session.id, { set: { b: 1 } });
    // The invalidation reaches a (its load tracked the key).
    const deadline = Date.now() + 3_000;
    while (a.loadCached(session.id) !== undefined) {
      if (Date.now() > deadline) throw new Error('no invalidation within 3 s');
      await delay(5);
    }
    expect(await sentWhole(() => a.patch(session.id, { set: { a: 1 } }))).toBe(false);
    expect(await b.load(session.id)).toMatchObject({ version: 3, data: { n: 0, b: 1, a: 1 } });
  });

  it("never undoes another instance's touch: the moved expiry refuses the frame", async () => {
    const a = await openStore();
    const b = await openStore();
    const reader = await openStore({ cache: false });
    const session = await created(a);
    const later = session.expiresAt + 60_000;
    expect(await b.touch(session.id, later)).toBe(true);
    await a.patch(session.id, { set: { n: 1 } });
    expect(await reader.load(session.id)).toMatchObject({
      version: 2,
      expiresAt: later,
      data: { n: 1 },
    });
  });

  it('moves the expiry and keeps the owner and its index entry, as the merge does', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await store.create({
      id: generateSessionId(),
      userId: 'owner-2',
      data: { n: 0 },
      expiresAt: Date.now() + 60_000,
    });
    const expiresAt = Date.now() + 600_000;
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 1 } }, { expiresAt }))).toBe(
      true,
    );
    expect(await reader.load(session.id)).toMatchObject({ expiresAt, userId: 'owner-2' });
    expect((await reader.listByUser('owner-2')).map((s) => s.id)).toEqual([session.id]);
    const key = new RedisKeys(prefix, store.bucketCount).session(session.id);
    // The physical TTL follows the new expiry (plus grace), as the merge's PXAT.
    expect(await admin.pexpiretime(key)).toBeGreaterThanOrEqual(expiresAt);
  });

  it('a retired id stays retired: the tombstone refuses the frame', async () => {
    const a = await openStore();
    const b = await openStore();
    const session = await created(a);
    expect(await b.delete(session.id)).toBe(true);
    await expectSessionError(
      a.patch(session.id, { set: { n: 1 } }),
      SessionNotFoundError,
      'SESSION_NOT_FOUND',
    );
  });

  it('an expected version other than the copy’s is a conflict, never a write', async () => {
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await created(store);
    const conflict = await expectSessionError(
      store.patch(session.id, { set: { n: 9 } }, { expectedVersion: 5 }),
      ConcurrentAccessError,
      'VERSION_CONFLICT',
    );
    expect(conflict.details).toMatchObject({ expectedVersion: 5, currentVersion: 1 });
    expect(await reader.load(session.id)).toMatchObject({ version: 1, data: { n: 0 } });
  });

  it('sends only the keys for a session above the size limit, for a store that encrypts, or one writing format 1', async () => {
    const big = await openStore();
    const large = await created(big, { blob: 'x'.repeat(REPLACING_PATCH_MAX_BYTES) });
    expect(await sentWhole(() => big.patch(large.id, { set: { n: 1 } }))).toBe(false);

    const sealed = createSessionCodec({
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    const encrypting = await openStore({ codec: sealed });
    const secret = await created(encrypting);
    expect(await sentWhole(() => encrypting.patch(secret.id, { set: { n: 1 } }))).toBe(false);
    expect(await encrypting.load(secret.id)).toMatchObject({ version: 2, data: { n: 1 } });

    const legacy = await openStore({ frameFormat: 1 });
    const old = await created(legacy);
    expect(await sentWhole(() => legacy.patch(old.id, { set: { n: 1 } }))).toBe(false);
    expect(await legacy.load(old.id)).toMatchObject({ version: 2, data: { n: 1 } });
  });

  it('a frame in the legacy format is upgraded by the merge, then patched whole', async () => {
    const legacy = await openStore({ frameFormat: 1, cache: false });
    const store = await openStore();
    const reader = await openStore({ cache: false });
    const session = await created(legacy, { n: 0 });
    await store.load(session.id);
    // store's copy is live, but Redis holds SC1: the lead does not match.
    await store.patch(session.id, { set: { n: 1 } });
    const key = new RedisKeys(prefix, store.bucketCount).session(session.id);
    expect((await admin.get(key))?.startsWith(FRAME_MAGIC)).toBe(true);
    expect(await sentWhole(() => store.patch(session.id, { set: { n: 2 } }))).toBe(true);
    expect(await reader.load(session.id)).toMatchObject({ version: 3, data: { n: 2 } });
  });
});
