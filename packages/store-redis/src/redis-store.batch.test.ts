import { SessionError, generateSessionId } from '@session-cluster/core';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useStorePerTest } from './redis-harness.test-helpers.js';
import { MAX_BATCH_CALLS, RedisScripts, scriptCommandName } from './redis-scripts.js';

/*
 * Writes one event-loop turn gathers go to Redis as one batched script call
 * (RedisScripts, lua/batch.lua): each call keeps its own outcome, and no
 * later command of the store overtakes a queued write.
 */

const rig = useStorePerTest();
const HOUR = 3_600_000;

async function created(data: Record<string, number | string> = { n: 0 }) {
  return rig.store.create({ id: generateSessionId(), data, expiresAt: Date.now() + HOUR });
}

/** Script calls Redis has run: EVALSHA and EVAL (a connection's first call of a script loads it). */
async function scriptCalls(): Promise<number> {
  const stats = await rig.admin.info('commandstats');
  const calls = (command: string): number =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}

/**
 * What reaches the client socket's system calls, one entry per write: the
 * number of commands' chunks it carried (net.Socket hands a single chunk to
 * _write and several buffered ones, after uncork, to _writev).
 */
function socketWrites(client: Redis): number[] {
  const socket = client.stream;
  const writes: number[] = [];
  const writeOne = socket._write.bind(socket);
  const writeMany = socket._writev?.bind(socket);
  if (writeMany === undefined) throw new Error('net.Socket without _writev');
  socket._write = (chunk, encoding, callback) => {
    writes.push(1);
    writeOne(chunk, encoding, callback);
  };
  socket._writev = (chunks, callback) => {
    writes.push(chunks.length);
    writeMany(chunks, callback);
  };
  return writes;
}

/** The session key and expiry bucket of a stored session (one hash tag). */
async function keysOf(id: string): Promise<[string, string]> {
  const [sessionKey] = await rig.admin.keys(`${rig.prefix}:s:*:${id}`);
  const tag = sessionKey === undefined ? undefined : /\{[^}]*\}/.exec(sessionKey)?.[0];
  if (sessionKey === undefined || tag === undefined) throw new Error('no key for the session');
  return [sessionKey, `${rig.prefix}:exp:${tag}`];
}

describe('RedisStore: writes of one turn are batched', () => {
  it('sends a full batch of patches of one turn as one Redis call, each with its own outcome', async () => {
    const sessions = await Promise.all(
      Array.from({ length: MAX_BATCH_CALLS }, (_, i) => created({ n: i })),
    );
    // Load the batch script on the connection, so every later call is one EVALSHA.
    await Promise.all(sessions.slice(0, 2).map((s) => rig.store.patch(s.id, { set: { warm: 1 } })));
    const before = await scriptCalls();
    const versions = await Promise.all(
      sessions.map((s, i) => rig.store.patch(s.id, { set: { n: i * 10, [`k${i}`]: true } })),
    );
    const after = await scriptCalls();
    expect(after - before).toBe(1);
    for (const [i, s] of sessions.entries()) {
      const expected = i < 2 ? s.version + 2 : s.version + 1;
      expect(versions[i]).toBe(expected);
      const loaded = await rig.store.load(s.id);
      expect(loaded?.data).toMatchObject({ n: i * 10, [`k${i}`]: true });
      expect(loaded?.version).toBe(expected);
    }
  });

  it('bounds a batch: 150 writes of one turn go as calls of at most 32', async () => {
    const sessions = await Promise.all(Array.from({ length: 150 }, (_, i) => created({ n: i })));
    await Promise.all(sessions.slice(0, 2).map((s) => rig.store.patch(s.id, { set: { warm: 1 } })));
    const before = await scriptCalls();
    await Promise.all(sessions.map((s) => rig.store.patch(s.id, { set: { n: -1 } })));
    expect(MAX_BATCH_CALLS).toBe(32);
    expect((await scriptCalls()) - before).toBe(5);
    const loaded = await Promise.all(sessions.map((s) => rig.store.load(s.id)));
    expect(loaded.every((record) => record?.data['n'] === -1)).toBe(true);
  });

  it('reports each call of a batch on its own: missing, conflict and success side by side', async () => {
    const live = await created();
    const other = await created();
    const missing = generateSessionId();
    const results = await Promise.allSettled([
      rig.store.patch(live.id, { set: { n: 1 } }),
      rig.store.patch(missing, { set: { n: 1 } }),
      rig.store.patch(other.id, { set: { n: 1 } }, { expectedVersion: other.version + 5 }),
      rig.store.save(other.id, { data: { n: 2 }, expiresAt: Date.now() + HOUR }, 999),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: live.version + 1 });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'SESSION_NOT_FOUND' } });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'VERSION_CONFLICT' } });
    expect(results[3]).toMatchObject({ status: 'rejected', reason: { code: 'VERSION_CONFLICT' } });
    expect(await rig.store.load(other.id)).toMatchObject({
      version: other.version,
      data: { n: 0 },
    });
  });

  it('a call that raises in Redis fails alone; the others of its batch are written', async () => {
    const [first, broken, last] = await Promise.all([created(), created(), created()]);
    const sessions = [first, broken, last];
    const [brokenKey] = await keysOf(broken.id);
    // A hash where the frame should be: the script's GET raises WRONGTYPE.
    await rig.admin.del(brokenKey);
    await rig.admin.hset(brokenKey, 'x', '1');
    const results = await Promise.allSettled(
      sessions.map((s) => rig.store.patch(s.id, { set: { n: 7 } })),
    );
    expect(results[0]).toMatchObject({ status: 'fulfilled' });
    expect(results[2]).toMatchObject({ status: 'fulfilled' });
    expect(results[1]?.status).toBe('rejected');
    const reason: unknown = results[1]?.status === 'rejected' ? results[1].reason : undefined;
    expect(reason).toBeInstanceOf(SessionError);
    expect(`${(reason as Error).message} ${String((reason as Error).cause)}`).toMatch(/WRONGTYPE/);
    expect(await rig.admin.type(brokenKey)).toBe('hash');
    expect((await rig.store.load(first.id))?.data).toEqual({ n: 7 });
    expect((await rig.store.load(last.id))?.data).toEqual({ n: 7 });
  });

  it('a read or delete issued right after a patch, without waiting, sees the patch', async () => {
    const a = await created();
    const b = await created();
    const patched = rig.store.patch(a.id, { set: { n: 1 } });
    const loaded = rig.store.load(a.id);
    const patchedB = rig.store.patch(b.id, { set: { n: 2 } });
    const deleted = rig.store.delete(b.id);
    expect(await patched).toBe(a.version + 1);
    expect(await loaded).toMatchObject({ version: a.version + 1, data: { n: 1 } });
    expect(await patchedB).toBe(b.version + 1);
    await deleted;
    expect(await rig.store.load(b.id)).toBeNull();
  });

  it('keeps the order of writes to one session across scripts within a turn', async () => {
    const s = await created();
    const expiresAt = Date.now() + HOUR;
    const writes = [
      rig.store.patch(s.id, { set: { step: 1 } }),
      rig.store.save(s.id, { data: { step: 2 }, expiresAt }, s.version + 1),
      rig.store.patch(s.id, { set: { step: 3 } }),
      rig.store.touch(s.id, expiresAt + 1_000),
      rig.store.patch(s.id, { set: { last: true } }, { expectedVersion: s.version + 3 }),
    ];
    const outcomes = await Promise.all(writes);
    expect(outcomes.slice(0, 3)).toEqual([s.version + 1, s.version + 2, s.version + 3]);
    expect(await rig.store.load(s.id)).toMatchObject({
      version: s.version + 4,
      data: { step: 3, last: true },
      expiresAt: expiresAt + 1_000,
    });
  });
});

describe('RedisScripts', () => {
  it('sends a batch as soon as it is full, the rest at the end of the turn, in one socket write each', async () => {
    const client = new Redis(rig.server.port, '127.0.0.1', { commandTimeout: 2_000 });
    try {
      await client.ping();
      const scripts = new RedisScripts(client);
      const sessions = await Promise.all(
        Array.from({ length: MAX_BATCH_CALLS + 2 }, () => created()),
      );
      const keys = await Promise.all(sessions.map((s) => keysOf(s.id)));
      const now = Date.now();
      const syscalls = socketWrites(client);
      const sent: number[] = [];
      const replies = sessions.map((s, i) =>
        scripts.run(
          'patchSession',
          keys[i] ?? [],
          [s.id, now, '', '', 1_000_000, '2', '', 1, '"n"', String(i)],
          () => {
            sent.push(i);
            // A read sent from `sent` goes right behind its write.
            void client.get('unrelated');
          },
        ),
      );
      // The first MAX_BATCH_CALLS left when the batch filled, before this
      // turn (or tick) ends, in one write with the reads sent behind them;
      // the last two wait for the end of the turn.
      expect(sent).toEqual(Array.from({ length: MAX_BATCH_CALLS }, (_, i) => i));
      expect(syscalls).toEqual([1 + MAX_BATCH_CALLS]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(sent).toEqual(Array.from({ length: MAX_BATCH_CALLS + 2 }, (_, i) => i));
      expect(syscalls).toEqual([1 + MAX_BATCH_CALLS, 3]);
      for (const reply of await Promise.all(replies)) expect((reply as unknown[])[0]).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it("holds the client's writes of one tick for one socket write at its end", async () => {
    const client = new Redis(rig.server.port, '127.0.0.1', { commandTimeout: 2_000 });
    try {
      await client.ping();
      const scripts = new RedisScripts(client);
      const syscalls = socketWrites(client);
      scripts.holdWrites();
      const reads = Array.from({ length: 5 }, (_, i) => client.get(`held-${i}`));
      expect(syscalls).toEqual([]);
      await new Promise((resolve) => {
        process.nextTick(resolve);
      });
      expect(syscalls).toEqual([5]);
      expect(await Promise.all(reads)).toEqual([null, null, null, null, null]);
      // Not held: each command is a write of its own.
      await Promise.all([client.get('a'), client.get('b')]);
      expect(syscalls).toEqual([5, 1, 1]);
    } finally {
      client.disconnect();
    }
  });

  it('sends a call whose argument holds a NUL alone, unchanged, in its place among batched calls', async () => {
    const client = new Redis(rig.server.port, '127.0.0.1', { commandTimeout: 2_000 });
    try {
      const scripts = new RedisScripts(client);
      const sessions = await Promise.all([created(), created(), created(), created()]);
      const keys = await Promise.all(sessions.map((s) => keysOf(s.id)));
      const now = Date.now();
      // patchSession's ARGV: sid, now, expiresAt, physical, maxBytes, format,
      // expected version, n, then key/value pairs (lua/patchSession-2.lua).
      const patchArgs = (id: string, value: string) =>
        [id, now, '', '', 1_000_000, '2', '', 1, '"v"', value] as const;
      const run = () =>
        sessions.map((s, i) =>
          scripts.run(
            'patchSession',
            keys[i] ?? [],
            patchArgs(s.id, i === 1 ? '"a\u0000b"' : `"p${i}"`),
          ),
        );
      // Loads both scripts on the connection; then every call is one EVALSHA.
      await Promise.all(run());
      const before = await scriptCalls();
      const calls = await Promise.all(run());
      // The call before it alone (a batch of one), the NUL call alone, the
      // two after it in one batch.
      expect((await scriptCalls()) - before).toBe(3);
      for (const reply of calls) expect((reply as unknown[])[0]).toBe(1);
      expect(await rig.admin.get(keys[1]?.[0] ?? '')).toContain('"v"\u001f"a\u0000b"');
      expect(await rig.admin.get(keys[2]?.[0] ?? '')).toContain('"v"\u001f"p2"');
      expect(scriptCommandName('patchSession')).toMatch(/^sc_patchSession_/);
      // On one session, the NUL call keeps its place: the last write wins.
      const [key] = keys;
      const [session] = sessions;
      if (key === undefined) throw new Error('unreachable');
      const ordered = await Promise.all(
        ['"w1"', '"w\u00002"', '"w3"', '"w4"'].map((value) =>
          scripts.run('patchSession', key, patchArgs(session.id, value)),
        ),
      );
      const versions = ordered.map((reply) => (reply as unknown[])[1]);
      expect(versions).toEqual([...versions].sort((a, b) => Number(a) - Number(b)));
      expect(await rig.admin.get(key[0])).toContain('"v"\u001f"w4"');
    } finally {
      client.disconnect();
    }
  });
});
