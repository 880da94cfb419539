import { randomBytes } from 'node:crypto';
import { createSessionCodec, generateSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { useStorePerTest } from './redis-harness.test-helpers.js';
import { RedisStore } from './redis-store.js';

/*
 * RedisStore.merge (mergeSession-2.lua): per-key changes made while an
 * instance could not reach Redis, merged against their base version.
 */

const rig = useStorePerTest();
const HOUR = 3_600_000;

async function created(data: Record<string, number | string>) {
  return rig.store.create({ id: generateSessionId(), data, expiresAt: Date.now() + HOUR });
}

describe('RedisStore.merge', () => {
  it('applies every change when the stored version is still the base', async () => {
    const session = await created({ n: 1, keep: 'k', gone: 'x' });
    const result = await rig.store.merge(session.id, {
      baseVersion: session.version,
      expiresAt: session.expiresAt,
      changes: [
        { key: 'n', value: 5, base: 1, at: Date.now() },
        { key: 'gone', value: undefined, base: 'x', at: Date.now() },
        { key: 'added', value: 'a', base: undefined, at: Date.now() },
      ],
    });
    expect(result).toEqual({ kind: 'merged', version: 2, conflicts: [] });
    expect((await rig.store.load(session.id))?.data).toEqual({ n: 5, keep: 'k', added: 'a' });
  });

  it('applies keys Redis left alone and resolves a key changed on both sides by write time', async () => {
    const session = await created({ n: 1, other: 'o' });
    // Redis-side writes after the base version: n and other change.
    await rig.store.patch(session.id, { set: { n: 100, other: 'redis' } });
    const stored = await rig.store.load(session.id);
    const early = (stored?.updatedAt ?? 0) - 1_000;
    const late = (stored?.updatedAt ?? 0) + 1_000;
    const result = await rig.store.merge(session.id, {
      baseVersion: session.version,
      expiresAt: session.expiresAt,
      changes: [
        { key: 'n', value: 7, base: 1, at: late }, // both changed, ours later: ours wins
        { key: 'other', value: 'mine', base: 'o', at: early }, // both changed, Redis later: kept
        { key: 'fresh', value: 1, base: undefined, at: early }, // only ours changed it
      ],
    });
    expect(result).toMatchObject({ kind: 'merged', version: 3 });
    expect(result.kind === 'merged' ? [...result.conflicts].sort() : []).toEqual(['n', 'other']);
    expect((await rig.store.load(session.id))?.data).toEqual({ n: 7, other: 'redis', fresh: 1 });
  });

  it('a key both sides set to the same value is a conflict with nothing to write; both unsetting it is not', async () => {
    const session = await created({ counter: 1, gone: 'x', mine: 0 });
    // Another instance increments from the same copy and unsets the same key.
    await rig.store.patch(session.id, { set: { counter: 2 }, unset: ['gone'] });
    const result = await rig.store.merge(session.id, {
      baseVersion: session.version,
      expiresAt: session.expiresAt,
      changes: [
        { key: 'counter', value: 2, base: 1, at: Date.now() },
        { key: 'gone', value: undefined, base: 'x', at: Date.now() },
        { key: 'mine', value: 1, base: 0, at: Date.now() },
      ],
    });
    expect(result).toEqual({ kind: 'merged', version: 3, conflicts: ['counter'] });
    expect((await rig.store.load(session.id))?.data).toEqual({ counter: 2, mine: 1 });
  });

  it('extends the expiry without a new version when nothing else changed', async () => {
    const session = await created({ n: 1 });
    const later = session.expiresAt + HOUR;
    const result = await rig.store.merge(session.id, {
      baseVersion: 1,
      expiresAt: later,
      changes: [{ key: 'n', value: 1, base: 1, at: Date.now() }],
    });
    expect(result).toEqual({ kind: 'merged', version: 1, conflicts: [] });
    expect((await rig.store.load(session.id))?.expiresAt).toBe(later);
  });

  it('reports a missing session and a retired one (which stays deleted)', async () => {
    const change = { key: 'n', value: 2, base: 1, at: Date.now() };
    const merge = { baseVersion: 1, expiresAt: Date.now() + HOUR, changes: [change] };
    expect(await rig.store.merge(generateSessionId(), merge)).toEqual({ kind: 'missing' });
    const session = await created({ n: 1 });
    await rig.store.delete(session.id);
    expect(await rig.store.merge(session.id, merge)).toEqual({ kind: 'deleted' });
    expect(await rig.store.load(session.id)).toBeNull();
  });

  it('rejects a bad base version with a typed SessionError, writing nothing', async () => {
    const session = await created({ n: 1 });
    await expect(
      rig.store.merge(session.id, { baseVersion: -1, expiresAt: session.expiresAt, changes: [] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await rig.store.load(session.id))?.version).toBe(1);
  });
});

describe('RedisStore.merge without changes (a write-back check)', () => {
  it('leaves a live session as it is, moves a later expiry, and reports a missing one', async () => {
    const session = await created({ n: 1 });
    expect(
      await rig.store.merge(session.id, {
        baseVersion: 1,
        expiresAt: session.expiresAt - 1_000,
        changes: [],
      }),
    ).toEqual({ kind: 'merged', version: 1, conflicts: [] });
    expect((await rig.store.load(session.id))?.expiresAt).toBe(session.expiresAt);
    await rig.store.merge(session.id, {
      baseVersion: 1,
      expiresAt: session.expiresAt + HOUR,
      changes: [],
    });
    expect(await rig.store.load(session.id)).toMatchObject({
      version: 1,
      expiresAt: session.expiresAt + HOUR,
      data: { n: 1 },
    });
    expect(
      await rig.store.merge(generateSessionId(), {
        baseVersion: 3,
        expiresAt: session.expiresAt,
        changes: [],
      }),
    ).toEqual({ kind: 'missing' });
  });
});

describe('RedisStore.merge with encryption at rest (keyed frames, sealed values)', () => {
  it('merges into a keyed frame; once Redis moved on, every changed key is a conflict', async () => {
    const sealed = new RedisStore({
      connection: { port: rig.server.port },
      prefix: rig.prefix,
      codec: createSessionCodec({ encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } }),
    });
    try {
      const session = await sealed.create({
        id: generateSessionId(),
        data: { n: 1, other: 'o' },
        expiresAt: Date.now() + HOUR,
      });
      const at = Date.now() + 1_000;
      expect(
        await sealed.merge(session.id, {
          baseVersion: 1,
          expiresAt: session.expiresAt,
          changes: [{ key: 'n', value: 2, base: 1, at }],
        }),
      ).toEqual({ kind: 'merged', version: 2, conflicts: [] });
      // Stale base: sealed values cannot be compared, so the changed key conflicts (and wins, being later).
      const result = await sealed.merge(session.id, {
        baseVersion: 1,
        expiresAt: session.expiresAt,
        changes: [{ key: 'other', value: 'mine', base: 'o', at: at + 1 }],
      });
      expect(result).toEqual({ kind: 'merged', version: 3, conflicts: ['other'] });
      expect((await sealed.load(session.id))?.data).toEqual({ n: 2, other: 'mine' });
    } finally {
      await sealed.close();
    }
  });
});
