import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { defaultLockNode, storeConnection } from './cluster-options.js';

const url = 'redis://127.0.0.1:6390';

// What the facade derives from `redis`; the checks of every value are the
// parts' (create-session-cluster.test.ts names them by the facade's path).
describe('cluster options', () => {
  it('derives the store connection and the default lock node of a standalone Redis', () => {
    expect(storeConnection({ url })).toEqual({ connection: { url } });
    expect(defaultLockNode({ url })).toEqual(url);
    const byHost = { host: 'db', port: 7000, password: 's3cret' };
    expect(storeConnection({ ...byHost, commandTimeoutMs: 50 })).toEqual({
      connection: byHost,
      commandTimeoutMs: 50,
    });
    expect(defaultLockNode(byHost)).toEqual({ host: 'db', port: 7000, password: 's3cret' });
  });

  it("uses a standalone client's address for the lock node (a client of its own)", () => {
    const client = new Redis({ host: '127.0.0.1', port: 6391, lazyConnect: true, db: 2 });
    expect(storeConnection({ client })).toEqual({ client });
    expect(defaultLockNode({ client })).toEqual({ host: '127.0.0.1', port: 6391, db: 2 });
    client.disconnect();
  });
});
