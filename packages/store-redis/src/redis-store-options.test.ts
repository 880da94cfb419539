import { randomBytes } from 'node:crypto';
import { SessionValidationError, createSessionCodec } from '@session-cluster/core';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.js';
import type { RedisStoreOptions } from './redis-store-options.js';

// Lazy clients never connect: these tests need no Redis at all.
const lazyRedis = new Redis({ lazyConnect: true, commandTimeout: 500 });
const lazyCluster = new Cluster([{ host: '127.0.0.1', port: 1 }], {
  lazyConnect: true,
  redisOptions: { commandTimeout: 500 },
});

afterAll(() => {
  lazyRedis.disconnect();
  lazyCluster.disconnect();
});

const KEY = { id: 'k1', key: randomBytes(32) };

function configError(options: unknown): SessionValidationError {
  try {
    new RedisStore(options as RedisStoreOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).retryable).toBe(false);
    return error as SessionValidationError;
  }
  return expect.fail(`expected INVALID_CONFIG for ${JSON.stringify(options)}`);
}

describe('RedisStore options', () => {
  it('names the offending field of every invalid store option', () => {
    const cases: readonly (readonly [Record<string, unknown>, string])[] = [
      [{ prefix: 'a{b}' }, 'prefix'],
      [{ prefix: 42 }, 'prefix'],
      [{ buckets: 0 }, 'buckets'],
      [{ buckets: 1.5 }, 'buckets'],
      [{ buckets: 16_385 }, 'buckets'],
      [{ buckets: '64' }, 'buckets'],
      [{ expiryGraceMs: -1 }, 'expiryGraceMs'],
      [{ expiryGraceMs: Number.NaN }, 'expiryGraceMs'],
      [{ commandTimeoutMs: 0 }, 'commandTimeoutMs'],
      [{ failFastOnCorruption: 'no' }, 'failFastOnCorruption'],
      [{ onCorruption: 'log' }, 'onCorruption'],
      // 3 is keyed: it needs an encrypting codec.
      [{ frameFormat: 3 }, 'frameFormat'],
      [{ frameFormat: '2' }, 'frameFormat'],
      // Unkeyed frames under encryption: readers would refuse them.
      [
        { frameFormat: 2, codec: createSessionCodec({ encryption: { keys: [KEY] } }) },
        'frameFormat',
      ],
      [{ maxSessionsPerUser: 0 }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: 2.5 }, 'maxSessionsPerUser'],
      [{ onUserCapEviction: 'log' }, 'onUserCapEviction'],
      [{ clock: {} }, 'clock'],
      [{ codec: { maxBytes: 10 } }, 'codec'],
    ];
    for (const [option, field] of cases) {
      expect(configError({ client: lazyRedis, ...option }).field).toBe(field);
    }
  });

  it('requires exactly one of client and connection', () => {
    expect(configError({}).field).toBe('connection');
    expect(configError({ client: lazyRedis, connection: { port: 6380 } }).field).toBe('client');
    expect(configError({ client: {} }).field).toBe('client');
  });

  it('refuses an option it does not take, and commandTimeoutMs beside a caller-owned client', () => {
    expect(configError({ client: lazyRedis, colour: 'blue' }).field).toBe('colour');
    expect(configError({ client: lazyRedis, commandTimeoutMs: 500 }).field).toBe(
      'commandTimeoutMs',
    );
  });

  it('refuses a caller-owned client without commandTimeout, explaining why', () => {
    const noTimeout = new Redis({ lazyConnect: true });
    const clusterNoTimeout = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    try {
      const error = configError({ client: noTimeout });
      expect(error.field).toBe('client.options.commandTimeout');
      expect(error.message).toContain('commandTimeout');
      expect(configError({ client: clusterNoTimeout }).field).toBe(
        'client.options.redisOptions.commandTimeout',
      );
    } finally {
      noTimeout.disconnect();
      clusterNoTimeout.disconnect();
    }
  });

  it('accepts caller-owned standalone and Cluster clients that have a commandTimeout', async () => {
    for (const client of [lazyRedis, lazyCluster]) {
      const store = new RedisStore({ client });
      expect(store.client).toBe(client);
      expect(store.bucketCount).toBe(64);
      expect(store.prefix).toBe('sc');
      await store.close();
      // A caller-owned client is not closed by the store.
      expect(client.status).toBe('wait');
    }
  });

  it('warns once per caller-owned standalone client with auto-pipelining (writes held to the end of the turn)', async () => {
    const pipelined = new Redis({
      lazyConnect: true,
      commandTimeout: 1_000,
      enableAutoPipelining: true,
    });
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const stores = [new RedisStore({ client: pipelined }), new RedisStore({ client: pipelined })];
      const plain = new RedisStore({ client: lazyRedis });
      // process.emitWarning delivers on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        name: 'SessionClusterWarning',
        code: 'SESSION_CLUSTER_AUTOPIPELINING',
      });
      await Promise.all([...stores, plain].map((store) => store.close()));
    } finally {
      process.off('warning', onWarning);
      pipelined.disconnect();
    }
  });

  it('validates connection options before connecting', () => {
    const cases: readonly (readonly [unknown, string])[] = [
      [{ url: 'http://localhost:6379' }, 'connection.url'],
      [{ port: 0 }, 'connection.port'],
      [{ host: '' }, 'connection.host'],
      [{ password: 1 }, 'connection.password'],
      [{ sentinels: [{ host: 'a', port: 26379 }] }, 'connection.name'],
      [{ name: 'mymaster' }, 'connection.name'],
      [{ sentinels: [], name: 'mymaster' }, 'connection.sentinels'],
      [{ sentinels: [{ host: 'a', port: 99_999 }], name: 'm' }, 'connection.sentinels[0].port'],
      [{ cluster: { nodes: [] } }, 'connection.cluster.nodes'],
      [{ cluster: { nodes: [{ host: 'a', port: 7000 }] }, url: 'redis://a' }, 'connection'],
      // Exactly one shape, with only its own keys; a host names its port.
      [{}, 'connection'],
      ['redis://a', 'connection'],
      [{ url: 'redis://a', password: 'x' }, 'connection.password'],
      [{ host: 'h' }, 'connection.port'],
      [{ port: 6379, colour: 'blue' }, 'connection.colour'],
      [
        { cluster: { nodes: [{ host: 'a', port: 7000, tls: true }] } },
        'connection.cluster.nodes[0].tls',
      ],
    ];
    for (const [connection, field] of cases) {
      expect(configError({ connection }).field).toBe(field);
    }
  });
});
