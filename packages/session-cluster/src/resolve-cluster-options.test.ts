import { configErrorField } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { SessionValidationError } from '@session-cluster/core';
import { Cluster, Redis } from 'ioredis';
import { resolveClusterOptions } from './resolve-cluster-options.js';
import type { SessionClusterOptions } from './cluster-options.js';

const url = 'redis://127.0.0.1:6390';
const KEY = Buffer.alloc(32, 7).toString('base64');

function fieldOf(options: unknown): string | undefined {
  return configErrorField(() =>
    resolveClusterOptions(options as SessionClusterOptions).lockNodes(),
  );
}

describe('resolveClusterOptions', () => {
  it('derives the store connection and the default lock node of a standalone Redis', () => {
    const standalone = resolveClusterOptions({ redis: { url } });
    expect(standalone).toMatchObject({
      storeConnection: { connection: { url } },
      fallbackEnabled: true,
    });
    expect(standalone.lockNodes()).toEqual([url]);
    const byHost = resolveClusterOptions({ redis: { host: 'db', port: 7000, password: 's3cret' } });
    expect(byHost).toMatchObject({
      storeConnection: { connection: { host: 'db', port: 7000, password: 's3cret' } },
    });
    expect(byHost.lockNodes()).toEqual([{ host: 'db', port: 7000, password: 's3cret' }]);
  });

  it("uses a standalone client's address for the lock node (a client of its own)", () => {
    const client = new Redis({ host: '127.0.0.1', port: 6391, lazyConnect: true, db: 2 });
    const resolved = resolveClusterOptions({ redis: { client } });
    expect(resolved.storeConnection).toEqual({ client });
    expect(resolved.lockNodes()).toEqual([{ host: '127.0.0.1', port: 6391, db: 2 }]);
    client.disconnect();
  });

  it('takes explicit lock nodes', () => {
    const resolved = resolveClusterOptions({
      redis: { cluster: { nodes: [{ host: 'c1', port: 7000 }] } },
      locks: { nodes: ['redis://l1:6379', { host: 'l2', port: 6379 }, 'redis://l3'] },
    });
    expect(resolved.lockNodes()).toEqual([
      'redis://l1:6379',
      { host: 'l2', port: 6379 },
      'redis://l3',
    ]);
  });

  it('builds the codec from codec options (encryption included)', () => {
    const { codec } = resolveClusterOptions({
      redis: { url },
      codec: { maxBytes: 1_000, encryptionKeys: [{ id: 'k1', key: KEY }] },
    });
    expect(codec.maxBytes).toBe(1_000);
    const [[, encoded]] = codec.encodeData('a'.repeat(43), { x: 1 }).fields as [[string, string]];
    expect(encoded.startsWith('e1:k1:')).toBe(true);
  });

  it.each([
    [null, 'options'],
    [{ redis: { url }, colour: 'blue' }, 'colour'],
    [{}, 'redis'],
    [{ redis: 'redis://x' }, 'redis'],
    [{ redis: { url, cluster: { nodes: [] } } }, 'redis'],
    [{ redis: { url, password: 'x' } }, 'redis.password'],
    [{ redis: { host: 'h' } }, 'redis.port'],
    [{ redis: { url }, locks: [] }, 'locks'],
    [{ redis: { url }, locks: { nodes: [url, { host: 'h' }] } }, 'locks.nodes[1].port'],
    [{ redis: { url }, locks: { retries: 1 } }, 'locks.retries'],
    [{ redis: { sentinels: [{ host: 's', port: 1 }], name: 'm' } }, 'locks.nodes'],
    [{ redis: { cluster: { nodes: [{ host: 'c', port: 1 }] } } }, 'locks.nodes'],
    [{ redis: { url }, update: 'always' }, 'update'],
    [{ redis: { url }, update: { hotTtl: 5 } }, 'update.hotTtl'],
    [{ redis: { url }, fallback: { enabled: 'yes' } }, 'fallback.enabled'],
    [{ redis: { url }, codec: { maxBytes: 0 } }, 'codec.maxBytes'],
    [{ redis: { url }, codec: { encryptionKeys: [] } }, 'codec.encryptionKeys'],
    [
      {
        redis: { url },
        codec: {
          encryptionKeys: [
            { id: 'k1', key: KEY },
            { id: 'k2', key: 'short' },
          ],
        },
      },
      'codec.encryptionKeys[1].key',
    ],
  ])('rejects %o naming %s', (options, field) => {
    expect(fieldOf(options)).toBe(field);
  });

  it('explains why a Cluster needs explicit lock nodes', () => {
    const client = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    try {
      resolveClusterOptions({ redis: { client } }).lockNodes();
      expect.fail('accepted a Cluster client without lock nodes');
    } catch (error) {
      expect(error).toBeInstanceOf(SessionValidationError);
      expect((error as SessionValidationError).details?.['field']).toBe('locks.nodes');
      expect((error as Error).message).toContain('one Redlock voter');
    } finally {
      client.disconnect();
    }
  });
});
