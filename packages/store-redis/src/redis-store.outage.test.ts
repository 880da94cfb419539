import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { StorageUnavailableError, generateSessionId, isSessionError } from '@session-cluster/core';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { freshPrefix } from './redis-harness.test-helpers.js';
import { RedisStore } from './redis-store.js';

const COMMAND_TIMEOUT_MS = 400;
const MARGIN_MS = 300;
const TTL_MS = 60_000;

const servers: RedisServerHandle[] = [];
const stores: RedisStore[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function start(args: readonly string[] = []): Promise<RedisServerHandle> {
  const server = await startRedisServer({ args });
  servers.push(server);
  return server;
}

function open(server: RedisServerHandle): RedisStore {
  const store = new RedisStore({
    connection: { url: server.url },
    prefix: freshPrefix(),
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  });
  stores.push(store);
  return store;
}

/** Await `call`, expect a StorageUnavailableError, and return it with how long it took. */
async function failure(
  call: () => Promise<unknown>,
): Promise<{ error: StorageUnavailableError; ms: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryable).toBe(true);
    expect((error as StorageUnavailableError).cause).toBeInstanceOf(Error);
    return { error: error as StorageUnavailableError, ms };
  }
  return expect.fail('expected the call to fail with StorageUnavailableError');
}

/** Poll until the store answers again (the client reconnects by itself). */
async function waitUntilReachable(store: RedisStore, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    try {
      await store.ping();
      return;
    } catch (error) {
      if (!isSessionError(error) || performance.now() > deadline) throw error;
      await delay(25);
    }
  }
}

describe('RedisStore when Redis fails', () => {
  it('a killed Redis costs at most commandTimeoutMs, and the same store recovers on restart', async () => {
    const server = await start();
    const store = open(server);
    const session = await store.create({
      id: generateSessionId(),
      data: { a: 1 },
      expiresAt: Date.now() + TTL_MS,
    });

    await server.kill();
    const load = await failure(() => store.load(session.id));
    const save = await failure(() =>
      store.save(session.id, { data: { a: 2 }, expiresAt: Date.now() + TTL_MS }, 1),
    );
    const patch = await failure(() => store.patch(session.id, { set: { b: 1 } }));
    for (const { ms } of [load, save, patch]) {
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    }
    expect(patch.error.operation).toBe('patch');

    // Same port, empty dataset (nothing is persisted): the same store works again.
    await server.restart();
    await waitUntilReachable(store, 5_000);
    const fresh = await store.create({
      id: generateSessionId(),
      data: { back: true },
      expiresAt: Date.now() + TTL_MS,
    });
    expect(await store.save(fresh.id, { data: { n: 1 }, expiresAt: fresh.expiresAt }, 1)).toBe(2);
    expect(await store.patch(fresh.id, { set: { m: 2 } })).toBe(3);
    expect((await store.load(fresh.id))?.data).toEqual({ n: 1, m: 2 });
  });

  it('a stalled Redis (SIGSTOP) fails with STORAGE_TIMEOUT after commandTimeoutMs', async () => {
    const server = await start();
    const store = open(server);
    await store.ping();

    server.pause();
    try {
      const { error, ms } = await failure(() => store.load(generateSessionId()));
      expect(error.code).toBe('STORAGE_TIMEOUT');
      expect(ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    } finally {
      server.resume();
    }
    await waitUntilReachable(store, 5_000);
    expect(await store.load(generateSessionId())).toBeNull();
  });

  it('a read-only replica answers writes with READONLY: STORAGE_UNAVAILABLE, not a bug', async () => {
    const primary = await start();
    const replica = await start(['--replicaof', '127.0.0.1', String(primary.port)]);
    const store = open(replica);
    const { error } = await failure(() =>
      store.create({ id: generateSessionId(), data: {}, expiresAt: Date.now() + TTL_MS }),
    );
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.details?.['reply']).toBe('READONLY');
  });

  it('a Redis out of memory (noeviction) refuses every write script before it writes, with the instance cache on', async () => {
    const server = await start();
    const store = new RedisStore({
      connection: { url: server.url },
      prefix: freshPrefix(),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      cache: true,
    });
    stores.push(store);
    const id = generateSessionId();
    const expiresAt = Date.now() + TTL_MS;
    await store.create({ id, data: { n: 1 }, expiresAt });
    const admin = store.client;
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      // The scripts read with a write-flagged command first (not tracked);
      // Redis must still refuse them at their first command, not let their
      // SET through once they count as having written.
      for (const write of [
        () => store.patch(id, { set: { n: 2 } }),
        () => store.touch(id, expiresAt + 1_000),
        () =>
          store.merge(id, {
            baseVersion: 1,
            changes: [{ key: 'n', value: 3, base: 1, at: Date.now() }],
            expiresAt,
          }),
      ]) {
        const { error } = await failure(write);
        expect(error.details?.['reply']).toBe('OOM');
      }
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect(await store.load(id)).toMatchObject({ version: 1, data: { n: 1 }, expiresAt });
  });

  it('a store-owned client started while Redis is down fails within commandTimeoutMs', async () => {
    const server = await start();
    const port = server.port;
    await server.kill();
    const store = new RedisStore({
      connection: { port },
      prefix: freshPrefix(),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    stores.push(store);
    const { ms } = await failure(() => store.load(generateSessionId()));
    expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
    await server.restart();
    await waitUntilReachable(store, 5_000);
  });
});
